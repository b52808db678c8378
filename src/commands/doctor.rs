//! `docker-credential-harbor doctor`: checks, one line each, everything between this job and
//! a push to Harbor, and says exactly what to fix.
//!
//! Reads the same variables as the helper. The network is checked layer by layer (DNS, TCP,
//! TLS, Harbor) so a failure is named where it happens; then one token request proves the
//! credentials, the project, pull and push (harbor::verify). Exit status 0 only when no check
//! failed. Never prints a secret: only user names, hosts, files and Harbor's request ids.

use std::fmt::Display;
use std::io::{self, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::env::Env;
use crate::harbor::tls::{self, CertProblem, Trust};
use crate::harbor::url::{HarborUrl, Scheme};
use crate::harbor::verify::{self, SystemInfo};
use crate::harbor::{self, Account, HarborClient, HarborError, robots};
use crate::job_robot;
use crate::vars;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Status {
    Ok,
    Warn,
    Fail,
    Skip,
    Info,
}

impl Status {
    fn label(self) -> &'static str {
        match self {
            Status::Ok => "ok  ",
            Status::Warn => "warn",
            Status::Fail => "FAIL",
            Status::Skip => "skip",
            Status::Info => "info",
        }
    }
}

/// The report: one line per check, `hint:` lines under failures.
struct Report<'a> {
    out: &'a mut dyn Write,
    passed: usize,
    failed: usize,
}

impl Report<'_> {
    fn line(&mut self, status: Status, check: &str, text: impl Display) -> io::Result<()> {
        match status {
            Status::Ok => self.passed += 1,
            Status::Fail => self.failed += 1,
            _ => {}
        }
        writeln!(self.out, "{}  {check:<12} {text}", status.label())
    }

    fn fail(&mut self, check: &str, text: impl Display, hint: Option<String>) -> io::Result<()> {
        self.line(Status::Fail, check, text)?;
        if let Some(h) = hint {
            writeln!(self.out, "      {:<12} hint: {h}", "")?;
        }
        Ok(())
    }

    fn error(&mut self, check: &str, e: &HarborError) -> io::Result<()> {
        self.fail(check, e, e.hint())
    }

    fn skip_all(&mut self, checks: &[&str], why: &str) -> io::Result<()> {
        for c in checks {
            self.line(Status::Skip, c, why)?;
        }
        Ok(())
    }
}

/// Runs every check and writes the report; `Ok(true)` when none failed.
pub fn run(env: &Env, out: &mut dyn Write) -> io::Result<bool> {
    let start = Instant::now();
    let mut r = Report {
        out,
        passed: 0,
        failed: 0,
    };
    checks(env, &mut r)?;
    let ok = r.failed == 0;
    writeln!(
        r.out,
        "doctor: {} passed, {} failed, in {:.2} s",
        r.passed,
        r.failed,
        start.elapsed().as_secs_f64()
    )?;
    Ok(ok)
}

const NETWORK: [&str; 4] = ["dns", "tcp", "tls", "harbor"];
const ACCESS: [&str; 4] = ["credentials", "project", "pull", "push"];

fn checks(env: &Env, r: &mut Report) -> io::Result<()> {
    // URL well formed.
    let url = match HarborUrl::from_env(env) {
        Ok(u) => u,
        Err(p) => {
            r.fail("url", &p, Some(p.hint()))?;
            r.skip_all(&NETWORK, "no Harbor URL")?;
            return r.skip_all(&ACCESS, "no Harbor URL");
        }
    };
    let from = url.from.var();
    if url.scheme == Scheme::Http {
        r.line(
            Status::Warn,
            "url",
            format!(
                "{} from {from}: plain HTTP, accepted only because the host is loopback",
                url.base()
            ),
        )?;
    } else {
        r.line(
            Status::Ok,
            "url",
            format!("{} from {from}; registry {}", url.base(), url.registry),
        )?;
    }

    // The variables the credentials come from.
    let username = vars::username(env);
    let password = vars::password(env);
    let project = vars::project(env);
    let missing = vars::missing(env);
    if missing.is_empty() {
        r.line(
            Status::Ok,
            "variables",
            "HARBOR_USERNAME, HARBOR_PASSWORD and HARBOR_PROJECT are set",
        )?;
    } else {
        r.fail(
            "variables",
            format!("{} not set", missing.join(", ")),
            Some("GitLab's Harbor integration sets them for every job; check the integration's settings, or set them as CI/CD variables".into()),
        )?;
    }

    let timeout = match harbor::timeout(env) {
        Ok(t) => t,
        Err(bad) => {
            r.line(
                Status::Warn,
                "timeout",
                format!(
                    "{}={bad:?} is not a number of seconds; using {} s",
                    harbor::TIMEOUT_VAR,
                    harbor::DEFAULT_TIMEOUT.as_secs()
                ),
            )?;
            harbor::DEFAULT_TIMEOUT
        }
    };

    // The network, layer by layer, unless a proxy stands between us and Harbor.
    let trust = match tls::load(env, &url.registry) {
        Ok(t) => Some(t),
        Err(e) => {
            if url.scheme == Scheme::Https {
                r.fail("tls", &e, Some(e.hint()))?;
                r.skip_all(&["harbor"], "no TLS trust")?;
                return r.skip_all(&ACCESS, "no TLS trust");
            }
            None
        }
    };
    match proxy_for(env, &url) {
        Some(var) => {
            r.skip_all(
                &["dns", "tcp", "tls"],
                &format!("requests go through the proxy in {var}"),
            )?;
        }
        None => {
            if let Some(why) = network(&url, trust.as_ref(), timeout, r)? {
                r.skip_all(&["harbor"], why)?;
                return r.skip_all(&ACCESS, why);
            }
        }
    }
    // Plain-HTTP loopback URLs check no certificate: an empty trust will do.
    let plain = || {
        (url.scheme == Scheme::Http)
            .then(|| Trust::none().ok())
            .flatten()
    };
    let Some(trust) = trust.or_else(plain) else {
        return r.skip_all(&ACCESS, "no TLS trust");
    };
    let account = match (&username, &password) {
        (Some(u), Some(p)) => Some(Account {
            username: u.clone(),
            password: p.clone(),
        }),
        _ => None,
    };
    let client = match HarborClient::new(url.clone(), &trust, timeout, account) {
        Ok(c) => c,
        Err(e) => {
            r.error("harbor", &e)?;
            return r.skip_all(&ACCESS, "no HTTP client");
        }
    };

    // Harbor answering, and its version.
    let info = match verify::system_info(&client, client.has_account()) {
        Ok(info) => {
            r.line(Status::Ok, "harbor", describe_harbor(&info))?;
            if info.read_only == Some(true) {
                r.line(Status::Warn, "harbor", "Harbor is in read-only mode: pushes will fail until an administrator turns it off")?;
            }
            info
        }
        Err(e) => {
            r.error("harbor", &e)?;
            return r.skip_all(&ACCESS, "Harbor did not answer");
        }
    };

    // Credentials, project, pull, push: one token request on the happy path.
    let (Some(user), Some(_)) = (&username, &password) else {
        return r.skip_all(&ACCESS, "no credentials in the variables");
    };
    let Some(project) = project else {
        match verify::token(&client, None) {
            Ok((200, _)) => r.line(Status::Ok, "credentials", format!("accepted for {user}"))?,
            Ok(_) => r.error(
                "credentials",
                &HarborError::Unauthorized {
                    user: user.clone(),
                    oidc: is_oidc(&info),
                },
            )?,
            Err(e) => r.error("credentials", &e)?,
        }
        return r.skip_all(&["project", "pull", "push"], "HARBOR_PROJECT is not set");
    };
    let mut accepted = false;
    match verify::verify_push(&client, &project) {
        Ok(v) => {
            accepted = true;
            r.line(
                Status::Ok,
                "credentials",
                format!("accepted as {}", v.subject),
            )?;
            r.line(
                Status::Ok,
                "project",
                format!("{project} exists and {} has a role in it", v.subject),
            )?;
            r.line(
                Status::Ok,
                "pull",
                format!("{} may pull from {project}", v.subject),
            )?;
            r.line(
                Status::Ok,
                "push",
                format!("{} may push to {project}", v.subject),
            )?;
        }
        Err(e @ HarborError::Unauthorized { .. }) => {
            r.error("credentials", &e)?;
            r.skip_all(&["project", "pull", "push"], "credentials not accepted")?;
        }
        Err(e @ HarborError::ProjectMissing { .. }) => {
            accepted = true;
            r.line(Status::Ok, "credentials", format!("accepted for {user}"))?;
            r.error("project", &e)?;
            r.skip_all(&["pull", "push"], "no such project")?;
        }
        Err(e @ HarborError::NotMember { .. }) => {
            accepted = true;
            r.line(Status::Ok, "credentials", format!("accepted for {user}"))?;
            r.line(Status::Ok, "project", format!("{project} exists"))?;
            r.error("pull", &e)?;
            r.fail("push", format!("{user} may not push to {project}"), None)?;
        }
        Err(e @ HarborError::NoPush { .. }) => {
            accepted = true;
            r.line(Status::Ok, "credentials", format!("accepted for {user}"))?;
            r.line(Status::Ok, "project", format!("{project} exists"))?;
            r.line(
                Status::Ok,
                "pull",
                format!("{user} may pull from {project}"),
            )?;
            r.error("push", &e)?;
        }
        Err(e) => {
            r.error("credentials", &e)?;
            r.skip_all(&["project", "pull", "push"], "the check did not complete")?;
        }
    }
    if accepted {
        let project_id = robots::project_id(&client, &project).ok().flatten();
        if user.contains('$') {
            robot_expiry(&client, user, &project, project_id, r)?;
        }
        job_robot_minting(env, &client, user, &project, project_id, is_oidc(&info), r)?;
    }
    Ok(())
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

fn is_oidc(info: &SystemInfo) -> bool {
    info.auth_mode.as_deref() == Some("oidc_auth")
}

/// DNS, TCP and (for https) TLS; after reporting the first failure, returns why the checks
/// above it are skipped.
fn network(
    url: &HarborUrl,
    trust: Option<&Trust>,
    timeout: Duration,
    r: &mut Report,
) -> io::Result<Option<&'static str>> {
    let host = url.bare_host().to_owned();
    let addrs = match harbor::dns::resolve(&host, url.port, timeout) {
        Ok(a) => a,
        Err(detail) => {
            let e = HarborError::Dns { host, detail };
            r.error("dns", &e)?;
            r.skip_all(&["tcp", "tls"], "the name does not resolve")?;
            return Ok(Some("the name does not resolve"));
        }
    };
    let shown: Vec<String> = addrs.iter().map(|a| a.ip().to_string()).collect();
    r.line(Status::Ok, "dns", format!("{host} is {}", shown.join(", ")))?;

    let mut last_error = String::new();
    let mut stream = None;
    let connect_start = Instant::now();
    for addr in &addrs {
        match TcpStream::connect_timeout(addr, timeout) {
            Ok(s) => {
                stream = Some((s, *addr));
                break;
            }
            Err(e) if addrs.len() == 1 => last_error = e.to_string(),
            Err(e) => last_error = format!("{addr}: {e}"),
        }
    }
    let Some((stream, addr)) = stream else {
        let e = HarborError::Connect {
            target: format!("{}:{}", url.host, url.port),
            detail: last_error,
        };
        r.error("tcp", &e)?;
        r.skip_all(&["tls"], "no connection")?;
        return Ok(Some("no connection"));
    };
    r.line(
        Status::Ok,
        "tcp",
        format!(
            "{addr} accepts connections ({} ms)",
            connect_start.elapsed().as_millis()
        ),
    )?;

    let Some(trust) = trust.filter(|_| url.scheme == Scheme::Https) else {
        r.line(Status::Skip, "tls", "plain HTTP")?;
        return Ok(None);
    };
    match handshake(stream, &host, trust, timeout) {
        Ok(version) => {
            let sources: Vec<String> = trust
                .sources
                .iter()
                .map(|s| format!("{} ({})", s.what, s.certificates))
                .collect();
            r.line(
                Status::Ok,
                "tls",
                format!(
                    "{version}, certificate valid for {host}; trusted CAs from {}",
                    sources.join(", ")
                ),
            )?;
            Ok(None)
        }
        Err(Handshake::Cert(problem)) => {
            let e = HarborError::Tls {
                host: host.clone(),
                registry: url.registry.clone(),
                problem,
                certs_d: trust.certs_d.clone(),
            };
            r.error("tls", &e)?;
            Ok(Some("TLS failed"))
        }
        Err(Handshake::Other(detail)) => {
            r.fail(
                "tls",
                format!("the TLS handshake with {host} failed: {detail}"),
                Some("check that HARBOR_URL's port serves HTTPS (not plain HTTP)".into()),
            )?;
            Ok(Some("TLS failed"))
        }
    }
}

enum Handshake {
    Cert(CertProblem),
    Other(String),
}

fn handshake(
    mut sock: TcpStream,
    host: &str,
    trust: &Trust,
    timeout: Duration,
) -> Result<String, Handshake> {
    let name = rustls::pki_types::ServerName::try_from(host.to_owned())
        .map_err(|e| Handshake::Other(e.to_string()))?;
    let mut conn = rustls::ClientConnection::new(trust.config.clone(), name)
        .map_err(|e| Handshake::Other(e.to_string()))?;
    let _ = sock.set_read_timeout(Some(timeout));
    let _ = sock.set_write_timeout(Some(timeout));
    while conn.is_handshaking() {
        if let Err(e) = conn.complete_io(&mut sock) {
            return Err(match tls::cert_problem_in(&e) {
                Some(p) => Handshake::Cert(p),
                None => Handshake::Other(e.to_string()),
            });
        }
    }
    let version = match conn.protocol_version() {
        Some(rustls::ProtocolVersion::TLSv1_3) => "TLS 1.3",
        Some(rustls::ProtocolVersion::TLSv1_2) => "TLS 1.2",
        _ => "TLS",
    };
    conn.send_close_notify();
    let _ = conn.complete_io(&mut sock);
    Ok(version.to_owned())
}

/// The proxy variable that applies to `url`, if any (then direct checks would mislead). The
/// client never sends a loopback request through a proxy.
fn proxy_for(env: &Env, url: &HarborUrl) -> Option<&'static str> {
    if url.is_loopback() {
        return None;
    }
    let vars: &[&'static str] = match url.scheme {
        Scheme::Https => &["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"],
        Scheme::Http => &["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"],
    };
    let var = vars.iter().copied().find(|v| env.var(v).is_some())?;
    let no_proxy = env
        .var("NO_PROXY")
        .or_else(|| env.var("no_proxy"))
        .unwrap_or_default();
    let host = url.bare_host();
    let bypass = no_proxy
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .any(|e| {
            let e = e.trim_start_matches('.');
            e == "*" || host == e || host.ends_with(&format!(".{e}"))
        });
    (!bypass).then_some(var)
}

/// A robot's expiry, when Harbor lets the robot read it (robots usually lack project read and
/// robot list, harbor-api.md §5); informational unless it is about to expire.
fn robot_expiry(
    client: &HarborClient,
    user: &str,
    project: &str,
    project_id: Option<i64>,
    r: &mut Report,
) -> io::Result<()> {
    let unreadable = format!(
        "{user}'s expiry is not readable with its own permissions; Harbor shows it under Projects > {project} > Robot Accounts"
    );
    let listed = project_id.and_then(|id| robots::list(client, id).ok().flatten());
    let Some(robot) = listed.and_then(|all| all.into_iter().find(|x| x.name == user)) else {
        return r.line(Status::Info, "robot", unreadable);
    };
    if robot.expires_at < 0 {
        return r.line(
            Status::Warn,
            "robot",
            format!("{user} never expires; a rotation policy needs an expiry"),
        );
    }
    let now = robots::unix_now();
    let days = (robot.expires_at - now) / 86_400;
    if robot.expires_at <= now {
        r.fail(
            "robot",
            format!("{user} has expired"),
            Some(format!(
                "refresh it under Projects > {project} > Robot Accounts and update HARBOR_PASSWORD"
            )),
        )
    } else if days < 7 {
        r.line(
            Status::Warn,
            "robot",
            format!("{user} expires in {days} days; refresh it and update HARBOR_PASSWORD"),
        )
    } else {
        r.line(
            Status::Ok,
            "robot",
            format!("{user} expires in {days} days"),
        )
    }
}

/// Whether the account may mint job robots (`pre-build --job-robot`): `robot:create` on the
/// project, which OIDC CLI secrets can never use. A warning only when job robots are enabled.
fn job_robot_minting(
    env: &Env,
    client: &HarborClient,
    user: &str,
    project: &str,
    project_id: Option<i64>,
    oidc: bool,
    r: &mut Report,
) -> io::Result<()> {
    let enabled = job_robot::enabled(env);
    let (cannot, fallback) = (
        if enabled { Status::Warn } else { Status::Info },
        "pre-build --job-robot would keep the integration's credentials",
    );
    if oidc {
        return r.line(
            cannot,
            "job robots",
            format!("OIDC CLI secrets cannot call Harbor's robot API; {fallback}"),
        );
    }
    let answer = project_id.map(|id| robots::may_create(client, id));
    match answer {
        Some(Ok(Some(true))) => r.line(
            Status::Ok,
            "job robots",
            format!("{user} may create robot accounts in {project}, so pre-build --job-robot can give each job its own"),
        ),
        Some(Ok(Some(false))) => r.line(
            cannot,
            "job robots",
            format!("{user} may not create robot accounts in {project} (by default only project admins may); {fallback}"),
        ),
        _ => r.line(
            cannot,
            "job robots",
            format!("cannot tell whether {user} may create robot accounts in {project} (it may not read the project); {fallback}"),
        ),
    }
}
