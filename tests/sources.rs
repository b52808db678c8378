//! Which source answers, and what `get` costs: the environment first (no file read), the store
//! only on an environment miss, the runner config only when both missed; no process spawned,
//! no socket opened (checked with strace, not assumed).

use std::fs;

use crate::util::{TestEnv, get_answer, require, run_with_stdin, write_mode};

const NOT_FOUND: &str = "credentials not found in native keychain\n";

#[test]
fn environment_wins_over_store_and_runner_config() {
    let mut t = TestEnv::new("order");
    t.harbor_env("https://harbor.example.com", "env-user", "env-pw");
    t.store("harbor.example.com", "store-user", "store-pw")
        .success();
    write_mode(
        &t.path("runner-config.json"),
        r#"{"registries":{"harbor.example.com":{"username":"cfg","password":"cfg-pw"}}}"#,
        0o600,
    );
    assert_eq!(
        t.helper(&["get"], b"harbor.example.com").success().stdout,
        get_answer("harbor.example.com", "env-user", "env-pw")
    );
    t.unset("HARBOR_URL");
    assert_eq!(
        t.helper(&["get"], b"harbor.example.com").success().stdout,
        get_answer("harbor.example.com", "store-user", "store-pw")
    );
    t.helper(&["erase"], b"harbor.example.com").success();
    assert_eq!(
        t.helper(&["get"], b"harbor.example.com").success().stdout,
        get_answer("harbor.example.com", "cfg", "cfg-pw")
    );
}

#[test]
fn gitlab_variable_sets_old_and_new() {
    // GitLab 14.9: HARBOR_URL, HARBOR_PROJECT, HARBOR_USERNAME, HARBOR_PASSWORD (docs said HARBOR_USER).
    let mut t = TestEnv::new("gitlab-14-9");
    t.set("HARBOR_URL", "https://harbor.example.net:8443/")
        .set("HARBOR_USER", "alice")
        .set("HARBOR_PASSWORD", "pw1");
    assert_eq!(
        t.helper(&["get"], b"harbor.example.net:8443")
            .success()
            .stdout,
        get_answer("harbor.example.net:8443", "alice", "pw1")
    );
    // Current GitLab: HOST drops the port; the URL's port is what counts.
    let mut t = TestEnv::new("gitlab-current");
    t.set("HARBOR_URL", "https://harbor.example.net:8443")
        .set("HARBOR_HOST", "harbor.example.net")
        .set("HARBOR_OCI", "oci://harbor.example.net:8443")
        .set("HARBOR_PROJECT", "proj")
        .set("HARBOR_USERNAME", "robot$$proj+ci")
        .set("HARBOR_PASSWORD", "pw2");
    assert_eq!(
        t.helper(&["get"], b"harbor.example.net:8443")
            .success()
            .stdout,
        get_answer("harbor.example.net:8443", "robot$proj+ci", "pw2")
    );
    assert_eq!(t.helper(&["get"], b"harbor.example.net").stdout, NOT_FOUND);
    // Only HOST (no URL): the fallback.
    let mut t = TestEnv::new("gitlab-host-only");
    t.set("HARBOR_HOST", "harbor.example.net")
        .set("HARBOR_USERNAME", "robot$proj+ci")
        .set("HARBOR_PASSWORD", "pw3");
    assert_eq!(
        t.helper(&["get"], b"harbor.example.net").success().stdout,
        get_answer("harbor.example.net", "robot$proj+ci", "pw3")
    );
}

#[test]
fn runner_config_is_found_in_xdg_config_home() {
    let mut t = TestEnv::new("xdg-config");
    t.unset("DOCKER_CREDENTIAL_HARBOR_CONFIG");
    t.set("XDG_CONFIG_HOME", t.path("xdg"));
    write_mode(
        &t.path("xdg/docker-credential-harbor/pull.secret"),
        "pull-pw\n",
        0o600,
    );
    write_mode(
        &t.path("xdg/docker-credential-harbor/config.json"),
        r#"{"registries":{"harbor.example.net":{"username":"robot$pull+runner","password_file":"pull.secret"}}}"#,
        0o644,
    );
    assert_eq!(
        t.helper(&["get"], b"harbor.example.net").success().stdout,
        get_answer("harbor.example.net", "robot$pull+runner", "pull-pw")
    );
    // The runner's credsStore path: list, then get for each key.
    assert_eq!(
        t.helper(&["list"], b"unused").success().stdout,
        "{\"harbor.example.net\":\"robot$pull+runner\"}\n"
    );
}

/// The GitLab runner drops every credential of a docker config when one helper call fails
/// with anything but the not-found answer: a runner config that cannot answer is a miss on
/// stdout, and the reason, with the file or variable to fix, goes to stderr.
#[test]
fn runner_config_problems_are_a_miss_explained_on_stderr() {
    let mut t = TestEnv::new("runner-errors");
    t.secret("inline-pw");
    write_mode(
        &t.path("runner-config.json"),
        r#"{"registries":{"harbor.example.net":{"username":"u","password":"inline-pw"},
            "pull.example":{"username":"puller","password_file":"pull.secret"}}}"#,
        0o644,
    );
    write_mode(&t.path("pull.secret"), "pull-pw\n", 0o600);
    let out = t.helper(&["get"], b"harbor.example.net");
    assert_eq!((out.code, out.stdout.as_str()), (Some(1), NOT_FOUND));
    out.stderr_has("chmod 600")
        .stderr_has("harbor.example.net is answered as not found");
    t.assert_clean(&out);
    // The broken entry takes nothing else down.
    assert_eq!(
        t.helper(&["get"], b"pull.example").success().stdout,
        get_answer("pull.example", "puller", "pull-pw")
    );
    // Unknown hosts stay a plain miss, with nothing to say.
    for host in [&b"docker.io"[..], b"other.example"] {
        let out = t.helper(&["get"], host);
        assert_eq!((out.stdout.as_str(), out.stderr.as_str()), (NOT_FOUND, ""));
    }
    // A missing password file names the file and the config that points to it.
    write_mode(
        &t.path("runner-config.json"),
        r#"{"registries":{"harbor.example.net":{"username":"u","password_file":"/nonexistent/pull.secret"}}}"#,
        0o600,
    );
    let out = t.helper(&["get"], b"harbor.example.net");
    assert_eq!(out.stdout, NOT_FOUND);
    out.stderr_has("/nonexistent/pull.secret")
        .stderr_has("runner-config.json");
    // A config named by the variable but absent (the variable leaked into a job) is a miss.
    t.set("DOCKER_CREDENTIAL_HARBOR_CONFIG", t.path("absent.json"));
    let out = t.helper(&["get"], b"harbor.example.net");
    assert_eq!((out.stdout.as_str(), out.stderr.as_str()), (NOT_FOUND, ""));
}

/// `credsStore` clients (the runner among them) call `list`, then `get` per key: a broken runner
/// config, or one entry of it, must not fail `list`, or the store's logins are dropped too.
#[test]
fn a_broken_runner_config_leaves_the_store_and_its_other_entries_listed() {
    let t = TestEnv::new("runner-list");
    t.store("stored.example", "alice", "pw").success();
    write_mode(
        &t.path("runner-config.json"),
        r#"{"registries":{"nouser.example":{"password":"x"},
            "pull.example":{"username":"puller","password":"y"}}}"#,
        0o600,
    );
    let out = t.helper(&["list"], b"").success();
    assert_eq!(
        out.stdout,
        "{\"pull.example\":\"puller\",\"stored.example\":\"alice\"}\n"
    );
    out.stderr_has("no \"username\" for nouser.example")
        .stderr_has("nouser.example is left out of the list");
    write_mode(&t.path("runner-config.json"), "{not json", 0o600);
    let out = t.helper(&["list"], b"").success();
    assert_eq!(out.stdout, "{\"stored.example\":\"alice\"}\n");
    out.stderr_has("is not valid")
        .stderr_has("its registries are left out of the list");
    let out = t.helper(&["get"], b"stored.example").success();
    assert_eq!(out.stderr, "", "the store answered: nothing to say");
}

#[test]
fn incomplete_environment_falls_through_to_the_store() {
    let mut t = TestEnv::new("incomplete-env");
    t.set("HARBOR_URL", "https://harbor.example.com")
        .set("HARBOR_USERNAME", "u");
    t.store("harbor.example.com", "stored", "pw").success();
    assert_eq!(
        t.helper(&["get"], b"harbor.example.com").success().stdout,
        get_answer("harbor.example.com", "stored", "pw")
    );
}

#[test]
fn debug_explains_on_stderr_without_the_secret() {
    let mut t = TestEnv::new("debug");
    t.harbor_env("https://harbor.example.com", "u", "debug-pw");
    t.set("DOCKER_CREDENTIAL_HARBOR_DEBUG", "1");
    let out = t.helper(&["get"], b"harbor.example.com").success();
    assert!(
        out.stderr
            .contains("answered from the environment (HARBOR_URL)"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("debug-pw"));
    let out = t.helper(&["get"], b"other.example");
    assert!(
        out.stderr.contains("no store at") && out.stderr.contains("no runner config at"),
        "{}",
        out.stderr
    );
    t.unset("DOCKER_CREDENTIAL_HARBOR_DEBUG");
    assert_eq!(t.helper(&["get"], b"other.example").stderr, "");
}

/// Runs `get` under strace and returns (stdout, trace).
fn traced_get(t: &TestEnv, input: &str) -> (String, String) {
    let strace = require("strace");
    let trace = t.path("tmp/strace.log");
    let mut cmd = t.command(strace);
    cmd.arg("-f").arg("-o").arg(&trace).args([
        "-e",
        "trace=%file,%network,%process",
        crate::util::BIN,
        "get",
    ]);
    let out = run_with_stdin(&mut cmd, input.as_bytes());
    (out.stdout, fs::read_to_string(&trace).unwrap())
}

fn opened(trace: &str, path: &str) -> bool {
    trace.lines().any(|l| {
        (l.contains("open") || l.contains("stat") || l.contains("access")) && l.contains(path)
    })
}

#[test]
fn get_spawns_nothing_opens_no_socket_and_reads_only_what_it_needs() {
    let mut t = TestEnv::new("strace");
    t.harbor_env("https://harbor.example.com", "u", "pw");
    t.store("stored.example", "u", "pw").success();
    write_mode(
        &t.path("runner-config.json"),
        r#"{"registries":{"runner.example":{"username":"u","password":"pw"}}}"#,
        0o600,
    );
    let store = t.store_path().display().to_string();
    let config = t.path("runner-config.json").display().to_string();

    let (out, trace) = traced_get(&t, "harbor.example.com");
    assert_eq!(out, get_answer("harbor.example.com", "u", "pw"));
    assert!(
        !opened(&trace, &store) && !opened(&trace, &config),
        "environment hit read a file:\n{trace}"
    );

    let (out, trace) = traced_get(&t, "stored.example");
    assert_eq!(out, get_answer("stored.example", "u", "pw"));
    assert!(
        opened(&trace, &store) && !opened(&trace, &config),
        "store hit:\n{trace}"
    );

    let (out, trace) = traced_get(&t, "registry-1.docker.io");
    assert_eq!(out, NOT_FOUND);
    for (what, trace) in [
        ("miss", trace),
        ("runner", traced_get(&t, "runner.example").1),
    ] {
        let execs = trace.lines().filter(|l| l.contains("execve(")).count();
        assert_eq!(
            execs, 1,
            "{what}: only strace's own exec of the helper:\n{trace}"
        );
        for call in [
            "socket(", "connect(", "clone(", "clone3(", "fork(", "vfork(",
        ] {
            assert!(!trace.contains(call), "{what}: {call} in\n{trace}");
        }
    }
}

#[test]
fn get_answers_with_the_network_gone() {
    // P20: an unmanaged host under a new network namespace (no interfaces at all).
    if !crate::util::is_root() {
        eprintln!("skipped: unshare --net needs root");
        return;
    }
    let t = TestEnv::new("no-network");
    let mut cmd = t.command(require("unshare"));
    cmd.args(["--net", crate::util::BIN, "get"]);
    let out = run_with_stdin(&mut cmd, b"registry-1.docker.io");
    assert_eq!(
        (out.code, out.stdout.as_str()),
        (Some(1), NOT_FOUND),
        "{out:?}"
    );
}
