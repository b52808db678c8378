//! What every test module shares: a started double with its (temporary) directory,
//! a client that trusts the double's CA (rustls, ring; no redirects, no cookies), requests and
//! their answers, and the token service's claims.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use harbor_double::{Config, Harbor};
use reqwest::blocking::{Client, Response};
use reqwest::header::HeaderMap;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use serde_json::{Value, json};
use tempfile::TempDir;

/// A double and its directory; the double is dropped (registry killed) before the directory.
pub struct Fixture {
    pub h: Harbor,
    pub dir: TempDir,
}

pub fn start(config: Config) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let h = Harbor::start(dir.path(), config);
    Fixture { h, dir }
}

pub fn default() -> Fixture {
    start(Config::default())
}

pub fn tls_config(ca: &Path) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth()
}

/// Like the helper's client: no redirects followed, no cookie store.
pub fn client_trusting(ca: &Path) -> Client {
    Client::builder()
        .tls_backend_preconfigured(tls_config(ca))
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

pub fn client(h: &Harbor) -> Client {
    client_trusting(&h.ca_file())
}

pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

pub fn answer(resp: Response) -> Answer {
    Answer {
        status: resp.status().as_u16(),
        headers: resp.headers().clone(),
        body: resp.text().unwrap(),
    }
}

pub fn send(
    h: &Harbor,
    method: &str,
    path: &str,
    creds: Option<(&str, &str)>,
    body: Option<Value>,
) -> Answer {
    let mut req = client(h).request(method.parse().unwrap(), format!("{}{path}", h.url()));
    if let Some((u, p)) = creds {
        req = req.basic_auth(u, Some(p));
    }
    if let Some(b) = body {
        req = req
            .header("content-type", "application/json")
            .body(b.to_string());
    }
    answer(req.send().unwrap())
}

pub fn get(h: &Harbor, path: &str, creds: Option<(&str, &str)>) -> Answer {
    send(h, "GET", path, creds, None)
}

pub fn user<'a>(h: &Harbor, name: &'a str) -> (&'a str, String) {
    (name, h.password(name))
}

pub fn as_creds<'a>(c: &'a (&'a str, String)) -> Option<(&'a str, &'a str)> {
    Some((c.0, c.1.as_str()))
}

pub fn jwt_payload(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// The token service's answer for one scope: status and, on 200, the JWT's claims.
pub fn token(h: &Harbor, creds: Option<(&str, &str)>, query: &str) -> (u16, Option<Value>) {
    let a = get(
        h,
        &format!("/service/token?service=harbor-registry{query}"),
        creds,
    );
    if a.status != 200 {
        return (a.status, None);
    }
    (200, Some(jwt_payload(a.json()["token"].as_str().unwrap())))
}

pub fn actions(claims: &Value, index: usize) -> BTreeSet<String> {
    claims["access"][index]["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_owned())
        .collect()
}

pub fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

pub fn granted(h: &Harbor, creds: Option<(&str, &str)>, repo: &str) -> BTreeSet<String> {
    let (status, claims) = token(h, creds, &format!("&scope=repository:{repo}:pull"));
    assert_eq!(status, 200);
    actions(&claims.unwrap(), 0)
}

pub fn robot_body(name: &str, namespace: &str, access: &[(&str, &str)], duration: i64) -> Value {
    json!({
        "name": name, "description": "made by a test", "level": "project", "duration": duration,
        "permissions": [{"kind": "project", "namespace": namespace,
            "access": access.iter().map(|(r, a)| json!({"resource": r, "action": a})).collect::<Vec<_>>()}],
    })
}

/// `/users/current/permissions?scope=<scope>&relative=true` (a 200) as `(resource, action)`
/// pairs, in Harbor's order.
pub fn permissions(h: &Harbor, scope: &str, creds: Option<(&str, &str)>) -> Vec<(String, String)> {
    let a = get(
        h,
        &format!("/api/v2.0/users/current/permissions?scope={scope}&relative=true"),
        creds,
    );
    assert_eq!(a.status, 200);
    a.json()
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["resource"].as_str().unwrap().to_owned(),
                p["action"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Unpadded base64url, decoded (a JWT's parts, a JWK's numbers).
pub fn b64url(s: &str) -> Vec<u8> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .unwrap()
}

/// Verifies RS256 `token` with the key of `jwks` its header's `kid` names; returns its claims.
pub fn verify_rs256(jwks: &Value, token: &str) -> Value {
    use ring::signature::{RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents};
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3);
    let header: Value = serde_json::from_slice(&b64url(parts[0])).unwrap();
    assert_eq!(header["alg"], "RS256");
    let key = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == header["kid"])
        .expect("the token's kid is published");
    let public = RsaPublicKeyComponents {
        n: b64url(key["n"].as_str().unwrap()),
        e: b64url(key["e"].as_str().unwrap()),
    };
    let input = format!("{}.{}", parts[0], parts[1]);
    public
        .verify(
            &RSA_PKCS1_2048_8192_SHA256,
            input.as_bytes(),
            &b64url(parts[2]),
        )
        .expect("the signature verifies with the published key");
    serde_json::from_slice(&b64url(parts[1])).unwrap()
}
