//! harbor-broker: the service that trades a GitLab CI job's `id_token` (or, with
//! `[kubernetes]`, a pod's service-account token) for a short-lived Harbor robot. The decision core (config, verification, keys, policy) decides with no network; the
//! server around it fetches the issuer's JWKS, answers the contract's endpoints, writes the
//! audit line and the metrics, and sweeps expired robots. Harbor is reached only through the
//! [`robots::Robots`] trait, whose real side talks to Harbor with `harbor-client`.
//!
//! What it must never do: put a token, a password or a key in a message, a log line, a panic
//! or `Debug`; grant anything without a `[[rules]]` entry that names the job's project or
//! namespace, or a `[[kubernetes_rules]]` entry that names the service account's namespace and
//! the image's project (default deny; pull only); accept a token that is not RS256, not signed by a key of the
//! issuer's JWKS, or not for this broker's `iss` and `aud`; run a blocking call (ring, reqwest,
//! Harbor) on an async thread.
//!
//! The map, bottom up (an arrow is "may use"):
//! - `crypto`: the RS256 verifier (ring) installed into jsonwebtoken; no other algorithm.
//! - [`keys`]: the [`keys::KeyStore`] trait; [`keys::Jwks`], its real side's cache of the
//!   issuer's JWKS behind a [`keys::FetchJwks`] and a [`keys::Clock`]; [`keys::StaticKeys`],
//!   a JWKS pinned by hand.
//! - [`claims`] → keys, crypto, kubernetes: GitLab's id_token claims as a typed struct, and the
//!   [`claims::TokenVerifier`] that checks a token and returns its claims (GitLab's, or a
//!   service account's with `verify_as`).
//! - [`kubernetes`] → claims: a Kubernetes service-account token's claims as a typed struct,
//!   and the check of its `sub` and names.
//! - [`policy`] → claims, kubernetes: the rules, and [`policy::decide`] and
//!   [`policy::decide_kubernetes`] (with the image's registry and project) that grant or
//!   refuse, and [`policy::other_kubernetes_grants`], the service account's other projects
//!   that ride along in the same answer.
//! - [`robots`] → claims, policy: the [`robots::Robots`] trait (mint, release, sweep,
//!   readiness) the server asks of Harbor, and the values that cross it.
//! - [`config`] → policy, claims: the TOML config, validated into rules and settings, and the
//!   password file's reader.
//! - [`harbor`] → robots, config, claims, policy: [`harbor::HarborRobots`], the real side of
//!   the `Robots` trait over `harbor-client` (mint, release, sweep, readiness, and Harbor's
//!   failures as 502/503/504), and [`harbor::connect`], which builds it from `[harbor]`.
//! - [`issuer`] → config, keys: [`issuer::HttpsJwks`], the real [`keys::FetchJwks`] over
//!   HTTPS (blocking reqwest, trust from `harbor_client::tls`), by OIDC discovery for a
//!   cluster without `[kubernetes] jwks_url`.
//! - [`audit`] → claims, policy: the audit line, one JSON object per decision.
//! - [`metrics`] → keys, policy: the counters and histogram in the Prometheus text format, and
//!   [`metrics::CountedFetch`], which counts JWKS fetches.
//! - [`http`]: serving an axum router over TCP or rustls with the connection, header and
//!   shutdown bounds; the TLS acceptor from `[tls]`; SIGTERM and SIGINT.
//! - [`server`] → audit, claims, config, http, keys, metrics, policy, robots: [`server::Broker`]
//!   and the endpoints, [`server::router`] and [`server::serve`].
//! - `sweeper` → server: the loop that calls [`server::Broker::sweep_once`].
//! - [`service`] → config, http, issuer, keys, metrics, server: [`service::run`], the wiring
//!   from a loaded config and a `Robots` to a running service.
//! - [`cli`] → config, service: argv, exit codes and [`cli::main`], what the binary calls.
//! - `fuzz` → claims, config, keys (the `fuzzing` feature only): the entry point of each fuzz
//!   target in `crates/broker/fuzz/`.
//! - `test_keys` (tests, and the `test-support` feature for `tests/server/`): the fixed test
//!   keys, their JWKS, and tokens signed or forged by hand.

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
pub mod harbor;
pub mod http;
pub mod issuer;
pub mod keys;
pub mod kubernetes;
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
