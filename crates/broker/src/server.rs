//! The broker's HTTP API around the decision core: [`Broker`], built once from the
//! [`Config`], holds the verifier, the key store, the rules and the [`Robots`] boundary;
//! [`router`] maps the contract's endpoints onto it, and [`serve`] runs it with the sweeper
//! until shutdown.
//!
//! - `POST /v1/credentials` with `Authorization: Bearer <id_token>` and `{"access": "pull" |
//!   "push"}`: 201 `{"registry", "username", "password", "expires_at", "project"}`; 400 bad
//!   body, 401 token (with `WWW-Authenticate: Bearer`), 403 policy, 408 slow body, 413 big
//!   body, 429 too many robots, 502/503/504 Harbor.
//! - `DELETE /v1/credentials` with the same bearer: 200 `{"deleted": N}`.
//! - `GET /healthz` (the process answers), `GET /readyz` (keys loaded and Harbor ready, else
//!   503 naming which), `GET /metrics` (Prometheus text).
//! - Anything else: 404, or 405 for a known path; every error is `{"error": "…"}`.
//!
//! What it must never do: echo a token, or put a robot's secret anywhere but the 201 body;
//! run verification, policy or a Harbor call on an async thread (they block: ring, reqwest);
//! let a failed sweep or a Harbor outage stop the server.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use docker_credential_harbor_core::problem::Problem;
use docker_credential_harbor_core::text;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::audit::{Audit, Entry};
use crate::claims::{ForeignProvider, TokenVerifier};
use crate::config::Config;
use crate::http::{self, Limits};
use crate::keys::KeyStore;
use crate::metrics::{Endpoint, Metrics, Outcome};
use harbor_client::broker::Access;

use crate::policy::{self, Rule};
use crate::robots::{Holder, RobotError, Robots};

/// Everything a request needs, built once.
pub struct Broker {
    verifier: TokenVerifier,
    keys: Arc<dyn KeyStore + Send + Sync>,
    rules: Vec<Rule>,
    /// Every distinct `harbor_project` of the rules, where release and sweep look, so a
    /// changed rule never strands a robot.
    projects: Vec<String>,
    robots: Arc<dyn Robots>,
    metrics: Arc<Metrics>,
    audit: Audit,
    sweep_every: Duration,
    limits: Limits,
}

impl Broker {
    /// The broker `config` describes, over `keys` (the issuer's JWKS, [`crate::keys::Jwks`]
    /// behind [`crate::issuer::HttpsJwks`] in the service) and `robots`.
    pub fn new(
        config: &Config,
        keys: Arc<dyn KeyStore + Send + Sync>,
        robots: Arc<dyn Robots>,
        metrics: Arc<Metrics>,
        audit: Audit,
    ) -> Result<Broker, ForeignProvider> {
        let verifier = TokenVerifier::new(&config.gitlab.issuer, &config.gitlab.audience)?;
        let mut projects: Vec<String> = Vec::new();
        for rule in &config.rules {
            if !projects.contains(&rule.harbor_project) {
                projects.push(rule.harbor_project.clone());
            }
        }
        Ok(Broker {
            verifier,
            keys,
            rules: config.rules.clone(),
            projects,
            robots,
            metrics,
            audit,
            sweep_every: Duration::from_secs(config.robots.sweep_interval_seconds),
            limits: Limits::default(),
        })
    }

    /// The same broker with other server bounds.
    pub fn with_limits(mut self, limits: Limits) -> Broker {
        self.limits = limits;
        self
    }

    /// The same broker sweeping this often (the config's `sweep_interval_seconds` is at
    /// least 10 s; tests sweep sooner).
    pub fn with_sweep_every(mut self, every: Duration) -> Broker {
        self.sweep_every = every;
        self
    }

    /// The Harbor projects release and sweep look in.
    pub fn projects(&self) -> &[String] {
        &self.projects
    }

    /// Records a decision: its audit line and its count.
    fn decided(&self, entry: &Entry, outcome: Outcome) {
        self.metrics.decision(outcome);
        self.audit.write(entry);
    }

    /// `POST /v1/credentials` after the headers and body are read. Blocking.
    fn mint(&self, token: &str, body: &[u8]) -> Answer {
        let claims = match self.verifier.verify(token, self.keys.as_ref()) {
            Ok(claims) => claims,
            Err(e) => return self.token_refused("mint", &e),
        };
        let asked = match parse_ask(body) {
            Ok(asked) => asked,
            Err(reason) => {
                let mut entry = Entry::new("mint", "refused", &reason).job(&claims);
                entry.status = Some(400);
                self.decided(&entry, Outcome::BadRequest);
                return Answer::error(StatusCode::BAD_REQUEST, reason);
            }
        };
        let grant = match policy::decide(&self.rules, &claims, asked) {
            Ok(grant) => grant,
            Err(refusal) => {
                let reason = refusal.to_string();
                let mut entry = Entry::new("mint", "refused", &reason).job(&claims);
                entry.status = Some(403);
                entry.access_asked = Some(asked.as_str());
                self.decided(&entry, Outcome::RefusedPolicy);
                return Answer::error(StatusCode::FORBIDDEN, reason);
            }
        };
        let mut entry = Entry::new("mint", "granted", "")
            .job(&claims)
            .grant(asked, &grant);
        let minted = match self.robots.mint(&grant, Holder::Job(&claims), unix_now()) {
            Ok(minted) => minted,
            Err(e) => return self.robot_failed(entry, &e),
        };
        self.metrics.minted(grant.access);
        entry.status = Some(201);
        entry.reason = format!(
            "minted a {} robot in Harbor project {} until {}",
            grant.access, minted.project, minted.expires_at
        );
        entry.robot = Some(minted.username.clone());
        self.decided(&entry, Outcome::Granted);
        Answer::new(
            StatusCode::CREATED,
            json!({
                "registry": minted.registry,
                "username": minted.username,
                // The one place a robot's secret leaves its SecretString.
                "password": minted.password.expose_secret(),
                "expires_at": minted.expires_at,
                "project": minted.project,
            }),
        )
    }

    /// `DELETE /v1/credentials`. Blocking.
    fn release(&self, token: &str) -> Answer {
        let claims = match self.verifier.verify(token, self.keys.as_ref()) {
            Ok(claims) => claims,
            Err(e) => return self.token_refused("release", &e),
        };
        let mut entry = Entry::new("release", "released", "").job(&claims);
        let deleted = match self.robots.release(&self.projects, claims.job_id.as_str()) {
            Ok(deleted) => deleted,
            Err(e) => return self.robot_failed(entry, &e),
        };
        self.metrics.released(deleted);
        entry.status = Some(200);
        entry.deleted = Some(deleted);
        entry.reason = format!("deleted {deleted} robots of job {}", claims.job_id);
        self.decided(&entry, Outcome::Granted);
        Answer::new(StatusCode::OK, json!({ "deleted": deleted }))
    }

    fn token_refused(&self, event: &'static str, e: &crate::claims::TokenError) -> Answer {
        let reason = with_hint(e);
        let mut entry = Entry::new(event, "refused", &reason);
        entry.status = Some(401);
        self.decided(&entry, Outcome::RefusedToken);
        Answer::unauthorized(reason, true)
    }

    fn robot_failed(&self, mut entry: Entry, e: &RobotError) -> Answer {
        let status = e.status();
        let outcome = if let RobotError::TooMany { .. } = e {
            entry.outcome = "refused";
            Outcome::TooMany
        } else {
            entry.outcome = "error";
            self.metrics.harbor_error(status);
            Outcome::HarborError
        };
        entry.status = Some(status);
        entry.reason = e.to_string();
        self.decided(&entry, outcome);
        Answer::error(
            StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY),
            e.to_string(),
        )
    }

    /// One sweep of every rule's Harbor project, counted and, when it deleted or failed
    /// something, audited. Blocking; the sweeper loop calls it off the async threads.
    pub fn sweep_once(&self) {
        match self.robots.sweep(&self.projects, unix_now()) {
            Ok(swept) => {
                self.metrics.swept(swept.deleted);
                if swept.failed > 0 {
                    self.metrics.sweep_failed();
                }
                if swept.deleted > 0 || swept.failed > 0 {
                    let outcome = if swept.failed > 0 { "error" } else { "swept" };
                    let mut entry = Entry::new(
                        "sweep",
                        outcome,
                        format!(
                            "deleted {} expired robots; {} could not be deleted (tried again next sweep)",
                            swept.deleted, swept.failed
                        ),
                    );
                    entry.deleted = Some(swept.deleted);
                    entry.failed = Some(swept.failed);
                    self.audit.write(&entry);
                }
            }
            Err(e) => {
                self.metrics.sweep_failed();
                let entry = Entry::new(
                    "sweep",
                    "error",
                    format!("{e}; the sweeper tries again next interval"),
                );
                self.audit.write(&entry);
            }
        }
    }

    /// `/readyz`: the keys and Harbor, each named when it is not ready. Blocking.
    fn ready(&self) -> Answer {
        let mut missing = Vec::new();
        if let Err(e) = self.keys.ready() {
            missing.push(format!(
                "the issuer's keys are not loaded: {}",
                with_hint(&e)
            ));
        }
        if let Err(e) = self.robots.ready() {
            missing.push(format!("Harbor is not ready: {e}"));
        }
        if missing.is_empty() {
            Answer::new(StatusCode::OK, json!({ "status": "ready" }))
        } else {
            Answer::error(StatusCode::SERVICE_UNAVAILABLE, missing.join("; "))
        }
    }
}

/// A problem's text with its hint, as one line.
fn with_hint(e: &dyn Problem) -> String {
    match e.hint() {
        Some(hint) => format!("{e}; {hint}"),
        None => e.to_string(),
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// The request body: `{"access": "pull" | "push"}`, nothing else.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Ask {
    access: Access,
}

const BODY_SHAPE: &str =
    r#"send {"access": "pull"} or {"access": "push"} with Content-Type: application/json"#;

fn parse_ask(body: &[u8]) -> Result<Access, String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(format!("the request has no body; {BODY_SHAPE}"));
    }
    match serde_json::from_slice::<Ask>(body) {
        Ok(Ask { access }) => Ok(access),
        // serde's text names the field or variant; the body holds no secret (the token is in
        // a header), and it is escaped and cut short.
        Err(e) => Err(format!(
            "the request body is not one the broker takes ({}); {BODY_SHAPE}",
            text::inline(&e.to_string())
                .chars()
                .take(160)
                .collect::<String>()
        )),
    }
}

/// What a blocking handler answers, turned into a response on the async side.
struct Answer {
    status: StatusCode,
    body: Value,
    /// `WWW-Authenticate` for a 401: `true` when a token was sent and refused.
    challenge: Option<bool>,
}

impl Answer {
    fn new(status: StatusCode, body: Value) -> Answer {
        Answer {
            status,
            body,
            challenge: None,
        }
    }

    fn error(status: StatusCode, reason: impl Into<String>) -> Answer {
        Answer::new(status, json!({ "error": reason.into() }))
    }

    fn unauthorized(reason: impl Into<String>, token_sent: bool) -> Answer {
        Answer {
            challenge: Some(token_sent),
            ..Answer::error(StatusCode::UNAUTHORIZED, reason)
        }
    }
}

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self.body).unwrap_or_default();
        let mut response = (
            self.status,
            [(header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response();
        if let Some(token_sent) = self.challenge {
            // RFC 6750 §3: no error code when no token came.
            let value = if token_sent {
                r#"Bearer realm="harbor-broker", error="invalid_token""#
            } else {
                r#"Bearer realm="harbor-broker""#
            };
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(value));
        }
        response
    }
}

/// The bearer token of `Authorization`, or the 401 that says what is wrong with the header.
fn bearer(headers: &HeaderMap) -> Result<String, String> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Err(
            "the request has no Authorization header; send Authorization: Bearer <the job's \
             id_token> (HARBOR_ID_TOKEN, declared under id_tokens in .gitlab-ci.yml)"
                .into(),
        );
    };
    let not_bearer = || {
        "the Authorization header is not a Bearer token; send Authorization: Bearer <the \
         job's id_token>"
            .to_owned()
    };
    let value = value.to_str().map_err(|_| not_bearer())?;
    let (scheme, token) = value.split_once(' ').ok_or_else(not_bearer)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Err(not_bearer());
    }
    Ok(token.to_owned())
}

/// Runs a blocking handler on tokio's blocking pool.
async fn blocking(f: impl FnOnce() -> Answer + Send + 'static) -> Response {
    match tokio::task::spawn_blocking(f).await {
        Ok(answer) => answer.into_response(),
        // A panic in a handler is a bug; the client still gets JSON, and the server lives on.
        Err(_) => Answer::error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the broker failed while answering; see its log and report this as a bug",
        )
        .into_response(),
    }
}

/// Reads a body of at most `limits.max_body_bytes` within `limits.header_read_timeout`.
async fn read_body(limits: &Limits, headers: &HeaderMap, body: Body) -> Result<Vec<u8>, Answer> {
    let too_big = || {
        Answer::error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "the request body is larger than {} bytes; {BODY_SHAPE}",
                limits.max_body_bytes
            ),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limits.max_body_bytes as u64) {
        return Err(too_big());
    }
    let read = Limited::new(body, limits.max_body_bytes).collect();
    match tokio::time::timeout(limits.header_read_timeout, read).await {
        Ok(Ok(collected)) => Ok(collected.to_bytes().to_vec()),
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => Err(too_big()),
        Ok(Err(_)) => Err(Answer::error(
            StatusCode::BAD_REQUEST,
            format!("the request body could not be read; {BODY_SHAPE}"),
        )),
        Err(_) => Err(Answer::error(
            StatusCode::REQUEST_TIMEOUT,
            format!(
                "the request body did not arrive within {} s",
                limits.header_read_timeout.as_secs()
            ),
        )),
    }
}

async fn post_credentials(
    State(broker): State<Arc<Broker>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let token = match bearer(&headers) {
        Ok(token) => token,
        Err(reason) => return refuse_header(&broker, "mint", reason),
    };
    let body = match read_body(&broker.limits, &headers, body).await {
        Ok(body) => body,
        Err(answer) => {
            let reason = answer.body["error"].as_str().unwrap_or_default().to_owned();
            let mut entry = Entry::new("mint", "refused", reason);
            entry.status = Some(answer.status.as_u16());
            broker.decided(&entry, Outcome::BadRequest);
            return answer.into_response();
        }
    };
    blocking(move || broker.mint(&token, &body)).await
}

async fn delete_credentials(State(broker): State<Arc<Broker>>, headers: HeaderMap) -> Response {
    match bearer(&headers) {
        Ok(token) => blocking(move || broker.release(&token)).await,
        Err(reason) => refuse_header(&broker, "release", reason),
    }
}

/// A 401 for a missing or non-Bearer `Authorization` header.
fn refuse_header(broker: &Broker, event: &'static str, reason: String) -> Response {
    let mut entry = Entry::new(event, "refused", &reason);
    entry.status = Some(401);
    broker.decided(&entry, Outcome::RefusedToken);
    Answer::unauthorized(reason, false).into_response()
}

async fn healthz() -> Response {
    Answer::new(StatusCode::OK, json!({ "status": "ok" })).into_response()
}

async fn readyz(State(broker): State<Arc<Broker>>) -> Response {
    blocking(move || broker.ready()).await
}

async fn metrics(State(broker): State<Arc<Broker>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        broker.metrics.render(),
    )
        .into_response()
}

const ENDPOINTS: &str =
    "the broker serves POST and DELETE /v1/credentials, GET /healthz, /readyz and /metrics";

async fn not_found() -> Response {
    Answer::error(
        StatusCode::NOT_FOUND,
        format!("no such endpoint; {ENDPOINTS}"),
    )
    .into_response()
}

async fn method_not_allowed() -> Response {
    Answer::error(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("this endpoint does not take that method; {ENDPOINTS}"),
    )
    .into_response()
}

/// Counts and times every request, and bounds its total time.
async fn observe(State(broker): State<Arc<Broker>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let endpoint = Endpoint::of(request.uri().path());
    let limit = broker.limits.request_timeout;
    let response = match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => Answer::error(
            StatusCode::GATEWAY_TIMEOUT,
            format!(
                "the broker did not finish within {} s (Harbor is slow?); try again",
                limit.as_secs()
            ),
        )
        .into_response(),
    };
    broker
        .metrics
        .request(endpoint, response.status().as_u16(), started.elapsed());
    response
}

/// The contract's endpoints over `broker`.
pub fn router(broker: Arc<Broker>) -> Router {
    Router::new()
        .route(
            "/v1/credentials",
            post(post_credentials)
                .delete(delete_credentials)
                .fallback(method_not_allowed),
        )
        .route("/healthz", get(healthz).fallback(method_not_allowed))
        .route("/readyz", get(readyz).fallback(method_not_allowed))
        .route("/metrics", get(metrics).fallback(method_not_allowed))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(broker.clone(), observe))
        .with_state(broker)
}

/// Serves `broker` on `listener` (over `tls` when given) and runs its sweeper, until
/// `shutdown` resolves; then the requests under way finish within the grace period.
pub async fn serve(
    broker: Arc<Broker>,
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    shutdown: impl Future<Output = ()>,
) {
    let sweeper = tokio::spawn(crate::sweeper::run(broker.clone(), broker.sweep_every));
    let limits = broker.limits.clone();
    http::serve(router(broker), listener, tls, limits, shutdown).await;
    sweeper.abort();
}
