//! The runner hooks against answers a real harbor-broker never sends: a 201 whose body is not
//! the contract's, a redirect, a server that never finishes its answer (`util::trickle`), and a
//! plain-http URL off this machine (whose token must never leave). Against the stand-in broker
//! (`util::broker`); everything a real broker can produce (its robot, 401, 403, 429, 503, the
//! release) is tested against the real one in tests/broker_e2e.rs. No test may find the
//! id_token in any output, or in any file after the job.

use std::fs;

use crate::util::TestEnv;
use crate::util::broker::{FakeBroker, Mode};
use crate::util::jobs::job;
use crate::util::trickle::{Phase, Trickle};

/// What GitLab gives the job for `id_tokens: { HARBOR_ID_TOKEN: … }`: a JWT (not checked here;
/// the broker verifies it).
const TOKEN: &str =
    "eyJhbGciOiJSUzI1NiIsImtpZCI6InQifQ.eyJqb2JfaWQiOiI0MjQyIn0.c2lnbmF0dXJlLXRlc3Q";

/// A job with no Harbor variable at all: the runner's `DOCKER_CREDENTIAL_HARBOR_BROKER` (the
/// stand-in, answering as `mode` says) and the job's id_token only.
fn broker_job(name: &str, mode: Mode) -> (TestEnv, FakeBroker) {
    let mut t = TestEnv::new(name);
    let b = FakeBroker::start(mode);
    let build_tmp = t.path("build.tmp");
    fs::create_dir_all(&build_tmp).unwrap();
    t.set("CI", "true")
        .set("CI_JOB_ID", "4242")
        .set("RUNNER_TEMP_PROJECT_DIR", &build_tmp)
        .set("DOCKER_CREDENTIAL_HARBOR_BROKER", &b.url)
        .set("HARBOR_ID_TOKEN", TOKEN)
        .secret(TOKEN);
    (t, b)
}

#[test]
fn answers_no_real_broker_sends_are_warnings_by_default_and_fail_the_job_under_strict() {
    let (mut t, b) = broker_job("broker-failures", Mode::Redirect);
    let trickle = Trickle::start(Phase::Headers, std::time::Duration::from_millis(200));
    // (what is wrong, what the warning must say, what its hint must say)
    let cases: [(&str, &str, &str); 3] = [
        (
            "junk",
            "harbor-broker's answer (HTTP 201) cannot be used: not the contract's JSON",
            "is harbor-broker itself",
        ),
        (
            "redirect",
            "harbor-broker answered 302 redirecting to https://elsewhere.example/v1/credentials",
            "not one that redirects",
        ),
        (
            "timeout",
            "harbor-broker did not answer within 1 s",
            "DOCKER_CREDENTIAL_HARBOR_TIMEOUT",
        ),
    ];
    for (case, warning, hint) in cases {
        t.set("DOCKER_CREDENTIAL_HARBOR_BROKER", &b.url)
            .unset("DOCKER_CREDENTIAL_HARBOR_TIMEOUT");
        match case {
            "junk" => b.set_mode(Mode::Fixed {
                status: 201,
                body: "<html>welcome</html>".into(),
                json: false,
            }),
            "redirect" => b.set_mode(Mode::Redirect),
            _ => {
                t.set("DOCKER_CREDENTIAL_HARBOR_BROKER", &trickle.url)
                    .set("DOCKER_CREDENTIAL_HARBOR_TIMEOUT", "1");
            }
        }
        t.unset("DOCKER_CREDENTIAL_HARBOR_VERIFY");
        let out = job(&t, "dash", false, &["echo went-on"]).success();
        assert!(out.stdout.contains("went-on"), "{case}: {out:?}");
        out.stderr_has(&format!("warning: {warning}"));
        out.stderr_has(hint);
        out.stderr_has("the job has no Harbor credentials from the helper");
        t.set("DOCKER_CREDENTIAL_HARBOR_VERIFY", "strict");
        let out = job(&t, "dash", false, &["echo went-on"]).failure();
        assert!(!out.stdout.contains("went-on"), "{case}: {out:?}");
        out.stderr_has(&format!("error: {warning}"));
        out.stderr_has("DOCKER_CREDENTIAL_HARBOR_VERIFY=strict: failing the job before the build");
    }
    t.scan_files(&[]);
}

#[test]
fn plain_http_to_a_broker_off_this_machine_is_refused_without_sending_the_token() {
    let (mut t, b) = broker_job("broker-plain-http", Mode::Redirect);
    // Were the token sent, the proxy (the stand-in itself) would receive it.
    t.set(
        "DOCKER_CREDENTIAL_HARBOR_BROKER",
        "http://harbor-broker.example",
    )
    .set("http_proxy", &b.url)
    .set("HTTP_PROXY", &b.url);
    let out = job(&t, "dash", false, &["echo went-on"]).success();
    out.stderr_has(
        "DOCKER_CREDENTIAL_HARBOR_BROKER cannot be used: it uses http:// for harbor-broker.example, which is not a loopback host",
    );
    assert!(b.requests().is_empty(), "{:?}", b.requests());
    t.scan_files(&[]);
}
