//! The layers under an HTTPS request, one at a time, for `doctor`: name resolution (the
//! client's own resolver, `dns`), a TCP connection, a TLS handshake with the client's own
//! trust, and whether a proxy stands in between. Each returns the client's error type, so a
//! failure reads, and hints, the same as when the client meets it. It sends no credential and
//! no HTTP request.

use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use docker_credential_harbor_core::url::{HarborUrl, Scheme};

use super::tls::{self, Trust};
use super::{HarborError, dns};
use crate::Proxies;

/// The addresses `url`'s host resolves to, as the client would resolve them.
pub fn resolve(url: &HarborUrl, timeout: Duration) -> Result<Vec<SocketAddr>, HarborError> {
    let host = url.bare_host();
    dns::resolve(host, url.port(), timeout).map_err(|e| HarborError::Dns {
        host: host.to_owned(),
        detail: e.to_string(),
    })
}

/// A TCP connection to the first address that takes one, and how long it took.
pub fn connect(
    url: &HarborUrl,
    addrs: &[SocketAddr],
    timeout: Duration,
) -> Result<(TcpStream, SocketAddr, Duration), HarborError> {
    let start = Instant::now();
    let mut last_error = String::new();
    for addr in addrs {
        match TcpStream::connect_timeout(addr, timeout) {
            Ok(s) => return Ok((s, *addr, start.elapsed())),
            Err(e) if addrs.len() == 1 => last_error = e.to_string(),
            Err(e) => last_error = format!("{addr}: {e}"),
        }
    }
    Err(HarborError::Connect {
        target: format!("{}:{}", url.host(), url.port()),
        detail: last_error,
    })
}

/// A TLS handshake on `sock` with the client's trust; the protocol version on success.
pub fn handshake(
    mut sock: TcpStream,
    url: &HarborUrl,
    trust: &Trust,
    timeout: Duration,
) -> Result<&'static str, HarborError> {
    let host = url.bare_host().to_owned();
    let other = |detail: String| HarborError::Handshake {
        host: host.clone(),
        detail,
    };
    let name =
        rustls::pki_types::ServerName::try_from(host.clone()).map_err(|e| other(e.to_string()))?;
    let mut conn = rustls::ClientConnection::new(trust.config.clone(), name)
        .map_err(|e| other(e.to_string()))?;
    let _ = sock.set_read_timeout(Some(timeout));
    let _ = sock.set_write_timeout(Some(timeout));
    while conn.is_handshaking() {
        if let Err(e) = conn.complete_io(&mut sock) {
            return Err(match tls::cert_problem_in(&e) {
                Some(problem) => HarborError::Tls {
                    host: host.clone(),
                    registry: url.registry.clone(),
                    problem,
                    certs_d: trust.certs_d.clone(),
                },
                None => other(e.to_string()),
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
    Ok(version)
}

/// The proxy variable that applies to `url`, if any (then direct checks would mislead). The
/// client never sends a loopback request through a proxy.
pub fn proxy_for(proxies: &Proxies, url: &HarborUrl) -> Option<&'static str> {
    if url.is_loopback() {
        return None;
    }
    let var = match url.scheme {
        Scheme::Https => proxies.https,
        Scheme::Http => proxies.http,
    }?;
    let host = url.bare_host();
    let bypass = proxies
        .no_proxy
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .any(|e| {
            let e = e.trim_start_matches('.');
            e == "*" || host == e || host.ends_with(&format!(".{e}"))
        });
    (!bypass).then_some(var)
}

#[cfg(test)]
mod tests {
    use super::*;
    use docker_credential_harbor_core::vars::RegistryFrom;

    #[test]
    fn a_proxy_applies_unless_no_proxy_or_loopback_says_otherwise() {
        let url = |s: &str| HarborUrl::parse(s, RegistryFrom::Url).unwrap();
        let proxies = Proxies {
            https: Some("HTTPS_PROXY"),
            http: None,
            no_proxy: "internal.example, .corp.example".into(),
        };
        assert_eq!(
            proxy_for(&proxies, &url("https://harbor.example.net")),
            Some("HTTPS_PROXY")
        );
        assert_eq!(
            proxy_for(&proxies, &url("https://harbor.internal.example")),
            None
        );
        assert_eq!(proxy_for(&proxies, &url("https://h.corp.example")), None);
        assert_eq!(proxy_for(&proxies, &url("https://127.0.0.1:8443")), None);
        assert_eq!(proxy_for(&proxies, &url("http://localhost:8080")), None);
    }
}
