//! `POST /v1/kubernetes/credentials` over real HTTPS: the test cluster's issuer (discovery and
//! JWKS under the test issuer's URL, key b), service-account tokens signed in the test, and the
//! recorder at the `Robots` boundary. A match, each refusal, Harbor's failures, the audit
//! line's fields and what it must never hold.

use harbor_broker::policy::Table;
use harbor_broker::test_keys::A;
use harbor_client::broker::Access;
use serde_json::{Value, json};

use crate::support::{Fail, KUBERNETES_PATH, Options, TestBroker, token_with};

const IMAGE: &str = r#"{"image": "harbor.example.com/ci-images/app:1.0"}"#;

fn start() -> TestBroker {
    TestBroker::start_with(Options {
        kubernetes: true,
        ..Options::default()
    })
}

fn error_of(body: &Value) -> &str {
    assert_eq!(body.as_object().unwrap().len(), 1, "{body}");
    body["error"].as_str().unwrap()
}

#[test]
fn a_matching_service_account_gets_a_pull_robot_through_the_robots_boundary() {
    let broker = start();
    let token = broker.kubernetes_token("ci", "builder", |_| {});
    let (status, _, body) = broker.post_kubernetes(Some(&token), IMAGE);
    assert_eq!(status, 201, "{body}");
    let mut keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["expires_at", "password", "project", "registry", "username"]
    );
    assert_eq!(body["project"], "ci-images");
    let password = body["password"].as_str().unwrap().to_owned();
    {
        let rec = broker.rec();
        assert_eq!(rec.mints.len(), 1);
        let (grant, holder) = &rec.mints[0];
        assert_eq!(grant.harbor_project, "ci-images");
        assert_eq!(grant.access, Access::Pull);
        assert_eq!(grant.rule, 1);
        assert_eq!(grant.table, Table::Kubernetes);
        assert_eq!(holder, "ci/builder");
    }
    let lines = broker.audit.entries();
    assert_eq!(lines.len(), 1, "{lines:?}");
    let line = &lines[0];
    for (field, value) in [
        ("event", json!("mint")),
        ("outcome", json!("granted")),
        ("status", json!(201)),
        ("namespace", json!("ci")),
        ("service_account", json!("builder")),
        ("pod", json!("builder-0")),
        ("node", json!("node-1")),
        ("image", json!("harbor.example.com/ci-images/app:1.0")),
        ("harbor_project", json!("ci-images")),
        ("access_granted", json!("pull")),
        ("rule", json!(1)),
    ] {
        assert_eq!(line[field], value, "{field}: {line}");
    }
    assert!(line.get("job_id").is_none(), "{line}");
    let text = broker.audit.text();
    assert!(!text.contains(&password), "{text}");
    for part in token.split('.') {
        assert!(!text.contains(part), "{text}");
    }
    // A namespace-wide rule, an image with a port-less digest: rule 2.
    let token = broker.kubernetes_token("build", "default", |_| {});
    let (status, _, body) = broker.post_kubernetes(
        Some(&token),
        r#"{"image": "HARBOR.example.com:443/base/tools@sha256:0123"}"#,
    );
    assert_eq!(status, 201, "{body}");
    assert_eq!(broker.rec().mints[1].0.rule, 2);
}

/// The kubelet caches one answer per registry and service account, so one 201 carries a
/// robot for each project the service account's rules grant; only the image's decides it.
#[test]
fn the_answer_carries_a_robot_for_each_other_granted_project() {
    let broker = start();
    let token = broker.kubernetes_token("build", "default", |_| {});
    let image = r#"{"image": "harbor.example.com/base/tools:1"}"#;
    let (status, _, body) = broker.post_kubernetes(Some(&token), image);
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["project"], "base");
    let others = body["other_projects"].as_array().unwrap();
    assert_eq!(others.len(), 1, "{body}");
    let other = others[0].as_object().unwrap();
    let mut keys: Vec<&str> = other.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["expires_at", "password", "project", "username"]);
    assert_eq!(other["project"], "tools");
    assert!(
        other["username"]
            .as_str()
            .unwrap()
            .starts_with("robot$tools+")
    );
    assert_ne!(other["password"], body["password"]);
    let granted: Vec<(String, usize)> = broker
        .rec()
        .mints
        .iter()
        .map(|(g, _)| (g.harbor_project.clone(), g.rule))
        .collect();
    assert_eq!(granted, [("base".into(), 2), ("tools".into(), 3)]);
    let line = &broker.audit.entries()[0];
    assert_eq!(line["robot"], body["username"], "{line}");
    assert_eq!(line["other_robots"], json!([other["username"]]), "{line}");
    assert!(
        line["reason"].as_str().unwrap().ends_with(
            "; and one in each of 1 other projects granted to the service account build/default"
        ),
        "{line}"
    );

    // Another project failing leaves it out; the image's project failing is the answer.
    broker.rec().fail_project = Some(("tools".into(), Fail::BadGateway));
    let (status, _, body) = broker.post_kubernetes(Some(&token), image);
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["other_projects"], json!([]), "{body}");
    let line = &broker.audit.entries()[1];
    assert_eq!(line["status"], 201, "{line}");
    assert!(line.get("other_robots").is_none(), "{line}");
    assert!(
        line["reason"].as_str().unwrap().contains(
            "; none in Harbor project tools: Harbor refused the broker: the test says so"
        ),
        "{line}"
    );
    let tools = r#"{"image": "harbor.example.com/tools/x"}"#;
    let (status, _, body) = broker.post_kubernetes(Some(&token), tools);
    assert_eq!(status, 502, "{body}");
    assert_eq!(
        broker.rec().mints.len(),
        5,
        "the image's project failed: no other mint"
    );
    let text = broker.audit.text();
    assert!(!text.contains("Robot-Secret-"), "{text}");
}

#[test]
fn policy_refusals_are_403_and_name_the_service_account_or_the_registry() {
    let broker = start();
    let cases = [
        (
            ("prod", "builder"),
            IMAGE,
            "no [[kubernetes_rules]] entry matches service account prod/builder",
        ),
        (
            ("ci", "default"),
            IMAGE,
            "no [[kubernetes_rules]] entry matches service account ci/default",
        ),
        (
            ("ci", "builder"),
            r#"{"image": "harbor.example.com/secret/app"}"#,
            "no [[kubernetes_rules]] entry grants service account ci/builder Harbor project secret",
        ),
        (
            ("ci", "builder"),
            r#"{"image": "ci-images/app"}"#,
            "image ci-images/app is not on this broker's Harbor (harbor.example.com)",
        ),
        (
            ("ci", "builder"),
            r#"{"image": "harbor.example.com/app:1"}"#,
            "image harbor.example.com/app:1 names no Harbor project",
        ),
    ];
    for ((ns, sa), body, expected) in cases {
        let token = broker.kubernetes_token(ns, sa, |_| {});
        let (status, _, answer) = broker.post_kubernetes(Some(&token), body);
        assert_eq!(status, 403, "{body}: {answer}");
        assert!(error_of(&answer).starts_with(expected), "{answer}");
    }
    assert!(broker.rec().mints.is_empty());
    let lines = broker.audit.entries();
    assert_eq!(lines.len(), cases.len());
    assert!(
        lines
            .iter()
            .all(|l| l["status"] == 403 && l["outcome"] == "refused")
    );
    assert_eq!(lines[0]["namespace"], "prod");
}

#[test]
fn a_bad_token_is_a_401_with_a_bearer_challenge() {
    let broker = start();
    let now = crate::support::now();
    let issuer = format!("{}{KUBERNETES_PATH}", broker.issuer.url);
    let gitlab = broker.token(|_| {});
    // The cluster's claims signed by key a (which the cluster does not publish) under `kid`.
    let signed_by_a = |kid: &str| {
        let claims = harbor_broker::test_keys::kubernetes_claims(
            &issuer,
            crate::support::KUBERNETES_AUDIENCE,
            "ci",
            "builder",
        );
        token_with(A, kid, &claims)
    };
    let cases = [
        (
            broker.kubernetes_token("ci", "builder", |c| c["aud"] = json!(["kubernetes"])),
            "aud",
        ),
        (
            broker.kubernetes_token("ci", "builder", |c| c["exp"] = json!(now - 3600)),
            "expired",
        ),
        (signed_by_a("unknown"), "unknown"),
        (signed_by_a("kb"), "signature"),
        (
            broker.kubernetes_token("ci", "builder", |c| {
                c["sub"] = json!("system:serviceaccount:ci:admin")
            }),
            "sub",
        ),
        (gitlab, "iss"),
    ];
    for (token, word) in &cases {
        let (status, challenge, body) = broker.post_kubernetes(Some(token), IMAGE);
        assert_eq!(status, 401, "{word}: {body}");
        assert!(challenge.unwrap().starts_with("Bearer"), "{word}");
        let error = error_of(&body);
        assert!(error.contains(word), "{word}: {error}");
        for part in token.split('.') {
            assert!(!error.contains(part), "{error}");
        }
    }
    let (status, challenge, body) = broker.post_kubernetes(None, IMAGE);
    assert_eq!(status, 401, "{body}");
    assert_eq!(
        challenge.as_deref(),
        Some(r#"Bearer realm="harbor-broker""#)
    );
    assert!(error_of(&body).contains("service-account token"), "{body}");
    assert!(broker.rec().mints.is_empty());
    let text = broker.audit.text();
    for (token, _) in &cases {
        for part in token.split('.') {
            assert!(!text.contains(part), "{text}");
        }
    }
}

#[test]
fn a_body_with_unknown_fields_or_no_image_is_a_400() {
    let broker = start();
    let token = broker.kubernetes_token("ci", "builder", |_| {});
    for body in [
        r#"{"image": "harbor.example.com/ci-images/app", "access": "push"}"#,
        r#"{"access": "pull"}"#,
        r#"{"image": ""}"#,
        r#"{"image": "harbor.example.com/ci-images/a\nb"}"#,
        "",
        "[]",
    ] {
        let (status, _, answer) = broker.post_kubernetes(Some(&token), body);
        assert_eq!(status, 400, "{body}: {answer}");
        assert!(error_of(&answer).contains(r#"{"image":"#), "{answer}");
    }
    let big = format!(
        r#"{{"image": "harbor.example.com/ci-images/{}"}}"#,
        "a".repeat(1100)
    );
    let (status, _, _) = broker.post_kubernetes(Some(&token), &big);
    assert_eq!(status, 413);
    assert!(broker.rec().mints.is_empty());
}

#[test]
fn too_many_robots_and_harbor_failures_pass_through() {
    let broker = start();
    let token = broker.kubernetes_token("ci", "builder", |_| {});
    for (fail, status) in [
        (Fail::TooManyForServiceAccount, 429),
        (Fail::BadGateway, 502),
        (Fail::Unavailable, 503),
        (Fail::Timeout, 504),
    ] {
        broker.rec().fail = Some(fail);
        let (got, _, body) = broker.post_kubernetes(Some(&token), IMAGE);
        assert_eq!(got, status, "{body}");
        let error = error_of(&body);
        if status == 429 {
            assert!(
                error.starts_with("service account ci/builder already holds 3 live robots")
                    && error.contains("the sweeper ends them"),
                "{error}"
            );
        }
    }
    let lines = broker.audit.entries();
    assert_eq!(lines[0]["status"], 429);
    assert_eq!(lines[0]["outcome"], "refused");
    assert_eq!(lines[1]["outcome"], "error");
    assert_eq!(lines[1]["service_account"], "builder");
}

#[test]
fn without_the_kubernetes_table_the_door_is_404_and_other_methods_are_405() {
    let broker = TestBroker::start();
    let token = broker.kubernetes_token("ci", "builder", |_| {});
    let (status, _, body) = broker.post_kubernetes(Some(&token), IMAGE);
    assert_eq!(status, 404, "{body}");
    assert!(
        error_of(&body).contains("[kubernetes] is not configured"),
        "{body}"
    );
    let broker = start();
    for method in [reqwest::Method::DELETE, reqwest::Method::GET] {
        let response = broker
            .client
            .request(
                method.clone(),
                format!("{}/v1/kubernetes/credentials", broker.url),
            )
            .send()
            .unwrap();
        assert_eq!(response.status().as_u16(), 405, "{method}");
    }
}

#[test]
fn readyz_needs_the_cluster_s_keys_and_metrics_count_the_door_apart() {
    let broker = start();
    let (status, body) = broker.get("/readyz");
    assert_eq!(status, 200, "{body}");
    let token = broker.kubernetes_token("ci", "builder", |_| {});
    let (status, _, _) = broker.post_kubernetes(Some(&token), IMAGE);
    assert_eq!(status, 201);
    let (_, metrics) = broker.get("/metrics");
    assert!(
        metrics
            .lines()
            .any(|l| l.contains(r#"endpoint="kubernetes_credentials""#)
                && l.contains(r#"status="201""#)),
        "{metrics}"
    );
    // Sweep and release look in both tables' projects.
    broker.rec().release_count = 0;
    let (status, _) = broker.delete(&broker.token(|_| {}));
    assert_eq!(status, 200);
    let projects = broker.rec().releases[0].0.clone();
    assert_eq!(projects, ["team-app", "team", "ci-images", "base", "tools"]);
}

#[test]
fn discovery_that_names_another_issuer_or_a_plain_http_jwks_uri_is_not_trusted() {
    for (wrong, word) in [
        ("issuer", "not [kubernetes] issuer"),
        ("jwks_uri", "not https"),
    ] {
        // A fresh broker: nothing fetched yet, so /readyz's fetch meets the document.
        let broker = start();
        let issuer = format!("{}{KUBERNETES_PATH}", broker.issuer.url);
        let mut document =
            json!({"issuer": issuer, "jwks_uri": format!("{issuer}/openid/v1/jwks")});
        document[wrong] = match wrong {
            "issuer" => json!("https://other.example"),
            _ => json!(format!("http{}", &issuer[5..])),
        };
        broker.issuer.state.lock().unwrap().discovery = Some(document);
        let (status, body) = broker.get("/readyz");
        assert_eq!(status, 503, "{body}");
        assert!(
            body.contains(word) && body.contains("Kubernetes issuer"),
            "{body}"
        );
        let token = broker.kubernetes_token("ci", "builder", |_| {});
        let (status, _, body) = broker.post_kubernetes(Some(&token), IMAGE);
        assert_eq!(status, 401, "{body}");
        assert!(broker.rec().mints.is_empty());
        assert!(broker.issuer.state.lock().unwrap().discovery_hits >= 1);
    }
}
