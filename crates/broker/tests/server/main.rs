//! The broker's server over real HTTPS: a test GitLab issuer serving a JWKS of the fixed test
//! keys, tokens signed in the test, and a recorder at the `Robots` boundary (support.rs says
//! why). Every refusal of the contract, the 201 shape, release, readiness, metrics, the audit
//! line, the sweeper, slow clients and shutdown.

mod kubernetes;
mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use docker_credential_harbor_core::problem::Problem as _;
use harbor_broker::issuer::HttpsJwks;
use harbor_broker::keys::REFETCH_COOLDOWN;
use harbor_broker::robots::Swept;
use harbor_broker::test_keys::{self, A, B};
use harbor_client::broker::Access;
use serde_json::{Value, json};

use support::{Fail, Options, TestBroker, claims, token_with};

const PULL: &str = r#"{"access": "pull"}"#;
const PUSH: &str = r#"{"access": "push"}"#;

/// The error text of a `{"error"}` body, which must be the body's only member.
fn error_of(body: &Value) -> &str {
    let object = body.as_object().unwrap();
    assert_eq!(object.len(), 1, "{body}");
    body["error"].as_str().unwrap()
}

#[test]
fn a_job_gets_a_robot_with_the_contract_s_fields_and_an_audit_line_without_secrets() {
    let broker = TestBroker::start();
    let token = broker.token(|_| {});
    let (status, _, body) = broker.post(Some(&token), PUSH);
    assert_eq!(status, 201, "{body}");
    let object = body.as_object().unwrap();
    let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["expires_at", "password", "project", "registry", "username"]
    );
    assert_eq!(body["registry"], "harbor.example.com:8443");
    assert_eq!(body["project"], "team-app");
    assert!(body["expires_at"].is_i64(), "{body}");
    let username = body["username"].as_str().unwrap();
    assert!(
        username.starts_with("robot$team-app+hb-5005-"),
        "{username}"
    );
    let password = body["password"].as_str().unwrap().to_owned();
    {
        let rec = broker.rec();
        assert_eq!(rec.mints.len(), 1);
        let (grant, job) = &rec.mints[0];
        assert_eq!(
            (grant.harbor_project.as_str(), grant.access, grant.rule),
            ("team-app", Access::Push, 1)
        );
        assert_eq!(job, "5005");
    }

    let lines = broker.audit.entries();
    assert_eq!(lines.len(), 1, "{lines:?}");
    let line = &lines[0];
    for (field, value) in [
        ("event", json!("mint")),
        ("outcome", json!("granted")),
        ("status", json!(201)),
        ("job_id", json!("5005")),
        ("pipeline_id", json!("1001")),
        ("project_id", json!("42")),
        ("project_path", json!("team/app")),
        ("ref", json!("main")),
        ("user_login", json!("dev")),
        ("user_id", json!("3")),
        ("robot", json!(username)),
        ("harbor_project", json!("team-app")),
        ("access_asked", json!("push")),
        ("access_granted", json!("push")),
        ("rule", json!(1)),
    ] {
        assert_eq!(line[field], value, "{field} in {line}");
    }
    assert!(line["time"].as_str().unwrap().ends_with('Z'), "{line}");
    assert!(!line["reason"].as_str().unwrap().is_empty(), "{line}");
    let text = broker.audit.text();
    assert!(!text.contains(&password), "the robot's secret in {text}");
    let signature = token.rsplit('.').next().unwrap();
    assert!(
        !text.contains(&token) && !text.contains(signature),
        "the token in {text}"
    );
}

#[test]
fn pull_is_granted_on_an_unprotected_ref_by_the_namespace_rule() {
    let broker = TestBroker::start();
    let token = broker.token(|c| {
        c["project_id"] = json!("77");
        c["project_path"] = json!("team/other");
        c["ref_protected"] = json!("false");
    });
    let (status, _, body) = broker.post(Some(&token), PULL);
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["project"], "team");
    assert_eq!(broker.rec().mints[0].0.rule, 2);
}

#[test]
fn every_token_refusal_is_a_401_with_a_bearer_challenge_that_never_echoes_the_token() {
    let broker = TestBroker::start();
    let issuer = broker.issuer.url.clone();
    let signed = |f: &dyn Fn(&mut Value)| {
        let mut c = claims(&issuer);
        f(&mut c);
        token_with(A, "a", &c)
    };
    let now = support::now();
    let a_public = serde_json::to_vec(&test_keys::jwk(A, "a")).unwrap();
    let header = |alg: &str| json!({"alg": alg, "typ": "JWT", "kid": "a"});
    let cases: Vec<(&str, Option<String>, &str)> = vec![
        ("no header", None, "no Authorization header"),
        ("junk", Some("abc.def".into()), "not a JWT"),
        (
            "expired",
            Some(signed(&|c| {
                c["exp"] = json!(now - 600);
                c["iat"] = json!(now - 900);
                c["nbf"] = json!(now - 900);
            })),
            "expired",
        ),
        (
            "wrong aud",
            Some(signed(&|c| c["aud"] = json!("https://other.example"))),
            "aud",
        ),
        (
            "wrong iss",
            Some(signed(&|c| c["iss"] = json!("https://gitlab.evil.example"))),
            "iss",
        ),
        (
            "HMAC with the public key as secret",
            Some(test_keys::hs256(
                &a_public,
                &header("HS256"),
                &claims(&issuer),
            )),
            "only RS256",
        ),
        (
            "alg none",
            Some(format!(
                "{}.",
                test_keys::signing_input(&header("none"), &claims(&issuer))
            )),
            "only RS256",
        ),
        (
            "signed by a key the issuer does not publish",
            Some(token_with(B, "a", &claims(&issuer))),
            "signature",
        ),
    ];
    let mut refused = 0;
    for (what, token, says) in &cases {
        let (status, challenge, body) = broker.post(token.as_deref(), PULL);
        assert_eq!(status, 401, "{what}: {body}");
        let challenge = challenge.unwrap_or_else(|| panic!("{what}: no WWW-Authenticate"));
        assert!(challenge.starts_with("Bearer"), "{what}: {challenge}");
        let error = error_of(&body);
        assert!(error.contains(says), "{what}: {error}");
        if let Some(token) = token {
            assert!(!error.contains(token.as_str()), "{what} echoed: {error}");
        }
        refused += 1;
    }
    for header in ["Basic dXNlcjpwYXNz", "Bearer", "Bearer    "] {
        let response = broker
            .client
            .post(format!("{}/v1/credentials", broker.url))
            .header("Authorization", header)
            .body(PULL)
            .send()
            .unwrap();
        let (status, challenge, body) = support::answer(response);
        assert_eq!(status, 401, "{header}: {body}");
        assert!(challenge.is_some(), "{header}");
        assert!(error_of(&body).contains("not a Bearer token"), "{body}");
        refused += 1;
    }
    let (status, body) = broker.delete("abc.def");
    assert_eq!(status, 401, "{body}");
    refused += 1;
    assert!(broker.rec().mints.is_empty() && broker.rec().releases.is_empty());
    let (_, metrics) = broker.get("/metrics");
    assert!(
        metrics.contains(&format!(
            "harbor_broker_decisions_total{{outcome=\"refused_token\"}} {refused}\n"
        )),
        "{metrics}"
    );
    let audit = broker.audit.entries();
    assert_eq!(audit.len(), refused);
    assert!(
        audit
            .iter()
            .all(|l| l["outcome"] == "refused" && l["status"] == 401)
    );
}

#[test]
fn an_unknown_kid_refetches_once_then_is_refused_and_the_cooldown_holds() {
    let broker = TestBroker::start();
    let (status, _, _) = broker.post(Some(&broker.token(|_| {})), PULL);
    assert_eq!(status, 201);
    assert_eq!(broker.issuer.hits(), 1);
    broker.clock.advance(REFETCH_COOLDOWN);
    let issuer = broker.issuer.url.clone();
    let (status, _, body) = broker.post(Some(&token_with(A, "unknown", &claims(&issuer))), PULL);
    assert_eq!(status, 401, "{body}");
    assert!(error_of(&body).contains("kid unknown"), "{body}");
    assert_eq!(broker.issuer.hits(), 2, "one refetch for the unknown kid");
    for i in 0..20 {
        let token = token_with(A, &format!("made-up-{i}"), &claims(&issuer));
        let (status, _, _) = broker.post(Some(&token), PULL);
        assert_eq!(status, 401);
    }
    assert_eq!(broker.issuer.hits(), 2, "no fetch within the cooldown");
    // The known key is served meanwhile.
    let (status, _, _) = broker.post(Some(&broker.token(|_| {})), PULL);
    assert_eq!(status, 201);
    let (_, metrics) = broker.get("/metrics");
    assert!(
        metrics.contains("harbor_broker_jwks_fetches_total{outcome=\"ok\"} 2\n"),
        "{metrics}"
    );
}

#[test]
fn a_key_that_appears_at_the_issuer_is_accepted_after_one_refetch() {
    let broker = TestBroker::start();
    let (status, _, _) = broker.post(Some(&broker.token(|_| {})), PULL);
    assert_eq!(status, 201);
    broker.clock.advance(REFETCH_COOLDOWN);
    // Rotation: GitLab publishes b beside a, then signs with b.
    broker.issuer.publish(&[(A, "a"), (B, "b")]);
    let rotated = token_with(B, "b", &claims(&broker.issuer.url));
    let (status, _, body) = broker.post(Some(&rotated), PULL);
    assert_eq!(status, 201, "{body}");
    assert_eq!(broker.issuer.hits(), 2);
    let (status, _, _) = broker.post(Some(&broker.token(|_| {})), PULL);
    assert_eq!(status, 201);
    assert_eq!(broker.issuer.hits(), 2);
}

#[test]
fn policy_refusals_are_403_and_name_the_reason() {
    let broker = TestBroker::start();
    type Edit = dyn Fn(&mut Value);
    let cases: [(&str, &Edit, &str); 3] = [
        (
            PULL,
            &|c| {
                c["project_id"] = json!("999");
                c["namespace_id"] = json!("999");
            },
            "no [[rules]] entry matches project 999",
        ),
        (
            PUSH,
            &|c| c["ref_protected"] = json!("false"),
            "push needs a protected ref",
        ),
        (PUSH, &|c| c["project_id"] = json!("77"), "grants only pull"),
    ];
    for (body, f, says) in cases {
        let (status, _, answer) = broker.post(Some(&broker.token(f)), body);
        assert_eq!(status, 403, "{answer}");
        assert!(error_of(&answer).contains(says), "{answer}");
    }
    assert!(broker.rec().mints.is_empty());
    let audit = broker.audit.entries();
    assert!(
        audit
            .iter()
            .all(|l| l["status"] == 403 && l["job_id"] == "5005" && l["outcome"] == "refused"),
        "{audit:?}"
    );
}

#[test]
fn a_bad_body_is_a_400_and_a_big_one_a_413_and_neither_mints() {
    let broker = TestBroker::start();
    let token = broker.token(|_| {});
    for body in [
        "",
        "{}",
        r#"{"access": "admin"}"#,
        r#"{"access": "pull", "extra": 1}"#,
        r#"{"access": ["pull"]}"#,
        "not json",
    ] {
        let (status, _, answer) = broker.post(Some(&token), body);
        assert_eq!(status, 400, "{body:?}: {answer}");
        assert!(
            error_of(&answer).contains(r#"{"access": "pull"}"#),
            "{answer}"
        );
    }
    let big = format!(r#"{{"access": "pull", "x": "{}"}}"#, "y".repeat(2048));
    let (status, _, answer) = broker.post(Some(&token), &big);
    assert_eq!(status, 413, "{answer}");
    assert!(error_of(&answer).contains("larger than 1024 bytes"));
    // Chunked, with no Content-Length to refuse it by: cut off at the bound while read.
    let mut stream = raw_tls(&broker);
    let chunk = "y".repeat(2048);
    let request = format!(
        "POST /v1/credentials HTTP/1.1\r\nHost: broker\r\nAuthorization: Bearer {token}\r\n\
         Transfer-Encoding: chunked\r\n\r\n{:x}\r\n{chunk}\r\n",
        chunk.len()
    );
    stream.write_all(request.as_bytes()).unwrap();
    let answer = read_answer(&mut stream);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(broker.rec().mints.is_empty());
    let (_, metrics) = broker.get("/metrics");
    assert!(
        metrics.contains("harbor_broker_decisions_total{outcome=\"bad_request\"}"),
        "{metrics}"
    );
}

#[test]
fn harbor_failures_pass_through_and_the_broker_lives_on() {
    let broker = TestBroker::start();
    let token = broker.token(|_| {});
    for (fail, status) in [
        (Fail::TooMany, 429),
        (Fail::BadGateway, 502),
        (Fail::Unavailable, 503),
        (Fail::Timeout, 504),
    ] {
        broker.rec().fail = Some(fail);
        let (got, _, body) = broker.post(Some(&token), PULL);
        assert_eq!(got, status, "{body}");
        assert!(!error_of(&body).is_empty());
        let (got, body) = broker.delete(&token);
        assert_eq!(got, status, "{body}");
    }
    broker.rec().fail = None;
    let (status, _, _) = broker.post(Some(&token), PULL);
    assert_eq!(status, 201);
    assert_eq!(broker.get("/healthz").0, 200);
    let (_, metrics) = broker.get("/metrics");
    for line in [
        "harbor_broker_decisions_total{outcome=\"too_many\"} 2\n",
        "harbor_broker_decisions_total{outcome=\"harbor_error\"} 6\n",
        "harbor_broker_harbor_errors_total{status=\"502\"} 2\n",
        "harbor_broker_harbor_errors_total{status=\"503\"} 2\n",
        "harbor_broker_harbor_errors_total{status=\"504\"} 2\n",
        "harbor_broker_robots_minted_total{access=\"pull\"} 1\n",
    ] {
        assert!(metrics.contains(line), "{line} in {metrics}");
    }
    let audit = broker.audit.entries();
    assert!(
        audit
            .iter()
            .any(|l| l["outcome"] == "error" && l["status"] == 503)
    );
}

#[test]
fn delete_releases_the_job_s_robots_in_every_project_of_the_rules() {
    let broker = TestBroker::start();
    broker.rec().release_count = 2;
    let (status, body) = broker.delete(&broker.token(|_| {}));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"deleted": 2}));
    assert_eq!(
        broker.rec().releases,
        [(
            vec!["team-app".to_owned(), "team".to_owned()],
            "5005".to_owned()
        )]
    );
    broker.rec().release_count = 0;
    let (status, body) = broker.delete(&broker.token(|_| {}));
    assert_eq!((status, body), (200, json!({"deleted": 0})));
    let audit = broker.audit.entries();
    assert_eq!(audit[0]["event"], "release");
    assert_eq!(audit[0]["deleted"], 2);
    assert_eq!(audit[0]["job_id"], "5005");
    let (_, metrics) = broker.get("/metrics");
    assert!(metrics.contains("harbor_broker_robots_released_total 2\n"));
}

#[test]
fn readyz_is_503_naming_what_is_missing_until_the_keys_and_harbor_are_there() {
    let broker = TestBroker::start();
    broker
        .issuer
        .answer(StatusCode::INTERNAL_SERVER_ERROR, b"down");
    broker.rec().not_ready = true;
    assert_eq!(broker.get("/healthz").0, 200);
    let (status, body) = broker.get("/readyz");
    assert_eq!(status, 503, "{body}");
    assert!(
        body.contains("keys are not loaded") && body.contains("500") && body.contains("Harbor"),
        "{body}"
    );
    broker.issuer.publish(&[(A, "a")]);
    broker.clock.advance(REFETCH_COOLDOWN);
    let (status, body) = broker.get("/readyz");
    assert_eq!(status, 503, "{body}");
    assert!(
        !body.contains("keys") && body.contains("Harbor is not ready"),
        "{body}"
    );
    broker.rec().not_ready = false;
    let (status, body) = broker.get("/readyz");
    assert_eq!(status, 200, "{body}");
    assert_eq!(broker.issuer.hits(), 2, "readyz kept the cooldown");
}

#[test]
fn metrics_parse_line_by_line_and_count_what_happened() {
    let broker = TestBroker::start();
    let (status, _, _) = broker.post(Some(&broker.token(|_| {})), PUSH);
    assert_eq!(status, 201);
    let (status, _, _) = broker.post(None, PULL);
    assert_eq!(status, 401);
    assert_eq!(broker.get("/nope").0, 404);
    let response = broker
        .client
        .get(format!("{}/metrics", broker.url))
        .send()
        .unwrap();
    let kind = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(kind.starts_with("text/plain; version=0.0.4"), "{kind}");
    let text = response.text().unwrap();
    let mut helped = std::collections::HashSet::new();
    let mut typed = std::collections::HashMap::new();
    let mut samples = std::collections::HashMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').unwrap();
            assert!(!help.is_empty(), "{line}");
            helped.insert(name.to_owned());
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
            assert!(helped.contains(name), "TYPE before HELP: {line}");
            typed.insert(name.to_owned(), kind.to_owned());
        } else {
            let (series, value) = line.rsplit_once(' ').unwrap();
            let value: f64 = value.parse().unwrap_or_else(|_| panic!("{line}"));
            let name = series.split('{').next().unwrap();
            assert!(name.starts_with("harbor_broker_"), "{line}");
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| name.strip_suffix(s))
                .filter(|f| typed.get(*f).is_some_and(|k| k == "histogram"))
                .unwrap_or(name);
            assert!(typed.contains_key(family), "no TYPE for {line}");
            if let Some(labels) = series.strip_prefix(name) {
                assert!(
                    labels.is_empty() || (labels.starts_with('{') && labels.ends_with('}')),
                    "{line}"
                );
            }
            samples.insert(series.to_owned(), value);
        }
    }
    for name in [
        "requests_total",
        "request_duration_seconds",
        "decisions_total",
        "robots_minted_total",
        "robots_released_total",
        "robots_swept_total",
        "sweep_failures_total",
        "jwks_fetches_total",
        "harbor_errors_total",
        "build_info",
    ] {
        assert!(
            typed.contains_key(&format!("harbor_broker_{name}")),
            "{name}"
        );
    }
    let sample = |s: &str| samples.get(s).copied().unwrap_or_else(|| panic!("{s}"));
    assert_eq!(
        sample(r#"harbor_broker_requests_total{endpoint="credentials",status="201"}"#),
        1.0
    );
    assert_eq!(
        sample(r#"harbor_broker_requests_total{endpoint="credentials",status="401"}"#),
        1.0
    );
    assert_eq!(
        sample(r#"harbor_broker_requests_total{endpoint="other",status="404"}"#),
        1.0
    );
    assert_eq!(
        sample(r#"harbor_broker_request_duration_seconds_count{endpoint="credentials"}"#),
        2.0
    );
    assert_eq!(
        sample(r#"harbor_broker_decisions_total{outcome="granted"}"#),
        1.0
    );
    assert_eq!(
        sample(r#"harbor_broker_robots_minted_total{access="push"}"#),
        1.0
    );
    assert_eq!(
        sample(&format!(
            "harbor_broker_build_info{{version=\"{}\"}}",
            env!("CARGO_PKG_VERSION")
        )),
        1.0
    );
}

#[test]
fn unknown_paths_are_404_and_wrong_methods_405_in_json() {
    let broker = TestBroker::start();
    let (status, body) = broker.get("/v1/nope");
    assert_eq!(status, 404);
    let body: Value = serde_json::from_str(&body).unwrap();
    assert!(error_of(&body).contains("/v1/credentials"));
    let (status, body) = broker.get("/v1/credentials");
    assert_eq!(status, 405);
    let body: Value = serde_json::from_str(&body).unwrap();
    assert!(!error_of(&body).is_empty());
    let response = broker
        .client
        .post(format!("{}/healthz", broker.url))
        .send()
        .unwrap();
    assert_eq!(response.status(), 405);
}

/// Reads until the server closes the connection; `true` when it did within `limit` (a hang
/// guard, not a measurement).
fn closed_by_server(stream: &mut impl Read, limit: Duration) -> bool {
    let started = Instant::now();
    let mut buf = [0; 1024];
    while started.elapsed() < limit {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue;
            }
            Err(_) => return true,
        }
    }
    false
}

/// A TLS connection to the broker, reading with a short timeout.
fn raw_tls(broker: &TestBroker) -> rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots.add_parsable_certificates(
        rustls::pki_types::pem::PemObject::pem_slice_iter(broker.pki.ca_pem.as_bytes())
            .map(Result::unwrap),
    );
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let tcp = TcpStream::connect(broker.addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let tls = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    rustls::StreamOwned::new(tls, tcp)
}

/// Flushes what was written and reads one JSON answer, head and body (30 s at most, a hang
/// guard).
fn read_answer(stream: &mut (impl Read + Write)) -> String {
    // A server that already answered and closed may refuse the rest.
    let _ = stream.flush();
    let mut answer = Vec::new();
    let started = Instant::now();
    let mut buf = [0; 4096];
    while !answer.ends_with(b"}") && started.elapsed() < Duration::from_secs(30) {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break,
        }
    }
    String::from_utf8_lossy(&answer).into_owned()
}

#[test]
fn a_client_that_stops_halfway_through_its_headers_is_cut_off() {
    let broker = TestBroker::start();
    let mut stream = raw_tls(&broker);
    stream
        .write_all(b"POST /v1/credentials HTTP/1.1\r\nHost: broker\r\nAuthori")
        .unwrap();
    stream.flush().unwrap();
    assert!(
        closed_by_server(&mut stream, Duration::from_secs(30)),
        "the server still holds a client that stopped mid-header"
    );
    // A client that connects and never says anything (no TLS handshake) is cut off too.
    let mut silent = TcpStream::connect(broker.addr).unwrap();
    silent
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    assert!(closed_by_server(&mut silent, Duration::from_secs(30)));
    assert_eq!(broker.get("/healthz").0, 200);
}

#[test]
fn the_sweeper_sweeps_again_after_a_failed_sweep_and_audits_both() {
    let broker = TestBroker::start_with(Options {
        sweep_every: Duration::from_millis(50),
        ..Options::default()
    });
    broker.rec().sweep_answers = vec![
        Err(Fail::Unavailable),
        Ok(Swept {
            deleted: 2,
            failed: 1,
        }),
        Ok(Swept {
            deleted: 1,
            failed: 0,
        }),
    ];
    let started = Instant::now();
    while broker.rec().sweeps < 4 && started.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(broker.rec().sweeps >= 4, "the sweeper stopped");
    let audit = broker.audit.entries();
    let sweeps: Vec<&Value> = audit.iter().filter(|l| l["event"] == "sweep").collect();
    assert_eq!(
        sweeps.len(),
        3,
        "one line per sweep that did or failed something: {audit:?}"
    );
    assert_eq!(sweeps[0]["outcome"], "error");
    assert!(
        sweeps[0]["reason"]
            .as_str()
            .unwrap()
            .contains("Harbor is unavailable")
    );
    assert_eq!(
        (sweeps[1]["deleted"].clone(), sweeps[1]["failed"].clone()),
        (json!(2), json!(1))
    );
    assert_eq!(sweeps[2]["outcome"], "swept");
    let (_, metrics) = broker.get("/metrics");
    assert!(
        metrics.contains("harbor_broker_robots_swept_total 3\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("harbor_broker_sweep_failures_total 2\n"),
        "{metrics}"
    );
    assert_eq!(broker.get("/healthz").0, 200);
}

#[test]
fn shutdown_lets_a_request_under_way_finish() {
    let mut broker = TestBroker::start();
    broker.rec().mint_delay = Duration::from_millis(500);
    let token = broker.token(|_| {});
    let client = broker.client.clone();
    let url = format!("{}/v1/credentials", broker.url);
    let request = std::thread::spawn(move || {
        client
            .post(url)
            .header("Authorization", format!("Bearer {token}"))
            .body(PULL)
            .send()
            .map(|r| r.status().as_u16())
    });
    // Shut down once the mint is under way (a bounded wait for it to start).
    let started = Instant::now();
    while broker.rec().mints_started == 0 && started.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(
        broker.rec().mints.is_empty(),
        "the mint was over before shutdown"
    );
    assert!(broker.shut_down(), "the server did not stop");
    assert_eq!(request.join().unwrap().unwrap(), 201);
    assert!(TcpStream::connect(broker.addr).is_err(), "still listening");
}

/// `[gitlab]` for the test issuer, trusting `ca_file`.
fn gitlab(
    broker: &TestBroker,
    ca_file: Option<std::path::PathBuf>,
) -> harbor_broker::config::Gitlab {
    harbor_broker::config::Gitlab {
        issuer: broker.issuer.url.clone(),
        audience: support::AUDIENCE.into(),
        jwks_url: format!("{}/oauth/discovery/keys", broker.issuer.url),
        ca_file,
    }
}

#[test]
fn the_jwks_fetcher_hands_over_cache_control_and_follows_no_redirect() {
    use harbor_broker::keys::FetchJwks;
    let broker = TestBroker::start();
    let fetcher = HttpsJwks::new(&gitlab(&broker, Some(broker.pki.ca.clone()))).unwrap();
    let fetched = fetcher.fetch().unwrap();
    assert_eq!(fetched.body, test_keys::jwks(&[(A, "a")]));
    assert_eq!(fetched.cache_control.as_deref(), Some("max-age=86400"));
    {
        let mut state = broker.issuer.state.lock().unwrap();
        state.status = StatusCode::FOUND;
        state.location = Some("https://elsewhere.example/keys".into());
    }
    let err = format!("{:#}", fetcher.fetch().err().unwrap());
    assert!(
        err.contains(&broker.issuer.url) && err.contains("302") && err.contains("elsewhere"),
        "{err}"
    );
    assert!(err.contains("[gitlab] jwks_url"), "{err}");
    broker.issuer.answer(StatusCode::NOT_FOUND, b"{}");
    let err = format!("{:#}", fetcher.fetch().err().unwrap());
    assert!(
        err.contains("404") && err.contains("[gitlab] jwks_url"),
        "{err}"
    );
    assert_eq!(
        broker.issuer.hits(),
        3,
        "one request each, no redirect followed"
    );
}

#[test]
fn the_jwks_fetcher_trusts_only_its_ca_and_names_a_bad_ca_file() {
    use harbor_broker::keys::FetchJwks;
    let broker = TestBroker::start();
    let other = support::Pki::new();
    let fetcher = HttpsJwks::new(&gitlab(&broker, Some(other.ca.clone()))).unwrap();
    let err = format!("{:#}", fetcher.fetch().err().unwrap());
    assert!(err.contains(&broker.issuer.url), "{err}");
    assert_eq!(broker.issuer.hits(), 0);
    let missing = broker.pki.ca.with_file_name("nope.pem");
    let err = HttpsJwks::new(&gitlab(&broker, Some(missing))).unwrap_err();
    let shown = format!("{err} {}", err.hint().unwrap_or_default());
    assert!(
        shown.contains("[gitlab] ca_file") && shown.contains("nope.pem"),
        "{shown}"
    );
}

#[test]
fn an_oversized_jwks_is_refused_unparsed() {
    let broker = TestBroker::start();
    let huge = vec![b' '; harbor_broker::keys::MAX_JWKS_BYTES * 4];
    broker.issuer.answer(StatusCode::OK, &huge);
    let (status, body) = broker.get("/readyz");
    assert_eq!(status, 503);
    assert!(body.contains("larger than 256 KiB"), "{body}");
}

#[test]
fn a_body_that_stops_short_is_a_408_and_oversized_headers_or_tokens_are_refused() {
    let broker = TestBroker::start();
    let token = broker.token(|_| {});
    let mut stream = raw_tls(&broker);
    let head = format!(
        "POST /v1/credentials HTTP/1.1\r\nHost: broker\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: 18\r\n\r\n{{\"acc"
    );
    stream.write_all(head.as_bytes()).unwrap();
    let answer = read_answer(&mut stream);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("did not arrive"), "{answer}");
    assert!(broker.rec().mints.is_empty());

    let mut stream = raw_tls(&broker);
    let huge = format!(
        "GET /healthz HTTP/1.1\r\nHost: broker\r\nX-Filler: {}\r\n\r\n",
        "x".repeat(64 * 1024)
    );
    // The server answers 431 and closes before it has read it all, and closing with unread
    // bytes resets the connection, which may drop the answer: refused either way, never
    // served.
    let _ = stream.write_all(huge.as_bytes());
    let answer = read_answer(&mut stream);
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 431"),
        "hyper's bound: {answer}"
    );
    let long = format!("{token}{}", "A".repeat(17 * 1024));
    let (status, _, body) = broker.post(Some(&long), PULL);
    assert_eq!(status, 401);
    assert!(error_of(&body).contains("longer than 16 KiB"), "{body}");
    assert_eq!(broker.get("/healthz").0, 200);
}

#[test]
fn past_the_connection_limit_a_client_waits_for_a_free_place() {
    let broker = TestBroker::start_with(Options {
        limits: harbor_broker::http::Limits {
            max_connections: 1,
            header_read_timeout: Duration::from_secs(1),
            ..harbor_broker::http::Limits::default()
        },
        ..Options::default()
    });
    // Holds the one place until the handshake deadline cuts it off (accepted first: the
    // listen queue is in connection order).
    let mut holder = TcpStream::connect(broker.addr).unwrap();
    let (status, _) = broker.get("/healthz");
    assert_eq!(status, 200);
    // The second client was served only once the first had lost its place: it is closed.
    holder
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let closed = match holder.read(&mut [0; 16]) {
        Ok(n) => n == 0,
        Err(e) => !matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
    };
    assert!(
        closed,
        "the first connection was still open when the second was served"
    );
}

#[test]
fn a_request_that_outlasts_the_request_timeout_is_a_504_and_the_broker_lives_on() {
    let broker = TestBroker::start_with(Options {
        limits: harbor_broker::http::Limits {
            header_read_timeout: Duration::from_secs(1),
            request_timeout: Duration::from_secs(1),
            ..harbor_broker::http::Limits::default()
        },
        ..Options::default()
    });
    broker.rec().mint_delay = Duration::from_secs(3);
    let (status, _, body) = broker.post(Some(&broker.token(|_| {})), PULL);
    assert_eq!(status, 504, "{body}");
    assert!(error_of(&body).contains("within 1 s"), "{body}");
    broker.rec().mint_delay = Duration::ZERO;
    assert_eq!(broker.get("/healthz").0, 200);
}
