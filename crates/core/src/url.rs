//! Harbor's base URL, from `HARBOR_URL` (or `HARBOR_HOST` on setups without a URL), checked
//! for what the client is willing to talk to: HTTPS, or plain HTTP to a loopback host only.
//!
//! Pure: no DNS, no I/O. A problem is reported with the variable that holds the value, never
//! with user information a URL might carry.

use std::net::IpAddr;

use crate::address::{AddressError, Registry};
use crate::env::Env;
use crate::problem::Problem;
use crate::vars::{self, RegistryFrom};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    Https,
    Http,
}

/// A Harbor endpoint the client may call. The host and port are the registry's
/// ([`HarborUrl::host`], [`HarborUrl::port`]), so they cannot disagree with it; only what the
/// registry key drops is kept beside it.
#[derive(Clone, Debug)]
pub struct HarborUrl {
    pub scheme: Scheme,
    /// Path prefix without a trailing slash (normally empty).
    pub path: String,
    /// The credential-helper key for this Harbor.
    pub registry: Registry,
    /// The variable the value came from.
    pub from: RegistryFrom,
    /// `http://` to port 443, which the registry key never keeps.
    http_on_443: bool,
}

/// Why there is no usable Harbor URL.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UrlProblem {
    /// Neither `HARBOR_URL` nor `HARBOR_HOST` is set.
    #[error(
        "neither HARBOR_URL nor HARBOR_HOST is set: this job has no Harbor integration variables"
    )]
    Missing,
    /// A scheme other than http/https (`ftp://`, `oci://`).
    #[error("{var} uses the scheme {scheme}://; Harbor is reached over https://")]
    Scheme { var: &'static str, scheme: String },
    /// `http://` to a host that is not loopback: credentials would cross the network in clear.
    #[error(
        "{var} uses http:// for {host}, which is not a loopback host; credentials would travel unencrypted"
    )]
    PlainHttp { var: &'static str, host: String },
    #[error("{var} is not a usable URL: {problem}")]
    Address {
        var: &'static str,
        problem: AddressError,
    },
}

impl Problem for UrlProblem {
    fn hint(&self) -> Option<String> {
        Some(match self {
            UrlProblem::Missing => "enable GitLab's Harbor integration for the project or group (Settings > Integrations > Harbor), or set HARBOR_URL".into(),
            UrlProblem::Scheme { var, .. } | UrlProblem::PlainHttp { var, .. } => {
                format!("set {var} to Harbor's https:// address, as in the Harbor integration settings")
            }
            UrlProblem::Address { var, .. } => {
                format!("set {var} to Harbor's address, for example https://harbor.example.net or https://harbor.example.net:8443")
            }
        })
    }
}

impl HarborUrl {
    /// From the GitLab variables.
    pub fn from_env(env: &Env) -> Result<HarborUrl, UrlProblem> {
        let (value, from) = vars::url_or_host(env).ok_or(UrlProblem::Missing)?;
        HarborUrl::parse(&value, from)
    }

    /// Parses `https://host[:port][/path]`; a value without a scheme (as `HARBOR_HOST` is)
    /// means https.
    pub fn parse(value: &str, from: RegistryFrom) -> Result<HarborUrl, UrlProblem> {
        let var = from.var();
        let value = value.trim();
        let (scheme, rest) = match value.split_once("://") {
            Some((s, rest)) if s.eq_ignore_ascii_case("https") => (Scheme::Https, rest),
            Some((s, rest)) if s.eq_ignore_ascii_case("http") => (Scheme::Http, rest),
            Some((s, _)) => {
                return Err(UrlProblem::Scheme {
                    var,
                    scheme: s.to_ascii_lowercase(),
                });
            }
            None => (Scheme::Https, value),
        };
        // The authority alone: the registry parser would take a second `https://` in
        // `https://https://h` for a scheme of its own (found by fuzzing).
        let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let registry = Registry::parse(&rest[..authority_end])
            .map_err(|problem| UrlProblem::Address { var, problem })?;
        let path = rest[authority_end..]
            .split(['?', '#'])
            .next()
            .unwrap_or("")
            .trim_end_matches('/')
            .to_owned();
        // Only what RFC 3986 allows in a path: a control character or a space would make
        // another URL than the one configured (found by fuzzing).
        let path_ok = path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/-._~%!$&'()*+,;=:@".contains(&b));
        if !path_ok {
            return Err(UrlProblem::Address {
                var,
                problem: AddressError::BadCharacter,
            });
        }
        let url = HarborUrl {
            scheme,
            path,
            http_on_443: scheme == Scheme::Http && explicit_443(rest),
            registry,
            from,
        };
        if scheme == Scheme::Http && !url.is_loopback() {
            return Err(UrlProblem::PlainHttp {
                var,
                host: url.host().to_owned(),
            });
        }
        Ok(url)
    }

    /// Host as it goes into a URL: lower-case, IPv6 in brackets.
    pub fn host(&self) -> &str {
        self.registry.host()
    }

    /// The port requests go to: the registry's, else the scheme's default.
    pub fn port(&self) -> u16 {
        match self.registry.port() {
            Some(p) => p,
            None if self.scheme == Scheme::Https || self.http_on_443 => 443,
            None => 80,
        }
    }

    /// `https://host[:port][/path]`, without a trailing slash.
    pub fn base(&self) -> String {
        let (scheme, default) = match self.scheme {
            Scheme::Https => ("https", 443),
            Scheme::Http => ("http", 80),
        };
        // A port the registry key carries is shown even when it is the scheme's default
        // (`http://h:80` is registry `h:80`), so the base names the same registry (found by
        // fuzzing).
        let (host, port) = (self.host(), self.port());
        if port == default && self.registry.port().is_none() {
            format!("{scheme}://{host}{}", self.path)
        } else {
            format!("{scheme}://{host}:{port}{}", self.path)
        }
    }

    /// The host without IPv6 brackets, for DNS and TLS server names.
    pub fn bare_host(&self) -> &str {
        self.host().trim_start_matches('[').trim_end_matches(']')
    }

    pub fn is_loopback(&self) -> bool {
        let h = self.bare_host();
        h == "localhost"
            || h.ends_with(".localhost")
            || h.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
    }
}

fn explicit_443(rest: &str) -> bool {
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    authority.ends_with(":443")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<HarborUrl, UrlProblem> {
        HarborUrl::parse(s, RegistryFrom::Url)
    }

    #[test]
    fn https_urls_with_ports_paths_and_slashes() {
        let u = parse("https://Harbor.Example.net:8443/").unwrap();
        assert_eq!(
            (u.host(), u.port(), u.base()),
            (
                "harbor.example.net",
                8443,
                "https://harbor.example.net:8443".into()
            )
        );
        assert_eq!(u.registry.as_str(), "harbor.example.net:8443");
        let u = parse("https://harbor.example.net").unwrap();
        assert_eq!(
            (u.port(), u.base()),
            (443, "https://harbor.example.net".into())
        );
        let u = parse("https://harbor.example.net:443/sub/path/").unwrap();
        assert_eq!(
            (u.port(), u.base()),
            (443, "https://harbor.example.net/sub/path".into())
        );
        let u = HarborUrl::parse("harbor.example.net", RegistryFrom::Host).unwrap();
        assert_eq!(u.base(), "https://harbor.example.net");
        let u = parse("https://[::1]:9443").unwrap();
        assert_eq!((u.host(), u.port(), u.bare_host()), ("[::1]", 9443, "::1"));
        assert!(u.is_loopback());
    }

    #[test]
    fn http_to_port_443_keeps_the_port_the_registry_key_drops() {
        let u = parse("http://localhost:443/").unwrap();
        assert_eq!(
            (u.registry.as_str(), u.port(), u.base()),
            ("localhost", 443, "http://localhost:443".into())
        );
    }

    #[test]
    fn plain_http_only_for_loopback() {
        let u = parse("http://127.0.0.1:8080/").unwrap();
        assert_eq!(
            (u.scheme, u.port(), u.base()),
            (Scheme::Http, 8080, "http://127.0.0.1:8080".into())
        );
        let u = parse("http://localhost").unwrap();
        assert_eq!(u.port(), 80);
        let u = parse("http://127.0.0.1:80").unwrap();
        assert_eq!(
            (u.registry.as_str(), u.base()),
            ("127.0.0.1:80", "http://127.0.0.1:80".into())
        );
        assert_eq!(
            parse("http://harbor.example.net").unwrap_err(),
            UrlProblem::PlainHttp {
                var: "HARBOR_URL",
                host: "harbor.example.net".into()
            }
        );
        assert!(matches!(
            parse("ftp://h").unwrap_err(),
            UrlProblem::Scheme { .. }
        ));
        assert!(matches!(
            parse("https://").unwrap_err(),
            UrlProblem::Address { .. }
        ));
        for bad in [
            "https://h/a b",
            "https://h/x\u{1}\t",
            "https://h/\u{e9}",
            "http://http://127.0.0.1:080",
            "https://https://h",
        ] {
            assert!(
                matches!(parse(bad).unwrap_err(), UrlProblem::Address { .. }),
                "{bad:?}"
            );
        }
    }
}
