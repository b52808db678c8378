//! The binary, start-up time, and the double as a value tests may share between threads.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use harbor_double::{Config, Harbor};
use serde_json::Value;

use crate::util::*;

/// Runs the binary with `--dir DIR` and `args`: the child and its announcement line.
fn spawn(dir: &Path, args: &[&str]) -> (std::process::Child, Value) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_harbor-double"))
        .arg("--dir")
        .arg(dir)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    (child, serde_json::from_str(&line).unwrap())
}

/// Closes the child's stdin and waits (10 s at most) for it to exit successfully.
fn stop(child: &mut std::process::Child) {
    let mut stdin = child.stdin.take().unwrap();
    stdin.flush().unwrap();
    drop(stdin);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success());
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the double did not stop when stdin closed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_binary_announces_the_kubernetes_issuer_and_its_tokens_are_for_scripts() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, announced) = spawn(
        dir.path(),
        &["--stdin-lifetime", "--kubernetes-issuer", "harbor-broker"],
    );
    assert!(announced.get("gitlab_url").is_none(), "{announced}");
    let url = announced["kubernetes_url"].as_str().unwrap();
    let ca = Path::new(announced["kubernetes_ca_file"].as_str().unwrap());
    assert_eq!(ca, dir.path().join("kubernetes-ca.crt"));
    let resp = client_trusting(ca)
        .post(format!("{url}/-/double/sa_token"))
        .body(r#"{"namespace": "ci", "service_account": "builder"}"#)
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    let claims = jwt_payload(&resp.text().unwrap());
    assert_eq!(claims["iss"], url);
    assert_eq!(claims["sub"], "system:serviceaccount:ci:builder");
    stop(&mut child);
}

#[test]
fn the_binary_announces_itself_and_stops_when_stdin_closes() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, announced) = spawn(dir.path(), &["--oidc", "--plain-http", "--stdin-lifetime"]);
    let written: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("harbor.json")).unwrap())
            .unwrap();
    assert_eq!(announced, written);
    assert_eq!(announced["registry"], false);
    assert!(
        announced["http_url"]
            .as_str()
            .unwrap()
            .starts_with("http://127.0.0.1:")
    );
    let carol = announced["users"]["carol"].as_str().unwrap();
    let url = announced["url"].as_str().unwrap();
    let c = client_trusting(Path::new(announced["ca_file"].as_str().unwrap()));
    let resp = c
        .get(format!("{url}/service/token?service=harbor-registry"))
        .basic_auth("carol", Some(carol))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);

    stop(&mut child);
    assert!(
        c.get(format!("{url}/api/v2.0/ping")).send().is_err(),
        "the listener is gone"
    );
}

#[test]
fn a_double_starts_well_under_a_second_once_the_key_exists() {
    drop(default());
    let t = Instant::now();
    let f = default();
    let plain = t.elapsed();
    assert_eq!(get(&f.h, "/api/v2.0/ping", None).status, 200);
    let t = Instant::now();
    let r = start(Config {
        registry: true,
        ..Config::default()
    });
    let with_registry = t.elapsed();
    assert_eq!(
        get(&r.h, "/v2/", as_creds(&user(&r.h, "alice"))).status,
        200
    );
    eprintln!("start-up: {plain:?} without the registry, {with_registry:?} with it");
    assert!(plain < Duration::from_millis(500), "{plain:?}");
    assert!(with_registry < Duration::from_secs(3), "{with_registry:?}");
}

#[test]
fn a_harbor_can_be_shared_between_threads() {
    fn send_and_sync<T: Send + Sync>() {}
    send_and_sync::<Harbor>();
    send_and_sync::<harbor_double::Logged>();
}
