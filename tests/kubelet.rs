//! `kubelet-credential-provider` as the kubelet runs it: `args: ["kubelet-credential-provider"]`,
//! the request on stdin, the response read from stdout, an environment of PATH and the
//! provider's `env` alone (the kubelet adds its own; the provider relies on nothing of it). No
//! kubelet runs here: the golden cases (tests/kubelet/cases) are the exact bytes of the v1 types,
//! which tests/kubelet-provider checks against k8s.io/kubelet itself. Federated mode runs
//! against the stand-in broker (`util::broker`). No test may find the token or a password on
//! stderr.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::util::broker::{FakeBroker, Mode};
use crate::util::kubelet::{assert_refused, go_seconds, now, request};
use crate::util::trickle::{Phase, Trickle};
use crate::util::{BIN, Out, TestEnv, run_with_stdin, write_mode};

const CASES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/kubelet/cases");
const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/kubelet/config.json");
/// The fixture's passwords, which stderr must never show.
const PASSWORDS: [&str; 2] = ["pull-<&>-secret", "alt-port-secret"];
/// A service-account token as the kubelet passes it (not verified by the provider).
const TOKEN: &str = "eyJhbGciOiJSUzI1NiIsImtpZCI6Im5vZGUifQ.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6Y2k6YnVpbGRlciJ9.c2lnbmF0dXJl";
const ROBOT_PASSWORD: &str = "robot-secret-7f3a";

/// A test directory holding a 0600 copy of the fixture config.
fn provider_dir(name: &str) -> (TestEnv, PathBuf) {
    let t = TestEnv::new(name);
    let config = t.path("config.json");
    write_mode(&config, &fs::read_to_string(FIXTURE).unwrap(), 0o600);
    (t, config)
}

/// Runs the provider with `stdin` and exactly PATH, the config and `env`.
fn provider(t: &TestEnv, config: &Path, env: &[(&str, &str)], stdin: &[u8]) -> Out {
    let mut cmd = std::process::Command::new(BIN);
    cmd.env_clear()
        .env("PATH", t.var("PATH").unwrap())
        .env("DOCKER_CREDENTIAL_HARBOR_CONFIG", config)
        .envs(env.iter().copied())
        .current_dir(&t.dir)
        .arg("kubelet-credential-provider");
    let out = run_with_stdin(&mut cmd, stdin);
    for secret in PASSWORDS.iter().chain([&TOKEN, &ROBOT_PASSWORD]) {
        assert!(!out.stderr.contains(secret), "a secret on stderr: {out:?}");
    }
    out
}

#[test]
fn golden_cases_are_answered_byte_for_byte() {
    let (t, config) = provider_dir("kubelet-golden");
    let mut names: Vec<_> = fs::read_dir(CASES)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    assert!(names.len() >= 18, "{names:?}");
    for case in names {
        let read = |f: &str| fs::read_to_string(case.join(f)).ok();
        let env: Vec<(String, String)> = read("env")
            .unwrap_or_default()
            .lines()
            .filter(|l| !l.is_empty())
            .map(|l| {
                let (k, v) = l.split_once('=').unwrap();
                (k.to_owned(), v.to_owned())
            })
            .collect();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let out = provider(
            &t,
            &config,
            &env,
            &fs::read(case.join("request.json")).unwrap(),
        );
        match (read("response.json"), read("stderr.txt")) {
            (Some(response), None) => {
                assert_eq!(out.code, Some(0), "{}: {out:?}", case.display());
                assert_eq!(out.stdout, response, "{}", case.display());
                assert_eq!(out.stderr, "", "{}", case.display());
            }
            (None, Some(stderr)) => assert_refused(&out, stderr.trim_end_matches('\n')),
            _ => panic!("{}: response.json or stderr.txt, not both", case.display()),
        }
    }
}

#[test]
fn extra_arguments_are_refused() {
    let t = TestEnv::new("kubelet-args");
    let out = t.helper(&["kubelet-credential-provider", "x"], b"");
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(out.stderr.contains("takes no arguments"), "{out:?}");
}

#[test]
fn an_unreadable_config_is_one_line_naming_the_file() {
    let (t, config) = provider_dir("kubelet-bad-config");
    write_mode(&config, "{\"registries\": {", 0o600);
    let out = provider(
        &t,
        &config,
        &[],
        request("harbor.example.net/ci-images/a:1", None).as_bytes(),
    );
    assert_refused(&out, "config.json");
    assert!(
        out.stderr.contains("DOCKER_CREDENTIAL_HARBOR_CONFIG"),
        "{out:?}"
    );
}

fn granted(registry: &str, project: &str, expires_at: i64) -> Mode {
    Mode::Fixed {
        status: 201,
        body: format!(
            "{{\"registry\":\"{registry}\",\"username\":\"robot${project}+hk-0123456789abcdef-{expires_at}-01234567\",\
             \"password\":\"{ROBOT_PASSWORD}\",\"expires_at\":{expires_at},\"project\":\"{project}\"}}"
        ),
        json: true,
    }
}

fn federated_env(broker: &str) -> Vec<(&'static str, String)> {
    vec![
        ("DOCKER_CREDENTIAL_HARBOR_BROKER", broker.to_owned()),
        ("HARBOR_URL", "https://harbor.example.net".to_owned()),
        ("DOCKER_CREDENTIAL_HARBOR_TIMEOUT", "2".to_owned()),
    ]
}

fn federated(t: &TestEnv, config: &Path, env: &[(&'static str, String)], stdin: &str) -> Out {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    provider(t, config, &env, stdin.as_bytes())
}

/// The request for `image`, with the token, to the broker at `broker`.
fn with_token(t: &TestEnv, config: &Path, broker: &str, image: &str) -> Out {
    federated(
        t,
        config,
        &federated_env(broker),
        &request(image, Some(TOKEN)),
    )
}

#[test]
fn federated_a_201_is_keyed_by_project_and_cached_for_less_than_the_robot_lives() {
    let (t, config) = provider_dir("kubelet-federated");
    let life = 3600;
    let b = FakeBroker::start(granted("harbor.example.net", "ci-images", now() + life));
    let image = "harbor.example.net/ci-images/app@sha256:0123";
    let out = with_token(&t, &config, &b.url, image);
    assert_eq!(out.code, Some(0), "{out:?}");
    let sent = b.requests();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(
        (sent[0].method.as_str(), sent[0].path.as_str()),
        ("POST", "/v1/kubernetes/credentials")
    );
    assert_eq!(
        sent[0].header("authorization"),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    let body: serde_json::Value = serde_json::from_str(&sent[0].body).unwrap();
    assert_eq!(body, serde_json::json!({ "image": image }));
    let answer: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let keys: Vec<_> = answer["auth"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    assert_eq!(keys, ["harbor.example.net/ci-images"]);
    assert_eq!(
        answer["auth"]["harbor.example.net/ci-images"]["password"],
        ROBOT_PASSWORD
    );
    assert_eq!(answer["cacheKeyType"], "Registry");
    let cached = go_seconds(answer["cacheDuration"].as_str().unwrap());
    // The margin is a tenth of the life left (360 s); the slack is the run's own seconds.
    let full = life as u64 - 360;
    assert!(cached <= full && cached + 60 >= full, "{cached} of {full}");
    assert!(out.stdout.starts_with("{\"kind\":\"CredentialProviderResponse\",\"apiVersion\":\"credentialprovider.kubelet.k8s.io/v1\",\"cacheKeyType\":\"Registry\",\"cacheDuration\":\""), "{}", out.stdout);

    // A robot about to end is not cached at all.
    b.set_mode(granted("harbor.example.net", "ci-images", now() + 30));
    let out = with_token(&t, &config, &b.url, image);
    assert!(out.stdout.contains("\"cacheDuration\":\"0s\""), "{out:?}");
}

/// The kubelet caches the answer for the whole registry: each other project the broker granted
/// gets its own key, and the cache ends before the first of the robots does.
#[test]
fn federated_other_projects_get_their_own_keys_and_the_first_end_bounds_the_cache() {
    let (t, config) = provider_dir("kubelet-federated-others");
    let life = 3600;
    let other_life = 1200;
    let body = format!(
        "{{\"registry\":\"harbor.example.net\",\"username\":\"robot$ci-images+hk-1\",\"password\":\"{ROBOT_PASSWORD}\",\
         \"expires_at\":{},\"project\":\"ci-images\",\"other_projects\":[{{\"project\":\"base\",\
         \"username\":\"robot$base+hk-2\",\"password\":\"{ROBOT_PASSWORD}-base\",\"expires_at\":{}}}]}}",
        now() + life,
        now() + other_life
    );
    let b = FakeBroker::start(Mode::Fixed {
        status: 201,
        body,
        json: true,
    });
    let out = with_token(&t, &config, &b.url, "harbor.example.net/ci-images/app:1");
    assert_eq!(out.code, Some(0), "{out:?}");
    let answer: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        answer["auth"],
        serde_json::json!({
            "harbor.example.net/base": {"username": "robot$base+hk-2", "password": format!("{ROBOT_PASSWORD}-base")},
            "harbor.example.net/ci-images": {"username": "robot$ci-images+hk-1", "password": ROBOT_PASSWORD},
        })
    );
    // Go writes a map's keys sorted.
    assert!(
        out.stdout.find("harbor.example.net/base")
            < out.stdout.find("harbor.example.net/ci-images"),
        "{}",
        out.stdout
    );
    let cached = go_seconds(answer["cacheDuration"].as_str().unwrap());
    // The margin is a tenth of the first end's life left (120 s).
    let full = other_life as u64 - 120;
    assert!(cached <= full && cached + 60 >= full, "{cached} of {full}");
}

#[test]
fn federated_an_image_on_another_registry_gets_empty_auth_and_no_call() {
    let (t, config) = provider_dir("kubelet-federated-other");
    let b = FakeBroker::start(granted("harbor.example.net", "ci-images", now() + 3600));
    for image in [
        "registry.example.org/ci-images/app:1",
        "harbor.example.net:8443/p/a:1",
        "nginx",
    ] {
        let out = with_token(&t, &config, &b.url, image);
        assert_eq!(out.code, Some(0), "{out:?}");
        // No `auth` at all: Go's omitempty for an empty map.
        assert!(
            out.stdout.ends_with("\"cacheKeyType\":\"Registry\"}\n"),
            "{out:?}"
        );
    }
    assert!(b.requests().is_empty());
}

#[test]
fn federated_refusals_say_the_brokers_reason_and_the_fix() {
    let (t, config) = provider_dir("kubelet-federated-refusals");
    let b = FakeBroker::start(Mode::Redirect);
    let cases = [
        (
            401,
            "token expired",
            "refused the pod's service-account token: \"token expired",
            "serviceAccountTokenAudience",
        ),
        (
            403,
            "no [[kubernetes_rules]] entry matches service account ci/builder",
            "refuses this service account",
            "[[kubernetes_rules]] entry",
        ),
        (
            429,
            "3 live robots",
            "another robot for this service account",
            "cacheType: ServiceAccount",
        ),
        (
            503,
            "Harbor is down",
            "could not reach Harbor (HTTP 503)",
            "retry later",
        ),
    ];
    for (status, said, what, fix) in cases {
        b.set_mode(Mode::Fixed {
            status,
            body: format!("{{\"error\":\"{said} {TOKEN}\"}}"),
            json: true,
        });
        let out = with_token(&t, &config, &b.url, "harbor.example.net/ci-images/app:1");
        assert_refused(&out, what);
        assert!(out.stderr.contains(fix), "{out:?}");
    }
}

#[test]
fn federated_answers_no_broker_sends_are_refused() {
    let (t, config) = provider_dir("kubelet-federated-junk");
    let b = FakeBroker::start(Mode::Fixed {
        status: 201,
        body: "<html>ok</html>".into(),
        json: false,
    });
    let ask = |env: &[(&'static str, String)]| {
        federated(
            &t,
            &config,
            env,
            &request("harbor.example.net/ci-images/app:1", Some(TOKEN)),
        )
    };
    assert_refused(
        &ask(&federated_env(&b.url)),
        "answer (HTTP 201) cannot be used",
    );
    b.set_mode(granted("harbor.example.net", "other-project", now() + 3600));
    assert_refused(
        &ask(&federated_env(&b.url)),
        "not for the image's registry harbor.example.net and project ci-images",
    );
    b.set_mode(Mode::Redirect);
    assert_refused(&ask(&federated_env(&b.url)), "redirects are not followed");

    let silent = Trickle::start(Phase::Headers, Duration::from_millis(200));
    let mut env = federated_env(&silent.url);
    env.retain(|(k, _)| *k != "DOCKER_CREDENTIAL_HARBOR_TIMEOUT");
    env.push(("DOCKER_CREDENTIAL_HARBOR_TIMEOUT", "1".into()));
    assert_refused(&ask(&env), "did not answer within 1 s");

    let plain = federated_env("http://broker.example.com");
    let out = ask(&plain);
    assert_refused(
        &out,
        "DOCKER_CREDENTIAL_HARBOR_BROKER cannot be used: it uses http:// for broker.example.com",
    );
}

#[test]
fn federated_needs_the_token_and_harbor_url() {
    let (t, config) = provider_dir("kubelet-federated-needs");
    let b = FakeBroker::start(granted("harbor.example.net", "ci-images", now() + 3600));
    let image = "harbor.example.net/ci-images/app:1";
    let out = federated(&t, &config, &federated_env(&b.url), &request(image, None));
    assert_refused(&out, "no serviceAccountToken");
    assert!(out.stderr.contains("tokenAttributes"), "{out:?}");
    let mut env: BTreeMap<_, _> = federated_env(&b.url).into_iter().collect();
    env.remove("HARBOR_URL");
    let env: Vec<_> = env.into_iter().collect();
    let out = federated(&t, &config, &env, &request(image, Some(TOKEN)));
    assert_refused(&out, "HARBOR_URL is not set");
    assert!(b.requests().is_empty());
}

#[test]
fn static_mode_spawns_nothing_opens_no_socket_and_reads_only_the_config() {
    let (t, config) = provider_dir("kubelet-strace");
    let trace = t.path("tmp/strace.log");
    let mut cmd = std::process::Command::new(crate::util::require("strace"));
    cmd.env_clear()
        .env("PATH", t.var("PATH").unwrap())
        .env("DOCKER_CREDENTIAL_HARBOR_CONFIG", &config)
        .current_dir(&t.dir)
        .arg("-f")
        .arg("-o")
        .arg(&trace)
        .args(["-e", "trace=%file,%network,%process", BIN])
        .arg("kubelet-credential-provider");
    // A token too: without the broker variable it is not used, and nothing reaches out.
    let out = run_with_stdin(
        &mut cmd,
        request("harbor.example.net/ci-images/app:1", Some(TOKEN)).as_bytes(),
    );
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(
        out.stdout.contains("\"harbor.example.net\":{\"username\""),
        "{out:?}"
    );
    let trace = fs::read_to_string(&trace).unwrap();
    assert_eq!(
        trace.lines().filter(|l| l.contains("execve(")).count(),
        1,
        "{trace}"
    );
    for call in [
        "socket(", "connect(", "clone(", "clone3(", "fork(", "vfork(",
    ] {
        assert!(!trace.contains(call), "{call} in\n{trace}");
    }
    let opened: Vec<&str> = trace
        .lines()
        .filter(|l| l.contains("open") && !l.contains("ENOENT"))
        .filter(|l| {
            !l.contains("/lib")
                && !l.contains("/etc/ld.so")
                && !l.contains("/proc/self")
                && !l.contains("/sys/")
        })
        .collect();
    assert!(
        !opened.is_empty() && opened.iter().all(|l| l.contains(config.to_str().unwrap())),
        "opened more than the config:\n{}",
        opened.join("\n")
    );
}
