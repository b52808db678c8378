//! A Kubernetes service-account token issuer double, [`KubernetesIssuer`]: what harbor-broker's
//! `[kubernetes]` side needs of a cluster's API server, and nothing more. Over TLS on
//! 127.0.0.1 it serves OIDC discovery at `/.well-known/openid-configuration` and the JWKS at
//! `/openid/v1/jwks` as kube-apiserver does (`pkg/serviceaccount/openidmetadata.go`: the
//! discovery fields, `application/jwk-set+json`), with the key id the API server derives
//! (`pkg/serviceaccount/jwt.go` `keyIDFromPublicKey`: base64url of the SHA-256 of the key's DER
//! SubjectPublicKeyInfo; its signer, made with no options, writes a header of `alg` and `kid`
//! alone), and signs pod-bound tokens as the API server writes them
//! (`pkg/serviceaccount/claims.go`: `aud` an array, `kubernetes.io` with the namespace, the
//! service account, the pod and the node; `sub = system:serviceaccount:<ns>:<name>`), with the
//! broker's test key `a` (`crates/broker/tests/keys/`, public, never trusted anywhere).
//! [`KubernetesIssuer::foreign_token`] signs with key `b`, which its JWKS never publishes.
//!
//! Tokens come from [`KubernetesIssuer::token`] in a test, or from
//! `POST /-/double/sa_token` for a shell script; an API server has no such endpoint. It must
//! never listen on anything but 127.0.0.1, and never outlive its handle.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use hyper::body::Incoming;
use hyper::{Method, Request};
use serde_json::{Map, Value, json};

use crate::issuer::{self, KEY_A, KEY_B, Served};
use crate::respond::{self, Resp};
use crate::util;

/// A pod's service account as its bound token's claims see it. [`PodClaims::default`] is
/// service account `ci/builder` of pod `builder-0` on node `node-1`, for an hour.
#[derive(Clone, Debug)]
pub struct PodClaims {
    pub namespace: String,
    pub service_account: String,
    pub pod: String,
    pub node: String,
    /// Seconds the token lives (a TokenRequest may not ask for less than 10 minutes; the
    /// double takes any, a negative one for an expired token).
    pub lifetime: i64,
}

impl Default for PodClaims {
    fn default() -> PodClaims {
        PodClaims {
            namespace: "ci".to_owned(),
            service_account: "builder".to_owned(),
            pod: "builder-0".to_owned(),
            node: "node-1".to_owned(),
            lifetime: 3600,
        }
    }
}

impl PodClaims {
    /// The token's claims for `aud`, issued by `iss` now (`nbf` = `iat`, as the API server
    /// sets them; fresh UIDs and `jti`).
    pub fn to_json(&self, iss: &str, aud: &str) -> Value {
        let now = util::now_unix();
        let bound = |name: &str| json!({"name": name, "uid": util::uuid_v4()});
        json!({
            "aud": [aud], "exp": now + self.lifetime, "iat": now, "nbf": now, "iss": iss,
            "jti": util::uuid_v4(),
            "kubernetes.io": {
                "namespace": self.namespace,
                "node": bound(&self.node),
                "pod": bound(&self.pod),
                "serviceaccount": bound(&self.service_account),
            },
            "sub": format!(
                "system:serviceaccount:{}:{}", self.namespace, self.service_account),
        })
    }
}

/// kube-apiserver's key id: base64url (no padding) of the SHA-256 of the DER
/// SubjectPublicKeyInfo (`keyIDFromPublicKey`).
fn kid(pk8: &[u8]) -> String {
    let spki = issuer::subject_public_key_info(pk8);
    util::b64url(ring::digest::digest(&ring::digest::SHA256, &spki).as_ref())
}

struct State {
    url: String,
    audience: String,
    jwks_requests: AtomicUsize,
    discovery_requests: AtomicUsize,
}

impl State {
    /// A token of `claims` signed with `pk8`, its header as the API server writes it.
    fn sign(&self, pk8: &[u8], claims: &Value) -> String {
        issuer::sign(pk8, &json!({"alg": "RS256", "kid": kid(pk8)}), claims)
    }
}

/// A running Kubernetes issuer double. Dropping it stops its listener.
pub struct KubernetesIssuer {
    state: Arc<State>,
    served: Served,
}

impl KubernetesIssuer {
    /// Starts an issuer whose tokens carry `aud = [audience]`; its CA certificate goes to
    /// `DIR/kubernetes-ca.crt`. Panics with a clear message when it cannot start.
    pub fn start(dir: &Path, audience: &str) -> KubernetesIssuer {
        let state = |url: &str| State {
            url: url.to_owned(),
            audience: audience.to_owned(),
            jwks_requests: AtomicUsize::new(0),
            discovery_requests: AtomicUsize::new(0),
        };
        let (served, state) = issuer::serve("kubernetes", dir, state, handle);
        KubernetesIssuer { state, served }
    }

    /// `https://127.0.0.1:PORT`: the `iss` of its tokens (`[kubernetes] issuer`).
    pub fn url(&self) -> String {
        self.state.url.clone()
    }

    /// `URL/openid/v1/jwks`, what discovery names as `jwks_uri`.
    pub fn jwks_url(&self) -> String {
        format!("{}/openid/v1/jwks", self.state.url)
    }

    /// The CA to trust for [`KubernetesIssuer::url`] (`[kubernetes] ca_file`).
    pub fn ca_file(&self) -> PathBuf {
        self.served.ca_file.clone()
    }

    pub fn audience(&self) -> String {
        self.state.audience.clone()
    }

    /// A signed token for `pod`, with this issuer's `iss` and `aud`.
    pub fn token(&self, pod: &PodClaims) -> String {
        self.state.sign(KEY_A, &self.claims(pod))
    }

    /// A signed token for `pod` whose top-level claims `edits` (a JSON object) adds or
    /// replaces: a wrong audience, an expired token, a `sub` that does not match.
    pub fn token_with(&self, pod: &PodClaims, edits: Value) -> String {
        let mut claims = self.claims(pod);
        if let (Value::Object(map), Value::Object(edits)) = (&mut claims, edits) {
            map.extend(edits);
        }
        self.state.sign(KEY_A, &claims)
    }

    /// A token for `pod` as [`KubernetesIssuer::token`], signed by a key the JWKS does not
    /// publish (its `kid` names that key).
    pub fn foreign_token(&self, pod: &PodClaims) -> String {
        self.state.sign(KEY_B, &self.claims(pod))
    }

    /// How many times the JWKS was fetched.
    pub fn jwks_requests(&self) -> usize {
        self.state.jwks_requests.load(Ordering::SeqCst)
    }

    /// How many times the discovery document was fetched.
    pub fn discovery_requests(&self) -> usize {
        self.state.discovery_requests.load(Ordering::SeqCst)
    }

    fn claims(&self, pod: &PodClaims) -> Value {
        pod.to_json(&self.state.url, &self.state.audience)
    }
}

/// A script's `POST /-/double/sa_token` body as [`PodClaims`] and an audience: `namespace` and
/// `service_account` required, `pod`, `node`, `audience` and `lifetime` optional.
fn sa_token_request(body: &Map<String, Value>, audience: &str) -> Option<(PodClaims, String)> {
    let text = |key: &str| body.get(key).and_then(Value::as_str).map(str::to_owned);
    let defaults = PodClaims::default();
    let pod = PodClaims {
        namespace: text("namespace")?,
        service_account: text("service_account")?,
        pod: text("pod").unwrap_or(defaults.pod),
        node: text("node").unwrap_or(defaults.node),
        lifetime: match body.get("lifetime") {
            None => defaults.lifetime,
            Some(v) => v.as_i64()?,
        },
    };
    Some((pod, text("audience").unwrap_or_else(|| audience.to_owned())))
}

async fn handle(state: Arc<State>, req: Request<Incoming>) -> Resp {
    match (req.method(), req.uri().path()) {
        (&Method::GET, "/openid/v1/jwks") => {
            state.jwks_requests.fetch_add(1, Ordering::SeqCst);
            let jwks = json!({"keys": [issuer::jwk(KEY_A, &kid(KEY_A))]});
            respond::with_body(200, "application/jwk-set+json", jwks.to_string())
        }
        (&Method::GET, "/.well-known/openid-configuration") => {
            state.discovery_requests.fetch_add(1, Ordering::SeqCst);
            respond::with_body(
                200,
                "application/json",
                json!({
                    "issuer": state.url,
                    "jwks_uri": format!("{}/openid/v1/jwks", state.url),
                    "response_types_supported": ["id_token"],
                    "subject_types_supported": ["public"],
                    "id_token_signing_alg_values_supported": ["RS256"],
                })
                .to_string(),
            )
        }
        (&Method::POST, "/-/double/sa_token") => {
            let request = issuer::json_object(req).await;
            let Some((pod, audience)) = request
                .as_ref()
                .and_then(|body| sa_token_request(body, &state.audience))
            else {
                return respond::bad_request(
                    "the body must be a JSON object with namespace and service_account \
                     (strings), and optional pod, node, audience (strings) and lifetime \
                     (seconds)",
                );
            };
            let token = state.sign(KEY_A, &pod.to_json(&state.url, &audience));
            respond::with_body(200, "application/jwt", token)
        }
        _ => respond::not_found("no such page in the Kubernetes issuer double"),
    }
}
