//! A Harbor test double: Harbor's API, token service and `/v2/` front door over TLS on
//! 127.0.0.1, with a **real** distribution registry behind `/v2/…`, behaving as
//! `docs/harbor-api.md` says Harbor really behaves; where it differs on purpose is in
//! docs/harbor-api.md#where-the-double-differs-from-harbor.
//!
//! It is for docker-credential-harbor's tests, `scripts/demo` and shell tests only, and must
//! never reach the shipped binary (it is a workspace member, not a dependency of the helper).
//! It must never listen on anything but 127.0.0.1, and never outlive its [`Harbor`] handle:
//! dropping the handle stops both listeners and kills the registry process.
//!
//! ```no_run
//! use harbor_double::{Config, Fault, Harbor};
//!
//! let dir = std::env::temp_dir().join("my-test");
//! let harbor = Harbor::start(&dir, Config { registry: true, ..Config::default() });
//! let (url, ca) = (harbor.url(), harbor.ca_file()); // https://127.0.0.1:PORT, the CA to trust
//! let alice = harbor.password("alice"); // developer on `proj`
//! let robot = harbor.add_robot("proj", "ci", &["pull", "push"], 1);
//! harbor.set_fault_on("/service/token", Fault::Html503);
//! // … run the helper against `url` …
//! assert!(harbor.requests().iter().all(|r| r.header("cookie").is_none()));
//! # let _ = (url, ca, alice, robot);
//! ```
//!
//! Map of the crate:
//! - `lib.rs` (this file): the public types ([`Config`], [`Fault`], [`Logged`], [`Robot`], …).
//! - `gitlab`: [`GitlabIssuer`], a GitLab id_token issuer double (JWKS, discovery, RS256
//!   tokens of a CI job) for harbor-broker's tests, demo and benchmark.
//! - `kubernetes`: [`KubernetesIssuer`], a Kubernetes service-account token issuer double (OIDC
//!   discovery, JWKS, pod-bound RS256 tokens) for the broker's `[kubernetes]` side.
//! - `issuer`: what the two issuer doubles share (TLS serving, test keys, signing, JWKs).
//! - `harbor`: [`Harbor`], the running double: start-up, the methods tests use, and `Drop`.
//! - `model/`: users, projects, robots, authentication (docs/harbor-api.md#authentication)
//!   and permissions (docs/harbor-api.md#roles).
//! - `rbac`: Harbor's role and robot policy tables, copied from Harbor's source.
//! - `server/`: the shared state, the listeners and TLS (`listen`), the per-request pipeline
//!   (`pipeline`: log, faults, request id, CSRF, auth, read-only) and nginx's pages
//!   (docs/harbor-api.md#faults-and-tls-modes).
//! - `api/`: the `/api/…` handlers, one module per resource.
//! - `token`: the registry token service and JWTs (docs/harbor-api.md#the-token-service).
//! - `registry`: the `docker-registry` process and the `/v2/` handler and reverse proxy
//!   (docs/harbor-api.md#the-v2-probe).
//! - `pki`: the token signing key, the libtrust key id and the TLS certificates.
//! - `panics`: makes a panic in a request handler fail the test when the double is dropped.
//! - `respond`, `util`: response builders, clock, randomness and query parsing.

mod api;
mod gitlab;
mod harbor;
mod issuer;
mod kubernetes;
mod model;
mod panics;
mod pki;
mod rbac;
mod registry;
mod respond;
mod server;
mod token;
mod util;

use std::fmt;
use std::time::Duration;

pub use gitlab::{GitlabIssuer, JobClaims};
pub use harbor::Harbor;
pub use kubernetes::{KubernetesIssuer, PodClaims};

/// How the double authenticates Basic credentials (docs/harbor-api.md#auth-modes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AuthMode {
    /// Passwords checked against Harbor's database (`db_auth`).
    #[default]
    DbAuth,
    /// LDAP passwords (`ldap_auth`); for the double the same as `DbAuth` except that an email
    /// address is not accepted as the login.
    LdapAuth,
    /// `oidc_auth`: every user except `admin` (user id 1) logs in with a CLI secret, which is
    /// accepted only on the paths of docs/harbor-api.md#oidc-cli-secrets.
    OidcAuth,
}

/// Which Harbor release the double imitates where releases differ (docs/harbor-api.md#releases).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum HarborVersion {
    /// 2.0: ping answers the JSON string `"Pong"`, systeminfo is fully anonymous, token actions
    /// use the RWM list (`["push","*","pull"]`), anonymous tokens carry `"sub":""`, robots get 500
    /// on `/users/current`, project paths take numeric ids only and `/robots` does not exist.
    V2_0,
    /// 2.12: like 2.13 except that `harbor_version` is shown to anonymous callers.
    V2_12,
    /// 2.13 (the default). Like 2.12 and 2.14, it refuses a system robot that creates a
    /// project robot (docs/harbor-api.md#creating-a-robot).
    #[default]
    V2_13,
    /// 2.15: like 2.13, and a system robot may create project robots within its own scope.
    V2_15,
}

/// The server certificate the double presents (docs/harbor-api.md#faults-and-tls-modes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TlsMode {
    /// Signed by the CA in [`Harbor::ca_file`], valid for `127.0.0.1` and `localhost`.
    #[default]
    Valid,
    /// Signed by the CA, but its only name is `DNS:harbor.invalid`.
    NameMismatch,
    /// Signed by the CA, but `not_after` is in the past.
    Expired,
    /// Valid names and dates, but self-signed: no CA vouches for it.
    SelfSigned,
}

/// A project role (docs/harbor-api.md#roles; ids as in Harbor: 1, 4, 2, 3, 5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    ProjectAdmin,
    Maintainer,
    Developer,
    Guest,
    LimitedGuest,
}

/// How the double starts.
#[derive(Clone, Debug)]
pub struct Config {
    pub auth_mode: AuthMode,
    pub version: HarborVersion,
    /// Harbor 2.1.4–2.8: add `"*"` to token actions when pull, push and delete are all granted.
    pub star_action: bool,
    /// `robot_name_prefix`; Harbor's default is `robot$`. Authentication strips it and every
    /// robot name shown carries it; [`Harbor::set_robot_prefix`] changes it while running.
    pub robot_prefix: String,
    /// Start a real `docker-registry` behind `/v2/…`.
    pub registry: bool,
    pub tls: TlsMode,
    /// Also listen on a plain-HTTP port that answers everything with nginx's 308
    /// (docs/harbor-api.md#redirects-and-tls).
    pub plain_http: bool,
    /// docs/harbor-api.md#failed-login-lock: sleep 1.5 s and lock the username for 1.5 s after bad
    /// credentials. Off by default because it makes every negative test slow.
    pub failed_login_delay: bool,
    /// docs/harbor-api.md#read-only-mode: the system is in read-only mode.
    pub read_only: bool,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            auth_mode: AuthMode::DbAuth,
            version: HarborVersion::V2_13,
            star_action: false,
            robot_prefix: "robot$".to_owned(),
            registry: false,
            tls: TlsMode::Valid,
            plain_http: false,
            failed_login_delay: false,
            read_only: false,
        }
    }
}

/// An infrastructure failure to inject (docs/harbor-api.md#faults-and-tls-modes). A fault applies
/// after the request is logged and before any normal handling.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Fault {
    #[default]
    None,
    /// 500 `{"errors":[{"code":"UNKNOWN","message":"internal server error"}]}` with X-Request-Id.
    Status500,
    /// nginx's HTML 502 page, without X-Request-Id.
    Html502,
    /// nginx's HTML 503 page, without X-Request-Id.
    Html503,
    /// nginx's HTML 504 page, without X-Request-Id.
    Html504,
    /// Wait this long, then answer normally.
    Slow(Duration),
    /// 302 with this `Location`.
    Redirect(String),
    /// Read the request, then close the connection (with a TCP reset) without answering.
    Reset,
    /// Harbor's JSON error body with this status (below 500) and this `errors[0].message`,
    /// as a Harbor that echoes user input would send it.
    ErrorMessage { status: u16, message: String },
    /// 200 `application/json` with a body of this many bytes (spaces): a server that floods.
    Huge(usize),
    /// For load tests: each request independently gets nginx's 503 with `percent_503` percent
    /// chance, else waits `slow` with `percent_slow` percent chance, then is answered normally.
    Flaky {
        percent_503: u8,
        percent_slow: u8,
        slow: Duration,
    },
    /// For the double's own tests: the request handler panics, which makes dropping the
    /// [`Harbor`] panic too (a handler panic must fail the test, not only drop a connection).
    #[doc(hidden)]
    Panic,
}

/// One HTTP request as the double received it.
#[derive(Clone, PartialEq, Eq)]
pub struct Logged {
    pub method: String,
    /// Path and query exactly as received.
    pub path: String,
    /// Every header in order, repeated ones kept, names lower-case.
    pub headers: Vec<(String, String)>,
    /// The status answered; 0 while the answer is pending or when the connection was reset.
    pub status: u16,
    /// When it arrived, in milliseconds since the Unix epoch.
    pub received_ms: i64,
}

impl Logged {
    /// The first value of a header (give the name in lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

impl fmt::Debug for Logged {
    /// Credentials are shown by scheme only, so a failing assertion never prints a password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: Vec<(String, String)> = self
            .headers
            .iter()
            .map(|(n, v)| match n.as_str() {
                "authorization" | "proxy-authorization" => {
                    let scheme = v.split(' ').next().unwrap_or("");
                    (n.clone(), format!("{scheme} (redacted)"))
                }
                _ => (n.clone(), v.clone()),
            })
            .collect();
        f.debug_struct("Logged")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("headers", &headers)
            .field("status", &self.status)
            .field("received_ms", &self.received_ms)
            .finish()
    }
}

/// A robot account as created: its id, full name (prefix included) and secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Robot {
    pub id: i64,
    /// `<prefix><project>+<name>`, for example `robot$proj+ci`.
    pub name: String,
    pub secret: String,
}

impl fmt::Debug for Robot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Robot")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("secret", &"(redacted)")
            .finish()
    }
}

/// A robot account as `GET /api/v2.0/robots/{id}` would show it (no secret).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RobotInfo {
    pub id: i64,
    pub name: String,
    /// Unix seconds, or -1 for never.
    pub expires_at: i64,
    pub disabled: bool,
    /// One entry per permission: (namespace, [(resource, action)]).
    pub permissions: Vec<(String, Vec<(String, String)>)>,
    pub description: String,
    /// Days, or -1 for never.
    pub duration: i64,
}
