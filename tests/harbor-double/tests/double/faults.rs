//! Infrastructure failures (docs/harbor-api.md#faults-and-tls-modes): injected faults, TLS modes,
//! the plain-HTTP redirector, and handler panics that fail the test.

use std::process::Command;
use std::time::{Duration, Instant};

use harbor_double::{Config, Fault, TlsMode};
use reqwest::blocking::Client;
use serde_json::json;

use crate::util::*;

#[test]
fn faults_switch_on_and_off_and_are_logged() {
    let f = default();
    let h = &f.h;
    h.set_fault(Fault::Status500);
    let a = get(h, "/api/v2.0/systeminfo", None);
    assert_eq!(
        (a.status, a.json()),
        (
            500,
            json!({"errors": [{"code": "UNKNOWN", "message": "internal server error"}]})
        )
    );
    assert!(a.header("x-request-id").is_some());

    for (fault, status, title) in [
        (Fault::Html502, 502, "502 Bad Gateway"),
        (Fault::Html503, 503, "503 Service Temporarily Unavailable"),
        (Fault::Html504, 504, "504 Gateway Time-out"),
    ] {
        h.set_fault(fault);
        let a = get(h, "/service/token?service=harbor-registry", None);
        assert_eq!(a.status, status);
        assert_eq!(a.header("content-type"), Some("text/html"));
        assert_eq!(a.header("x-request-id"), None);
        assert!(
            a.body
                .starts_with(&format!("<html>\r\n<head><title>{title}</title></head>")),
            "{}",
            a.body
        );
    }

    h.set_fault(Fault::None);
    h.set_fault_on("/service/token", Fault::Html502);
    assert_eq!(
        get(h, "/service/token?service=harbor-registry", None).status,
        502
    );
    assert_eq!(get(h, "/api/v2.0/ping", None).status, 200);
    h.set_fault_on("/service/token", Fault::None);
    assert_eq!(
        get(h, "/service/token?service=harbor-registry", None).status,
        401
    );

    h.set_fault(Fault::Slow(Duration::from_millis(400)));
    let t = Instant::now();
    assert_eq!(get(h, "/api/v2.0/ping", None).status, 200);
    assert!(t.elapsed() >= Duration::from_millis(400));

    h.set_fault(Fault::Redirect("https://elsewhere.invalid/login".into()));
    let r = get(h, "/api/v2.0/users/current", as_creds(&user(h, "alice")));
    assert_eq!(
        (r.status, r.header("location")),
        (302, Some("https://elsewhere.invalid/login"))
    );

    h.set_fault(Fault::Reset);
    let err = client(h)
        .get(format!("{}/api/v2.0/ping", h.url()))
        .send()
        .unwrap_err();
    assert!(!err.is_timeout() && err.status().is_none(), "{err:?}");

    h.set_fault(Fault::None);
    assert_eq!(get(h, "/api/v2.0/ping", None).status, 200);
    let statuses: Vec<u16> = h.requests().iter().map(|l| l.status).collect();
    assert!(
        statuses.starts_with(&[500, 502, 503, 504, 502, 200, 401, 200, 302]),
        "{statuses:?}"
    );
    assert!(
        statuses.contains(&0),
        "the reset request is logged without a status: {statuses:?}"
    );
}

#[test]
fn a_handler_panic_makes_dropping_the_double_panic() {
    let f = default();
    f.h.set_fault_on("/api/v2.0/ping", Fault::Panic);
    let err = client(&f.h)
        .get(format!("{}/api/v2.0/ping", f.h.url()))
        .send()
        .unwrap_err();
    assert!(err.status().is_none(), "the connection is dropped: {err:?}");
    assert_eq!(get(&f.h, "/api/v2.0/systeminfo", None).status, 200);
    let Fixture { h, dir } = f;
    let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(h)));
    let payload = dropped.expect_err("dropping a double whose handler panicked must panic");
    let message = payload
        .downcast_ref::<String>()
        .map_or("(not a String)", String::as_str);
    assert!(
        message.starts_with("a harbor-double request handler panicked: ")
            && message.contains("Fault::Panic injected on /api/v2.0/ping"),
        "{message}"
    );
    drop(dir);
    // The record went with that double: the next one drops cleanly.
    drop(default());
}

fn tls_error(client: &Client, url: &str) -> String {
    let err = client
        .get(format!("{url}/api/v2.0/ping"))
        .send()
        .unwrap_err();
    let mut text = format!("{err:?}");
    let mut source = std::error::Error::source(&err);
    while let Some(s) = source {
        text.push_str(&format!(" / {s}"));
        source = s.source();
    }
    text
}

#[test]
fn tls_modes_fail_verification_the_way_clients_see_it() {
    let valid = default();
    assert_eq!(get(&valid.h, "/api/v2.0/ping", None).status, 200);
    let wrong_ca = tls_error(&client_trusting(&valid.h.other_ca_file()), &valid.h.url());
    assert!(wrong_ca.contains("UnknownIssuer"), "{wrong_ca}");
    for (mode, expected) in [
        (TlsMode::NameMismatch, "NotValidForName"),
        (TlsMode::Expired, "Expired"),
        (TlsMode::SelfSigned, "UnknownIssuer"),
    ] {
        let f = start(Config {
            tls: mode,
            ..Config::default()
        });
        let text = tls_error(&client(&f.h), &f.h.url());
        assert!(text.contains(expected), "{mode:?}: {text}");
        assert!(
            f.h.requests().is_empty(),
            "no HTTP request gets through a failed handshake"
        );
    }
    // curl (OpenSSL) agrees about the expired certificate.
    let expired = start(Config {
        tls: TlsMode::Expired,
        ..Config::default()
    });
    let out = Command::new("curl")
        .args(["-sS", "--cacert"])
        .arg(expired.h.ca_file())
        .arg(format!("{}/api/v2.0/ping", expired.h.url()))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("expired"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_plain_http_listener_redirects_to_https_with_308() {
    let f = start(Config {
        plain_http: true,
        ..Config::default()
    });
    let http = f.h.http_url().unwrap();
    let plain = client(&f.h);
    let a = answer(
        plain
            .get(format!("{http}/service/token?service=harbor-registry"))
            .basic_auth("alice", Some("x"))
            .send()
            .unwrap(),
    );
    assert_eq!(a.status, 308);
    assert_eq!(
        a.header("location").unwrap(),
        format!("{}/service/token?service=harbor-registry", f.h.url())
    );
    assert_eq!(a.header("x-request-id"), None);
    assert!(a.body.contains("308 Permanent Redirect"));
    let log = f.h.requests();
    assert_eq!(log.len(), 1, "the HTTPS side saw nothing");
    assert_eq!(log[0].status, 308);
    assert!(default().h.http_url().is_none());
}
