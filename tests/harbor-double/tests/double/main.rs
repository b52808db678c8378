//! Proof that the double is faithful: each test drives a fresh double over real TLS with
//! reqwest (rustls, ring, the double's CA) or with real clients (skopeo, the built binary),
//! and checks what harbor-api.md says Harbor answers. Tests must never reach beyond 127.0.0.1
//! and never leave a process behind (every double is dropped at the end of its test).
//!
//! One test binary; the files next to this one are its modules.

// Tests report what they measured on stderr, as the main crate's tests do.
#![allow(clippy::print_stderr, clippy::print_stdout)]

/// Shared support: a started double in a temporary directory, a client, requests and answers.
mod util;

/// db_auth, oidc_auth CLI secrets and the failed-login lock (§0, §6).
mod auth_modes;
/// The `harbor-double` binary, start-up time, Send and Sync.
mod binary;
/// systeminfo, the current user and its permissions (§1, §3).
mod discovery;
/// Injected faults, TLS modes, the plain-HTTP redirector, handler panics (§8 items 17–20).
mod faults;
/// Project existence, lookup and listing (§2).
mod projects;
/// The `/v2/` probe and the real registry behind it, with skopeo (§4).
mod registry;
/// What every core response carries: request id, session cookie, CSRF, the log (§0).
mod responses;
/// The robot v2 API: create, use, read, list, update, refresh, delete (§5).
mod robots;
/// The token service: actions per role and robot, the token and JWT shapes (§4).
mod token;
