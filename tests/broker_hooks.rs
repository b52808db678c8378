//! harbor-broker's robot in the runner hooks: with `DOCKER_CREDENTIAL_HARBOR_BROKER` and the
//! job's `HARBOR_ID_TOKEN`, pre-build trades the token for a robot and serves it as a job robot
//! is served, and post-build releases it. Against the stand-in broker (`util::broker`) and the
//! Harbor double, whose robots the broker hands out. No test may find the id_token or a robot's
//! secret in any output, or in any file after the job.

use std::fs;
use std::path::Path;

use harbor_double::Harbor;

use crate::util::broker::{FakeBroker, Mode};
use crate::util::jobs::{dump, gitlab, job, job_with_private_etc, start, trust_in_home};
use crate::util::trickle::{Phase, Trickle};
use crate::util::{TestEnv, is_root};

/// What GitLab gives the job for `id_tokens: { HARBOR_ID_TOKEN: … }`: a JWT (not checked here;
/// the broker verifies it).
const TOKEN: &str =
    "eyJhbGciOiJSUzI1NiIsImtpZCI6InQifQ.eyJqb2JfaWQiOiI0MjQyIn0.c2lnbmF0dXJlLXRlc3Q";

/// A job with no Harbor variable at all: the runner's `DOCKER_CREDENTIAL_HARBOR_BROKER` and the
/// job's id_token only.
fn broker_job(name: &str, registry: bool) -> (TestEnv, Harbor, FakeBroker) {
    let mut t = TestEnv::new(name);
    let h = start(&t, registry);
    let b = FakeBroker::start(&h, "proj", TOKEN);
    let build_tmp = t.path("build.tmp");
    fs::create_dir_all(&build_tmp).unwrap();
    t.set("CI", "true")
        .set("CI_JOB_ID", "4242")
        .set("RUNNER_TEMP_PROJECT_DIR", &build_tmp)
        .set("DOCKER_CREDENTIAL_HARBOR_BROKER", &b.url)
        .set("HARBOR_ID_TOKEN", TOKEN)
        .secret(TOKEN);
    let (push, pull) = b.robots();
    t.secret(&push.secret).secret(&pull.secret);
    trust_in_home(&t, &h);
    (t, h, b)
}

/// The job's `get` answer for its registry, into a file the test reads (and allows in the scan).
const SAVE_GET: &str =
    "printf %s \"$HARBOR_REGISTRY\" | docker-credential-harbor get > \"$TMPDIR/get.json\"";

fn got(t: &TestEnv) -> serde_json::Value {
    serde_json::from_str(&fs::read_to_string(t.path("tmp/get.json")).unwrap()).unwrap()
}

const VARS: [&str; 6] = [
    "HARBOR_URL",
    "HARBOR_HOST",
    "HARBOR_REGISTRY",
    "HARBOR_PROJECT",
    "HARBOR_USERNAME",
    "HARBOR_PASSWORD",
];

#[test]
fn a_job_with_only_the_broker_gets_its_robot_and_the_integrations_password_is_unset() {
    let (mut t, h, b) = broker_job("broker-only", false);
    let (push, _) = b.robots();
    let addr = h.addr();
    let out = job(&t, "dash", true, &[&dump(&VARS), SAVE_GET]).success();
    assert_eq!(
        fs::read_to_string(t.path("tmp/vars.out")).unwrap(),
        format!("https://{addr}|127.0.0.1|{addr}|proj|{}|unset|", push.name)
    );
    let answer = got(&t);
    assert_eq!(
        (&answer["Username"], &answer["Secret"]),
        (&push.name.clone().into(), &push.secret.clone().into())
    );
    out.stderr_has("robot from harbor-broker (pull and push)");
    out.stderr_has(&format!("harbor-broker released {}", push.name));
    // One POST for push, one DELETE, each with the job's token as the bearer.
    let seen = b.requests();
    let calls: Vec<(&str, &str, &str)> = seen
        .iter()
        .map(|r| (r.method.as_str(), r.path.as_str(), r.body.as_str()))
        .collect();
    assert_eq!(
        calls,
        [
            ("POST", "/v1/credentials", r#"{"access":"push"}"#),
            ("DELETE", "/v1/credentials", "")
        ]
    );
    let bearer = format!("Bearer {TOKEN}");
    assert!(
        seen.iter()
            .all(|r| r.header("authorization") == Some(bearer.as_str()))
    );
    assert!(
        !t.path("build.tmp/docker-credential-harbor").exists(),
        "post-build removed the robot's store"
    );
    t.scan_files(&[&t.path("tmp/get.json")]);

    // GitLab's integration sets its variables too: the broker's robot wins, and the job shell
    // no longer holds the integration's password.
    gitlab(&mut t, &h, "alice", &h.password("alice"), "proj");
    b.clear_requests();
    job(&t, "bash", true, &[&dump(&VARS), SAVE_GET]).success();
    assert_eq!(
        fs::read_to_string(t.path("tmp/vars.out")).unwrap(),
        format!("{}|127.0.0.1|{addr}|proj|{}|unset|", h.url(), push.name)
    );
    assert_eq!(got(&t)["Username"], push.name.as_str());
    assert_eq!(b.requests().len(), 2);
    t.scan_files(&[&t.path("tmp/get.json")]);
}

#[test]
fn a_refused_push_gets_a_pull_robot_and_the_job_log_says_why() {
    let (t, _h, b) = broker_job("broker-pull", false);
    b.set_mode(Mode::Grant { push: false });
    let (_, pull) = b.robots();
    let out = job(&t, "dash", false, &[&dump(&["HARBOR_USERNAME"])]).success();
    assert_eq!(
        fs::read_to_string(t.path("tmp/vars.out")).unwrap(),
        format!("{}|", pull.name)
    );
    out.stderr_has(
        "harbor-broker refused push for this job (\"push needs a protected ref: ref \"feature\" is not protected\"), so its robot may only pull",
    );
    out.stderr_has("robot from harbor-broker (pull only)");
    let bodies: Vec<String> = b
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST")
        .map(|r| r.body)
        .collect();
    assert_eq!(bodies, [r#"{"access":"push"}"#, r#"{"access":"pull"}"#]);
    t.scan_files(&[]);
}

#[test]
fn a_broker_failure_is_a_warning_by_default_and_fails_the_job_under_strict() {
    let (mut t, h, b) = broker_job("broker-failures", false);
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let trickle = Trickle::start(Phase::Headers, std::time::Duration::from_millis(200));
    let hint = format!("HARBOR_ID_TOKEN: {{ aud: {} }}", b.url);
    // (what is wrong, what the warning must say, what its hint must say)
    let cases: [(&str, &str, &str); 8] = [
        ("no token", "HARBOR_ID_TOKEN is not set", &hint),
        (
            "401",
            "harbor-broker refused the job's id_token (HARBOR_ID_TOKEN): \"the id_token failed verification\"",
            &hint,
        ),
        (
            "down",
            "cannot connect to harbor-broker at 127.0.0.1:",
            "that harbor-broker is running",
        ),
        (
            "429",
            "harbor-broker refused another robot for this job: \"this job already holds 3 live robots\"",
            "retry the job later",
        ),
        (
            "503",
            "harbor-broker could not reach Harbor (HTTP 503): \"Harbor is down\"",
            "retry later",
        ),
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
            .set("HARBOR_ID_TOKEN", TOKEN)
            .unset("DOCKER_CREDENTIAL_HARBOR_TIMEOUT");
        b.set_mode(Mode::Grant { push: true });
        match case {
            "no token" => {
                t.unset("HARBOR_ID_TOKEN");
            }
            "401" => {
                t.set("HARBOR_ID_TOKEN", "eyJ.another-jobs.token")
                    .secret("eyJ.another-jobs.token");
            }
            "down" => {
                t.set("DOCKER_CREDENTIAL_HARBOR_BROKER", &closed);
            }
            "429" => b.set_mode(Mode::Fixed {
                status: 429,
                body: r#"{"error":"this job already holds 3 live robots"}"#.into(),
                json: true,
            }),
            "503" => b.set_mode(Mode::Fixed {
                status: 503,
                body: r#"{"error":"Harbor is down"}"#.into(),
                json: true,
            }),
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
        b.clear_requests();
        t.unset("DOCKER_CREDENTIAL_HARBOR_VERIFY");
        let out = job(&t, "dash", false, &["echo went-on"]).success();
        assert!(out.stdout.contains("went-on"), "{case}: {out:?}");
        out.stderr_has(&format!("warning: {warning}"));
        out.stderr_has(hint);
        out.stderr_has("the job has no Harbor credentials from the helper");
        if case == "no token" {
            assert!(b.requests().is_empty(), "no token, no request");
        }
        t.set("DOCKER_CREDENTIAL_HARBOR_VERIFY", "strict");
        let out = job(&t, "dash", false, &["echo went-on"]).failure();
        assert!(!out.stdout.contains("went-on"), "{case}: {out:?}");
        out.stderr_has(&format!("error: {warning}"));
        out.stderr_has("DOCKER_CREDENTIAL_HARBOR_VERIFY=strict: failing the job before the build");
    }
    // With GitLab's integration too, the job goes on with its credentials, verified as ever.
    gitlab(&mut t, &h, "alice", &h.password("alice"), "proj");
    t.unset("DOCKER_CREDENTIAL_HARBOR_VERIFY")
        .unset("DOCKER_CREDENTIAL_HARBOR_TIMEOUT")
        .set("DOCKER_CREDENTIAL_HARBOR_BROKER", &b.url)
        .set("HARBOR_ID_TOKEN", TOKEN);
    b.set_mode(Mode::Fixed {
        status: 503,
        body: r#"{"error":"Harbor is down"}"#.into(),
        json: true,
    });
    let out = job(
        &t,
        "dash",
        false,
        &[&dump(&["HARBOR_USERNAME"]), "test -n \"$HARBOR_PASSWORD\""],
    )
    .success();
    out.stderr_has("the job keeps the integration's credentials");
    out.stderr_has("alice may pull from and push to proj");
    assert_eq!(
        fs::read_to_string(t.path("tmp/vars.out")).unwrap(),
        "alice|"
    );
    t.scan_files(&[]);
}

#[test]
fn plain_http_to_a_broker_off_this_machine_is_refused_without_sending_the_token() {
    let (mut t, _h, b) = broker_job("broker-plain-http", false);
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

#[test]
fn a_release_the_broker_refuses_is_a_warning_naming_the_robot_and_its_sweep() {
    let (t, _h, b) = broker_job("broker-release-fails", false);
    let (push, _) = b.robots();
    t.helper(&["pre-build"], b"").success();
    let store = t.path(&format!(
        "build.tmp/docker-credential-harbor/{}.credentials.json",
        push.name.replace(['$', '+'], "")
    ));
    assert!(
        store.is_file(),
        "the robot's store is in the per-job directory"
    );
    assert_eq!(crate::util::mode(&store) & 0o777, 0o600);
    b.set_mode(Mode::Fixed {
        status: 503,
        body: r#"{"error":"Harbor is down"}"#.into(),
        json: true,
    });
    let out = t.helper(&["post-build"], b"").success();
    t.assert_clean(&out);
    out.stderr_has(&format!(
        "could not release harbor-broker's robot {}: harbor-broker could not reach Harbor (HTTP 503)",
        push.name
    ));
    out.stderr_has("harbor-broker's sweeper deletes it once its expiry has passed");
    assert!(!store.exists(), "the secret goes whatever the broker said");
    t.scan_files(&[]);
}

#[test]
fn real_clients_push_with_the_brokers_robot_and_no_harbor_secret_in_the_job() {
    if !is_root() || !Path::new("/etc/docker").is_dir() || !Path::new("/etc/containers").is_dir() {
        eprintln!("skipped: skopeo runs rootful here, in a private /etc");
        return;
    }
    let (mut t, h, b) = broker_job("broker-skopeo", true);
    // The CA as pre-build places it for the broker's registry (no HARBOR_URL to take it from).
    let _ = fs::remove_dir_all(t.path("home/.config/containers/certs.d"));
    t.set("DOCKER_CREDENTIAL_HARBOR_CA_FILE", h.ca_file());
    t.containers_env();
    t.make_image();
    let img = t.path("img").display().to_string();
    job_with_private_etc(
        &t,
        &[&format!(
            "skopeo copy --format v2s2 oci:{img}:v1 docker://$HARBOR_REGISTRY/$HARBOR_PROJECT/app:broker"
        )],
    )
    .success();
    assert!(
        h.requests()
            .iter()
            .any(|r| r.method == "PUT" && r.status == 201 && r.path.ends_with("/manifests/broker")),
        "skopeo pushed with the broker's robot"
    );
    assert_eq!(
        b.requests()
            .iter()
            .map(|r| r.method.as_str())
            .collect::<Vec<_>>(),
        ["POST", "DELETE"]
    );

    // Negative control: a pull robot cannot push.
    b.set_mode(Mode::Grant { push: false });
    let out = job_with_private_etc(
        &t,
        &[&format!(
            "skopeo copy --format v2s2 oci:{img}:v1 docker://$HARBOR_REGISTRY/$HARBOR_PROJECT/app:pull"
        )],
    )
    .failure();
    assert!(
        !h.requests()
            .iter()
            .any(|r| r.method == "PUT" && r.status == 201 && r.path.ends_with("/manifests/pull")),
        "{}",
        out.stderr
    );
    // The failed job skipped its post-build, as the runner's does; the next one cleans up.
    t.helper(&["post-build"], b"").success();
    t.scan_files(&[]);
}
