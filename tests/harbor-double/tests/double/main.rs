//! Proof that the double is faithful: each test drives a fresh double over real TLS with
//! reqwest (rustls, ring, the double's CA) or with real clients (skopeo, the built binary),
//! and checks what docs/harbor-api.md says Harbor answers. Tests must never reach beyond 127.0.0.1
//! and never leave a process behind (every double is dropped at the end of its test).
//!
//! One test binary; the files next to this one are its modules.

// Tests report what they measured on stderr, as the main crate's tests do.
#![allow(clippy::print_stderr, clippy::print_stdout)]

/// Shared support: a started double in a temporary directory, a client, requests and answers.
mod util;

/// db_auth, oidc_auth CLI secrets and the failed-login lock (docs/harbor-api.md#auth-modes).
mod auth_modes;
/// The `harbor-double` binary, start-up time, Send and Sync.
mod binary;
/// systeminfo, the current user and its permissions
/// (docs/harbor-api.md#the-current-user-and-its-permissions).
mod discovery;
/// Injected faults, TLS modes, the plain-HTTP redirector, handler panics
/// (docs/harbor-api.md#faults-and-tls-modes).
mod faults;
/// The GitLab id_token issuer double beside it.
mod gitlab;
/// The Kubernetes service-account token issuer double beside it.
mod kubernetes;
/// Project existence, lookup and listing (docs/harbor-api.md#projects).
mod projects;
/// The `/v2/` probe and the real registry behind it, with skopeo (docs/harbor-api.md#the-v2-probe).
mod registry;
/// What every core response carries: request id, session cookie, CSRF, the log
/// (docs/harbor-api.md#every-call).
mod responses;
/// The robot v2 API: create, use, read, list, update, refresh, delete
/// (docs/harbor-api.md#robot-accounts).
mod robots;
/// The token service: actions per role and robot, the token and JWT shapes
/// (docs/harbor-api.md#the-token-service).
mod token;
