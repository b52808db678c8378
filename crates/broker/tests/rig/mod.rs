//! The broker's end-to-end rig: the Harbor double, the GitLab issuer double beside it, and
//! real `harbor-broker` processes configured for them (TLS with the double's certificate,
//! JWKS from the issuer double, the double's admin as the minter unless a test says
//! otherwise), plus a client that speaks the broker's API. The broker's own tests and the
//! helper's end-to-end tests (tests/broker_e2e.rs, through `#[path]`) share it.
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

use harbor_double::{Config, GitlabIssuer, Harbor, JobClaims};
use reqwest::blocking::Client;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use serde_json::Value;

/// The audience every broker of the rig expects.
pub const AUDIENCE: &str = "https://harbor-broker.test";

/// The doubles and the directory the brokers' files go in.
pub struct Rig {
    pub harbor: Harbor,
    pub gitlab: GitlabIssuer,
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
            dir,
        }
    }

    /// The double's admin as the minter, pull and push on `proj` for project 42.
    pub fn admin_config(&self) -> BrokerConfig {
        BrokerConfig {
            username: "admin".to_owned(),
            password: self.harbor.password("admin"),
            ttl_seconds: 300,
            sweep_interval_seconds: 300,
            rules: PUSH_RULE.to_owned(),
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

[gitlab]
issuer = "{issuer}"
audience = "{AUDIENCE}"
ca_file = "{gitlab_ca}"

[harbor]
url = "{harbor_url}"
username = "{username}"
password_file = "{password_file}"
ca_file = "{harbor_ca}"

[robots]
ttl_seconds = {ttl}
sweep_interval_seconds = {sweep}
{rules}"#,
            cert = harbor_dir.join("server.crt").display(),
            key = harbor_dir.join("server.key").display(),
            issuer = self.gitlab.url(),
            gitlab_ca = self.gitlab.ca_file().display(),
            harbor_url = self.harbor.url(),
            username = config.username,
            password_file = password_file.display(),
            harbor_ca = self.harbor.ca_file().display(),
            ttl = config.ttl_seconds,
            sweep = config.sweep_interval_seconds,
            rules = config.rules,
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
        let broker = Broker {
            child,
            url: format!("https://127.0.0.1:{port}"),
            dir: dir.to_owned(),
            client: client_trusting(ca),
        };
        broker.wait_ready();
        broker
    }

    /// Waits (at most 60 s, a hang guard) until `/readyz` answers 200.
    fn wait_ready(&self) {
        let start = Instant::now();
        loop {
            if let Ok(r) = self.client.get(format!("{}/readyz", self.url)).send()
                && r.status() == 200
            {
                return;
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
