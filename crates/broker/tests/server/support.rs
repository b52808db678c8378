//! What the server tests stand on: certificates made at test time, a test GitLab issuer (an
//! in-process HTTPS server that serves a JWKS of the fixed test keys and counts requests), a
//! recorder of the `Robots` boundary, and a running broker over TLS with a client that trusts
//! the test CA. Nothing here reaches beyond 127.0.0.1.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use harbor_broker::audit::Audit;
use harbor_broker::config::{self, Config};
use harbor_broker::http::{self, Limits};
use harbor_broker::issuer::HttpsJwks;
use harbor_broker::keys::{Clock, Jwks};
use harbor_broker::metrics::{CountedFetch, Metrics};
use harbor_broker::policy::Grant;
use harbor_broker::robots::{Holder, Minted, RobotError, Robots, Swept};
use harbor_broker::server::{self, Broker};
use harbor_broker::test_keys::{self, A, B};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer as CaIssuer,
    KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject as _;
use secrecy::SecretString;
use serde_json::{Value, json};
use tokio::sync::oneshot;

pub const AUDIENCE: &str = "https://harbor-broker.example.com";
/// The audience of the test cluster's service-account tokens.
pub const KUBERNETES_AUDIENCE: &str = "harbor-broker";
/// The path under the test issuer's URL where the test cluster's issuer lives: its
/// discovery document and its JWKS (of key b, kid `kb`).
pub const KUBERNETES_PATH: &str = "/k8s";

/// A CA and a server certificate for 127.0.0.1, as PEM files in a temporary directory.
pub struct Pki {
    // Holds the files; removed on drop.
    _dir: tempfile::TempDir,
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
    pub ca_pem: String,
}

impl Pki {
    pub fn new() -> Pki {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.distinguished_name
            .push(DnType::CommonName, "harbor-broker test CA");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_pem = ca.self_signed(&ca_key).unwrap().pem();
        let key = KeyPair::generate().unwrap();
        let mut leaf = CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
        leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let cert = leaf.signed_by(&key, &CaIssuer::new(ca, &ca_key)).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            path
        };
        Pki {
            ca: write("ca.pem", &ca_pem),
            cert: write("cert.pem", &cert.pem()),
            key: write("key.pem", &key.serialize_pem()),
            ca_pem,
            _dir: dir,
        }
    }

    /// A blocking client that trusts this CA alone, follows no redirect and gives up after
    /// 30 s (a hang guard).
    pub fn client(&self) -> reqwest::blocking::Client {
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls::pki_types::CertificateDer::pem_slice_iter(self.ca_pem.as_bytes()) {
            roots.add(cert.unwrap()).unwrap();
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        reqwest::blocking::Client::builder()
            .use_preconfigured_tls(tls)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap()
    }
}

/// What the test issuer serves, and how often it was asked.
pub struct IssuerState {
    pub status: StatusCode,
    pub body: Vec<u8>,
    pub cache_control: Option<String>,
    pub location: Option<String>,
    pub hits: usize,
    /// The cluster's discovery document; `None`: the one for this issuer.
    pub discovery: Option<Value>,
    /// The cluster's JWKS.
    pub kubernetes_jwks: Vec<u8>,
    pub discovery_hits: usize,
}

/// A test GitLab: `GET /oauth/discovery/keys` over HTTPS.
pub struct TestIssuer {
    pub url: String,
    pub state: Arc<Mutex<IssuerState>>,
}

impl TestIssuer {
    /// Publishes `keys` (the fixed test keys with their kids).
    pub fn publish(&self, keys: &[(&[u8], &str)]) {
        let mut state = self.state.lock().unwrap();
        state.status = StatusCode::OK;
        state.body = test_keys::jwks(keys);
    }

    pub fn answer(&self, status: StatusCode, body: &[u8]) {
        let mut state = self.state.lock().unwrap();
        state.status = status;
        state.body = body.to_vec();
    }

    pub fn hits(&self) -> usize {
        self.state.lock().unwrap().hits
    }
}

async fn serve_keys(State(state): State<Arc<Mutex<IssuerState>>>) -> Response {
    let mut state = state.lock().unwrap();
    state.hits += 1;
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, "application/json".parse().unwrap());
    if let Some(cc) = &state.cache_control {
        headers.insert(header::CACHE_CONTROL, cc.parse().unwrap());
    }
    if let Some(location) = &state.location {
        headers.insert(header::LOCATION, location.parse().unwrap());
    }
    (state.status, headers, state.body.clone()).into_response()
}

/// The test cluster's discovery document: its issuer and jwks_uri under this issuer's URL,
/// or what the test set.
async fn serve_discovery(
    State(state): State<Arc<Mutex<IssuerState>>>,
    headers: HeaderMap,
) -> Response {
    let mut state = state.lock().unwrap();
    state.discovery_hits += 1;
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    let issuer = format!("https://{host}{KUBERNETES_PATH}");
    let document = state.discovery.clone().unwrap_or_else(|| {
        json!({
            "issuer": issuer,
            "jwks_uri": format!("{issuer}/openid/v1/jwks"),
            "response_types_supported": ["id_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
        })
    });
    (
        [(header::CONTENT_TYPE, "application/json")],
        document.to_string(),
    )
        .into_response()
}

async fn serve_kubernetes_keys(State(state): State<Arc<Mutex<IssuerState>>>) -> Response {
    let state = state.lock().unwrap();
    (
        [(header::CONTENT_TYPE, "application/json")],
        state.kubernetes_jwks.clone(),
    )
        .into_response()
}

/// Time the test moves by hand, shared with the key cache.
#[derive(Clone)]
pub struct TestClock(pub Arc<Mutex<Instant>>);

impl TestClock {
    pub fn advance(&self, by: Duration) {
        *self.0.lock().unwrap() += by;
    }
}

impl Clock for TestClock {
    fn now(&self) -> Instant {
        *self.0.lock().unwrap()
    }
}

/// How the recorder answers a robot call.
#[derive(Clone, Debug)]
pub enum Fail {
    TooMany,
    /// A service account's limit.
    TooManyForServiceAccount,
    BadGateway,
    Unavailable,
    Timeout,
}

impl Fail {
    fn error(&self) -> RobotError {
        let reason = "the test says so".to_owned();
        match self {
            Fail::TooMany => RobotError::TooMany {
                holder: "job 5005".into(),
                live: 3,
                fix: harbor_broker::robots::JOB_FIX,
            },
            Fail::TooManyForServiceAccount => RobotError::TooMany {
                holder: "service account ci/builder".into(),
                live: 3,
                fix: harbor_broker::robots::SERVICE_ACCOUNT_FIX,
            },
            Fail::BadGateway => RobotError::BadGateway { reason },
            Fail::Unavailable => RobotError::Unavailable { reason },
            Fail::Timeout => RobotError::Timeout { reason },
        }
    }
}

/// What the recorder saw and will answer.
#[derive(Default)]
pub struct Recorded {
    pub mints: Vec<(Grant, String)>,
    /// Mints begun, finished or not.
    pub mints_started: usize,
    pub releases: Vec<(Vec<String>, String)>,
    pub sweeps: usize,
    pub fail: Option<Fail>,
    /// Fails the mints in this Harbor project only.
    pub fail_project: Option<(String, Fail)>,
    /// The next sweeps' answers, first first; `Ok(Swept::default())` when empty.
    pub sweep_answers: Vec<Result<Swept, Fail>>,
    pub not_ready: bool,
    /// How many robots a release reports.
    pub release_count: usize,
    /// A mint waits this long (for the shutdown test).
    pub mint_delay: Duration,
}

/// The server's boundary with Harbor, recorded: the server tests' stand-in for the real
/// `Robots` (Harbor's side is tested against the Harbor double where it is written; the
/// integrator's end-to-end tests run the two together). It keeps every call and answers as
/// the test sets it; its robots' secrets are unique, so a test can look for them in the logs.
#[derive(Clone, Default)]
pub struct Recorder(pub Arc<Mutex<Recorded>>);

static SECRETS: AtomicUsize = AtomicUsize::new(0);

impl Robots for Recorder {
    fn mint(&self, grant: &Grant, holder: Holder<'_>, now: i64) -> Result<Minted, RobotError> {
        let delay = {
            let mut rec = self.0.lock().unwrap();
            rec.mints_started += 1;
            rec.mint_delay
        };
        std::thread::sleep(delay);
        let mut rec = self.0.lock().unwrap();
        // Who the robot is for: the job's ID, or the service account's `<namespace>/<name>`.
        let holder_key = match holder {
            Holder::Job(claims) => claims.job_id.to_string(),
            Holder::ServiceAccount(claims) => {
                harbor_broker::kubernetes::Qualified(claims).to_string()
            }
        };
        rec.mints.push((grant.clone(), holder_key.clone()));
        if let Some(fail) = &rec.fail {
            return Err(fail.error());
        }
        if let Some((_, fail)) = rec
            .fail_project
            .as_ref()
            .filter(|(project, _)| *project == grant.harbor_project)
        {
            return Err(fail.error());
        }
        let n = SECRETS.fetch_add(1, Ordering::Relaxed);
        let expires_at = now + 3600;
        Ok(Minted {
            registry: "harbor.example.com:8443".into(),
            project: grant.harbor_project.clone(),
            username: format!(
                "robot${}+hb-{}-{expires_at}-0a1b2c3d",
                grant.harbor_project, holder_key
            ),
            password: SecretString::from(format!("Robot-Secret-{n}-q8ZrT2")),
            expires_at,
        })
    }

    fn release(&self, projects: &[String], job_id: &str) -> Result<usize, RobotError> {
        let mut rec = self.0.lock().unwrap();
        rec.releases.push((projects.to_vec(), job_id.to_owned()));
        match &rec.fail {
            Some(fail) => Err(fail.error()),
            None => Ok(rec.release_count),
        }
    }

    fn sweep(&self, _projects: &[String], _now: i64) -> Result<Swept, RobotError> {
        let mut rec = self.0.lock().unwrap();
        rec.sweeps += 1;
        if rec.sweep_answers.is_empty() {
            return Ok(Swept::default());
        }
        rec.sweep_answers.remove(0).map_err(|f| f.error())
    }

    fn ready(&self) -> Result<(), RobotError> {
        if self.0.lock().unwrap().not_ready {
            Err(RobotError::Unavailable {
                reason: "the test's Harbor is down".into(),
            })
        } else {
            Ok(())
        }
    }
}

/// Audit lines, written into memory.
#[derive(Clone, Default)]
pub struct Lines(pub Arc<Mutex<Vec<u8>>>);

impl Write for Lines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Lines {
    pub fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }

    /// Each line, parsed (every line must be one JSON object).
    pub fn entries(&self) -> Vec<Value> {
        self.text()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
            .collect()
    }
}

/// A running test issuer and broker, each over TLS, in one runtime of their own.
pub struct TestBroker {
    pub pki: Pki,
    pub issuer: TestIssuer,
    pub robots: Recorder,
    pub audit: Lines,
    pub clock: TestClock,
    pub url: String,
    pub addr: SocketAddr,
    pub client: reqwest::blocking::Client,
    stop: Option<oneshot::Sender<()>>,
    served: Option<std::sync::mpsc::Receiver<()>>,
    runtime: Option<tokio::runtime::Runtime>,
}

/// The config of a test broker: rule 1 grants push on team-app to project 42, rule 2 pull on
/// team to namespace 7; with `kubernetes`, the test cluster's issuer under the test issuer's
/// URL (keys by discovery), Kubernetes rule 1 grants pull on ci-images to ci/builder, rule 2
/// on base and rule 3 on tools to every service account of namespace build.
pub fn config_text(issuer: &str, ca: &std::path::Path) -> String {
    gitlab_config_text(issuer, ca)
}

fn kubernetes_config_text(issuer: &str, ca: &std::path::Path) -> String {
    format!(
        r#"
[kubernetes]
issuer = "{issuer}{KUBERNETES_PATH}"
audience = "{KUBERNETES_AUDIENCE}"
ca_file = "{}"

[[kubernetes_rules]]
namespace = "ci"
service_account = "builder"
harbor_project = "ci-images"

[[kubernetes_rules]]
namespace = "build"
harbor_project = "base"

[[kubernetes_rules]]
namespace = "build"
harbor_project = "tools"
"#,
        ca.display()
    )
}

fn gitlab_config_text(issuer: &str, ca: &std::path::Path) -> String {
    format!(
        r#"
listen = "127.0.0.1:0"

[gitlab]
issuer = "{issuer}"
audience = "{AUDIENCE}"
ca_file = "{}"

[harbor]
url = "https://harbor.example.com"
username = "robot$harbor-broker"
password_file = "/nonexistent/never-read"

[robots]
ttl_seconds = 3600
sweep_interval_seconds = 60

[[rules]]
project_id = "42"
harbor_project = "team-app"
access = ["pull", "push"]

[[rules]]
namespace_id = "7"
harbor_project = "team"
access = ["pull"]
"#,
        ca.display()
    )
}

pub struct Options {
    pub limits: Limits,
    pub sweep_every: Duration,
    /// Whether the config has `[kubernetes]` and its rules.
    pub kubernetes: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            limits: Limits {
                header_read_timeout: Duration::from_secs(1),
                ..Limits::default()
            },
            sweep_every: Duration::from_secs(3600),
            kubernetes: false,
        }
    }
}

impl TestBroker {
    pub fn start() -> TestBroker {
        TestBroker::start_with(Options::default())
    }

    pub fn start_with(options: Options) -> TestBroker {
        let pki = Pki::new();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let state = Arc::new(Mutex::new(IssuerState {
            status: StatusCode::OK,
            body: test_keys::jwks(&[(A, "a")]),
            cache_control: Some("max-age=86400".into()),
            location: None,
            hits: 0,
            discovery: None,
            kubernetes_jwks: test_keys::jwks(&[(B, "kb")]),
            discovery_hits: 0,
        }));
        let issuer_tls = http::tls_acceptor(&pki.cert, &pki.key).unwrap();
        let issuer_listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let issuer_url = format!("https://{}", issuer_listener.local_addr().unwrap());
        let issuer_router = Router::new()
            .route("/oauth/discovery/keys", get(serve_keys))
            .route(
                &format!("{KUBERNETES_PATH}/.well-known/openid-configuration"),
                get(serve_discovery),
            )
            .route(
                &format!("{KUBERNETES_PATH}/openid/v1/jwks"),
                get(serve_kubernetes_keys),
            )
            .with_state(state.clone());
        runtime.spawn(http::serve(
            issuer_router,
            issuer_listener,
            Some(issuer_tls),
            Limits::default(),
            std::future::pending(),
        ));
        let issuer = TestIssuer {
            url: issuer_url,
            state,
        };

        let mut text = config_text(&issuer.url, &pki.ca);
        if options.kubernetes {
            text.push_str(&kubernetes_config_text(&issuer.url, &pki.ca));
        }
        let config: Config = config::parse(&text).unwrap();
        let metrics = Arc::new(Metrics::new());
        let clock = TestClock(Arc::new(Mutex::new(Instant::now())));
        let fetcher = CountedFetch {
            inner: HttpsJwks::new(config.gitlab.as_ref().unwrap()).unwrap(),
            metrics: metrics.clone(),
        };
        let keys = Arc::new(Jwks::new(fetcher, clock.clone()));
        let metrics_of_kubernetes = metrics.clone();
        let robots = Recorder::default();
        let audit = Lines::default();
        let broker = Broker::new(
            &config,
            keys,
            Arc::new(robots.clone()),
            metrics,
            Audit::to(Box::new(audit.clone())),
        )
        .unwrap()
        .with_limits(options.limits)
        .with_sweep_every(options.sweep_every);
        let broker = match &config.kubernetes {
            Some(kubernetes) => {
                let fetcher = CountedFetch {
                    inner: HttpsJwks::kubernetes(kubernetes).unwrap(),
                    metrics: metrics_of_kubernetes.clone(),
                };
                broker.with_kubernetes_keys(Arc::new(Jwks::new(fetcher, clock.clone())))
            }
            None => broker,
        };
        let broker = Arc::new(broker);
        let tls = http::tls_acceptor(&pki.cert, &pki.key).unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let (done, served) = std::sync::mpsc::channel();
        let serving = broker.clone();
        runtime.spawn(async move {
            server::serve(serving, listener, Some(tls), async {
                let _ = stopped.await;
            })
            .await;
            let _ = done.send(());
        });
        let client = pki.client();
        TestBroker {
            url: format!("https://{addr}"),
            addr,
            pki,
            issuer,
            robots,
            audit,
            clock,
            client,
            stop: Some(stop),
            served: Some(served),
            runtime: Some(runtime),
        }
    }

    pub fn rec(&self) -> std::sync::MutexGuard<'_, Recorded> {
        self.robots.0.lock().unwrap()
    }

    /// `POST /v1/credentials` with `token` (when given) and `body`: the status, the
    /// `WWW-Authenticate` header and the body as JSON.
    pub fn post(&self, token: Option<&str>, body: &str) -> (u16, Option<String>, Value) {
        self.post_to("/v1/credentials", token, body)
    }

    /// `POST path` with `token` (when given) and `body`.
    fn post_to(&self, path: &str, token: Option<&str>, body: &str) -> (u16, Option<String>, Value) {
        let mut request = self
            .client
            .post(format!("{}{path}", self.url))
            .header("Content-Type", "application/json")
            .body(body.to_owned());
        if let Some(token) = token {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        answer(request.send().unwrap())
    }

    pub fn delete(&self, token: &str) -> (u16, Value) {
        let response = self
            .client
            .delete(format!("{}/v1/credentials", self.url))
            .header("Authorization", format!("Bearer {token}"))
            .send()
            .unwrap();
        let (status, _, body) = answer(response);
        (status, body)
    }

    pub fn get(&self, path: &str) -> (u16, String) {
        let response = self
            .client
            .get(format!("{}{path}", self.url))
            .send()
            .unwrap();
        let status = response.status().as_u16();
        (status, response.text().unwrap())
    }

    /// Asks the server to stop, waits (at most 30 s) until `serve` has returned, then drops
    /// every task left, as the process does when `serve` returns.
    pub fn shut_down(&mut self) -> bool {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let served = self
            .served
            .take()
            .is_some_and(|served| served.recv_timeout(Duration::from_secs(30)).is_ok());
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
        served
    }
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_timeout(Duration::from_secs(5));
        }
    }
}

pub fn answer(response: reqwest::blocking::Response) -> (u16, Option<String>, Value) {
    let status = response.status().as_u16();
    let challenge = response
        .headers()
        .get("WWW-Authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    let text = response.text().unwrap();
    let body = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{status} {text:?}: {e}"));
    (status, challenge, body)
}

pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The claims GitLab puts in a job's token for project 42 (namespace 7) on protected main.
pub fn claims(issuer: &str) -> Value {
    test_keys::gitlab_claims(issuer, AUDIENCE)
}

/// A token for `claims`, signed by `key` under `kid`.
pub fn token_with(key: &[u8], kid: &str, claims: &Value) -> String {
    test_keys::sign(
        key,
        &json!({"alg": "RS256", "typ": "JWT", "kid": kid}),
        claims,
    )
}

impl TestBroker {
    /// A good token for this broker's issuer, with `f` applied to its claims.
    pub fn token(&self, f: impl FnOnce(&mut Value)) -> String {
        let mut claims = claims(&self.issuer.url);
        f(&mut claims);
        token_with(A, "a", &claims)
    }
}

impl TestBroker {
    /// A service-account token of `ns`/`sa` as the test cluster signs it, with `f` applied
    /// to its claims.
    pub fn kubernetes_token(&self, ns: &str, sa: &str, f: impl FnOnce(&mut Value)) -> String {
        let issuer = format!("{}{KUBERNETES_PATH}", self.issuer.url);
        let mut claims = test_keys::kubernetes_claims(&issuer, KUBERNETES_AUDIENCE, ns, sa);
        f(&mut claims);
        token_with(B, "kb", &claims)
    }

    /// `POST /v1/kubernetes/credentials` with `token` (when given) and `body`.
    pub fn post_kubernetes(&self, token: Option<&str>, body: &str) -> (u16, Option<String>, Value) {
        self.post_to("/v1/kubernetes/credentials", token, body)
    }
}
