//! The Harbor client and what it knows of Harbor: blocking reqwest over rustls, for `doctor`,
//! the runner hooks, `robots prune` and the job robot's keeper.
//!
//! Never reachable from `get`: it lives in the binary crate, and the core crate that serves
//! the protocol has no HTTP dependency to reach it with. The client ([`client`]) keeps no
//! cookies, follows no redirect, bounds every call and every answer, retries only idempotent
//! calls, never sends a loopback request through a proxy, and resolves names without any
//! public resolver ([`dns`]). [`probe`] holds `doctor`'s layer-by-layer checks, [`verify`]
//! the one-request verification, [`robots`] the robot API, [`account`] whether the account is
//! a robot (under any prefix), [`token`] the JWT reading, [`tls`] the trust. Values put into a URL go through [`encode`], and a project name must be
//! one Harbor allows ([`is_project_name`]).

pub mod account;
mod client;
pub(crate) mod dns;
pub mod error;
pub(crate) mod probe;
mod reply;
pub mod robots;
pub mod tls;
pub mod token;
pub mod verify;

// Harbor's URL is parsed in the core (it is part of resolving GitLab's variables).
pub use crate::url;

pub use crate::integration::Account;
pub use client::{ATTEMPTS, HarborClient, MAX_BODY};
pub use error::HarborError;
pub use reply::Reply;

/// Percent-encodes a query value or a path segment: everything but RFC 3986's unreserved
/// characters, so no value can add a parameter or a path segment (issue 9, defect 12).
pub fn encode(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Whether `name` is a Harbor project name (Harbor's own rule, which GitLab checks too:
/// lower-case letters and digits, single `.`, `_` or `-` between them, at most 255 bytes). A
/// name that is not one is never sent: `..` in a path would reach another endpoint.
pub fn is_project_name(name: &str) -> bool {
    name.len() <= 255
        && name.split(['.', '_', '-']).all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue_9_values_cannot_add_segments_or_parameters() {
        assert_eq!(
            encode("repository:proj/x:pull,push"),
            "repository%3Aproj%2Fx%3Apull%2Cpush"
        );
        assert_eq!(encode("../../x"), "..%2F..%2Fx");
        assert_eq!(encode("a b&c=d#"), "a%20b%26c%3Dd%23");
        for ok in ["proj", "my-proj", "a.b_c-9", "0"] {
            assert!(is_project_name(ok), "{ok}");
        }
        for bad in [
            "", "..", "../../x", "Proj", "a..b", "-a", "a-", "a/b", "a b", "é",
        ] {
            assert!(!is_project_name(bad), "{bad}");
        }
    }
}
