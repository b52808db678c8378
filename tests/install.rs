//! `scripts/install` on a runner host: the binary in place, the hook lines in every
//! `[[runners]]` table of config.toml that lacks them, nothing changed on a second run, and a
//! runner's own pre_build_script never rewritten.

use std::fs;

use crate::util::{BIN, TestEnv, mode, run, write_mode};

const CONFIG: &str = r#"concurrent = 4

[[runners]]
  name = "docker"
  executor = "docker"
  [runners.docker]
    image = "alpine"
    volumes = ["/opt/docker-credential-harbor:/opt/docker-credential-harbor:ro"]

[[runners]] # a shell runner with a hook of its own
  name = "shell"
  pre_build_script = "echo hello"
  executor = "shell"
"#;

#[test]
fn install_is_idempotent_and_puts_the_hooks_where_toml_wants_them() {
    let t = TestEnv::new("install");
    let config = t.path("config.toml");
    write_mode(&config, CONFIG, 0o600);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/install");
    let install = || {
        let mut cmd = t.command(script);
        cmd.arg("--prefix")
            .arg(t.path("prefix"))
            .arg("--binary")
            .arg(BIN);
        cmd.arg("--runner-config").arg(&config);
        cmd.args([
            "--job-path",
            "/opt/docker-credential-harbor/docker-credential-harbor",
        ]);
        run(&mut cmd)
    };
    let out = install().success();
    out.stdout_has("installed")
        .stdout_has("added 3 hook line(s)");
    out.stderr_has("line 12 has another pre_build_script; add this to it by hand");
    let installed = t.path("prefix/bin/docker-credential-harbor");
    assert_eq!(mode(&installed), 0o755);
    run(t.command(&installed).arg("version")).success();

    let text = fs::read_to_string(&config).unwrap();
    let pre = "  pre_build_script = 'eval \"$(/opt/docker-credential-harbor/docker-credential-harbor pre-build)\"'";
    let post =
        "  post_build_script = '/opt/docker-credential-harbor/docker-credential-harbor post-build'";
    let lines: Vec<&str> = text.lines().collect();
    // Right after the first [[runners]] line, before its [runners.docker] sub-table.
    assert_eq!(&lines[2..5], &["[[runners]]", pre, post], "{text}");
    // The shell runner keeps its own pre_build_script and gets only the post-build line.
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.contains("pre_build_script"))
            .count(),
        2,
        "{text}"
    );
    assert!(text.contains("  pre_build_script = \"echo hello\""));
    assert_eq!(lines.iter().filter(|l| **l == post).count(), 2, "{text}");
    assert_eq!(mode(&config), 0o600, "the config's mode is kept");
    // Everything else is as it was.
    let without_ours: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| *l != pre && *l != post)
        .collect();
    assert_eq!(without_ours.join("\n") + "\n", CONFIG);

    let again = install().success();
    again
        .stdout_has("is up to date")
        .stdout_has("already has the hooks");
    assert_eq!(
        fs::read_to_string(&config).unwrap(),
        text,
        "a second run changes nothing"
    );
}

/// Issue 11: runners ≥ 19.4 run no helper a job's `DOCKER_AUTH_CONFIG` names unless
/// `allowed_docker_credential_helpers` allows it. `--registry` adds it where a runner has
/// none, never touches one that exists, and `doctor --runner-config` reads back the result.
#[test]
fn install_adds_the_helper_allowlist_once_and_doctor_reads_it_back() {
    let t = TestEnv::new("install-allowlist");
    let config = t.path("config.toml");
    let original = format!(
        "{CONFIG}\n[[runners]]\n  name = \"k8s\"\n  executor = \"kubernetes\"\n  [runners.kubernetes]\n    \
         allowed_docker_credential_helpers = {{ \"ecr.example.com\" = \"ecr-login\" }}\n"
    );
    write_mode(&config, &original, 0o600);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/install");
    let install = |registry: &str| {
        let mut cmd = t.command(script);
        cmd.arg("--prefix")
            .arg(t.path("prefix"))
            .arg("--binary")
            .arg(BIN);
        cmd.arg("--runner-config")
            .arg(&config)
            .args(["--registry", registry]);
        run(&mut cmd)
    };
    let bad = install("harbor.example.com/\"; rm -rf /").failure();
    bad.stderr_has("--registry wants HOST[:PORT]");
    assert_eq!(
        fs::read_to_string(&config).unwrap(),
        original,
        "a refused run changes nothing"
    );

    // Written canonical, as the runner matches image names: no scheme, no path, no :443.
    let out = install("HTTPS://Harbor.example.com:443/").success();
    out.stdout_has("added 7 line(s) (hooks and allowlist)")
        .stdout_has("not confirmed by GitLab's sources");
    out.stderr_has("line 19 has another allowed_docker_credential_helpers; add \"harbor.example.com\" = \"harbor\" to it by hand");
    let text = fs::read_to_string(&config).unwrap();
    let allow = "  allowed_docker_credential_helpers = { \"harbor.example.com\" = \"harbor\" }";
    assert_eq!(text.lines().filter(|l| *l == allow).count(), 2, "{text}");
    assert!(
        text.contains("{ \"ecr.example.com\" = \"ecr-login\" }"),
        "kept: {text}"
    );
    let doc: toml::Table = text.parse().expect("still TOML");
    let runners = doc["runners"].as_array().unwrap();
    assert_eq!(
        runners[0]["allowed_docker_credential_helpers"]["harbor.example.com"].as_str(),
        Some("harbor")
    );

    let again = install("harbor.example.com").success();
    again.stdout_has("already has the hooks and an allowlist");
    assert_eq!(
        fs::read_to_string(&config).unwrap(),
        text,
        "a second run changes nothing"
    );

    let doctor = |registry: &str| {
        let mut cmd = t.command(BIN);
        cmd.args(["doctor", "--runner-config"])
            .arg(&config)
            .args(["--registry", registry]);
        run(&mut cmd)
    };
    let out = doctor("harbor.example.com").success();
    out.stdout_has("ok    allowlist    runner docker: allowed_docker_credential_helpers in [[runners]] lets docker-credential-harbor run for harbor.example.com")
        .stdout_has("info  allowlist    runner shell: the shell executor pulls no images")
        .stdout_has("warn  allowlist    runner k8s: allowed_docker_credential_helpers in [runners.kubernetes] does not list \"harbor.example.com\" = \"harbor\"")
        .stdout_has("warn  hooks        runner shell: no pre_build_script calling docker-credential-harbor");
    // Another port is another registry: the allowlist written for the default port is no help.
    doctor("harbor.example.com:8443")
        .success()
        .stdout_has("warn  allowlist    runner docker: allowed_docker_credential_helpers in [[runners]] does not list \"harbor.example.com:8443\"");
}

#[test]
fn doctor_on_a_runner_config_names_a_missing_allowlist_and_a_jobs_rejected_auth_config() {
    let t = TestEnv::new("doctor-runner-config");
    let config = t.path("config.toml");
    write_mode(
        &config,
        "[[runners]]\n  name = \"docker\"\n  token = \"glrt-RUNNERTOKEN\"\n  executor = \"docker\"\n  \
         environment = ['DOCKER_AUTH_CONFIG={\"credHelpers\":{\"harbor.example.com\":\"harbor\"}}']\n",
        0o600,
    );
    let mut cmd = t.command(BIN);
    cmd.args(["doctor", "--runner-config"])
        .arg(&config)
        .args(["--registry", "harbor.example.com"]);
    let out = run(&mut cmd).success();
    assert!(!out.stdout.contains("RUNNERTOKEN") && !out.stderr.contains("RUNNERTOKEN"));
    out.stdout_has("warn  hooks        runner docker: no pre_build_script calling docker-credential-harbor")
        .stdout_has("warn  allowlist    runner docker: no allowed_docker_credential_helpers: runners >= 19.4 (and 19.3.2, 19.2.4, 19.1.3) refuse")
        .stdout_has("warn  environment  runner docker: environment gives every job a DOCKER_AUTH_CONFIG that docker >= 28.3 rejects (it holds \"credHelpers\"");

    write_mode(&config, "[[runners]\n", 0o600);
    let mut cmd = t.command(BIN);
    cmd.args(["doctor", "--runner-config"])
        .arg(&config)
        .args(["--registry", "harbor.example.com"]);
    run(&mut cmd).failure().stdout_has("is not valid TOML");
    let mut cmd = t.command(BIN);
    cmd.args(["doctor", "--runner-config"]).arg(&config);
    run(&mut cmd)
        .failure()
        .stdout_has("FAIL  registry     no registry to check for");
}
