//! The running double, [`Harbor`]: start-up (certificates, listeners, the registry, the tokio
//! runtime), the methods tests use to shape and inspect it, and `Drop`, which stops
//! everything and fails the test when a request handler panicked (see `panics`). It must never
//! bind anything but 127.0.0.1, nor leave a listener or the registry running after `Drop`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::{Config, Fault, Logged, Robot, RobotInfo, Role, panics, pki, registry, server, util};

/// A running double. Dropping it stops the listeners and kills the registry, and panics when
/// a request handler panicked meanwhile.
pub struct Harbor {
    shared: Arc<server::Shared>,
    runtime: Option<tokio::runtime::Runtime>,
    registry: Option<registry::RegistryProcess>,
    port: u16,
    http_port: Option<u16>,
    /// The name of the runtime's threads, under which `panics` records handler panics.
    threads: String,
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

        let threads = panics::thread_name(port);
        panics::watch(&threads);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name(&threads)
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
            server::spawn_listener(shared.clone(), https, Some(tls));
            if let Some(plain) = plain {
                server::spawn_listener(shared.clone(), plain, None);
            }
        }
        Harbor {
            shared,
            runtime: Some(runtime),
            registry,
            port,
            http_port,
            threads,
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

    /// Moves the robot's `expires_at` into the past
    /// (docs/harbor-api.md#expired-and-disabled-robots).
    pub fn expire_robot(&self, id: i64) {
        if let Some(r) = self.shared.model().robot_mut(id) {
            r.expires_at = util::now_unix() - 60;
        }
    }

    /// Sets `disable: true` on the robot (docs/harbor-api.md#expired-and-disabled-robots).
    pub fn disable_robot(&self, id: i64) {
        if let Some(r) = self.shared.model().robot_mut(id) {
            r.disabled = true;
        }
    }

    /// Changes `robot_name_prefix` as a sysadmin would (docs/harbor-api.md#the-robot-prefix): the
    /// prefix is not stored with the robots, so every robot's login and shown name change at once,
    /// and the old logins stop being robots (they fall through to user authentication).
    pub fn set_robot_prefix(&self, prefix: &str) {
        self.shared.model().config.robot_prefix = prefix.to_owned();
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
        // Tokio caught the panic and only dropped the connection; this is where the test
        // learns of it. Not while already unwinding: a second panic would abort the process.
        let panics = panics::take(&self.threads);
        if !panics.is_empty() && !std::thread::panicking() {
            panic!(
                "a harbor-double request handler panicked: {}",
                panics.join("; ")
            );
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
