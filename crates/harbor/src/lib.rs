//! harbor-client: the Harbor client and what it knows of Harbor, blocking reqwest over
//! rustls. The helper's `doctor`, runner hooks, `robots prune` and job-robot keeper use it, and
//! so does harbor-broker's robot minting (crates/broker/src/harbor.rs).
//!
//! It knows nothing of the helper's commands or settings: what a client is built from comes in
//! as data ([`Options`]: timeout, trust files, the `certs.d` directories, proxies), the URL and
//! the account come from the core crate and keep their one path there
//! (`docker_credential_harbor_core::url` and `…::integration::Account`; nothing here re-exports
//! them), and no module here imports the command layer or reads a variable itself (reqwest
//! still reads the proxy variables, and rustls-native-certs `SSL_CERT_FILE` and
//! `SSL_CERT_DIR`). Never reachable from `get`: the core that serves the protocol does not
//! depend on this crate.
//!
//! The client ([`HarborClient`]) keeps no cookies, follows no redirect, bounds every call and
//! every answer, retries only idempotent calls, never sends a loopback request through a
//! proxy, and resolves names without any public resolver. Values put into a URL go through
//! [`encode`], and a project name must be one Harbor allows ([`is_project_name`]). The map,
//! bottom up (an arrow is "may use"; everything may use the core):
//!
//! - [`options`]: what a client is built from. Plain data.
//! - `dns`: hickory's resolver from `/etc/resolv.conf` and `/etc/hosts`, never a public one.
//! - [`token`]: reading Harbor's JWT grants. Pure.
//! - [`tls`] → options: the trust, and why a handshake failed.
//! - [`error`] → tls: [`HarborError`] and its hints. `reply` → error: an answer ([`Reply`]).
//! - `client` → dns, error, options, reply, tls: [`HarborClient`].
//! - [`probe`] → dns, error, options, tls: `doctor`'s checks of each layer, no request sent.
//! - [`verify`] → client, token: the one-request verification of the push right.
//! - [`account`] → client: whether the account is a robot (under any prefix), by one rule
//!   (`account::of`) every caller asks.
//! - [`robots`] → account, client, verify: the robot API (create with the caller's repository
//!   access, list a project's robots, delete), the helper's job-robot names and the name
//!   helpers the broker shares.
//! - [`broker`] → client, tls: the client side of harbor-broker's contract, for the runner
//!   hooks (the id_token in, a job robot out).

// pub(crate) by default: an item is `pub` only where another crate reaches it.
#![warn(unreachable_pub)]

pub mod account;
pub mod broker;
mod client;
pub(crate) mod dns;
mod error;
mod options;
pub mod probe;
mod reply;
pub mod robots;
pub mod tls;
pub mod token;
pub mod verify;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

pub use client::{ATTEMPTS, HarborClient, MAX_BODY};
pub use error::HarborError;
pub use options::{Options, Proxies, TrustFiles};
pub use reply::Reply;

/// RFC 3986's unreserved characters: the only ones a value keeps as they are.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes a query value or a path segment: everything but RFC 3986's unreserved
/// characters, so no value can add a parameter or a path segment (docs/harbor.md#the-client).
pub fn encode(v: &str) -> String {
    utf8_percent_encode(v, UNRESERVED).to_string()
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

    #[test]
    fn every_character_but_the_unreserved_is_escaped_byte_by_byte_in_upper_case() {
        let text: String = (0u8..0x80)
            .map(char::from)
            .chain(['é', '€', '😀'])
            .collect();
        let mut expected = String::new();
        for b in text.bytes() {
            match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    expected.push(char::from(b))
                }
                _ => expected.push_str(&format!("%{b:02X}")),
            }
        }
        assert_eq!(encode(&text), expected);
    }
}
