//! The runner hooks as the runner runs them: a script with errexit (and xtrace when CI_DEBUG_TRACE
//! is on) under dash, bash and busybox sh, whose first line is the documented `eval
//! "$(docker-credential-harbor pre-build || …)"` and whose last is `post-build`. Real clients then
//! push and pull through the Harbor double and a real registry using only what pre-build set up;
//! negative controls show the same requests refused without it. No test may find a secret in any
//! output or file.

use std::fs;
use std::path::Path;

use harbor_double::{Fault, Harbor};

use crate::util::dockerd::Dockerd;
use crate::util::jobs::{
    SHELLS, dump, gitlab, job, job_with_private_etc, start, trust_in_home, use_ca_file,
};
use crate::util::{TestEnv, in_private_mounts, is_root, require, run, write_mode};

/// A test with a double (no registry) and alice's variables on `proj`.
fn alice_job(name: &str) -> (TestEnv, Harbor) {
    let mut t = TestEnv::new(name);
    let h = start(&t, false);
    gitlab(&mut t, &h, "alice", &h.password("alice"), "proj");
    (t, h)
}

#[test]
fn pre_build_exports_exact_values_under_dash_bash_and_busybox_with_xtrace() {
    for shell in SHELLS {
        let mut t = TestEnv::new(&format!("hooks-exports-{}", shell.replace(' ', "-")));
        let h = start(&t, false);
        let robot = h.add_robot("proj", "ci", &["pull", "push"], 1);
        gitlab(&mut t, &h, &robot.name, &robot.secret, "proj");
        let out = job(
            &t,
            shell,
            true,
            &[&dump(&[
                "HARBOR_URL",
                "HARBOR_HOST",
                "HARBOR_REGISTRY",
                "HARBOR_OCI",
                "HARBOR_PROJECT",
                "HARBOR_USERNAME",
                "HARBOR_USER",
            ])],
        )
        .success();
        let addr = h.addr();
        assert_eq!(
            fs::read_to_string(t.path("tmp/vars.out")).unwrap(),
            format!(
                "{}|127.0.0.1|{addr}|oci://{addr}|proj|robot$proj+ci|robot$proj+ci|",
                h.url()
            ),
            "{shell}"
        );
        out.stderr_has("credentials verified");
        assert!(
            out.stderr.contains("section_start:") && out.stderr.contains("section_end:"),
            "CI is set: a collapsible section"
        );
        // xtrace shows the exports, never the password (assert_clean ran in job()).
        out.stderr_has("export HARBOR_USERNAME=");
        t.scan_files(&[]);
    }
}

#[test]
fn hostile_values_are_exported_inert_or_refused() {
    let project = "it's \"$(touch pwned)\" `touch pwned` $HOME\\\nsecond line";
    for shell in SHELLS {
        let mut t = TestEnv::new(&format!("hooks-hostile-{}", shell.replace(' ', "-")));
        let h = start(&t, false);
        gitlab(&mut t, &h, "alice", &h.password("alice"), project);
        t.set("HARBOR_USERNAME", "x'; touch pwned; echo '")
            .set("DOCKER_CREDENTIAL_HARBOR_VERIFY", "off");
        job(
            &t,
            shell,
            true,
            &[&dump(&["HARBOR_PROJECT", "HARBOR_USERNAME"])],
        )
        .success();
        assert_eq!(
            fs::read_to_string(t.path("tmp/vars.out")).unwrap(),
            format!("{project}|x'; touch pwned; echo '|"),
            "{shell}"
        );
        assert!(
            !t.path("pwned").exists() && !t.path("tmp/pwned").exists(),
            "{shell}: a value was executed"
        );
        // A URL with a newline is no URL: refused with a warning, nothing exported, job goes on.
        t.set("HARBOR_URL", format!("{}\nhttps://evil.example", h.url()));
        let out = job(
            &t,
            shell,
            false,
            &[&dump(&["HARBOR_REGISTRY"]), "echo went-on"],
        )
        .success();
        assert!(
            out.stdout.contains("went-on") && out.stderr.contains("warning"),
            "{shell}: {out:?}"
        );
        assert_eq!(
            fs::read_to_string(t.path("tmp/vars.out")).unwrap(),
            "unset|"
        );
    }
}

#[test]
fn old_gitlab_variables_get_host_oci_and_registry_computed() {
    // GitLab 14.9: no HARBOR_HOST or HARBOR_OCI, and the docs said HARBOR_USER.
    let mut t = TestEnv::new("hooks-gitlab-14-9");
    let h = start(&t, false);
    t.set("HARBOR_URL", h.url())
        .set("HARBOR_USER", "alice")
        .set("HARBOR_PASSWORD", h.password("alice"))
        .set("HARBOR_PROJECT", "proj")
        .secret(&h.password("alice"));
    trust_in_home(&t, &h);
    let out = job(
        &t,
        "dash",
        false,
        &[&dump(&[
            "HARBOR_HOST",
            "HARBOR_REGISTRY",
            "HARBOR_OCI",
            "HARBOR_USERNAME",
            "HARBOR_USER",
        ])],
    )
    .success();
    let addr = h.addr();
    assert_eq!(
        fs::read_to_string(t.path("tmp/vars.out")).unwrap(),
        format!("127.0.0.1|{addr}|oci://{addr}|alice|alice|")
    );
    out.stderr_has("alice may pull from and push to proj");
}

#[test]
fn no_harbor_variables_means_one_note_and_nothing_written() {
    let t = TestEnv::new("hooks-none");
    let out = t.helper(&["pre-build"], b"").success();
    assert_eq!(out.stdout, "");
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert!(out.stderr.contains("no HARBOR_URL or HARBOR_HOST"));
    assert_eq!(
        fs::read_dir(t.path("home")).unwrap().count(),
        0,
        "nothing written"
    );
    job(&t, "dash", false, &["echo build"]).success();
}

#[test]
fn the_jobs_docker_config_is_a_merged_copy_and_the_users_file_is_untouched() {
    let (t, h) = alice_job("hooks-merge");
    let user_config = r#"{"auths":{"other.example":{"auth":"b3RoZXI6cHc="}},"psFormat":"table {{.ID}}","credHelpers":{"gcr.io":"gcloud"}}"#;
    write_mode(&t.path("home/.docker/config.json"), user_config, 0o644);
    fs::create_dir_all(t.path("home/.docker/cli-plugins")).unwrap();
    let out = job(
        &t,
        "bash",
        false,
        &[
            "cat \"$DOCKER_CONFIG/config.json\" > \"$TMPDIR/seen.json\"",
            "ls \"$DOCKER_CONFIG/cli-plugins\" >/dev/null",
        ],
    )
    .success();
    let seen: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(t.path("tmp/seen.json")).unwrap()).unwrap();
    assert_eq!(seen["psFormat"], "table {{.ID}}");
    // The job's copy never holds a password (docs/security.md); pre-build says what it left out.
    assert!(seen["auths"].get("other.example").is_none(), "{seen}");
    out.stderr_has("leaves out its plaintext logins for other.example");
    assert_eq!(seen["credHelpers"]["gcr.io"], "gcloud");
    assert_eq!(seen["credHelpers"][h.addr()], "harbor");
    assert_eq!(
        fs::read_to_string(t.path("home/.docker/config.json")).unwrap(),
        user_config,
        "the user's file is never touched"
    );
    assert!(
        !t.path("build.tmp/docker-credential-harbor").exists(),
        "post-build removed the per-job files: {}",
        out.stderr
    );
}

#[test]
fn without_a_per_job_dir_users_files_are_merged_and_post_build_restores_them() {
    let (mut t, h) = alice_job("hooks-in-place");
    t.unset("RUNNER_TEMP_PROJECT_DIR");
    let docker = t.path("home/.docker/config.json");
    write_mode(
        &docker,
        "{\"credHelpers\":{\"gcr.io\":\"gcloud\"},\"detachKeys\":\"ctrl-e\"}",
        0o644,
    );
    let during = "cp \"$HOME/.docker/config.json\" \"$TMPDIR/docker.json\"; cp \"$HOME/.config/containers/auth.json\" \"$TMPDIR/auth.json\"";
    job(&t, "dash", false, &[during]).success();
    let seen: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(t.path("tmp/docker.json")).unwrap()).unwrap();
    assert_eq!(seen["credHelpers"][h.addr()], "harbor");
    let auth: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(t.path("tmp/auth.json")).unwrap()).unwrap();
    assert_eq!(auth["credHelpers"][h.addr()], "harbor");
    let after: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&docker).unwrap()).unwrap();
    assert_eq!(
        after,
        serde_json::json!({"credHelpers": {"gcr.io": "gcloud"}, "detachKeys": "ctrl-e"})
    );
    assert_eq!(crate::util::mode(&docker), 0o644, "the file's mode is kept");
    assert!(
        !t.path("home/.config/containers/auth.json").exists(),
        "a file pre-build created is removed again"
    );
    assert!(
        !t.path("home/.local/share/docker-credential-harbor/jobs/4242.json")
            .exists()
    );
}

#[test]
fn a_wrong_password_warns_and_the_job_goes_on() {
    let mut t = TestEnv::new("hooks-wrong-password");
    let h = start(&t, false);
    gitlab(&mut t, &h, "alice", "not-alices-password", "proj");
    let out = job(&t, "dash", true, &["touch \"$TMPDIR/built\""]).success();
    assert!(t.path("tmp/built").exists());
    assert!(
        out.stderr
            .contains("warning: Harbor did not accept the credentials of alice"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("hint: check HARBOR_USERNAME and HARBOR_PASSWORD"),
        "{}",
        out.stderr
    );
}

#[test]
fn strict_mode_fails_the_job_before_the_build_in_every_shell() {
    for shell in SHELLS {
        let mut t = TestEnv::new(&format!("hooks-strict-{}", shell.replace(' ', "-")));
        let h = start(&t, false);
        gitlab(&mut t, &h, "gary", &h.password("gary"), "proj");
        t.set("DOCKER_CREDENTIAL_HARBOR_VERIFY", "strict");
        let out = job(&t, shell, false, &["touch \"$TMPDIR/built\""]).failure();
        assert!(!t.path("tmp/built").exists(), "{shell}: the build ran");
        assert!(
            out.stderr
                .contains("gary may pull from project proj but not push"),
            "{shell}: {}",
            out.stderr
        );
        out.stderr_has("strict: failing the job");
        // The same account passes strict mode when it may push.
        gitlab(&mut t, &h, "alice", &h.password("alice"), "proj");
        job(&t, shell, false, &["touch \"$TMPDIR/built\""]).success();
        assert!(t.path("tmp/built").exists());
    }
}

#[test]
fn harbor_down_or_slow_is_a_bounded_warning() {
    let (mut t, h) = alice_job("hooks-down");
    t.set("DOCKER_CREDENTIAL_HARBOR_TIMEOUT", "1");
    h.set_fault(Fault::Slow(std::time::Duration::from_secs(60)));
    let out = job(&t, "dash", false, &["echo built"]).success();
    assert!(out.stdout.contains("built"));
    out.stderr_has("did not answer within 1 s");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    t.set("HARBOR_URL", format!("https://127.0.0.1:{port}"));
    let out = job(&t, "dash", false, &["echo built"]).success();
    out.stderr_has("Connection refused");
}

#[test]
fn verify_off_sends_nothing_to_harbor() {
    let (mut t, h) = alice_job("hooks-verify-off");
    t.set("DOCKER_CREDENTIAL_HARBOR_VERIFY", "off");
    let out = job(&t, "dash", false, &[]).success();
    assert!(h.requests().is_empty());
    out.stderr_has("not verified");
}

#[test]
fn the_helper_is_put_on_path_when_the_hook_is_called_by_its_absolute_path() {
    let (mut t, _h) = alice_job("hooks-path");
    t.set("PATH", "/usr/bin:/bin");
    let script = format!(
        "set -e\neval \"$({} pre-build)\"\nprintf 'h.example' | docker-credential-harbor get > /dev/null || [ $? = 1 ]\n",
        crate::util::BIN
    );
    fs::write(t.path("tmp/job.sh"), script).unwrap();
    let out = run(t.command("/usr/bin/dash").arg(t.path("tmp/job.sh")));
    t.assert_clean(&out);
    out.success();
}

#[test]
fn real_clients_push_and_pull_with_only_what_pre_build_set_up() {
    if !is_root() || !Path::new("/etc/docker").is_dir() || !Path::new("/etc/containers").is_dir() {
        eprintln!("skipped: podman, buildah and dockerd run rootful here, in a private /etc");
        return;
    }
    let mut t = TestEnv::new("hooks-e2e");
    let h = start(&t, true);
    t.containers_env();
    t.make_image();
    gitlab(&mut t, &h, "alice", &h.password("alice"), "proj");
    use_ca_file(&mut t, &h);
    let image = "$HARBOR_REGISTRY/$HARBOR_PROJECT/app";
    let img = t.path("img").display().to_string();
    // No --cert-dir, no --creds, no login: only what pre-build set up.
    let mut lines = vec![
        format!("skopeo copy --format v2s2 oci:{img}:v1 docker://{image}:v1"),
        format!("skopeo inspect docker://{image}:v1 > /dev/null"),
        format!("podman pull -q {image}:v1"),
        format!("buildah push -q {image}:v1 docker://{image}:buildah"),
        format!("docker manifest inspect {image}:buildah > \"$TMPDIR/manifest.json\""),
    ];
    let daemon = Dockerd::start(&t);
    match &daemon {
        Ok(d) => {
            let dk = format!("docker -H {}", d.host);
            lines.push(format!("{dk} pull -q {image}:v1"));
            lines.push(format!("{dk} tag {image}:v1 {image}:dockerd"));
            lines.push(format!("{dk} push -q {image}:dockerd"));
        }
        Err(why) => eprintln!("dockerd part skipped: {why}"),
    }
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    let out = job_with_private_etc(&t, &refs).success();
    out.stderr_has("alice may pull from and push to proj");
    assert!(
        fs::read_to_string(t.path("tmp/manifest.json"))
            .unwrap()
            .contains("\"schemaVersion\": 2")
    );
    let pushed = |tag: &str| {
        h.requests().iter().any(|r| {
            r.method == "PUT" && r.status == 201 && r.path.ends_with(&format!("/manifests/{tag}"))
        })
    };
    assert!(
        pushed("v1") && pushed("buildah"),
        "skopeo and buildah pushed through the double"
    );
    if daemon.is_ok() {
        assert!(
            pushed("dockerd"),
            "dockerd pushed through the double: {}",
            out.stderr
        );
    }
    t.scan_files(&[]);

    // Negative control: the same pull with no hook is refused.
    let out = job_with_private_etc(
        &t,
        &[
            "eval \"$(docker-credential-harbor post-build)\"",
            &format!("podman pull -q {}/proj/app:v1", h.addr()),
        ],
    );
    assert!(!out.ok(), "pulled without credentials? {out:?}");

    // Negative control: a guest gets pull, not push.
    gitlab(&mut t, &h, "gary", &h.password("gary"), "proj");
    let out = job_with_private_etc(
        &t,
        &[&format!("skopeo inspect docker://{image}:v1 > /dev/null")],
    )
    .success();
    assert!(
        out.stderr
            .contains("warning: gary may pull from project proj but not push"),
        "{}",
        out.stderr
    );
    let out = job_with_private_etc(
        &t,
        &[&format!("skopeo copy oci:{img}:v1 docker://{image}:gary")],
    )
    .failure();
    assert!(!pushed("gary"), "{}", out.stderr);
    t.scan_files(&[]);
}

#[test]
fn an_untrusted_certificate_is_named_in_the_warning() {
    let (t, _h) = alice_job("hooks-untrusted");
    fs::remove_dir_all(t.path("home/.config/containers/certs.d")).unwrap();
    let out = job(&t, "dash", false, &[]).success();
    assert!(
        out.stderr
            .contains("signed by a CA this client does not trust"),
        "{}",
        out.stderr
    );
    out.stderr_has("DOCKER_CREDENTIAL_HARBOR_CA_FILE");
}

#[test]
fn an_unprivileged_job_trusts_the_ca_pre_build_placed_in_home() {
    if !is_root() {
        eprintln!("skipped: needs root to run the job as another user");
        return;
    }
    let mut t = TestEnv::new("hooks-ca-home");
    let h = start(&t, true);
    gitlab(&mut t, &h, "alice", &h.password("alice"), "proj");
    use_ca_file(&mut t, &h);
    t.make_image();
    t.give_to_nobody(&["home", "tmp", "build.tmp", "img"]);
    let img = t.path("img").display().to_string();
    let script = format!(
        "set -e\neval \"$(docker-credential-harbor pre-build)\"\n\
         test -f \"$HOME/.config/containers/certs.d/$HARBOR_REGISTRY/docker-credential-harbor.crt\"\n\
         skopeo copy --format v2s2 oci:{img}:v1 docker://$HARBOR_REGISTRY/$HARBOR_PROJECT/app:nobody\n\
         docker-credential-harbor post-build\n\
         test ! -e \"$HOME/.config/containers/certs.d/$HARBOR_REGISTRY\"\n"
    );
    t.run_as_nobody(&script).success();
    assert!(
        h.requests()
            .iter()
            .any(|r| r.method == "PUT" && r.status == 201 && r.path.ends_with("/manifests/nobody"))
    );
}

#[test]
fn as_root_the_ca_goes_to_etc_certs_d_and_post_build_takes_it_away() {
    if !is_root() || !Path::new("/etc/docker").is_dir() || !Path::new("/etc/containers").is_dir() {
        eprintln!("skipped: needs root and /etc/docker, /etc/containers to mount over");
        return;
    }
    let (mut t, h) = alice_job("hooks-ca-etc");
    use_ca_file(&mut t, &h);
    // A private mount namespace with empty /etc/docker and /etc/containers: the host's stay as they are.
    let script = "set -e\nmount -t tmpfs tmpfs /etc/docker\nmount -t tmpfs tmpfs /etc/containers\n\
         eval \"$(docker-credential-harbor pre-build)\"\n\
         cmp \"$DOCKER_CREDENTIAL_HARBOR_CA_FILE\" \"/etc/docker/certs.d/$HARBOR_REGISTRY/docker-credential-harbor.crt\"\n\
         cmp \"$DOCKER_CREDENTIAL_HARBOR_CA_FILE\" \"/etc/containers/certs.d/$HARBOR_REGISTRY/docker-credential-harbor.crt\"\n\
         docker-credential-harbor post-build\n\
         test ! -e /etc/docker/certs.d && test ! -e /etc/containers/certs.d\n";
    let out = in_private_mounts(t.command(require("unshare")), script);
    t.assert_clean(&out);
    assert!(out.ok(), "{out:?}");
    assert!(
        out.stderr.contains("mount the CA into the service"),
        "the docker:dind line: {}",
        out.stderr
    );
}

#[test]
fn post_build_without_a_record_says_where_it_looked_in_one_line_and_exits_0() {
    let mut t = TestEnv::new("hooks-post-build-no-record");
    t.set("RUNNER_TEMP_PROJECT_DIR", t.path("build.tmp"));
    let out = t.helper(&["post-build"], b"").success();
    assert_eq!(out.stdout, "");
    assert_eq!(
        out.stderr,
        format!(
            "docker-credential-harbor: post-build found no job record at {}; nothing to clean up\n",
            t.path("build.tmp/docker-credential-harbor/state.json")
                .display()
        )
    );
}

#[test]
fn post_build_refuses_a_record_of_another_version_touches_nothing_and_exits_0() {
    let mut t = TestEnv::new("hooks-post-build-other-version");
    t.set("RUNNER_TEMP_PROJECT_DIR", t.path("build.tmp"));
    let dir = t.path("build.tmp/docker-credential-harbor");
    fs::create_dir_all(&dir).unwrap();
    // A record from a newer helper, naming its own per-job directory in a way this one does
    // not know: nothing is undone on a guess.
    let record = dir.join("state.json");
    write_mode(
        &record,
        &format!(
            r#"{{"version":3,"actions":[{{"action":"per_job_dir","path":"{}"}}]}}"#,
            dir.display()
        ),
        0o600,
    );
    let out = t.helper(&["post-build"], b"").success();
    out.stderr_has(&format!(
        "warning: the job record {} has format version 3, and this docker-credential-harbor \
         reads version 2 only",
        record.display()
    ))
    .stderr_has("nothing cleaned up");
    assert!(
        record.exists(),
        "the record is left for the helper that wrote it"
    );
}
