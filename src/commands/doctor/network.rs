//! doctor's network steps, layer by layer through `harbor_client::probe`: the trust, DNS, TCP, the
//! TLS handshake, then Harbor answering `systeminfo`. A failed layer blocks the checks above
//! it, which say why they were skipped.

use docker_credential_harbor_core::url::Scheme;
use harbor_client::tls::{self, Trust};
use harbor_client::verify::{self, SystemInfo};
use harbor_client::{HarborClient, HarborError, probe};

use super::{Checkup, Finding, Line, skip};

/// Builds the trust now; the `tls` check reports it (plain HTTP needs none).
pub(super) fn trust(c: &mut Checkup) -> Vec<Line> {
    if let Some(url) = &c.url {
        c.trust = Some(tls::build(&c.harbor.harbor_options(&url.registry)));
    }
    Vec::new()
}

/// The direct checks, unless a proxy or an earlier failure stands in the way.
fn direct(c: &Checkup, check: &'static str) -> Result<(), Vec<Line>> {
    if let Some(why) = c.blocked {
        return Err(skip(&[check], why));
    }
    if let Some(var) = c.proxy {
        return Err(skip(
            &[check],
            &format!("requests go through the proxy in {var}"),
        ));
    }
    Ok(())
}

pub(super) fn dns(c: &mut Checkup) -> Vec<Line> {
    if let Err(lines) = direct(c, "dns") {
        return lines;
    }
    let Some(url) = &c.url else { return Vec::new() };
    match probe::resolve(url, c.harbor.timeout) {
        Ok(addrs) => {
            let shown: Vec<String> = addrs.iter().map(|a| a.ip().to_string()).collect();
            let line = Finding::pass(format!("{} is {}", url.bare_host(), shown.join(", ")));
            c.addrs = addrs;
            vec![("dns", line)]
        }
        Err(e) => {
            c.blocked = Some("the name does not resolve");
            vec![("dns", Finding::fail(&e))]
        }
    }
}

pub(super) fn tcp(c: &mut Checkup) -> Vec<Line> {
    if let Err(lines) = direct(c, "tcp") {
        return lines;
    }
    let Some(url) = &c.url else { return Vec::new() };
    match probe::connect(url, &c.addrs, c.harbor.timeout) {
        Ok((stream, addr, took)) => {
            c.stream = Some(stream);
            vec![(
                "tcp",
                Finding::pass(format!(
                    "{addr} accepts connections ({} ms)",
                    took.as_millis()
                )),
            )]
        }
        Err(e) => {
            c.blocked = Some("no connection");
            vec![("tcp", Finding::fail(&e))]
        }
    }
}

pub(super) fn handshake(c: &mut Checkup) -> Vec<Line> {
    let Some(url) = c.url.clone() else {
        return Vec::new();
    };
    if url.scheme == Scheme::Http {
        return match direct(c, "tls") {
            Err(lines) => lines,
            Ok(()) => skip(&["tls"], "plain HTTP"),
        };
    }
    let trust = match &c.trust {
        Some(Ok(t)) => t,
        Some(Err(e)) => {
            let line = ("tls", Finding::fail(e));
            c.blocked = Some("no TLS trust");
            return vec![line];
        }
        None => return Vec::new(),
    };
    if let Err(lines) = direct(c, "tls") {
        return lines;
    }
    let Some(stream) = c.stream.take() else {
        return Vec::new();
    };
    match probe::handshake(stream, &url, trust, c.harbor.timeout) {
        Ok(version) => {
            let sources: Vec<String> = trust
                .sources
                .iter()
                .map(|s| format!("{} ({})", s.what, s.certificates))
                .collect();
            vec![(
                "tls",
                Finding::pass(format!(
                    "{version}, certificate valid for {}; trusted CAs from {}",
                    url.bare_host(),
                    sources.join(", ")
                )),
            )]
        }
        Err(e) => {
            c.blocked = Some("TLS failed");
            vec![("tls", Finding::fail(&e))]
        }
    }
}

pub(super) fn harbor(c: &mut Checkup) -> Vec<Line> {
    if let Some(why) = c.blocked {
        return skip(&["harbor"], why);
    }
    let Some(url) = &c.url else { return Vec::new() };
    // Plain-HTTP loopback URLs check no certificate: an empty trust will do.
    let trust = match (c.trust.take(), url.scheme) {
        (Some(Ok(t)), _) => Ok(t),
        (_, Scheme::Http) => Trust::none(),
        (Some(Err(e)), Scheme::Https) => Err(e),
        (None, Scheme::Https) => return Vec::new(),
    };
    let client = trust.map_err(HarborError::Trust).and_then(|t| {
        HarborClient::new(url.clone(), &t, c.harbor.timeout, c.integration.account())
    });
    let client = match client {
        Ok(client) => client,
        Err(e) => {
            c.blocked = Some("no HTTP client");
            return vec![("harbor", Finding::fail(&e))];
        }
    };
    let mut lines = Vec::new();
    match verify::system_info(&client, client.has_account()) {
        Ok(info) => {
            lines.push(("harbor", Finding::pass(describe_harbor(&info))));
            if info.read_only == Some(true) {
                lines.push((
                    "harbor",
                    Finding::Warn("Harbor is in read-only mode: pushes will fail until an administrator turns it off".into()),
                ));
            }
            c.info = Some(info);
            c.client = Some(client);
        }
        Err(e) => {
            c.blocked = Some("Harbor did not answer");
            lines.push(("harbor", Finding::fail(&e)));
        }
    }
    lines
}

fn describe_harbor(info: &SystemInfo) -> String {
    let mode = info.auth_mode.as_deref().unwrap_or("unknown");
    match &info.harbor_version {
        Some(v) => format!("Harbor {v} answers (auth mode {mode})"),
        None => format!(
            "Harbor answers (auth mode {mode}; it shows its version only to accepted credentials)"
        ),
    }
}
