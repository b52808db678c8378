//! A Harbor test double: Harbor's API, token service and `/v2/` front door over TLS on
//! 127.0.0.1, with a **real** distribution registry behind `/v2/…`, behaving as
//! `shared/reference/harbor-api.md` says Harbor really behaves (its §8 is the checklist).
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
//! - `lib.rs` (this file): the public API ([`Config`], [`Harbor`], [`Fault`], [`Logged`], …).
//! - `model`: users, projects, robots, authentication (§0, §5, §6) and permissions (§3).
//! - `rbac`: Harbor's role and robot policy tables, copied from Harbor's source.
//! - `server`: listeners, TLS, the per-request pipeline (log, faults, request id, CSRF, auth,
//!   read-only) and nginx's pages (§0, §8 items 17–20).
//! - `api`: the `/api/…` handlers (§1, §2, §3, §5).
//! - `token`: the registry token service and JWTs (§4).
//! - `registry`: the `docker-registry` process and the `/v2/` handler and reverse proxy (§4).
//! - `pki`: the token signing key, the libtrust key id and the TLS certificates.
//! - `respond`, `util`: response builders, clock, randomness and query parsing.

mod api;
mod model;
mod pki;
mod rbac;
mod registry;
mod respond;
mod server;
mod token;
mod util;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// How the double authenticates Basic credentials (harbor-api.md §6).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AuthMode {
    /// Passwords checked against Harbor's database (`db_auth`).
    #[default]
    DbAuth,
    /// LDAP passwords (`ldap_auth`); for the double the same as `DbAuth` except that an email
    /// address is not accepted as the login.
    LdapAuth,
    /// `oidc_auth`: every user except `admin` (user id 1) logs in with a CLI secret, which is
    /// accepted only on the paths of §6's allow-list.
    OidcAuth,
}

/// Which Harbor release the double imitates where releases differ (harbor-api.md §7).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum HarborVersion {
    /// 2.0: ping answers the JSON string `"Pong"`, systeminfo is fully anonymous, token actions
    /// use the RWM list (`["push","*","pull"]`), anonymous tokens carry `"sub":""`, robots get 500
    /// on `/users/current`, project paths take numeric ids only and `/robots` does not exist.
    V2_0,
    /// 2.12: like 2.13 except that `harbor_version` is shown to anonymous callers.
    V2_12,
    /// 2.13 (the default).
    #[default]
    V2_13,
}

/// The server certificate the double presents (harbor-api.md §8 item 20).
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

/// A project role (harbor-api.md §3; ids as in Harbor: 1, 4, 2, 3, 5).
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
    /// `robot_name_prefix`; Harbor's default is `robot$`.
    pub robot_prefix: String,
    /// Start a real `docker-registry` behind `/v2/…`.
    pub registry: bool,
    pub tls: TlsMode,
    /// Also listen on a plain-HTTP port that answers everything with nginx's 308 (§0 Redirects).
    pub plain_http: bool,
    /// §0: sleep 1.5 s and lock the username for 1.5 s after bad credentials. Off by default
    /// because it makes every negative test slow.
    pub failed_login_delay: bool,
    /// §5: the system is in read-only mode.
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

/// An infrastructure failure to inject (harbor-api.md §8 items 17–18). A fault applies after
/// the request is logged and before any normal handling.
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

/// A running double. Dropping it stops the listeners and kills the registry.
pub struct Harbor {
    shared: Arc<server::Shared>,
    runtime: Option<tokio::runtime::Runtime>,
    registry: Option<registry::RegistryProcess>,
    port: u16,
    http_port: Option<u16>,
    ca_file: PathBuf,
    other_ca_file: PathBuf,
}

impl fmt::Debug for Harbor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Harbor")
            .field("url", &self.url())
            .field("http_url", &self.http_url())
            .field("registry", &self.registry.is_some())
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}

impl Harbor {
    /// Starts a double. Certificates, keys, the registry's configuration, storage and log go
    /// under `dir` (created if missing). Panics with a clear message when something cannot
    /// start, because a test cannot go on without its Harbor.
    pub fn start(dir: &Path, config: Config) -> Harbor {
        std::fs::create_dir_all(dir)
            .unwrap_or_else(|e| panic!("harbor-double: cannot create {}: {e}", dir.display()));
        let token_key = pki::token_key();
        let token_cert = dir.join("token.crt");
        write(&token_cert, token_key.cert_pem.as_bytes());

        let certs = pki::TlsFiles::generate(config.tls);
        let ca_file = dir.join("ca.crt");
        let other_ca_file = dir.join("other-ca.crt");
        write(&ca_file, certs.ca_pem.as_bytes());
        write(&other_ca_file, certs.other_ca_pem.as_bytes());
        write(&dir.join("server.crt"), certs.server_cert_pem.as_bytes());
        write(&dir.join("server.key"), certs.server_key_pem.as_bytes());

        let https = bind_loopback();
        let port = https.local_addr().map(|a| a.port()).unwrap_or_default();
        let plain = config.plain_http.then(bind_loopback);
        let http_port = plain
            .as_ref()
            .and_then(|l| l.local_addr().ok())
            .map(|a| a.port());

        // The layout skopeo/podman expect for --cert-dir, so tests need not build it.
        let cert_dir = dir.join("certs.d").join(format!("127.0.0.1:{port}"));
        std::fs::create_dir_all(&cert_dir)
            .unwrap_or_else(|e| panic!("harbor-double: cannot create {}: {e}", cert_dir.display()));
        write(&cert_dir.join("ca.crt"), certs.ca_pem.as_bytes());

        let registry = config
            .registry
            .then(|| registry::RegistryProcess::start(dir, port, &token_cert));

        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("harbor-double")
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("harbor-double: cannot start a tokio runtime: {e}"));

        let shared = Arc::new(server::Shared::new(
            config,
            port,
            registry.as_ref().map(|r| r.port),
            token_key,
        ));
        let tls = server::tls_acceptor(&certs);
        {
            let _guard = runtime.enter();
            server::spawn_https(shared.clone(), https, tls);
            if let Some(plain) = plain {
                server::spawn_plain(shared.clone(), plain);
            }
        }
        Harbor {
            shared,
            runtime: Some(runtime),
            registry,
            port,
            http_port,
            ca_file,
            other_ca_file,
        }
    }

    /// `https://127.0.0.1:PORT`, without a trailing slash.
    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    /// `127.0.0.1:PORT`: the registry host as clients name it.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT2` when the plain-HTTP listener is on.
    pub fn http_url(&self) -> Option<String> {
        self.http_port.map(|p| format!("http://127.0.0.1:{p}"))
    }

    /// PEM of the CA that signs the server certificate: what a client must trust. The same file
    /// is also at `DIR/certs.d/127.0.0.1:PORT/ca.crt` for `--cert-dir`.
    pub fn ca_file(&self) -> PathBuf {
        self.ca_file.clone()
    }

    /// PEM of an unrelated CA, for the "wrong CA" case.
    pub fn other_ca_file(&self) -> PathBuf {
        self.other_ca_file.clone()
    }

    /// A fixture user's password (random per instance); in `OidcAuth` mode, for every user
    /// but `admin`, the user's CLI secret. Panics for an unknown user.
    pub fn password(&self, user: &str) -> String {
        self.shared
            .model()
            .user_by_name(user)
            .map(|u| u.password.clone())
            .unwrap_or_else(|| panic!("harbor-double: no user {user:?}"))
    }

    /// Adds a user, optionally with a role on a project (which must exist). In `OidcAuth` mode
    /// the password is the user's CLI secret.
    pub fn add_user(&self, name: &str, password: &str, role: Option<(&str, Role)>, sysadmin: bool) {
        let mut model = self.shared.model();
        let role = role.map(|(project, role)| {
            let id = model
                .project_by_name(project)
                .unwrap_or_else(|| panic!("harbor-double: no project {project:?}"))
                .id;
            (id, role)
        });
        model.add_user(name, password, role, sysadmin);
    }

    /// Adds a project (extra to the fixtures `proj` and `pub`) and returns its id.
    pub fn add_project(&self, name: &str, public: bool) -> i64 {
        self.shared.model().add_project(name, public)
    }

    /// Adds a project robot with these repository actions (for example `["pull","push"]`),
    /// expiring after `duration_days` days (-1: never).
    pub fn add_robot(
        &self,
        project: &str,
        name: &str,
        actions: &[&str],
        duration_days: i64,
    ) -> Robot {
        let mut model = self.shared.model();
        let project_id = model
            .project_by_name(project)
            .unwrap_or_else(|| panic!("harbor-double: no project {project:?}"))
            .id;
        let access = actions
            .iter()
            .map(|a| ("repository".to_owned(), (*a).to_owned()))
            .collect();
        let (id, secret) =
            model.add_robot(project_id, name, access, duration_days, "", ("local", 1));
        let name = model.robot_full_name(id).unwrap_or_default();
        Robot { id, name, secret }
    }

    pub fn robot(&self, id: i64) -> Option<RobotInfo> {
        self.shared.model().robot_info(id)
    }

    pub fn robots(&self) -> Vec<RobotInfo> {
        let model = self.shared.model();
        model
            .robots
            .iter()
            .filter_map(|r| model.robot_info(r.id))
            .collect()
    }

    /// Moves the robot's `expires_at` into the past (§8 item 16).
    pub fn expire_robot(&self, id: i64) {
        if let Some(r) = self.shared.model().robot_mut(id) {
            r.expires_at = util::now_unix() - 60;
        }
    }

    /// Sets `disable: true` on the robot (§8 item 16).
    pub fn disable_robot(&self, id: i64) {
        if let Some(r) = self.shared.model().robot_mut(id) {
            r.disabled = true;
        }
    }

    /// Applies to every request on the HTTPS listener until changed. `Fault::None` clears every
    /// fault, including those set with [`Harbor::set_fault_on`].
    pub fn set_fault(&self, fault: Fault) {
        self.shared.set_fault(None, fault);
    }

    /// Applies only to requests whose path (as received) starts with `path_prefix`; the longest
    /// matching prefix wins over the global fault. `Fault::None` removes this prefix's fault.
    pub fn set_fault_on(&self, path_prefix: &str, fault: Fault) {
        self.shared.set_fault(Some(path_prefix), fault);
    }

    /// Every HTTP request on both listeners so far, in order of arrival, including proxied
    /// `/v2/…` ones and faulted ones.
    pub fn requests(&self) -> Vec<Logged> {
        self.shared.requests()
    }

    pub fn clear_requests(&self) {
        self.shared.clear_requests();
    }
}

impl Drop for Harbor {
    fn drop(&mut self) {
        // shutdown_background, not a blocking drop: a test may drop the double inside an async
        // context, where blocking on the runtime's shutdown would panic.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
        if let Some(mut registry) = self.registry.take() {
            registry.stop();
        }
    }
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes)
        .unwrap_or_else(|e| panic!("harbor-double: cannot write {}: {e}", path.display()));
}

fn bind_loopback() -> std::net::TcpListener {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap_or_else(|e| panic!("harbor-double: cannot listen on 127.0.0.1: {e}"));
    listener
        .set_nonblocking(true)
        .unwrap_or_else(|e| panic!("harbor-double: cannot make a listener non-blocking: {e}"));
    listener
}
