//! Defect by defect: each test reproduces what a hostile review found on the 0.1 binary
//! (malformed input, hostile files, addresses and Harbor answers, shared state between jobs)
//! and asserts the behaviour that replaced it
//! (docs/security.md#what-holds-and-how-it-is-checked). The `issue_9_<n>` in a test's name
//! numbers the defect. No test may find a secret in any output.

use std::fs;
use std::io::Read;
use std::net::TcpListener;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use harbor_double::{Config, Fault, Harbor};

use crate::util::jobs::{gitlab, job, pam_job, start, use_ca_file};
use crate::util::{Out, TestEnv, in_private_mounts, is_root, require, run, write_mode};

const NOT_FOUND: &str = "credentials not found in native keychain\n";

/// A value whose first bytes put a multi-byte character where 0.1 sliced a `str`.
const BAD_ADDRESS: &str = "abcde\u{20ac}x";

/// The control characters a hostile value carries: clear screen, a window title, a bell, a
/// carriage return (which GitLab's log uses to fake section lines), an 8-bit CSI.
const HOSTILE: &str = "\x1b[2J\x1b]0;pwned\x07\r\u{9b}31m";

/// Fails unless `text` holds no control character but line breaks, once GitLab's own section
/// markers (which pre-build writes on purpose) are taken out.
#[track_caller]
fn assert_no_controls(text: &str) {
    let mut rest = text.to_owned();
    while let Some(start) = rest.find("\x1b[0Ksection_") {
        let end = rest[start..]
            .find("\r\x1b[0K")
            .map_or(rest.len(), |e| start + e + 5);
        rest.replace_range(start..end, "");
    }
    let bad: Vec<char> = rest
        .chars()
        .filter(|c| c.is_control() && *c != '\n' && *c != '\t')
        .collect();
    assert!(bad.is_empty(), "control characters {bad:?} in:\n{text}");
}

#[test]
fn issue_9_1_a_malformed_address_is_a_miss_everywhere_and_nothing_panics() {
    let mut t = TestEnv::new("hard-1-address");
    let out = t.helper(&["get"], BAD_ADDRESS.as_bytes());
    assert_eq!(
        (out.code, out.stdout.as_str()),
        (Some(1), NOT_FOUND),
        "{out:?}"
    );
    t.store("other.example:5000", "bob", "bob-pw").success();

    // One bad HARBOR_URL must not break any other registry, Docker Hub included.
    t.set("HARBOR_URL", BAD_ADDRESS)
        .set("HARBOR_USERNAME", "u")
        .set("HARBOR_PASSWORD", "pw-of-the-job")
        .set("HARBOR_PROJECT", "proj")
        .secret("pw-of-the-job");
    let hub = t.helper(&["get"], b"https://index.docker.io/v1/");
    assert_eq!(
        (hub.code, hub.stdout.as_str()),
        (Some(1), NOT_FOUND),
        "{hub:?}"
    );
    let other = t.helper(&["get"], b"other.example:5000").success();
    other.stdout_has("\"Username\":\"bob\"");
    t.helper(&["list"], b"unused")
        .success()
        .stdout_has("other.example:5000");
    t.store("third.example", "carol", "carol-pw").success();
    let pre = t.helper(&["pre-build"], b"").success();
    pre.stderr_has("HARBOR_URL is not a usable URL");
    let doctor = t.helper(&["doctor"], b"").failure();
    doctor.stdout_has("FAIL  url");

    // The same value as a key of the store and of the runner config.
    let store = fs::read_to_string(t.store_path()).unwrap();
    fs::write(
        t.store_path(),
        store.replacen("third.example", BAD_ADDRESS, 1),
    )
    .unwrap();
    write_mode(
        &t.path("runner-config.json"),
        &format!(
            r#"{{"registries":{{"{BAD_ADDRESS}":{{"username":"r","password":"x"}},"runner.example":{{"username":"r","password":"y"}}}}}}"#
        ),
        0o600,
    );
    t.helper(&["list"], b"")
        .success()
        .stdout_has("runner.example");
    t.helper(&["get"], b"runner.example").success();
    for out in [&hub, &other, &pre, &doctor] {
        t.assert_clean(out);
        assert!(!out.stderr.contains("internal error"), "{out:?}");
    }
}

/// A listener standing in for an HTTP proxy: it counts connections and answers nothing.
fn fake_proxy() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let hits = Arc::new(AtomicUsize::new(0));
    let seen = hits.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            seen.fetch_add(1, Ordering::SeqCst);
            drop(conn);
        }
    });
    (url, hits)
}

#[test]
fn issue_9_2_a_loopback_harbor_is_never_reached_through_a_proxy() {
    let mut t = TestEnv::new("hard-2-proxy");
    let h = Harbor::start(
        &t.path("harbor"),
        Config {
            plain_http: true,
            ..Config::default()
        },
    );
    let (proxy, hits) = fake_proxy();
    let plain = h.http_url().unwrap();
    let port = plain.rsplit(':').next().unwrap().to_owned();
    for var in [
        "HTTP_PROXY",
        "http_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "ALL_PROXY",
    ] {
        t.set(var, &proxy);
    }
    for url in [plain.clone(), format!("http://localhost:{port}")] {
        t.harbor_env(&url, "alice", &h.password("alice"))
            .set("HARBOR_PROJECT", "proj");
        let doctor = t.helper(&["doctor"], b"");
        t.assert_clean(&doctor);
        assert!(
            !doctor.stdout.contains("through the proxy"),
            "{}",
            doctor.stdout
        );
        t.assert_clean(&t.helper(&["pre-build"], b""));
    }
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "a request went to the proxy"
    );
    let direct: Vec<_> = h
        .requests()
        .into_iter()
        .filter(|r| r.status == 308 && r.header("authorization").is_some())
        .collect();
    assert!(
        !direct.is_empty(),
        "the requests went straight to Harbor's plain port"
    );
}

/// Runs `script` as root in a private mount namespace whose `/etc/docker` and
/// `/etc/containers` are empty, so CA placement is real and the host's /etc untouched.
fn with_private_etc(t: &TestEnv, script: &str) -> Option<Out> {
    if !is_root() || !Path::new("/etc/docker").is_dir() || !Path::new("/etc/containers").is_dir() {
        eprintln!("skipped: needs root and /etc/docker, /etc/containers to mount over");
        return None;
    }
    let full = format!(
        "set -e\nmount -t tmpfs tmpfs /etc/docker\nmount -t tmpfs tmpfs /etc/containers\n{script}"
    );
    let out = in_private_mounts(t.command(require("unshare")), &full);
    t.assert_clean(&out);
    Some(out)
}

#[test]
fn issue_9_3_only_the_certificates_of_a_bundle_are_placed() {
    let (mut t, h) = alice(TestEnv::new("hard-3-ca"));
    let key = fs::read_to_string(t.path("harbor/server.key")).unwrap();
    let bundle = t.path("bundle.pem");
    let ca = fs::read_to_string(h.ca_file()).unwrap();
    fs::write(&bundle, format!("# Harbor's CA\n{ca}{key}")).unwrap();
    let only_key = t.path("only-key.pem");
    fs::write(&only_key, &key).unwrap();
    use_ca_file(&mut t, &h);
    t.set("DOCKER_CREDENTIAL_HARBOR_CA_FILE", &bundle);
    let placed = "/etc/docker/certs.d/$HARBOR_REGISTRY/docker-credential-harbor.crt";
    let script = format!(
        "eval \"$(docker-credential-harbor pre-build)\"\n\
         cp {placed} \"$TMPDIR/placed.pem\"\n\
         stat -c %a {placed} > \"$TMPDIR/mode\"\n\
         docker-credential-harbor post-build\n\
         DOCKER_CREDENTIAL_HARBOR_CA_FILE={} docker-credential-harbor pre-build > /dev/null 2> \"$TMPDIR/key-only.log\"\n\
         ls -A /etc/docker > \"$TMPDIR/etc.txt\"\n",
        only_key.display()
    );
    let Some(out) = with_private_etc(&t, &script) else {
        return;
    };
    assert!(out.ok(), "{out:?}");
    let placed = fs::read_to_string(t.path("tmp/placed.pem")).unwrap();
    assert_eq!(placed, ca, "exactly the CA certificate, nothing else");
    assert!(!placed.contains("PRIVATE KEY"));
    assert_eq!(
        fs::read_to_string(t.path("tmp/mode")).unwrap().trim(),
        "644"
    );
    let log = fs::read_to_string(t.path("tmp/key-only.log")).unwrap();
    assert!(
        log.contains("holds no PEM certificate; no CA was placed"),
        "{log}"
    );
    assert_eq!(fs::read_to_string(t.path("tmp/etc.txt")).unwrap(), "");
}

/// alice's job on `proj` against a double without a registry.
fn alice(mut t: TestEnv) -> (TestEnv, Harbor) {
    let h = start(&t, false);
    gitlab(&mut t, &h, "alice", &h.password("alice"), "proj");
    (t, h)
}

#[test]
fn issue_9_4_a_host_of_dots_names_no_directory() {
    let (mut t, h) = alice(TestEnv::new("hard-4-dots"));
    use_ca_file(&mut t, &h);
    for url in [
        "https://...",
        "https://..",
        "https://./",
        "https://a..b:8443",
    ] {
        t.set("HARBOR_URL", url);
        let script = format!(
            "{} pre-build > \"$TMPDIR/exports\"\nls -A /etc/docker /etc/containers > \"$TMPDIR/etc.txt\"\n",
            crate::util::BIN
        );
        let Some(out) = with_private_etc(&t, &(script + "true\n")) else {
            return;
        };
        assert!(out.ok(), "{url}: {out:?}");
        let exports = fs::read_to_string(t.path("tmp/exports")).unwrap_or_default();
        assert!(!exports.contains("HARBOR_REGISTRY"), "{url}: {exports}");
        let etc = fs::read_to_string(t.path("tmp/etc.txt")).unwrap();
        assert!(
            !etc.contains("crt") && !etc.contains("certs.d"),
            "{url}: {etc}"
        );
        let doctor = t.helper(&["doctor"], b"").failure();
        doctor.stdout_has("FAIL  url");
    }
}

#[test]
fn issue_9_5_a_per_job_copy_holds_no_login_of_the_user() {
    let (mut t, h) = alice(TestEnv::new("hard-5-copy"));
    let login = crate::util::base64(b"other-user:other-secret-pw");
    t.secret("other-secret-pw").secret(&login);
    write_mode(
        &t.path("home/.docker/config.json"),
        &format!(r#"{{"auths":{{"other.example":{{"auth":"{login}"}}}}}}"#),
        0o600,
    );
    write_mode(
        &t.path("home/.config/containers/auth.json"),
        &format!(r#"{{"auths":{{"other.example":{{"auth":"{login}"}}}}}}"#),
        0o600,
    );
    // The job fails before post-build: its per-job directory stays, as on a real runner.
    let out = job(
        &t,
        "dash",
        false,
        &[
            "cp -r \"$RUNNER_TEMP_PROJECT_DIR\" \"$TMPDIR/during\"",
            "false",
        ],
    );
    assert!(!out.ok());
    out.stderr_has("leaves out its plaintext logins for other.example");
    for dir in ["tmp/during", "build.tmp"] {
        assert!(
            t.path(dir)
                .join("docker-credential-harbor/docker/config.json")
                .exists()
        );
        scan_dir(&t.path(dir), &["other-secret-pw", &login]);
    }
    let _ = h;
}

/// Fails if any file under `dir` holds one of `needles`.
fn scan_dir(dir: &Path, needles: &[&str]) {
    for entry in fs::read_dir(dir).unwrap().flatten() {
        let p = entry.path();
        let meta = fs::symlink_metadata(&p).unwrap();
        if meta.is_dir() {
            scan_dir(&p, needles);
        } else if meta.is_file() {
            let text = String::from_utf8_lossy(&fs::read(&p).unwrap()).into_owned();
            for n in needles {
                assert!(!text.contains(n), "{} holds a secret", p.display());
            }
        }
    }
}

fn job_robot_count(h: &Harbor) -> usize {
    h.robots()
        .iter()
        .filter(|r| r.name.contains("+ci-job-"))
        .count()
}

#[test]
fn issue_9_6_the_keepers_fallback_socket_is_its_users_alone() {
    if !is_root() {
        eprintln!("skipped: needs root to try the socket as another user");
        return;
    }
    let (mut t, h) = pam_job("hard-6-socket", false);
    // A per-job path too long for a unix socket, and the runner's job umask (0000).
    let deep = t.path(&format!("build.tmp/{}", "d".repeat(120)));
    fs::create_dir_all(&deep).unwrap();
    t.set("RUNNER_TEMP_PROJECT_DIR", &deep);
    let out = run(t
        .command("/bin/sh")
        .arg("-c")
        .arg("umask 0000; exec docker-credential-harbor pre-build"));
    t.assert_clean(&out);
    let out = out.success();
    out.stdout_has("unset HARBOR_PASSWORD");
    let state: serde_json::Value = serde_json::from_str(
        &fs::read_to_string(deep.join("docker-credential-harbor/state.json")).unwrap(),
    )
    .unwrap();
    // The job's record lists what pre-build did; the robot is one of its actions.
    let robot = state["actions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["action"] == "robot")
        .unwrap();
    let socket = PathBuf::from(robot["robot"]["socket"].as_str().unwrap());
    // The helper's temp directory is the job's TMPDIR.
    assert!(socket.starts_with(t.path("tmp")), "{}", socket.display());
    assert_eq!(
        crate::util::mode(&socket) & 0o077,
        0,
        "the socket is private"
    );
    assert_eq!(crate::util::mode(socket.parent().unwrap()), 0o700);
    // Another user cannot tell the keeper anything.
    let py = "import socket,sys\ns=socket.socket(socket.AF_UNIX)\ntry:\n s.connect(sys.argv[1]); s.sendall(b'delete\\n'); print('answer', s.recv(100))\nexcept OSError as e: print('refused', e)\n";
    let out = run(Command::new(require("setpriv"))
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg("/usr/bin/python3")
        .args(["-c", py])
        .arg(&socket));
    assert!(out.stdout.starts_with("refused"), "{out:?}");
    assert_eq!(job_robot_count(&h), 1, "the robot is still there");
    t.helper(&["post-build"], b"").success();
    assert_eq!(job_robot_count(&h), 0);
    assert!(
        !socket.parent().unwrap().exists(),
        "the private directory went too"
    );
}

#[test]
fn issue_9_7_the_keeper_watches_the_job_shell_not_the_subshell_that_ran_pre_build() {
    let (t, h) = pam_job("hard-7-subshell", true);
    t.make_image();
    let img = t.path("img").display().to_string();
    // bash runs `$(…)` with a redirection in a subshell that exits as soon as pre-build does.
    let script = format!(
        "set -e\n\
         eval \"$(docker-credential-harbor pre-build --job-robot 2>/dev/null)\"\n\
         sleep 2\n\
         skopeo copy --dest-cert-dir {} --format v2s2 oci:{img}:v1 docker://$HARBOR_REGISTRY/$HARBOR_PROJECT/late:v1\n\
         docker-credential-harbor post-build\n",
        t.path("harbor/certs.d").join(h.addr()).display()
    );
    fs::write(t.path("tmp/job.sh"), script).unwrap();
    let out = run(t.command(require("bash")).arg(t.path("tmp/job.sh")));
    t.assert_clean(&out);
    assert!(out.ok(), "the robot died before the job did: {out:?}");
    assert!(
        h.requests()
            .iter()
            .any(|r| r.method == "PUT" && r.status == 201 && r.path.ends_with("/manifests/v1"))
    );
    assert_eq!(job_robot_count(&h), 0, "post-build deleted it");
}

#[test]
fn issue_9_8_a_store_another_user_could_have_written_is_not_served() {
    let t = TestEnv::new("hard-8-store");
    t.store("h.example", "me", "my-pw").success();
    let dir = t.store_path().parent().unwrap().to_owned();
    let open = |mode| fs::set_permissions(&dir, fs::Permissions::from_mode(mode)).unwrap();
    use std::os::unix::fs::PermissionsExt;
    open(0o777);
    let out = t.helper(&["get"], b"h.example").failure();
    out.stdout_has("refusing the credential store");
    out.stdout_has("other users may write to it (mode 0777)");
    t.store("h.example", "evil", "x").failure();
    open(0o700);
    t.helper(&["get"], b"h.example")
        .success()
        .stdout_has("\"Username\":\"me\"");

    // A planted link at the lock's place makes no file appear at its target.
    let lock = dir.join("credentials.json.lock");
    let _ = fs::remove_file(&lock);
    let target = t.path("planted-target");
    std::os::unix::fs::symlink(&target, &lock).unwrap();
    t.store("h.example", "me", "new-pw").failure();
    assert!(!target.exists());
    t.assert_clean(&out);
}

#[test]
fn issue_9_9_no_read_is_unbounded() {
    let mut t = TestEnv::new("hard-9-bounded");
    let store = t.store_path();
    fs::create_dir_all(store.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink("/dev/zero", &store).unwrap();
    let out = t.bounded(&["get"], b"h.example");
    assert_eq!(out.code, Some(1));
    out.stdout_has("symbolic link");
    fs::remove_file(&store).unwrap();
    // A FIFO is refused, not waited on.
    let c = std::ffi::CString::new(store.as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    t.bounded(&["get"], b"h.example")
        .failure()
        .stdout_has("not a regular file");
    fs::remove_file(&store).unwrap();

    let h = start(&t, false);
    t.harbor_env(&h.url(), "alice", &h.password("alice"))
        .set("HARBOR_PROJECT", "proj")
        .set("DOCKER_CREDENTIAL_HARBOR_CA_FILE", h.ca_file());
    h.set_fault_on("/api/v2.0/systeminfo", Fault::Huge(64 << 20));
    let out = t.bounded(&["doctor"], b"");
    out.stdout_has("larger than 1024 KiB");
    t.assert_clean(&out);
}

#[test]
fn issue_9_10_control_characters_never_reach_the_terminal_or_the_job_log() {
    let (mut t, h) = alice(TestEnv::new("hard-10-controls"));
    t.set("HARBOR_PROJECT", format!("proj{HOSTILE}"))
        .set("HARBOR_USERNAME", format!("alice{HOSTILE}"));
    let pre = job(&t, "dash", false, &[]).success();
    assert!(pre.stderr.contains("\\x1b[2J"), "{}", pre.stderr);
    assert_no_controls(&pre.stderr);
    let doctor = t.helper(&["doctor"], b"");
    assert_no_controls(&doctor.stdout);
    assert_no_controls(&doctor.stderr);

    // A Harbor that echoes input into errors[].message.
    gitlab(&mut t, &h, "alice", &h.password("alice"), "proj");
    t.set("DOCKER_CREDENTIAL_HARBOR_CA_FILE", h.ca_file());
    h.set_fault_on(
        "/api/v2.0/systeminfo",
        Fault::ErrorMessage {
            status: 403,
            message: format!("denied{HOSTILE}"),
        },
    );
    let doctor = t.helper(&["doctor"], b"").failure();
    doctor.stdout_has("denied\\x1b[2J");
    assert_no_controls(&doctor.stdout);
    h.set_fault(Fault::None);
    h.set_fault_on(
        "/service/token",
        Fault::ErrorMessage {
            status: 400,
            message: format!("bad{HOSTILE}"),
        },
    );
    let pre = job(&t, "dash", false, &[]).success();
    pre.stderr_has("bad\\x1b[2J");
    assert_no_controls(&pre.stderr);
}

#[test]
fn issue_9_11_a_runner_config_key_it_cannot_parse_is_never_echoed() {
    let (mut t, _h) = alice(TestEnv::new("hard-11-key"));
    t.secret("TOPSECRET");
    write_mode(
        &t.path("runner-config.json"),
        r#"{"registries":{"https://robot:TOPSECRET@har bor.example/":{"username":"u","password":"x"},
            "pull.example":{"username":"puller","password":"pull-pw"}}}"#,
        0o600,
    );
    for verb in ["get", "list"] {
        let out = t.helper(&[verb], b"pull.example");
        t.assert_clean(&out);
        out.success();
    }
    let out = job(&t, "dash", false, &[]).success();
    out.stderr_has("ignores entry 1 of \"registries\"");
    let out = t.helper(&["configure", "--docker"], b"");
    t.assert_clean(&out);
}

#[test]
fn issue_9_12_a_project_name_harbor_could_not_have_is_never_sent() {
    let (mut t, h) = alice(TestEnv::new("hard-12-project"));
    t.set("HARBOR_PROJECT", "../../users/current");
    let pre = job(&t, "dash", false, &[]).success();
    pre.stderr_has("is not a Harbor project name");
    let doctor = t.helper(&["doctor"], b"").failure();
    doctor.stdout_has("is not a Harbor project name");
    for r in h.requests() {
        assert!(
            !r.path.contains("..") && !r.path.contains("users/current"),
            "{r:?}"
        );
    }
}

#[test]
fn issue_9_12_a_per_job_dir_that_is_not_utf8_is_exported_byte_for_byte() {
    let (mut t, _h) = alice(TestEnv::new("hard-12-bytes"));
    let dir = PathBuf::from(std::ffi::OsStr::from_bytes(
        &[t.path("build").as_os_str().as_bytes(), b"-\xff\xfe.tmp"].concat(),
    ));
    fs::create_dir_all(&dir).unwrap();
    t.set("RUNNER_TEMP_PROJECT_DIR", &dir)
        .set("DOCKER_CREDENTIAL_HARBOR_VERIFY", "off");
    job(
        &t,
        "dash",
        false,
        &["printf '%s' \"$DOCKER_CONFIG\" > \"$TMPDIR/docker-config\""],
    )
    .success();
    let seen = fs::read(t.path("tmp/docker-config")).unwrap();
    assert_eq!(
        seen,
        [
            dir.as_os_str().as_bytes(),
            b"/docker-credential-harbor/docker"
        ]
        .concat()
    );
}

#[test]
fn issue_9_13_a_ca_left_by_a_failed_job_is_owned_by_the_next_and_removed() {
    let (mut t, h) = alice(TestEnv::new("hard-13-leftover"));
    use_ca_file(&mut t, &h);
    let ca = "/etc/docker/certs.d/$HARBOR_REGISTRY/docker-credential-harbor.crt";
    // Job 1 fails after pre-build, so its post_build_script never runs. Job 2 places the same
    // CA, succeeds, and its post-build must remove it; job 3 has no CA and cleans up after a
    // job like job 1 on its own.
    let script = format!(
        "sh -c 'eval \"$(docker-credential-harbor pre-build)\"; false' || true\n\
         (eval \"$(docker-credential-harbor pre-build)\"; test -f {ca}; docker-credential-harbor post-build)\n\
         ls -A /etc/docker > \"$TMPDIR/after-2\"\n\
         sh -c 'eval \"$(docker-credential-harbor pre-build)\"; false' || true\n\
         test -n \"$(ls -A /etc/docker)\"\n\
         (unset DOCKER_CREDENTIAL_HARBOR_CA_FILE; eval \"$(docker-credential-harbor pre-build)\"; docker-credential-harbor post-build)\n\
         ls -A /etc/docker > \"$TMPDIR/after-3\"\n"
    );
    t.unset("RUNNER_TEMP_PROJECT_DIR");
    let Some(out) = with_private_etc(&t, &script) else {
        return;
    };
    assert!(out.ok(), "{out:?}");
    assert_eq!(fs::read_to_string(t.path("tmp/after-2")).unwrap(), "");
    assert_eq!(fs::read_to_string(t.path("tmp/after-3")).unwrap(), "");
}

/// Starts a job in the background that runs pre-build, says so, waits for `go`, saves the
/// user's docker config as it sees it, and ends with post-build.
fn waiting_job(t: &TestEnv, name: &str, job_id: &str) -> std::process::Child {
    let child = spawn_job(t, name, job_id);
    wait_for(&t.path(&format!("tmp/{name}-ready")));
    child
}

/// Waits (at most 30 s) until `path` exists.
fn wait_for(path: &Path) {
    let start = Instant::now();
    while !path.exists() && start.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// [`waiting_job`], without waiting for its pre-build.
fn spawn_job(t: &TestEnv, name: &str, job_id: &str) -> std::process::Child {
    let script = format!(
        "set -e\neval \"$(docker-credential-harbor pre-build)\"\n\
         touch \"$TMPDIR/{name}-ready\"\n\
         i=0; while [ ! -e \"$TMPDIR/{name}-go\" ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done\n\
         cp \"$HOME/.docker/config.json\" \"$TMPDIR/{name}-seen.json\"\n\
         docker-credential-harbor post-build\n"
    );
    let file = t.path(&format!("tmp/{name}.sh"));
    fs::write(&file, script).unwrap();
    t.command(require("dash"))
        .arg(file)
        .env("CI_JOB_ID", job_id)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// alice's jobs without a per-job directory (so they edit the user's own files), verification
/// off, and the user's docker config with another helper's entry in it, at the path returned.
fn in_place_jobs(name: &str) -> (TestEnv, Harbor, PathBuf) {
    let (mut t, h) = alice(TestEnv::new(name));
    t.unset("RUNNER_TEMP_PROJECT_DIR")
        .set("DOCKER_CREDENTIAL_HARBOR_VERIFY", "off");
    let config = t.path("home/.docker/config.json");
    write_mode(&config, r#"{"credHelpers":{"gcr.io":"gcloud"}}"#, 0o600);
    (t, h, config)
}

#[test]
fn issue_9_14_concurrent_jobs_keep_a_shared_entry_until_the_last_one_ends() {
    let (t, h, config) = in_place_jobs("hard-14-concurrent");
    // Job A adds the entry; job B finds it there; A ends first; B must still have it.
    let a = waiting_job(&t, "a", "1");
    let b = waiting_job(&t, "b", "2");
    fs::write(t.path("tmp/a-go"), "").unwrap();
    let out: Out = a.wait_with_output().unwrap().into();
    assert!(out.ok(), "{out:?}");
    fs::write(t.path("tmp/b-go"), "").unwrap();
    let out: Out = b.wait_with_output().unwrap().into();
    assert!(out.ok(), "{out:?}");
    let seen: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(t.path("tmp/b-seen.json")).unwrap()).unwrap();
    assert_eq!(
        seen["credHelpers"][h.addr()],
        "harbor",
        "job A took B's entry away"
    );
    let after: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&config).unwrap()).unwrap();
    assert_eq!(
        after,
        serde_json::json!({"credHelpers": {"gcr.io": "gcloud"}})
    );
}

/// Lets waiting jobs go on when dropped, so a failed test leaves no job waiting.
struct Go<const N: usize>([PathBuf; N]);

impl<const N: usize> Drop for Go<N> {
    fn drop(&mut self) {
        for go in &self.0 {
            let _ = fs::write(go, "");
        }
    }
}

/// Waits (at most 30 s) until a process other than this one has `path` open.
fn wait_until_opened_elsewhere(path: &Path) {
    let me = std::process::id().to_string();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(30) {
        let opened = fs::read_dir("/proc").unwrap().flatten().any(|p| {
            let name = p.file_name();
            name.to_str()
                .is_some_and(|n| n != me && n.bytes().all(|b| b.is_ascii_digit()))
                && fs::read_dir(p.path().join("fd")).is_ok_and(|fds| {
                    fds.flatten()
                        .any(|fd| fs::read_link(fd.path()).is_ok_and(|l| l == path))
                })
        });
        if opened {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("no process opened {}", path.display());
}

#[test]
fn issue_16_6_pre_build_reads_decides_and_writes_a_users_file_under_the_lease_lock() {
    let (t, h, config) = in_place_jobs("hard-16-6-race");
    let original = serde_json::json!({"credHelpers": {"gcr.io": "gcloud"}});
    let read = |p: &Path| -> serde_json::Value {
        serde_json::from_str(&fs::read_to_string(p).unwrap()).unwrap()
    };
    // Both jobs end (with their post-build) when the test does, whatever it found.
    let _end = Go([t.path("tmp/a-go"), t.path("tmp/b-go")]);
    // Job B runs and holds the entry it added.
    let b = waiting_job(&t, "b", "2");
    assert_eq!(read(&config)["credHelpers"][h.addr()], "harbor");
    // The test holds the lease table's lock while job A's pre-build starts: A waits for it.
    let data = t.path("home/.local/share/docker-credential-harbor");
    let lock_path = data.join("leases.json.lock");
    let lock = fs::File::options().write(true).open(&lock_path).unwrap();
    lock.lock().unwrap();
    let a = spawn_job(&t, "a", "1");
    wait_until_opened_elsewhere(&lock_path);
    // Under the lock, what B's post-build does as the entry's last holder: the lease goes, and
    // the entry with it.
    let table = data.join("leases.json");
    let mut leases = read(&table);
    leases["leases"]
        .as_array_mut()
        .unwrap()
        .retain(|l| l["thing"]["file"] != config.to_str().unwrap());
    fs::write(&table, leases.to_string()).unwrap();
    fs::write(&config, original.to_string()).unwrap();
    drop(lock);
    wait_for(&t.path("tmp/a-ready"));
    assert_eq!(
        read(&config)["credHelpers"][h.addr()],
        "harbor",
        "job A goes on without the entry it reported"
    );
    let held = read(&table)["leases"].as_array().unwrap().iter().any(|l| {
        l["thing"]["file"] == config.to_str().unwrap()
            && !l["holders"].as_array().unwrap().is_empty()
    });
    assert!(held, "job A does not hold its entry");
    for (name, job) in [("a", a), ("b", b)] {
        fs::write(t.path(&format!("tmp/{name}-go")), "").unwrap();
        let out: Out = job.wait_with_output().unwrap().into();
        assert!(out.ok(), "{out:?}");
    }
    assert_eq!(read(&config), original);
}

#[test]
fn issue_9_15_a_job_robot_does_not_hide_the_password_from_a_hostile_job_script() {
    // The honest limit (README, docs/security.md): the job shell's initial environment,
    // /proc/<pid>/environ, still holds HARBOR_PASSWORD after `unset`. If this test fails,
    // the gap was closed: update the documents that describe it.
    let (t, h) = pam_job("hard-15-environ", false);
    job(
        &t,
        "dash",
        false,
        &["sh -c 'tr \"\\000\" \"\\n\" < /proc/$PPID/environ' > \"$TMPDIR/shell-environ\""],
    )
    .success();
    let environ = fs::read_to_string(t.path("tmp/shell-environ")).unwrap();
    fs::remove_file(t.path("tmp/shell-environ")).unwrap();
    assert!(
        environ
            .lines()
            .any(|l| l == format!("HARBOR_PASSWORD={}", h.password("pam"))),
        "the job shell's /proc environ no longer shows the password: update the docs"
    );
}

/// The owner of `/proc/<pid>/status` and the core size limit: the files of a non-dumpable
/// process's /proc directory belong to root whatever its user.
fn dump_state(pid: u32) -> (u32, String) {
    use std::os::unix::fs::MetadataExt;
    let owner = fs::metadata(format!("/proc/{pid}/status")).unwrap().uid();
    let limits = fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let core = limits
        .lines()
        .find(|l| l.starts_with("Max core file size"))
        .unwrap()
        .split_whitespace()
        .skip(4)
        .take(2)
        .collect::<Vec<_>>()
        .join(" ");
    (owner, core)
}

#[test]
fn no_command_can_dump_core() {
    if !is_root() {
        eprintln!("skipped: needs root to run the helper as another user");
        return;
    }
    let t = TestEnv::new("hard-core");
    for verb in ["get", "store"] {
        // Blocked on stdin, as while a client writes the request.
        let mut child = t
            .command(require("setpriv"))
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(crate::util::BIN)
            .arg(verb)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Until it has exec'd the helper, /proc shows setpriv.
        let pid = child.id();
        let start = Instant::now();
        while !fs::read_link(format!("/proc/{pid}/exe"))
            .is_ok_and(|e| e.ends_with("docker-credential-harbor"))
            && start.elapsed() < Duration::from_secs(10)
        {
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(100));
        let (owner, core) = dump_state(pid);
        drop(child.stdin.take());
        let mut out = String::new();
        let _ = child.stdout.take().unwrap().read_to_string(&mut out);
        let _ = child.wait();
        assert_eq!(owner, 0, "{verb}: the process is still dumpable");
        assert_eq!(core, "0 0", "{verb}: RLIMIT_CORE");
    }
}

/// Issue 17: a subcommand whose output cannot be written (stdout on a full disk) said nothing
/// and exited 1. Now the one printer says why, on stderr, and the exit status stays 1.
#[test]
fn issue_17_a_command_that_cannot_write_its_output_says_so_and_fails() {
    let t = TestEnv::new("hard-full");
    for args in [&["--help"][..], &["doctor"]] {
        let full = fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let out = run(t.command(crate::util::BIN).args(args).stdout(full)).failure();
        assert_eq!(out.code, Some(1), "{args:?}: {out:?}");
        out.stderr_has(
            "docker-credential-harbor: cannot write the report: No space left on device",
        )
        .stderr_has("  hint: check that the command's stdout and stderr are open and writable");
    }
}
