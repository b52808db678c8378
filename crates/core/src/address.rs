//! The one canonical form of a registry address: `host[:port]`.
//!
//! Every credential source is keyed by this form, so `https://Harbor.example.com:443/v2/`,
//! `harbor.example.com/library/nginx` and `harbor.example.com` name the same entry
//! (docs/protocol.md#registry-addresses). Pure string work: no I/O, no DNS, no allocation
//! beyond the result.
//! It must never treat two different registries as one: a different port is a different
//! registry, and Docker Hub never matches anything configured for Harbor.

use std::fmt;

/// The key Docker Hub is stored under, whatever alias a client used.
pub const DOCKER_HUB: &str = "docker.io";

/// Hosts that mean Docker Hub (docker sends `https://index.docker.io/v1/`, podman `docker.io`,
/// go-containerregistry `index.docker.io`, BuildKit `registry-1.docker.io`).
const DOCKER_HUB_ALIASES: [&str; 4] = [
    "docker.io",
    "index.docker.io",
    "registry-1.docker.io",
    "registry.hub.docker.com",
];

/// A registry in canonical `host[:port]` form: lower-case host, IPv6 in brackets, no scheme,
/// no path, no `:443`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Registry(String);

/// Why an address has no canonical form. The text never repeats the address itself, because
/// callers may pass strings that carry user information.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    #[error("the registry address is empty")]
    Empty,
    #[error("the registry address has no host name")]
    NoHost,
    #[error("the registry address has a port that is not a number from 1 to 65535")]
    BadPort,
    #[error("the registry address contains a character that cannot appear in a host name")]
    BadCharacter,
}

impl Registry {
    /// Canonicalises what a client, a user or a CI variable calls a registry.
    pub fn parse(input: &str) -> Result<Registry, AddressError> {
        let s = input.trim();
        if s.is_empty() {
            return Err(AddressError::Empty);
        }
        let s = strip_scheme(s);
        // The authority ends at the first '/', '?' or '#'.
        let authority = s.split(['/', '?', '#']).next().unwrap_or("");
        // Userinfo (`user:pass@host`) is never part of the key.
        let hostport = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        if hostport.is_empty() {
            return Err(AddressError::NoHost);
        }
        let (host, port) = split_host_port(hostport)?;
        let host = canonical_host(host)?;
        let mut key = host;
        match port {
            None | Some(443) => {}
            Some(p) => {
                key.push(':');
                key.push_str(&p.to_string());
            }
        }
        if DOCKER_HUB_ALIASES.contains(&key.as_str()) {
            key = DOCKER_HUB.to_string();
        }
        Ok(Registry(key))
    }

    /// The canonical `host[:port]` text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The host part: a name, an IPv4 address, or an IPv6 address in brackets.
    pub fn host(&self) -> &str {
        self.split().0
    }

    /// The port, when it is not the default (443 is never kept).
    pub fn port(&self) -> Option<u16> {
        self.split().1
    }

    fn split(&self) -> (&str, Option<u16>) {
        // The key is canonical: a port can only follow the last ':' outside brackets.
        match self.0.rsplit_once(':') {
            Some((h, p)) if !h.contains(':') || h.ends_with(']') => (h, p.parse().ok()),
            _ => (&self.0, None),
        }
    }

    /// Docker Hub, under any alias. Harbor sources must never answer for it.
    pub fn is_docker_hub(&self) -> bool {
        self.0 == DOCKER_HUB
    }
}

impl fmt::Display for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn strip_scheme(s: &str) -> &str {
    for scheme in ["https://", "http://", "oci://"] {
        // Compared as bytes: slicing the `str` could cut a character in two and panic
        // (docs/security.md#what-holds-and-how-it-is-checked). A match is all ASCII, so the rest
        // starts on a character boundary.
        if s.as_bytes()
            .get(..scheme.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(scheme.as_bytes()))
        {
            return s.get(scheme.len()..).unwrap_or("");
        }
    }
    s
}

/// Splits `host`, `host:port`, `[v6]`, `[v6]:port`; a bare IPv6 literal (several colons, no
/// brackets) is a host without a port. IPv6 hosts come back without brackets, and
/// `canonical_host` recognises them by their colons.
fn split_host_port(s: &str) -> Result<(&str, Option<u16>), AddressError> {
    if let Some(rest) = s.strip_prefix('[') {
        let (inside, after) = rest.split_once(']').ok_or(AddressError::BadCharacter)?;
        if inside.is_empty() {
            return Err(AddressError::NoHost);
        }
        let port = match after {
            "" => None,
            p => Some(parse_port(
                p.strip_prefix(':').ok_or(AddressError::BadCharacter)?,
            )?),
        };
        return Ok((inside, port));
    }
    match s.split_once(':') {
        None => Ok((s, None)),
        Some((h, p)) if !p.contains(':') => Ok((h, Some(parse_port(p)?))),
        Some(_) => Ok((s, None)),
    }
}

fn parse_port(p: &str) -> Result<u16, AddressError> {
    if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AddressError::BadPort);
    }
    match p.parse::<u16>() {
        Ok(0) | Err(_) => Err(AddressError::BadPort),
        Ok(n) => Ok(n),
    }
}

/// Longest host name DNS allows, and longest label.
const MAX_HOST: usize = 253;
const MAX_LABEL: usize = 63;

/// The key doubles as a directory name (`certs.d/<key>/`), so a host must be a real name or
/// address: `.`, `..` or an empty label would name another directory
/// (docs/protocol.md#registry-addresses).
fn canonical_host(host: &str) -> Result<String, AddressError> {
    if host.is_empty() {
        return Err(AddressError::NoHost);
    }
    if host.contains(':') {
        // IPv6 literal, with an optional zone after '%' (letters, digits, '-', '_', '.').
        let (addr, zone) = match host.split_once('%') {
            Some((a, z)) => (a, Some(z)),
            None => (host, None),
        };
        if addr.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(AddressError::BadCharacter);
        }
        if let Some(z) = zone {
            let ok = !z.is_empty()
                && z.len() <= MAX_LABEL
                && z.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
            if !ok {
                return Err(AddressError::BadCharacter);
            }
        }
        return Ok(format!("[{}]", host.to_ascii_lowercase()));
    }
    // Registry host names: letters, digits, '-', '_' (docker allows '_' in some setups),
    // labels joined by single dots, and one trailing dot (the DNS root) allowed.
    let host = host.strip_suffix('.').unwrap_or(host);
    if host.is_empty() {
        return Err(AddressError::NoHost);
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= MAX_LABEL
            && l.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
    };
    if host.len() > MAX_HOST || !host.split('.').all(label_ok) {
        return Err(AddressError::BadCharacter);
    }
    Ok(host.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> String {
        Registry::parse(s)
            .map(|r| r.0)
            .unwrap_or_else(|e| format!("error: {e:?}"))
    }

    #[test]
    fn canonical_forms() {
        let table = [
            ("harbor.example.com", "harbor.example.com"),
            ("  harbor.example.com \t\r\n", "harbor.example.com"),
            ("https://harbor.example.com", "harbor.example.com"),
            ("https://harbor.example.com/", "harbor.example.com"),
            ("http://harbor.example.com/v2/", "harbor.example.com"),
            ("HTTPS://Harbor.Example.COM/x", "harbor.example.com"),
            ("oci://harbor.example.com/proj", "harbor.example.com"),
            ("harbor.example.com/library/nginx", "harbor.example.com"),
            ("HARBOR.EXAMPLE.COM", "harbor.example.com"),
            ("harbor.example.com:443", "harbor.example.com"),
            ("https://harbor.example.com:443/", "harbor.example.com"),
            ("harbor.example.com:8443", "harbor.example.com:8443"),
            ("harbor.example.com:08443", "harbor.example.com:8443"),
            ("http://harbor.lan:80", "harbor.lan:80"),
            ("harbor.example.com.", "harbor.example.com"),
            ("127.0.0.1:5000", "127.0.0.1:5000"),
            ("https://user:pw@harbor.example.com/", "harbor.example.com"),
            ("harbor.example.com?x=1", "harbor.example.com"),
            ("[::1]:5000", "[::1]:5000"),
            ("https://[FE80::1]/v2/", "[fe80::1]"),
            ("[::1]:443", "[::1]"),
            ("::1", "[::1]"),
            ("https://index.docker.io/v1/", "docker.io"),
            ("index.docker.io/library/alpine", "docker.io"),
            ("docker.io", "docker.io"),
            ("registry-1.docker.io", "docker.io"),
        ];
        for (input, want) in table {
            assert_eq!(key(input), want, "input {input:?}");
        }
    }

    #[test]
    fn rejects_what_has_no_host_or_a_bad_port() {
        assert_eq!(Registry::parse(""), Err(AddressError::Empty));
        assert_eq!(Registry::parse(" \r\n"), Err(AddressError::Empty));
        assert_eq!(Registry::parse("https://"), Err(AddressError::NoHost));
        assert_eq!(Registry::parse("https:///x"), Err(AddressError::NoHost));
        assert_eq!(Registry::parse(":5000"), Err(AddressError::NoHost));
        assert_eq!(Registry::parse("h:0"), Err(AddressError::BadPort));
        assert_eq!(Registry::parse("h:65536"), Err(AddressError::BadPort));
        assert_eq!(Registry::parse("h:"), Err(AddressError::BadPort));
        assert_eq!(Registry::parse("h:x"), Err(AddressError::BadPort));
        assert_eq!(Registry::parse("a b"), Err(AddressError::BadCharacter));
        assert_eq!(Registry::parse("[::1"), Err(AddressError::BadCharacter));
    }

    #[test]
    fn issue_9_non_ascii_near_the_start_is_an_error_not_a_panic() {
        for s in [
            "abcde\u{20ac}x",
            "\u{20ac}",
            "ht\u{e9}ps://x",
            "oci:\u{10348}",
            "h\u{fffd}:1",
        ] {
            assert!(Registry::parse(s).is_err(), "{s:?}");
        }
        assert_eq!(key("https://h.example/\u{20ac}"), "h.example");
    }

    #[test]
    fn issue_9_hosts_that_would_name_another_directory_are_refused() {
        for s in [
            ".",
            "..",
            "...",
            "https://...",
            "https://../x",
            "a..b",
            ".a",
            "a.b..",
            "[..:..]",
            "[::1%]",
            "[::1%../x]",
            "[fe80::1%eth0/]",
        ] {
            let r = Registry::parse(s);
            assert!(
                r.as_ref()
                    .map_or(true, |r| !r.as_str().contains("..") && r.as_str() != "."),
                "{s:?} gave {r:?}"
            );
        }
        for s in [
            ".",
            "..",
            "...",
            "https://...",
            "a..b",
            ".a",
            "[..:..]",
            "[::1%]",
        ] {
            assert!(Registry::parse(s).is_err(), "{s:?}");
        }
        assert_eq!(key("[fe80::1%eth0]:5000"), "[fe80::1%eth0]:5000");
        assert_eq!(key("h.example."), "h.example");
        assert!(Registry::parse(&"a".repeat(64)).is_err());
        assert!(Registry::parse(&format!("{}.x", "a.".repeat(130))).is_err());
    }

    #[test]
    fn host_and_port_of_the_canonical_form() {
        let parts = |s: &str| {
            let r = Registry::parse(s).unwrap();
            (r.host().to_owned(), r.port())
        };
        assert_eq!(parts("h.example:8443"), ("h.example".into(), Some(8443)));
        assert_eq!(parts("h.example:443"), ("h.example".into(), None));
        assert_eq!(parts("[::1]:5000"), ("[::1]".into(), Some(5000)));
        assert_eq!(parts("::1"), ("[::1]".into(), None));
        assert_eq!(parts("127.0.0.1"), ("127.0.0.1".into(), None));
    }

    #[test]
    fn docker_hub_is_recognised_and_harbor_is_not() {
        assert!(
            Registry::parse("https://index.docker.io/v1/")
                .unwrap()
                .is_docker_hub()
        );
        assert!(
            !Registry::parse("harbor.docker.io.example")
                .unwrap()
                .is_docker_hub()
        );
        assert!(!Registry::parse("docker.io:5000").unwrap().is_docker_hub());
    }

    #[test]
    fn errors_never_echo_the_input() {
        let e = Registry::parse("https://user:s3cr3t@a b/").unwrap_err();
        assert!(!e.to_string().contains("s3cr3t"));
    }
}
