//! The GitLab id_token issuer double: its JWKS and its tokens are what GitLab publishes and
//! signs (RS256 over the published key, GitLab's claim types, `Cache-Control`), and a rotation
//! publishes a second key.

use harbor_double::{GitlabIssuer, JobClaims};
use serde_json::{Value, json};

use crate::util::{b64url, client_trusting, verify_rs256};

/// The JWKS the issuer serves now.
fn jwks_of(client: &reqwest::blocking::Client, issuer: &GitlabIssuer) -> Value {
    let body = client
        .get(issuer.jwks_url())
        .send()
        .unwrap()
        .text()
        .unwrap();
    serde_json::from_str(&body).unwrap()
}

/// Verifies `token` against the JWKS the issuer serves now; returns its claims.
fn verify(issuer: &GitlabIssuer, token: &str) -> Value {
    let client = client_trusting(&issuer.ca_file());
    verify_rs256(&jwks_of(&client, issuer), token)
}

#[test]
fn the_issuer_double_signs_gitlab_shaped_tokens_with_its_published_key_and_rotates() {
    let dir = tempfile::tempdir().unwrap();
    let issuer = GitlabIssuer::start(dir.path(), "https://broker.test");
    let client = client_trusting(&issuer.ca_file());
    let answer = client.get(issuer.jwks_url()).send().unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(
        answer.headers()["cache-control"],
        "max-age=86400, public, must-revalidate"
    );
    let jwks: Value = serde_json::from_str(&answer.text().unwrap()).unwrap();
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 1);

    let job = JobClaims {
        job_id: 77,
        ref_protected: false,
        ..JobClaims::default()
    };
    let claims = verify(&issuer, &issuer.token(&job));
    assert_eq!(claims["iss"], issuer.url());
    assert_eq!(claims["aud"], "https://broker.test");
    assert_eq!(claims["job_id"], "77");
    assert_eq!(claims["project_id"], "42");
    assert_eq!(claims["ref_protected"], "false");
    assert!(claims["exp"].as_i64().unwrap() > claims["iat"].as_i64().unwrap());

    issuer.rotate();
    let rotated = issuer.token(&job);
    let jwks: Value = jwks_of(&client, &issuer);
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 2);
    let header: Value =
        serde_json::from_slice(&b64url(rotated.split('.').next().unwrap())).unwrap();
    assert_eq!(header["kid"], "double-key-b");
    verify(&issuer, &rotated);
    assert_eq!(issuer.jwks_requests(), 4);

    // For shell scripts: claims to add or replace, as JSON.
    let answer = client
        .post(format!("{}/-/double/id_token", issuer.url()))
        .body(json!({"job_id": "9", "ref_protected": "false"}).to_string())
        .send()
        .unwrap();
    assert_eq!(answer.status(), 200);
    let claims = verify(&issuer, &answer.text().unwrap());
    assert_eq!(claims["job_id"], "9");
    assert_eq!(claims["project_path"], "group/project");
    let junk = client
        .post(format!("{}/-/double/id_token", issuer.url()))
        .body("[1]")
        .send()
        .unwrap();
    assert_eq!(junk.status(), 400);
}
