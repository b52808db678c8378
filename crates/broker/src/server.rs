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
//! - `POST /v1/kubernetes/credentials` with `Authorization: Bearer <service-account token>`
//!   and `{"image": "…"}`: the same 201 and refusal codes, a pull robot for the image's
//!   project, plus `"other_projects": [{"project", "username", "password", "expires_at"}]`,
//!   a pull robot in each other project the service account's rules grant (the kubelet
//!   caches the answer for the whole registry); no DELETE (the sweeper ends the robots).
//!   404 when `[kubernetes]` is not set, as `/v1/credentials` is when `[gitlab]` is not.
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

use crate::kubernetes::ServiceAccountClaims;
use crate::policy::{self, Grant, KubernetesRule, Rule};
use crate::robots::{Holder, Minted, RobotError, Robots};

/// Everything a request needs, built once.
pub struct Broker {
    /// `None` when `[gitlab]` is not set: `/v1/credentials` answers 404.
    verifier: Option<TokenVerifier>,
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
    /// `None` when `[kubernetes]` is not set: `/v1/kubernetes/credentials` answers 404.
    kubernetes: Option<KubernetesDoor>,
}

/// What `POST /v1/kubernetes/credentials` needs.
struct KubernetesDoor {
    verifier: TokenVerifier,
    /// The cluster's JWKS, set by [`Broker::with_kubernetes_keys`].
    keys: Option<Arc<dyn KeyStore + Send + Sync>>,
    rules: Vec<KubernetesRule>,
    /// The broker's Harbor as an image names it: `host[:port]` ([`policy::registry_key`]).
    registry: String,
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
        let verifier = config
            .gitlab
            .as_ref()
            .map(|gitlab| TokenVerifier::new(&gitlab.issuer, &gitlab.audience))
            .transpose()?;
        let kubernetes = config
            .kubernetes
            .as_ref()
            .map(|k| -> Result<KubernetesDoor, ForeignProvider> {
                Ok(KubernetesDoor {
                    verifier: TokenVerifier::new(&k.issuer, &k.audience)?,
                    keys: None,
                    rules: config.kubernetes_rules.clone(),
                    registry: harbor_registry(&config.harbor.url),
                })
            })
            .transpose()?;
        let mut projects: Vec<String> = Vec::new();
        let gitlab = config.rules.iter().map(|r| &r.harbor_project);
        let kube = config.kubernetes_rules.iter().map(|r| &r.harbor_project);
        for project in gitlab.chain(kube) {
            if !projects.contains(project) {
                projects.push(project.clone());
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
            kubernetes,
        })
    }

    /// The same broker checking service-account tokens with `keys` (the cluster's JWKS);
    /// without it, a broker with `[kubernetes]` answers that door with 503.
    pub fn with_kubernetes_keys(mut self, keys: Arc<dyn KeyStore + Send + Sync>) -> Broker {
        if let Some(door) = &mut self.kubernetes {
            door.keys = Some(keys);
        }
        self
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
        let Some(verifier) = &self.verifier else {
            return not_configured("[gitlab]");
        };
        let claims = match verifier.verify(token, self.keys.as_ref()) {
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
        let entry = Entry::new("mint", "granted", "")
            .job(&claims)
            .grant(asked, &grant);
        self.minted(entry, &grant, Holder::Job(&claims))
    }

    /// Mints `grant` for `holder` and answers 201 with the robot, or the robot error.
    fn minted(&self, entry: Entry, grant: &Grant, holder: Holder<'_>) -> Answer {
        self.minted_with(entry, grant, &[], holder)
    }

    /// Mints `grant` for `holder`, then each of `others` (a service account's other
    /// projects), and answers 201 with the robots: `grant`'s decides the answer, an other
    /// project's failure only leaves that project out (its pulls fall back to the kubelet's
    /// other credentials) and is in the audit line's reason.
    fn minted_with(
        &self,
        mut entry: Entry,
        grant: &Grant,
        others: &[Grant],
        holder: Holder<'_>,
    ) -> Answer {
        let now = unix_now();
        let minted = match self.robots.mint(grant, holder, now) {
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
        let mut body = robot_json(&minted);
        body["registry"] = json!(minted.registry);
        if !others.is_empty() {
            let mut also = Vec::new();
            for other in others {
                match self.robots.mint(other, holder, now) {
                    Ok(m) => {
                        self.metrics.minted(other.access);
                        entry.other_robots.push(m.username.clone());
                        also.push(robot_json(&m));
                    }
                    Err(e) => {
                        self.count_robot_error(&e);
                        entry.reason.push_str(&format!(
                            "; none in Harbor project {}: {e}",
                            other.harbor_project
                        ));
                    }
                }
            }
            if !also.is_empty() {
                entry.reason.push_str(&format!(
                    "; and one in each of {} other projects granted to the {}",
                    also.len(),
                    holder.describe()
                ));
            }
            body["other_projects"] = Value::Array(also);
        }
        self.decided(&entry, Outcome::Granted);
        Answer::new(StatusCode::CREATED, body)
    }

    /// `POST /v1/kubernetes/credentials` after the headers and body are read. Blocking.
    fn mint_kubernetes(&self, token: &str, body: &[u8]) -> Answer {
        const EVENT: &str = "mint";
        let Some(door) = &self.kubernetes else {
            return not_configured("[kubernetes]");
        };
        let Some(keys) = &door.keys else {
            return Answer::error(
                StatusCode::SERVICE_UNAVAILABLE,
                "the broker was started without the cluster's keys; report this as a bug",
            );
        };
        let claims = match door
            .verifier
            .verify_as::<ServiceAccountClaims>(token, keys.as_ref())
        {
            Ok(claims) => claims,
            Err(e) => {
                let reason = match kubernetes_hint(&e) {
                    Some(hint) => format!("{e}; {hint}"),
                    None => e.to_string(),
                };
                return self.refused_token(EVENT, reason);
            }
        };
        if let Err(e) = claims.check_subject() {
            return self.refused_token(
                EVENT,
                format!("{e}; the token is not one a Kubernetes API server writes"),
            );
        }
        let mut entry = Entry::new(EVENT, "refused", "").service_account(&claims);
        let image = match parse_image(body) {
            Ok(image) => image,
            Err(reason) => {
                entry.reason = reason.clone();
                entry.status = Some(400);
                self.decided(&entry, Outcome::BadRequest);
                return Answer::error(StatusCode::BAD_REQUEST, reason);
            }
        };
        entry.image = Some(image.clone());
        entry.access_asked = Some(Access::Pull.as_str());
        let grant = match policy::decide_kubernetes(&door.rules, &claims, &image, &door.registry) {
            Ok(grant) => grant,
            Err(refusal) => {
                entry.reason = refusal.to_string();
                entry.status = Some(403);
                self.decided(&entry, Outcome::RefusedPolicy);
                return Answer::error(StatusCode::FORBIDDEN, refusal.to_string());
            }
        };
        entry.outcome = "granted";
        let others = policy::other_kubernetes_grants(&door.rules, &claims, &grant);
        let entry = entry.grant(Access::Pull, &grant);
        self.minted_with(entry, &grant, &others, Holder::ServiceAccount(&claims))
    }

    /// `DELETE /v1/credentials`. Blocking.
    fn release(&self, token: &str) -> Answer {
        let Some(verifier) = &self.verifier else {
            return not_configured("[gitlab]");
        };
        let claims = match verifier.verify(token, self.keys.as_ref()) {
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
        self.refused_token(event, with_hint(e))
    }

    fn refused_token(&self, event: &'static str, reason: String) -> Answer {
        let mut entry = Entry::new(event, "refused", &reason);
        entry.status = Some(401);
        self.decided(&entry, Outcome::RefusedToken);
        Answer::unauthorized(reason, true)
    }

    /// A robot error's outcome: the holder's limit is a refusal; anything else is a Harbor
    /// error, counted by its status.
    fn count_robot_error(&self, e: &RobotError) -> Outcome {
        if let RobotError::TooMany { .. } = e {
            Outcome::TooMany
        } else {
            self.metrics.harbor_error(e.status());
            Outcome::HarborError
        }
    }

    fn robot_failed(&self, mut entry: Entry, e: &RobotError) -> Answer {
        let outcome = self.count_robot_error(e);
        entry.outcome = match outcome {
            Outcome::TooMany => "refused",
            _ => "error",
        };
        let status = e.status();
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
        if self.verifier.is_some()
            && let Err(e) = self.keys.ready()
        {
            missing.push(format!(
                "the issuer's keys are not loaded: {}",
                with_hint(&e)
            ));
        }
        if let Some(door) = &self.kubernetes {
            let state = match &door.keys {
                Some(keys) => keys.ready().map_err(|e| match kubernetes_key_hint(&e) {
                    Some(hint) => format!("{e}; {hint}"),
                    None => e.to_string(),
                }),
                None => Err("the broker was started without them".into()),
            };
            if let Err(e) = state {
                missing.push(format!("the Kubernetes issuer's keys are not loaded: {e}"));
            }
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

/// `[harbor] url`'s registry as an image names it: `host[:port]`, [`policy::registry_key`].
fn harbor_registry(url: &str) -> String {
    let rest = url.strip_prefix("https://").unwrap_or(url);
    policy::registry_key(rest.split('/').next().unwrap_or_default())
}

/// A minted robot as the 201 answer carries it, without the registry (one for all).
fn robot_json(minted: &Minted) -> Value {
    json!({
        "project": minted.project,
        "username": minted.username,
        // The one place a robot's secret leaves its SecretString.
        "password": minted.password.expose_secret(),
        "expires_at": minted.expires_at,
    })
}

/// A service-account token refusal's hint, naming `[kubernetes]` where the GitLab one names
/// `[gitlab]`.
fn kubernetes_hint(e: &crate::claims::TokenError) -> Option<String> {
    use crate::claims::TokenError;
    match e {
        TokenError::Issuer => Some(
            "[kubernetes] issuer must be the API server's --service-account-issuer exactly".into(),
        ),
        TokenError::Audience => Some(
            "the kubelet's tokenAttributes.serviceAccountTokenAudience must be [kubernetes] \
             audience"
                .into(),
        ),
        TokenError::Key(e) => kubernetes_key_hint(e),
        TokenError::Expired | TokenError::NotYetValid | TokenError::IssuedInFuture => {
            Some("check the clocks of the cluster's nodes and the broker (NTP)".into())
        }
        _ => e.hint(),
    }
}

fn kubernetes_key_hint(e: &crate::keys::KeyError) -> Option<String> {
    use crate::keys::KeyError;
    match e {
        KeyError::UnknownKid { .. } | KeyError::Cooldown { .. } => Some(
            "a token of another cluster, or signed by a key the API server no longer publishes: \
             check [kubernetes] issuer and jwks_url"
                .into(),
        ),
        KeyError::Fetch(_) | KeyError::Stale => Some(
            "check that the broker reaches the cluster's keys ([kubernetes] jwks_url, or the \
             issuer's OIDC discovery) and trusts its certificate ([kubernetes] ca_file)"
                .into(),
        ),
        KeyError::Parse(_) => None,
    }
}

/// The 404 of an endpoint whose config table is not set.
fn not_configured(table: &str) -> Answer {
    Answer::error(
        StatusCode::NOT_FOUND,
        format!(
            "this endpoint is off: {table} is not configured in this broker's config; add it to \
             serve it"
        ),
    )
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

pub(crate) fn parse_ask(body: &[u8]) -> Result<Access, String> {
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

/// The Kubernetes request body: `{"image": "…"}`, nothing else.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ImageAsk {
    image: String,
}

const IMAGE_SHAPE: &str =
    r#"send {"image": "<the image as the kubelet names it>"} with Content-Type: application/json"#;

pub(crate) fn parse_image(body: &[u8]) -> Result<String, String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(format!("the request has no body; {IMAGE_SHAPE}"));
    }
    let image = match serde_json::from_slice::<ImageAsk>(body) {
        Ok(ImageAsk { image }) => image,
        Err(e) => {
            return Err(format!(
                "the request body is not one the broker takes ({}); {IMAGE_SHAPE}",
                text::inline(&e.to_string())
                    .chars()
                    .take(160)
                    .collect::<String>()
            ));
        }
    };
    if image.is_empty() || image.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "the image {:?} is empty or has a space or a control character; {IMAGE_SHAPE}",
            text::inline(&image)
        ));
    }
    Ok(image)
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

/// What a door's bearer is, for the 401 of a missing or wrong header.
#[derive(Clone, Copy)]
enum Door {
    Gitlab,
    Kubernetes,
}

impl Door {
    fn token(self) -> &'static str {
        match self {
            Door::Gitlab => "the job's id_token",
            Door::Kubernetes => "the pod's service-account token",
        }
    }

    fn where_from(self) -> &'static str {
        match self {
            Door::Gitlab => "HARBOR_ID_TOKEN, declared under id_tokens in .gitlab-ci.yml",
            Door::Kubernetes => {
                "the kubelet's serviceAccountToken, asked for by tokenAttributes in the \
                 CredentialProviderConfig"
            }
        }
    }

    fn shape(self) -> &'static str {
        match self {
            Door::Gitlab => BODY_SHAPE,
            Door::Kubernetes => IMAGE_SHAPE,
        }
    }
}

/// The bearer token of `Authorization`, or the 401 that says what is wrong with the header.
fn bearer(headers: &HeaderMap, door: Door) -> Result<String, String> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Err(format!(
            "the request has no Authorization header; send Authorization: Bearer <{}> ({})",
            door.token(),
            door.where_from()
        ));
    };
    let not_bearer = || {
        format!(
            "the Authorization header is not a Bearer token; send Authorization: Bearer <{}>",
            door.token()
        )
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
async fn read_body(
    limits: &Limits,
    headers: &HeaderMap,
    body: Body,
    shape: &str,
) -> Result<Vec<u8>, Answer> {
    let too_big = || {
        Answer::error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "the request body is larger than {} bytes; {shape}",
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
            format!("the request body could not be read; {shape}"),
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
    if broker.verifier.is_none() {
        return not_configured("[gitlab]").into_response();
    }
    let (token, body) = match bearer_and_body(&broker, Door::Gitlab, &headers, body).await {
        Ok(read) => read,
        Err(response) => return response,
    };
    blocking(move || broker.mint(&token, &body)).await
}

async fn post_kubernetes_credentials(
    State(broker): State<Arc<Broker>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if broker.kubernetes.is_none() {
        return not_configured("[kubernetes]").into_response();
    }
    let (token, body) = match bearer_and_body(&broker, Door::Kubernetes, &headers, body).await {
        Ok(read) => read,
        Err(response) => return response,
    };
    blocking(move || broker.mint_kubernetes(&token, &body)).await
}

/// A POST's bearer and body, or the audited 401, 400, 408 or 413.
async fn bearer_and_body(
    broker: &Broker,
    door: Door,
    headers: &HeaderMap,
    body: Body,
) -> Result<(String, Vec<u8>), Response> {
    let token = match bearer(headers, door) {
        Ok(token) => token,
        Err(reason) => return Err(refuse_header(broker, "mint", reason)),
    };
    match read_body(&broker.limits, headers, body, door.shape()).await {
        Ok(body) => Ok((token, body)),
        Err(answer) => {
            let reason = answer.body["error"].as_str().unwrap_or_default().to_owned();
            let mut entry = Entry::new("mint", "refused", reason);
            entry.status = Some(answer.status.as_u16());
            broker.decided(&entry, Outcome::BadRequest);
            Err(answer.into_response())
        }
    }
}

async fn delete_credentials(State(broker): State<Arc<Broker>>, headers: HeaderMap) -> Response {
    if broker.verifier.is_none() {
        return not_configured("[gitlab]").into_response();
    }
    match bearer(&headers, Door::Gitlab) {
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

const ENDPOINTS: &str = "the broker serves POST and DELETE /v1/credentials, POST \
     /v1/kubernetes/credentials, GET /healthz, /readyz and /metrics";

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
        .route(
            "/v1/kubernetes/credentials",
            post(post_kubernetes_credentials).fallback(method_not_allowed),
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
