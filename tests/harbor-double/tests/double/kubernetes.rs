//! The Kubernetes issuer double: its discovery document, its JWKS and its tokens are what
//! kube-apiserver serves and signs (the discovery fields, `application/jwk-set+json`, a `kid`
//! derived from the key as the API server derives it, pod-bound claims), and a foreign token
//! names a key the JWKS does not publish.

use harbor_double::{KubernetesIssuer, PodClaims};
use serde_json::{Value, json};

use crate::util::{b64url, client_trusting, verify_rs256};

/// The base64url SHA-256 of test key `a`'s DER SubjectPublicKeyInfo, computed apart from the
/// double: `openssl pkey -inform DER -in crates/broker/tests/keys/a.pk8 -pubout -outform DER |
/// openssl dgst -sha256 -binary | basenc --base64url` (padding dropped).
const KID_A: &str = "RxW8uT4_FNCBiyFlQ5HH8iUK5Kycjy-kv7THhGAJbSI";
/// The same of key `b`, which the double never publishes.
const KID_B: &str = "w0FJoV51sfllvsA1ZGu25jISaJDPRS7umc6oNtPIO5M";

fn header(token: &str) -> Value {
    serde_json::from_slice(&b64url(token.split('.').next().unwrap())).unwrap()
}

#[test]
fn the_kubernetes_issuer_double_serves_discovery_and_signs_pod_bound_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let issuer = KubernetesIssuer::start(dir.path(), "harbor-broker");
    assert_eq!(issuer.ca_file(), dir.path().join("kubernetes-ca.crt"));
    let client = client_trusting(&issuer.ca_file());

    let answer = client
        .get(format!("{}/.well-known/openid-configuration", issuer.url()))
        .send()
        .unwrap();
    assert_eq!(answer.status(), 200);
    let discovery: Value = serde_json::from_str(&answer.text().unwrap()).unwrap();
    assert_eq!(
        discovery,
        json!({
            "issuer": issuer.url(),
            "jwks_uri": format!("{}/openid/v1/jwks", issuer.url()),
            "response_types_supported": ["id_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
        })
    );
    assert_eq!(issuer.discovery_requests(), 1);

    let answer = client
        .get(discovery["jwks_uri"].as_str().unwrap())
        .send()
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.headers()["content-type"], "application/jwk-set+json");
    let jwks: Value = serde_json::from_str(&answer.text().unwrap()).unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    for (field, value) in [
        ("use", "sig"),
        ("kty", "RSA"),
        ("alg", "RS256"),
        ("kid", KID_A),
    ] {
        assert_eq!(keys[0][field], value, "{field}");
    }
    assert_eq!(issuer.jwks_requests(), 1);

    let pod = PodClaims {
        namespace: "team-a".into(),
        service_account: "puller".into(),
        pod: "web-7d4b9".into(),
        node: "worker-3".into(),
        lifetime: 600,
    };
    let token = issuer.token(&pod);
    assert_eq!(header(&token), json!({"alg": "RS256", "kid": KID_A}));
    let claims = verify_rs256(&jwks, &token);
    assert_eq!(claims["iss"], issuer.url());
    assert_eq!(claims["aud"], json!(["harbor-broker"]));
    assert_eq!(claims["sub"], "system:serviceaccount:team-a:puller");
    let k = &claims["kubernetes.io"];
    assert_eq!(k["namespace"], "team-a");
    for (object, name) in [
        ("serviceaccount", "puller"),
        ("pod", "web-7d4b9"),
        ("node", "worker-3"),
    ] {
        assert_eq!(k[object]["name"], name);
        assert_eq!(k[object]["uid"].as_str().unwrap().len(), 36, "{object}");
    }
    let (iat, nbf, exp) = (
        claims["iat"].as_i64().unwrap(),
        claims["nbf"].as_i64().unwrap(),
        claims["exp"].as_i64().unwrap(),
    );
    assert_eq!((nbf, exp), (iat, iat + 600));
    let mut names: Vec<&str> = claims.as_object().unwrap().keys().map(|k| &**k).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "aud",
            "exp",
            "iat",
            "iss",
            "jti",
            "kubernetes.io",
            "nbf",
            "sub"
        ]
    );

    // A wrong audience, an expired token: the edits replace those claims only.
    let wrong = issuer.token_with(&pod, json!({"aud": ["other"], "exp": 1}));
    let claims = verify_rs256(&jwks, &wrong);
    assert_eq!(
        (claims["aud"].clone(), claims["exp"].clone()),
        (json!(["other"]), json!(1))
    );
    assert_eq!(claims["sub"], "system:serviceaccount:team-a:puller");

    // Signed by a key the JWKS does not publish.
    let foreign = issuer.foreign_token(&pod);
    assert_eq!(header(&foreign)["kid"], KID_B);
    assert!(keys.iter().all(|k| k["kid"] != KID_B));
}

#[test]
fn scripts_get_service_account_tokens_from_the_double() {
    let dir = tempfile::tempdir().unwrap();
    let issuer = KubernetesIssuer::start(dir.path(), "harbor-broker");
    let client = client_trusting(&issuer.ca_file());
    let jwks: Value = serde_json::from_str(
        &client
            .get(issuer.jwks_url())
            .send()
            .unwrap()
            .text()
            .unwrap(),
    )
    .unwrap();
    let post = |body: &str| {
        client
            .post(format!("{}/-/double/sa_token", issuer.url()))
            .body(body.to_owned())
            .send()
            .unwrap()
    };
    let answer = post(&json!({"namespace": "ci", "service_account": "builder"}).to_string());
    assert_eq!(answer.status(), 200);
    let claims = verify_rs256(&jwks, &answer.text().unwrap());
    assert_eq!(claims["sub"], "system:serviceaccount:ci:builder");
    assert_eq!(claims["aud"], json!(["harbor-broker"]));
    assert_eq!(claims["kubernetes.io"]["pod"]["name"], "builder-0");

    let answer = post(
        &json!({
            "namespace": "ci", "service_account": "builder", "pod": "p", "node": "n",
            "audience": "else", "lifetime": -60,
        })
        .to_string(),
    );
    assert_eq!(answer.status(), 200);
    let claims = verify_rs256(&jwks, &answer.text().unwrap());
    assert_eq!(claims["aud"], json!(["else"]));
    assert_eq!(claims["kubernetes.io"]["pod"]["name"], "p");
    assert_eq!(claims["kubernetes.io"]["node"]["name"], "n");
    assert!(claims["exp"].as_i64() < claims["iat"].as_i64(), "expired");

    for junk in [
        "[1]",
        "{}",
        r#"{"namespace": "ci"}"#,
        r#"{"namespace": "ci", "service_account": 5}"#,
        r#"{"namespace": "ci", "service_account": "b", "lifetime": "1h"}"#,
    ] {
        assert_eq!(post(junk).status(), 400, "{junk}");
    }
}
