//! A GitLab id_token issuer double, [`GitlabIssuer`]: what harbor-broker's tests, demo, load
//! test and benchmark need of GitLab, and nothing more. Over TLS on 127.0.0.1 it publishes the
//! issuer's JWKS at `/oauth/discovery/keys` (with GitLab's `Cache-Control`) and the discovery
//! document at `/.well-known/openid-configuration`, and it signs id_tokens as GitLab does
//! (RS256, `kid`, the claims of a CI job) with the broker's test keys
//! (`crates/broker/tests/keys/`, public, never trusted anywhere).
//!
//! Tokens come from [`GitlabIssuer::token`] in a test, or from `POST /-/double/id_token` (a
//! JSON object of claims to add or replace) for a shell script; GitLab has no such endpoint.
//! [`GitlabIssuer::rotate`] publishes a second key and signs with it from then on, as a key
//! rotation would. It must never listen on anything but 127.0.0.1, and never outlive its
//! handle.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use hyper::body::Incoming;
use hyper::{Method, Request};
use serde_json::{Value, json};

use crate::issuer::{self, KEY_A, KEY_B, Served, jwk};
use crate::respond::{self, Resp};
use crate::util;

// KEY_A is published and signs from the start; KEY_B is what [`GitlabIssuer::rotate`] brings in.
const KID_A: &str = "double-key-a";
const KID_B: &str = "double-key-b";
/// GitLab's JWKS answer header (`expires_in 24.hours, public: true, must_revalidate: true`).
const JWKS_CACHE_CONTROL: &str = "max-age=86400, public, must-revalidate";

/// A CI job as the claims of its id_token see it. [`JobClaims::default`] is a job on a
/// protected branch of project 42 (`group/project`) in namespace 7.
#[derive(Clone, Debug)]
pub struct JobClaims {
    pub job_id: u64,
    pub pipeline_id: u64,
    pub project_id: u64,
    pub project_path: String,
    pub namespace_id: u64,
    pub namespace_path: String,
    pub git_ref: String,
    pub ref_protected: bool,
    pub user_login: String,
    /// Seconds the token lives (GitLab: the job's timeout, 5 minutes without one).
    pub lifetime: i64,
}

impl Default for JobClaims {
    fn default() -> JobClaims {
        JobClaims {
            job_id: 1001,
            pipeline_id: 501,
            project_id: 42,
            project_path: "group/project".to_owned(),
            namespace_id: 7,
            namespace_path: "group".to_owned(),
            git_ref: "main".to_owned(),
            ref_protected: true,
            user_login: "alice".to_owned(),
            lifetime: 3600,
        }
    }
}

impl JobClaims {
    /// The id_token's claims for `aud`, issued by `iss` now, with the types GitLab uses (IDs
    /// and `ref_protected` are strings).
    pub fn to_json(&self, iss: &str, aud: &str) -> Value {
        let now = util::now_unix();
        json!({
            "iss": iss, "aud": aud, "sub": format!(
                "project_path:{}:ref_type:branch:ref:{}", self.project_path, self.git_ref),
            "iat": now, "nbf": now - 5, "exp": now + self.lifetime,
            "jti": util::uuid_v4(),
            "namespace_id": self.namespace_id.to_string(),
            "namespace_path": self.namespace_path,
            "project_id": self.project_id.to_string(),
            "project_path": self.project_path,
            "user_id": "17", "user_login": self.user_login,
            "user_email": format!("{}@example.com", self.user_login),
            "user_access_level": "developer",
            "pipeline_id": self.pipeline_id.to_string(), "pipeline_source": "push",
            "job_id": self.job_id.to_string(),
            "ref": self.git_ref, "ref_type": "branch",
            "ref_path": format!("refs/heads/{}", self.git_ref),
            "ref_protected": self.ref_protected.to_string(),
            "runner_id": 1, "runner_environment": "self-hosted",
            "sha": "0123456789abcdef0123456789abcdef01234567",
            "project_visibility": "private",
        })
    }
}

struct State {
    url: String,
    audience: String,
    rotated: AtomicBool,
    jwks_requests: AtomicUsize,
}

impl State {
    fn signing_key(&self) -> (&'static [u8], &'static str) {
        if self.rotated.load(Ordering::SeqCst) {
            (KEY_B, KID_B)
        } else {
            (KEY_A, KID_A)
        }
    }

    fn jwks(&self) -> Value {
        let mut keys = vec![jwk(KEY_A, KID_A)];
        if self.rotated.load(Ordering::SeqCst) {
            keys.push(jwk(KEY_B, KID_B));
        }
        json!({ "keys": keys })
    }

    fn sign(&self, claims: &Value) -> String {
        let (key, kid) = self.signing_key();
        issuer::sign(
            key,
            &json!({"alg": "RS256", "typ": "JWT", "kid": kid}),
            claims,
        )
    }
}

/// A running issuer double. Dropping it stops its listener.
pub struct GitlabIssuer {
    state: Arc<State>,
    served: Served,
}

impl GitlabIssuer {
    /// Starts an issuer whose tokens carry `aud = audience`; its CA certificate goes to
    /// `DIR/gitlab-ca.crt`. Panics with a clear message when it cannot start.
    pub fn start(dir: &Path, audience: &str) -> GitlabIssuer {
        let state = |url: &str| State {
            url: url.to_owned(),
            audience: audience.to_owned(),
            rotated: AtomicBool::new(false),
            jwks_requests: AtomicUsize::new(0),
        };
        let (served, state) = issuer::serve("gitlab", dir, state, handle);
        GitlabIssuer { state, served }
    }

    /// `https://127.0.0.1:PORT`: the `iss` of its tokens, without a trailing slash.
    pub fn url(&self) -> String {
        self.state.url.clone()
    }

    /// `URL/oauth/discovery/keys`.
    pub fn jwks_url(&self) -> String {
        format!("{}/oauth/discovery/keys", self.state.url)
    }

    /// The CA to trust for [`GitlabIssuer::url`] (`[gitlab] ca_file`).
    pub fn ca_file(&self) -> PathBuf {
        self.served.ca_file.clone()
    }

    pub fn audience(&self) -> String {
        self.state.audience.clone()
    }

    /// A signed id_token for `job`, with this issuer's `iss` and `aud`.
    pub fn token(&self, job: &JobClaims) -> String {
        self.state
            .sign(&job.to_json(&self.state.url, &self.state.audience))
    }

    /// A signed id_token with exactly these claims (for a test that needs a wrong one).
    pub fn sign(&self, claims: &Value) -> String {
        self.state.sign(claims)
    }

    /// Publishes a second key and signs every later token with it.
    pub fn rotate(&self) {
        self.state.rotated.store(true, Ordering::SeqCst);
    }

    /// How many times the JWKS was fetched.
    pub fn jwks_requests(&self) -> usize {
        self.state.jwks_requests.load(Ordering::SeqCst)
    }
}

async fn handle(state: Arc<State>, req: Request<Incoming>) -> Resp {
    match (req.method(), req.uri().path()) {
        (&Method::GET, "/oauth/discovery/keys") => {
            state.jwks_requests.fetch_add(1, Ordering::SeqCst);
            let mut resp = respond::json(200, &state.jwks());
            if let Ok(v) = hyper::header::HeaderValue::from_str(JWKS_CACHE_CONTROL) {
                resp.headers_mut().insert(hyper::header::CACHE_CONTROL, v);
            }
            resp
        }
        (&Method::GET, "/.well-known/openid-configuration") => respond::json(
            200,
            &json!({
                "issuer": state.url,
                "jwks_uri": format!("{}/oauth/discovery/keys", state.url),
                "id_token_signing_alg_values_supported": ["RS256"],
            }),
        ),
        (&Method::POST, "/-/double/id_token") => {
            let Some(extra) = issuer::json_object(req).await else {
                return respond::bad_request("the body must be a JSON object of claims");
            };
            let mut claims = JobClaims::default().to_json(&state.url, &state.audience);
            if let Value::Object(map) = &mut claims {
                map.extend(extra);
            }
            respond::with_body(200, "application/jwt", state.sign(&claims))
        }
        _ => respond::not_found("no such page in the GitLab double"),
    }
}
