//! harbor-broker's decision core: what the broker decides when a GitLab CI job hands it an
//! `id_token` to trade it for a job robot, with no network server and no Harbor call. A later slice
//! wraps it in the `harbor-broker` binary (HTTP server, JWKS fetcher, robot minting, sweeper, audit
//! line); none of those exists yet.
//!
//! What it must never do: put a token, a password or a key in a message, a log line, a panic
//! or `Debug`; grant anything without a `[[rules]]` entry that names the job's project or
//! namespace (default deny); accept a token that is not RS256, not signed by a key of the
//! issuer's JWKS, or not for this broker's `iss` and `aud`.
//!
//! The map, bottom up (an arrow is "may use"):
//! - `crypto`: the RS256 verifier (ring) installed into jsonwebtoken; no other algorithm.
//! - [`keys`]: the [`keys::KeyStore`] trait; [`keys::Jwks`], its real side's cache of the
//!   issuer's JWKS behind a [`keys::FetchJwks`] and a [`keys::Clock`]; [`keys::StaticKeys`],
//!   a JWKS pinned by hand.
//! - [`claims`] → keys, crypto: GitLab's id_token claims as a typed struct, and the
//!   [`claims::TokenVerifier`] that checks a token and returns them.
//! - [`policy`] → claims: the rules, and the [`policy::decide`] that grants or refuses.
//! - [`robots`] → claims, policy: the [`robots::Robots`] trait (mint, release, sweep,
//!   readiness) the server asks of Harbor, and the values that cross it.
//! - [`config`] → policy, claims: the TOML config, validated into rules and settings, and the
//!   password file's reader.
//! - `fuzz` → claims, config, keys (the `fuzzing` feature only): the entry point of each fuzz
//!   target in `crates/broker/fuzz/`.

// pub(crate) by default: an item is `pub` only where another crate reaches it.
#![warn(unreachable_pub)]

pub mod audit;
pub mod claims;
pub mod cli;
pub mod config;
mod crypto;
// Scaffolding for crates/broker/fuzz and the corpus replay, behind the `fuzzing` feature: a
// normal build does not compile it.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzz;
pub mod http;
pub mod issuer;
pub mod keys;
pub mod metrics;
pub mod policy;
pub mod robots;
pub mod server;
pub mod service;
mod sweeper;
// Test signing for the unit tests and, behind `test-support`, the crate's integration tests.
#[cfg(any(test, feature = "test-support"))]
#[doc(hidden)]
pub mod test_keys;
