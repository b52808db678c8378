//! Test-only signing: the fixed test keys in `tests/keys/` (see its README: never trusted
//! anywhere), a JWKS of their public halves, GitLab's claims for a test job, and tokens signed
//! or forged by hand, so a test can write any header (`none`, HS256) that no JWT library would
//! sign. Compiled only for `cargo test` (the unit tests, and `tests/server/` through the
//! `test-support` feature its dev-dependency turns on).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SystemRandom;
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair, RsaPublicKeyComponents};
use serde_json::{Value, json};

/// Signs with the key GitLab publishes from the start.
pub const A: &[u8] = include_bytes!("../tests/keys/a.pk8");
/// The key a rotation brings in.
pub const B: &[u8] = include_bytes!("../tests/keys/b.pk8");

fn pair(pk8: &[u8]) -> RsaKeyPair {
    RsaKeyPair::from_pkcs8(pk8).expect("the test keys are valid PKCS#8")
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The public half of `pk8` as a JWK, as GitLab publishes it.
pub fn jwk(pk8: &[u8], kid: &str) -> Value {
    let pair = pair(pk8);
    let public = RsaPublicKeyComponents::<Vec<u8>>::from(pair.public());
    json!({
        "kty": "RSA", "kid": kid, "e": b64(&public.e), "n": b64(&public.n),
        "use": "sig", "alg": "RS256",
    })
}

/// A JWKS body with each `(key, kid)`.
pub fn jwks(keys: &[(&[u8], &str)]) -> Vec<u8> {
    let keys: Vec<Value> = keys.iter().map(|(k, kid)| jwk(k, kid)).collect();
    serde_json::to_vec(&json!({ "keys": keys })).expect("a JSON value serialises")
}

/// The claims GitLab puts in the token of job 5005 of project 42 (`team/app`, namespace 7)
/// on protected `main`, as GitLab types them, valid for five minutes from now.
pub fn gitlab_claims(issuer: &str, audience: &str) -> Value {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    json!({
        "iss": issuer, "sub": "project_path:team/app:ref_type:branch:ref:main",
        "aud": audience, "exp": now + 300, "nbf": now - 5, "iat": now,
        "jti": "5a0f3c1e-0000-4000-8000-000000000000",
        "namespace_id": "7", "namespace_path": "team",
        "project_id": "42", "project_path": "team/app",
        "user_id": "3", "user_login": "dev", "user_email": "dev@example.com",
        "user_access_level": "developer",
        "pipeline_id": "1001", "pipeline_source": "push", "job_id": "5005",
        "ref": "main", "ref_type": "branch", "ref_path": "refs/heads/main",
        "ref_protected": "true", "runner_id": 9, "runner_environment": "self-hosted",
        "sha": "0123456789abcdef0123456789abcdef01234567", "project_visibility": "private",
    })
}

/// The claims a Kubernetes API server puts in a pod-bound service-account token (as the
/// kubelet requests one for a credential provider): service account `ns`/`sa`, pod
/// `builder-0`, node `node-1`, valid for ten minutes from now.
pub fn kubernetes_claims(issuer: &str, audience: &str, ns: &str, sa: &str) -> Value {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    json!({
        "aud": [audience], "exp": now + 600, "iat": now, "iss": issuer,
        "jti": "0b1e3c55-1d1f-4c57-9d5e-5a4c0f7b2e11",
        "kubernetes.io": {
            "namespace": ns,
            "node": {"name": "node-1", "uid": "6f0c2a8e-0000-4000-8000-000000000001"},
            "pod": {"name": "builder-0", "uid": "6f0c2a8e-0000-4000-8000-000000000002"},
            "serviceaccount": {"name": sa, "uid": "6f0c2a8e-0000-4000-8000-000000000003"},
        },
        "nbf": now, "sub": format!("system:serviceaccount:{ns}:{sa}"),
    })
}

/// `header.claims` base64url-encoded, unsigned.
pub fn signing_input(header: &Value, claims: &Value) -> String {
    format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    )
}

/// An RS256 token signed with `pk8`, whatever the header says.
pub fn sign(pk8: &[u8], header: &Value, claims: &Value) -> String {
    let input = signing_input(header, claims);
    let pair = pair(pk8);
    let mut sig = vec![0; pair.public().modulus_len()];
    pair.sign(
        &RSA_PKCS1_SHA256,
        &SystemRandom::new(),
        input.as_bytes(),
        &mut sig,
    )
    .expect("ring signs with a valid key");
    format!("{input}.{}", b64(&sig))
}

/// An HS256 token whose HMAC secret is `secret` (key confusion: the public key as secret).
pub fn hs256(secret: &[u8], header: &Value, claims: &Value) -> String {
    let input = signing_input(header, claims);
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
    let tag = ring::hmac::sign(&key, input.as_bytes());
    format!("{input}.{}", b64(tag.as_ref()))
}
