//! The broker's end-to-end rig: the Harbor double, the GitLab issuer double beside it (and,
//! opted into with [`Rig::with_kubernetes`], the Kubernetes issuer double), and real
//! `harbor-broker` processes configured for them (TLS with the double's certificate, JWKS from
//! the issuer doubles, the double's admin as the minter unless a test says otherwise), plus a
//! client that speaks the broker's API. The broker's own tests and the helper's end-to-end
//! tests (tests/broker_e2e.rs, tests/kubelet_e2e.rs: tests/util loads it once, by `#[path]`)
//! share it.
//!
//! It must never leave a process behind: every broker is killed when its handle drops, and
//! the doubles stop with theirs.

#![allow(dead_code)]

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use harbor_double::{Config, GitlabIssuer, Harbor, JobClaims, KubernetesIssuer, PodClaims};
use reqwest::blocking::Client;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use serde_json::Value;

/// The audience every broker of the rig expects.
pub const AUDIENCE: &str = "https://harbor-broker.test";

/// The audience of the Kubernetes issuer double's tokens (`[kubernetes] audience`): what a
/// kubelet's `tokenAttributes.serviceAccountTokenAudience` would say.
pub const KUBERNETES_AUDIENCE: &str = "harbor-broker";

/// The doubles and the directory the brokers' files go in.
pub struct Rig {
    pub harbor: Harbor,
    pub gitlab: GitlabIssuer,
    /// The cluster's service-account token issuer, with [`Rig::with_kubernetes`].
    pub kubernetes: Option<KubernetesIssuer>,
    pub dir: tempfile::TempDir,
}

/// How a broker of the rig is configured.
pub struct BrokerConfig {
    /// `[harbor] username`, and its password (written to the password file).
    pub username: String,
    pub password: String,
    pub ttl_seconds: u64,
    pub sweep_interval_seconds: u64,
    /// The `[[rules]]` entries, as TOML.
    pub rules: String,
    /// Whether the config has `[gitlab]` (false, with no `rules`: a Kubernetes-only broker).
    pub gitlab: bool,
    /// `[kubernetes]` and its `[[kubernetes_rules]]`, when set.
    pub kubernetes: Option<KubernetesConfig>,
}

/// A broker's `[kubernetes]` and `[[kubernetes_rules]]`.
pub struct KubernetesConfig {
    pub issuer: String,
    pub audience: String,
    /// `jwks_url`; `None`: the broker finds it by OIDC discovery.
    pub jwks_url: Option<String>,
    pub ca_file: Option<PathBuf>,
    /// Each `[[kubernetes_rules]]` entry: namespace, service account (`None`: all of the
    /// namespace's), Harbor project.
    pub rules: Vec<(String, Option<String>, String)>,
}

impl KubernetesConfig {
    /// `[kubernetes]` and `[[kubernetes_rules]]` as TOML.
    fn toml(&self) -> String {
        let mut out = format!(
            "\n[kubernetes]\nissuer = \"{}\"\naudience = \"{}\"\n",
            self.issuer, self.audience
        );
        if let Some(url) = &self.jwks_url {
            out += &format!("jwks_url = \"{url}\"\n");
        }
        if let Some(ca) = &self.ca_file {
            out += &format!("ca_file = \"{}\"\n", ca.display());
        }
        for (namespace, service_account, project) in &self.rules {
            out += &format!("\n[[kubernetes_rules]]\nnamespace = \"{namespace}\"\n");
            if let Some(name) = service_account {
                out += &format!("service_account = \"{name}\"\n");
            }
            out += &format!("harbor_project = \"{project}\"\n");
        }
        out
    }
}

/// A rule for the issuer double's default job (project 42): pull and push on `proj`.
pub const PUSH_RULE: &str = r#"
[[rules]]
project_id = "42"
harbor_project = "proj"
access = ["pull", "push"]
"#;

impl Rig {
    /// A Harbor double (`registry`: with a real registry behind `/v2/`) and an issuer double.
    pub fn start(registry: bool) -> Rig {
        let dir = tempfile::tempdir().unwrap();
        let harbor = Harbor::start(
            &dir.path().join("harbor"),
            Config {
                registry,
                ..Config::default()
            },
        );
        let gitlab = GitlabIssuer::start(&dir.path().join("gitlab"), AUDIENCE);
        Rig {
            harbor,
            gitlab,
            kubernetes: None,
            dir,
        }
    }

    /// [`Rig::start`], plus a Kubernetes issuer double for tokens with `aud =
    /// [KUBERNETES_AUDIENCE]`.
    pub fn with_kubernetes(registry: bool) -> Rig {
        let mut rig = Rig::start(registry);
        let dir = rig.dir.path().join("kubernetes");
        rig.kubernetes = Some(KubernetesIssuer::start(&dir, KUBERNETES_AUDIENCE));
        rig
    }

    /// The Kubernetes issuer double; panics when the rig was started without it.
    pub fn kubernetes(&self) -> &KubernetesIssuer {
        self.kubernetes
            .as_ref()
            .expect("start the rig with Rig::with_kubernetes")
    }

    /// `[kubernetes]` for the issuer double (its CA, discovery for the JWKS) with `rules`.
    pub fn kubernetes_config(&self, rules: &[(&str, Option<&str>, &str)]) -> KubernetesConfig {
        let issuer = self.kubernetes();
        KubernetesConfig {
            issuer: issuer.url(),
            audience: issuer.audience(),
            jwks_url: None,
            ca_file: Some(issuer.ca_file()),
            rules: rules
                .iter()
                .map(|(ns, sa, project)| {
                    (
                        (*ns).to_owned(),
                        sa.map(str::to_owned),
                        (*project).to_owned(),
                    )
                })
                .collect(),
        }
    }

    /// A pod's service-account token, from the Kubernetes issuer double.
    pub fn sa_token(&self, pod: &PodClaims) -> String {
        self.kubernetes().token(pod)
    }

    /// An image on the double's Harbor, as a kubelet would name it: `<host:port>/<path>`.
    pub fn image(&self, path: &str) -> String {
        format!("{}/{path}", self.harbor.addr())
    }

    /// The double's admin as the minter, pull and push on `proj` for project 42.
    pub fn admin_config(&self) -> BrokerConfig {
        BrokerConfig {
            username: "admin".to_owned(),
            password: self.harbor.password("admin"),
            ttl_seconds: 300,
            sweep_interval_seconds: 300,
            rules: PUSH_RULE.to_owned(),
            gitlab: true,
            kubernetes: None,
        }
    }

    /// A job's token, from the issuer double.
    pub fn token(&self, job: &JobClaims) -> String {
        self.gitlab.token(job)
    }

    /// Starts a broker process with `config`; waits until it is ready.
    pub fn broker(&self, name: &str, config: &BrokerConfig) -> Broker {
        let dir = self.dir.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let password_file = dir.join("harbor-password");
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&password_file)
            .and_then(|mut f| f.write_all(config.password.as_bytes()))
            .unwrap();
        let port = free_port();
        let harbor_dir = self.dir.path().join("harbor");
        let toml = format!(
            r#"listen = "127.0.0.1:{port}"

[tls]
cert_file = "{cert}"
key_file = "{key}"

{gitlab}
[harbor]
url = "{harbor_url}"
username = "{username}"
password_file = "{password_file}"
ca_file = "{harbor_ca}"

[robots]
ttl_seconds = {ttl}
sweep_interval_seconds = {sweep}
{rules}{kubernetes}"#,
            cert = harbor_dir.join("server.crt").display(),
            key = harbor_dir.join("server.key").display(),
            gitlab = if config.gitlab {
                format!(
                    "[gitlab]\nissuer = \"{}\"\naudience = \"{AUDIENCE}\"\nca_file = \"{}\"\n",
                    self.gitlab.url(),
                    self.gitlab.ca_file().display()
                )
            } else {
                String::new()
            },
            harbor_url = self.harbor.url(),
            username = config.username,
            password_file = password_file.display(),
            harbor_ca = self.harbor.ca_file().display(),
            ttl = config.ttl_seconds,
            sweep = config.sweep_interval_seconds,
            rules = config.rules,
            kubernetes = config
                .kubernetes
                .as_ref()
                .map(KubernetesConfig::toml)
                .unwrap_or_default(),
        );
        let config_file = dir.join("harbor-broker.toml");
        std::fs::write(&config_file, toml).unwrap();
        Broker::spawn(&dir, &config_file, port, &self.harbor.ca_file())
    }
}

/// A port nothing listens on now (the broker binds it a moment later).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The `harbor-broker` binary: cargo's for the broker's own tests, else the one beside the
/// helper's binary in the same target directory (cargo test --workspace builds both).
pub fn broker_binary() -> PathBuf {
    if let Some(bin) = option_env!("CARGO_BIN_EXE_harbor-broker") {
        return PathBuf::from(bin);
    }
    let Some(helper) = option_env!("CARGO_BIN_EXE_docker-credential-harbor") else {
        panic!("the rig runs in a test of the broker or of the helper");
    };
    let helper = PathBuf::from(helper);
    let bin = helper.with_file_name("harbor-broker");
    assert!(
        bin.exists(),
        "{} is missing: build it first (cargo build -p harbor-broker)",
        bin.display()
    );
    bin
}

/// A running broker process; killed on drop.
pub struct Broker {
    pub child: Child,
    pub url: String,
    pub dir: PathBuf,
    client: Client,
}

impl Broker {
    fn spawn(dir: &Path, config_file: &Path, port: u16, ca: &Path) -> Broker {
        let stdout = std::fs::File::create(dir.join("audit.log")).unwrap();
        let stderr = std::fs::File::create(dir.join("stderr.log")).unwrap();
        let child = Command::new(broker_binary())
            .arg("--config")
            .arg(config_file)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .unwrap();
        let mut broker = Broker {
            child,
            url: format!("https://127.0.0.1:{port}"),
            dir: dir.to_owned(),
            client: client_trusting(ca),
        };
        broker.wait_ready();
        broker
    }

    /// Waits (at most 60 s, a hang guard) until `/readyz` answers 200; fails at once, with
    /// its stderr, when the broker exits instead (a config it refuses).
    fn wait_ready(&mut self) {
        let start = Instant::now();
        loop {
            if let Ok(r) = self.client.get(format!("{}/readyz", self.url)).send()
                && r.status() == 200
            {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("the broker exited ({status}): {}", self.stderr());
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "the broker did not become ready: {}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `POST /v1/credentials`: the status and the JSON body.
    pub fn mint(&self, token: &str, access: &str) -> (u16, Value) {
        self.try_mint(token, access).unwrap()
    }

    /// [`Broker::mint`], or the client's error (a broker that is gone, the 60 s timeout).
    pub fn try_mint(&self, token: &str, access: &str) -> reqwest::Result<(u16, Value)> {
        answer(
            self.client
                .post(format!("{}/v1/credentials", self.url))
                .bearer_auth(token)
                .header("content-type", "application/json")
                .body(format!(r#"{{"access":"{access}"}}"#)),
        )
    }

    /// `DELETE /v1/credentials`: the status and the JSON body.
    pub fn release(&self, token: &str) -> (u16, Value) {
        self.try_release(token).unwrap()
    }

    /// [`Broker::release`], or the client's error.
    pub fn try_release(&self, token: &str) -> reqwest::Result<(u16, Value)> {
        answer(
            self.client
                .delete(format!("{}/v1/credentials", self.url))
                .bearer_auth(token),
        )
    }

    /// `POST /v1/kubernetes/credentials` as the provider sends it: the status and the JSON
    /// body.
    pub fn kubernetes_mint(&self, token: &str, image: &str) -> (u16, Value) {
        self.try_kubernetes_mint(token, image).unwrap()
    }

    /// [`Broker::kubernetes_mint`], or the client's error.
    pub fn try_kubernetes_mint(&self, token: &str, image: &str) -> reqwest::Result<(u16, Value)> {
        answer(
            self.client
                .post(format!("{}/v1/kubernetes/credentials", self.url))
                .bearer_auth(token)
                .header("content-type", "application/json")
                .body(serde_json::json!({ "image": image }).to_string()),
        )
    }

    /// `GET path`: the status and the body.
    pub fn get(&self, path: &str) -> (u16, String) {
        let r = self
            .client
            .get(format!("{}{path}", self.url))
            .send()
            .unwrap();
        (r.status().as_u16(), r.text().unwrap())
    }

    /// The audit lines so far, parsed.
    pub fn audit(&self) -> Vec<Value> {
        std::fs::read_to_string(self.dir.join("audit.log"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("audit line {l:?}: {e}")))
            .collect()
    }

    /// Everything the broker wrote, stdout and stderr, as text.
    pub fn output(&self) -> String {
        format!(
            "{}{}",
            std::fs::read_to_string(self.dir.join("audit.log")).unwrap_or_default(),
            self.stderr()
        )
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.join("stderr.log")).unwrap_or_default()
    }

    /// SIGKILL, as a node failure would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Sends `request`: the status and the body as JSON (`Null` when it is not JSON).
fn answer(request: reqwest::blocking::RequestBuilder) -> reqwest::Result<(u16, Value)> {
    let r = request.send()?;
    let status = r.status().as_u16();
    Ok((
        status,
        serde_json::from_str(&r.text()?).unwrap_or(Value::Null),
    ))
}

/// A reqwest client trusting `ca` alone; no redirects.
pub fn client_trusting(ca: &Path) -> Client {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    Client::builder()
        .tls_backend_preconfigured(tls)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}
