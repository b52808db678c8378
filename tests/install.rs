//! `scripts/install` on a runner host: the binary in place, and the hook lines added to every
//! `[[runners]]` table of config.toml that lacks them, as the TOML reads it: never
//! inside a multi-line string, in a CRLF file, under a spaced header; the result parses and is
//! the original plus our lines, byte for byte. A file that does not parse is refused untouched;
//! owner, mode and a symbolic link are kept; the temporary copy is private from its creation and
//! no interrupted or failed run leaves it behind. A runner's own hooks are never rewritten, the
//! allowlist of runners >= 19.4 is printed, never written, and the hook line itself reports a
//! missing or crashing binary in the job log (and fails the job under strict) in every shell.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::jobs::{SHELLS, gitlab, pre_hook, start};
use crate::util::{BIN, Out, TestEnv, is_root, mode, require, run, write_mode};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/install");
/// Where jobs see the binary, as for the docker executor's volume.
const JOB: &str = "/opt/docker-credential-harbor/bin/docker-credential-harbor";

fn post_hook(path: &str) -> String {
    format!("{path} post-build")
}

/// The two lines install adds right under a `[[runners]]` header.
fn our_lines(path: &str) -> [String; 2] {
    [
        format!("  pre_build_script = '{}'", pre_hook(path)),
        format!("  post_build_script = '{}'", post_hook(path)),
    ]
}

/// `etc/config.toml` holding `text`, mode 0600.
fn config_file(t: &TestEnv, text: &str) -> PathBuf {
    let config = t.path("etc/config.toml");
    write_mode(&config, text, 0o600);
    config
}

/// `scripts/install` with the test's binary, into `prefix/`, for `config`.
fn install(t: &TestEnv, config: &Path, more: &[&str]) -> Out {
    let mut cmd = t.command(SCRIPT);
    install_args(t, &mut cmd, config, more);
    run(&mut cmd)
}

fn install_args(t: &TestEnv, cmd: &mut Command, config: &Path, more: &[&str]) {
    cmd.arg("--prefix")
        .arg(t.path("prefix"))
        .arg("--binary")
        .arg(BIN)
        .arg("--runner-config")
        .arg(config)
        .args(["--job-path", JOB])
        .args(more);
}

/// The lines of `after` that `before` lacks, each with the line above it, when `after` is
/// `before` with whole lines inserted and nothing else changed; panics otherwise.
fn inserted<'a>(before: &'a str, after: &'a str) -> Vec<(&'a str, &'a str)> {
    let old: Vec<&str> = before.split_inclusive('\n').collect();
    let mut i = 0;
    let mut above = "";
    let mut added = Vec::new();
    for line in after.split_inclusive('\n') {
        if old.get(i) == Some(&line) {
            i += 1;
            above = line;
        } else {
            added.push((above, line));
        }
    }
    assert_eq!(
        i,
        old.len(),
        "a line of the original is gone or changed:\n{after}"
    );
    added
}

/// Asserts that `after` is `before` with our two lines under the header of each runner in
/// `runners` (0-based), in the line ending `eol`, and nothing else: byte for byte, and as TOML
/// values (both parse).
fn assert_hooks_added(before: &str, after: &str, runners: &[usize], eol: &str) {
    let [pre, post] = our_lines(JOB);
    let added = inserted(before, after);
    assert_eq!(added.len(), 2 * runners.len(), "{after}");
    for pair in added.chunks(2) {
        let (header, first) = pair[0];
        assert!(
            header.trim_start().starts_with("[["),
            "not under a header: {header:?}\n{after}"
        );
        assert_eq!(first, format!("{pre}{eol}"), "{after}");
        assert_eq!(pair[1].1, format!("{post}{eol}"), "{after}");
    }
    let old: toml::Table = before.parse().expect("the original parses");
    let mut new: toml::Table = after
        .parse()
        .unwrap_or_else(|e| panic!("no longer TOML: {e}\n{after}"));
    let list = new["runners"].as_array_mut().unwrap();
    for &i in runners {
        let table = list[i].as_table_mut().unwrap();
        assert_eq!(
            table
                .remove("pre_build_script")
                .and_then(|v| v.as_str().map(str::to_owned)),
            Some(pre_hook(JOB))
        );
        assert_eq!(
            table
                .remove("post_build_script")
                .and_then(|v| v.as_str().map(str::to_owned)),
            Some(post_hook(JOB))
        );
    }
    assert_eq!(new, old, "the values changed beyond our keys:\n{after}");
}

/// Only `name` in the directory of `file` (no temporary copy left behind).
fn assert_alone(file: &Path) {
    let left: Vec<String> = fs::read_dir(file.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        left,
        vec![file.file_name().unwrap().to_string_lossy().into_owned()],
        "left behind"
    );
}

const SIMPLE: &str = r#"concurrent = 4

[[runners]]
  name = "docker"
  executor = "docker"
  [runners.docker]
    image = "alpine"
    volumes = ["/opt/docker-credential-harbor:/opt/docker-credential-harbor:ro"]
"#;

#[test]
fn install_is_idempotent_and_puts_the_hooks_where_toml_wants_them() {
    let t = TestEnv::new("install");
    let config = config_file(&t, SIMPLE);
    let out = install(&t, &config, &[]).success();
    out.stdout_has("installed")
        .stdout_has("added 2 hook line(s) to");
    let installed = t.path("prefix/bin/docker-credential-harbor");
    assert_eq!(mode(&installed), 0o755);
    run(t.command(&installed).arg("version")).success();

    let text = fs::read_to_string(&config).unwrap();
    // Right under the [[runners]] line, before its [runners.docker] sub-table.
    assert_hooks_added(SIMPLE, &text, &[0], "\n");
    assert_eq!(mode(&config), 0o600, "the config's mode is kept");

    let again = install(&t, &config, &[]).success();
    again
        .stdout_has("is up to date")
        .stdout_has("already has the hooks in each of its 1 [[runners]] table(s)");
    assert_eq!(
        fs::read_to_string(&config).unwrap(),
        text,
        "a second run changes nothing"
    );
    assert_alone(&config);
}

/// A line of a multi-line string that starts with `[` was taken for a
/// table header, so the table's own post_build_script went unseen and a second one made the
/// file invalid TOML, reported as a success.
#[test]
fn issue_16_a_bracket_line_in_a_multi_line_string_is_no_table_header() {
    for quotes in ["'''", "\"\"\""] {
        let t = TestEnv::new("install-multiline");
        let original = format!(
            "[[runners]]\n  name = \"docker\"\n  pre_get_sources_script = {quotes}\n[ -d /cache ] || mkdir -p /cache\n[[runners]]\n  [runners.docker]\n{quotes}\n  post_build_script = \"echo bye\"\n  executor = \"docker\"\n"
        );
        let config = config_file(&t, &original);
        let out = install(&t, &config, &[]).success();
        let text = fs::read_to_string(&config).unwrap();
        text.parse::<toml::Table>()
            .unwrap_or_else(|e| panic!("{quotes}: no longer TOML: {e}\n{text}"));
        // The runner's own post_build_script is kept and reported; only the pre-build line is
        // added.
        out.stderr_has("line 8: runner \"docker\" has a post_build_script of its own, which install never rewrites; add this line to it by hand:")
            .stderr_has(&format!("\n  {}\n", post_hook(JOB)))
            .stdout_has("added 1 hook line(s)");
        let added = inserted(&original, &text);
        assert_eq!(
            added,
            vec![("[[runners]]\n", format!("{}\n", our_lines(JOB)[0]).as_str())],
            "{quotes}"
        );
    }
}

/// A CRLF file got no hooks while install said it "already has the hooks".
#[test]
fn issue_16_a_crlf_file_gets_its_hooks_in_crlf() {
    let t = TestEnv::new("install-crlf");
    let original = SIMPLE.replace('\n', "\r\n");
    let config = config_file(&t, &original);
    let out = install(&t, &config, &[]).success();
    assert!(
        !out.stdout.contains("already has"),
        "claimed without the hooks: {}",
        out.stdout
    );
    out.stdout_has("added 2 hook line(s)");
    let text = fs::read_to_string(&config).unwrap();
    assert_hooks_added(&original, &text, &[0], "\r\n");
    install(&t, &config, &[])
        .success()
        .stdout_has("already has the hooks");
    assert_eq!(fs::read_to_string(&config).unwrap(), text);
}

/// `[[ runners ]]` is a runners table too (TOML allows the spaces).
#[test]
fn issue_16_a_spaced_header_is_a_runners_table() {
    let t = TestEnv::new("install-spaced");
    let original = "[[ runners ]]\n  name = \"a\"\n[[\trunners\t]] # tabs\n  name = \"b\"\n";
    let config = config_file(&t, original);
    let out = install(&t, &config, &[]).success();
    assert!(!out.stdout.contains("already has"), "{}", out.stdout);
    let text = fs::read_to_string(&config).unwrap();
    assert_hooks_added(original, &text, &[0, 1], "\n");
}

/// Everything at once: comments (a header in one, a `#` in strings, a header followed by a
/// comment), inline tables, dotted keys, an array holding a multi-line string, a runner with
/// its own pre_build_script, and the token, which no output shows.
const NASTY: &str = r#"# runner config [[runners]] edited by hand
concurrent = 4 # [[runners]]

[session_server]
  session_timeout = 1800

[[runners]]
  name = "docker # not a comment"
  url = "https://gitlab.example.com/#frag"
  token = "glrt-SECRETTOKEN"
  executor = "docker"
  environment = ["A=1", """
[[runners]]
  pre_build_script = "x"
"""]
  pre_get_sources_script = '''
[ -d /cache ] || mkdir -p /cache # ]]
'''
  [runners.docker]
    image = "alpine"
  [runners.cache]
    s3 = { ServerAddress = "s3.example.com", BucketName = "[[runners]]" }

[[runners]] # the shell runner, with a hook of its own
  name = "shell"
  pre_build_script = "echo hello"
  executor = "shell"

[[runners]]
name = "k8s"
kubernetes.namespace = "ci"
kubernetes.volumes = { empty_dir = [{ name = "x", mount_path = "/x" }] }
"#;

#[test]
fn nasty_configs_get_our_lines_and_nothing_else_and_the_token_stays_put() {
    let mut t = TestEnv::new("install-nasty");
    t.secret("glrt-SECRETTOKEN");
    let config = config_file(&t, NASTY);
    let out = install(&t, &config, &[]).success();
    t.assert_clean(&out);
    out.stdout_has("added 5 hook line(s)");
    out.stderr_has("line 26: runner \"shell\" has a pre_build_script of its own, which install never rewrites; add this line to it by hand:")
        .stderr_has(&format!("\n  {}\n", pre_hook(JOB)));
    let text = fs::read_to_string(&config).unwrap();
    let added = inserted(NASTY, &text);
    let [pre, post] = our_lines(JOB);
    let header = |h: &'static str, l: &str| (h, l.to_owned() + "\n");
    let expected = vec![
        header("[[runners]]\n", &pre),
        header("[[runners]]\n", &post),
        header(
            "[[runners]] # the shell runner, with a hook of its own\n",
            &post,
        ),
        header("[[runners]]\n", &pre),
        header("[[runners]]\n", &post),
    ];
    let added: Vec<(&str, String)> = added.into_iter().map(|(h, l)| (h, l.to_owned())).collect();
    assert_eq!(added, expected, "{text}");
    let doc: toml::Table = text.parse().expect("still TOML");
    let runners = doc["runners"].as_array().unwrap();
    assert_eq!(runners[1]["pre_build_script"].as_str(), Some("echo hello"));
    assert_eq!(
        runners[2]["pre_build_script"].as_str(),
        Some(pre_hook(JOB).as_str())
    );
    assert_eq!(runners[0]["token"].as_str(), Some("glrt-SECRETTOKEN"));

    // The shell runner's own hook still lacks ours: no claim that the file has them.
    let again = install(&t, &config, &[]).success();
    t.assert_clean(&again);
    assert!(!again.stdout.contains("already has"), "{}", again.stdout);
    again
        .stdout_has("unchanged")
        .stderr_has("runner \"shell\" has a pre_build_script of its own");
    assert_eq!(fs::read_to_string(&config).unwrap(), text);
}

/// What does not parse is refused with the reason, never edited; the
/// reason never quotes the file (it holds the token).
#[test]
fn issue_16_a_config_that_is_not_toml_is_refused_untouched_with_the_reason() {
    let mut t = TestEnv::new("install-invalid");
    t.secret("glrt-SECRETTOKEN");
    let config = t.path("etc/config.toml");
    let cases = [
        "[[runners]\n  token = \"glrt-SECRETTOKEN\"\n",
        "[[runners]]\n  token = \"glrt-SECRETTOKEN\"\n  token = \"glrt-SECRETTOKEN\"\n",
        "[[runners]]\n  token = \"glrt-SECRETTOKEN\n",
    ];
    for (i, case) in cases.iter().enumerate() {
        write_mode(&config, case, 0o640);
        let out = install(&t, &config, &[]).failure();
        t.assert_clean(&out);
        out.stderr_has("is not valid TOML (line ")
            .stderr_has("nothing was changed");
        assert_eq!(&fs::read_to_string(&config).unwrap(), case, "case {i}");
        assert_eq!(mode(&config), 0o640);
        assert_alone(&config);
    }
    fs::write(&config, b"[[runners]]\nname = \"\xff\"\n").unwrap();
    install(&t, &config, &[])
        .failure()
        .stderr_has("is not UTF-8, so not TOML");
    // No [[runners]] table: nothing to add to, and no claim that the hooks are there.
    write_mode(&config, "concurrent = 1\n", 0o600);
    let out = install(&t, &config, &[]).failure();
    out.stderr_has("has no [[runners]] table; register a runner first");
    assert!(!out.stdout.contains("already has"));
    assert_eq!(fs::read_to_string(&config).unwrap(), "concurrent = 1\n");
    // An inline array of runners cannot take lines under a header: printed, not edited.
    let inline = "runners = [{ name = \"a\" }]\n";
    write_mode(&config, inline, 0o600);
    install(&t, &config, &[])
        .failure()
        .stderr_has("defines runners as an inline array (line 1)")
        .stderr_has(&format!("  pre_build_script = '{}'", pre_hook(JOB)));
    assert_eq!(fs::read_to_string(&config).unwrap(), inline);
}

/// The final `mv` gave the file to root (a runner running as its own user
/// could no longer rewrite it) and replaced a symbolic link with a plain file.
#[test]
fn issue_16_owner_mode_and_a_symbolic_link_are_kept() {
    if !is_root() {
        eprintln!("skipped: chown to another user needs root");
        return;
    }
    let t = TestEnv::new("install-owner");
    let real = t.path("etc/real/config.toml");
    write_mode(&real, SIMPLE, 0o640);
    std::os::unix::fs::chown(&real, Some(65534), Some(65534)).unwrap();
    let link = t.path("etc/config.toml");
    std::os::unix::fs::symlink("real/config.toml", &link).unwrap();
    let out = install(&t, &link, &[]);
    assert!(
        fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink(),
        "the link was replaced"
    );
    let meta = fs::metadata(&real).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (65534, 65534), "owner changed");
    assert_eq!(meta.mode() & 0o7777, 0o640, "mode changed");
    out.success()
        .stdout_has("is a symbolic link; editing its target");
    assert_hooks_added(SIMPLE, &fs::read_to_string(&real).unwrap(), &[0], "\n");
    assert_alone(&real);
}

/// Runs install under strace, which records how files are opened and holds every rename for
/// `delay` so that the temporary copy can be seen and the run interrupted while it exists.
fn traced_install(t: &TestEnv, config: &Path, inject: &str) -> std::process::Child {
    let mut cmd = t.command(require("strace"));
    cmd.args(["-f", "-qq", "-o"])
        .arg(t.path("strace.log"))
        .args(["-e", "trace=openat,rename,renameat,renameat2,fsync"])
        .args(["-e", inject])
        .arg(SCRIPT);
    install_args(t, &mut cmd, config, &[]);
    cmd.stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// The entries of `dir` but `name`, waiting up to a minute for one to appear.
fn wait_for_another_entry(dir: &Path, name: &str) -> Option<PathBuf> {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(60) {
        for e in fs::read_dir(dir).unwrap().flatten() {
            if e.file_name() != name {
                return Some(e.path());
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    None
}

fn wait_bounded(child: &mut std::process::Child) {
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        assert!(start.elapsed() < Duration::from_secs(120), "install hangs");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The temporary copy (token included) was created with the caller's
/// umask, readable by every local user, and an interrupted run left it behind. Now it is
/// created 0600 (O_EXCL) next to the file, is never wider while it exists, and SIGTERM or
/// SIGINT mid-way leaves either the old file or the new one, and no copy.
#[test]
fn issue_16_the_temporary_copy_is_private_and_an_interrupted_run_leaves_none() {
    for signal in [libc::SIGTERM, libc::SIGINT] {
        let t = TestEnv::new(&format!("install-interrupted-{signal}"));
        let config = config_file(&t, SIMPLE);
        let mut child = traced_install(
            &t,
            &config,
            "inject=rename,renameat,renameat2:delay_enter=2s",
        );
        let temp = wait_for_another_entry(config.parent().unwrap(), "config.toml")
            .expect("no temporary copy appeared");
        let seen = fs::symlink_metadata(&temp).map(|m| m.mode() & 0o7777);
        let name = temp.file_name().unwrap().to_string_lossy().into_owned();
        let pid: i32 = name
            .strip_prefix(".config.toml.")
            .and_then(|n| n.strip_suffix(".tmp"))
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("not a temporary copy of ours: {name} ({seen:?})"));
        // SAFETY: a plain kill(2) of the process named by its own temporary file.
        unsafe { libc::kill(pid, signal) };
        assert_eq!(seen.unwrap(), 0o600, "{name} was readable by others");
        wait_bounded(&mut child);
        assert_alone(&config);
        let text = fs::read_to_string(&config).unwrap();
        if text != SIMPLE {
            assert_hooks_added(SIMPLE, &text, &[0], "\n");
        }
        assert_eq!(mode(&config), 0o600);
        let log = fs::read_to_string(t.path("strace.log")).unwrap();
        let created = log
            .lines()
            .find(|l| l.contains(&format!("/{name}\"")) && l.contains("openat("))
            .unwrap_or_else(|| panic!("no openat of {name}:\n{log}"));
        assert!(
            created.contains("O_CREAT|O_EXCL") && created.contains(", 0600) = "),
            "{created}"
        );
    }
}

/// A write that fails (here the fsync of the copy) changes nothing and
/// leaves no copy; install says so and fails.
#[test]
fn issue_16_a_failing_write_changes_nothing_and_leaves_no_copy() {
    let t = TestEnv::new("install-failing-write");
    let config = config_file(&t, SIMPLE);
    let mut cmd = t.command(require("strace"));
    cmd.args(["-f", "-qq", "-o", "/dev/null", "-e", "trace=fsync", "-e"])
        .arg("inject=fsync:error=EIO")
        .arg(SCRIPT);
    install_args(&t, &mut cmd, &config, &[]);
    let out = run(&mut cmd).failure();
    out.stderr_has("Input/output error")
        .stderr_has("nothing was changed");
    assert!(!out.stdout.contains("added"), "{}", out.stdout);
    assert_eq!(fs::read_to_string(&config).unwrap(), SIMPLE);
    assert_alone(&config);
}

/// A runner whose pre_build_script is the bare `eval "$(… pre-build)"` of earlier releases:
/// kept, and the line to replace it with is printed; doctor says what it misses.
#[test]
fn a_pre_build_line_without_the_check_is_kept_and_its_replacement_printed() {
    let t = TestEnv::new("install-old-line");
    let original = format!(
        "[[runners]]\n  name = \"old\"\n  executor = \"docker\"\n  pre_build_script = 'eval \"$({JOB} pre-build)\"'\n  post_build_script = '{JOB} post-build'\n"
    );
    let config = config_file(&t, &original);
    let out = install(&t, &config, &[]).success();
    out.stderr_has("line 4: runner \"old\" runs docker-credential-harbor pre-build without the check that reports a missing binary; replace that line with:")
        .stderr_has(&format!("\n  {}\n", our_lines(JOB)[0].trim_start()))
        .stdout_has("unchanged");
    assert!(!out.stdout.contains("already has"), "{}", out.stdout);
    assert_eq!(fs::read_to_string(&config).unwrap(), original);
    let mut cmd = t.command(BIN);
    cmd.args(["doctor", "--runner-config"])
        .arg(&config)
        .args(["--registry", "harbor.example.com"]);
    run(&mut cmd).success().stdout_has(
        "warn  hooks        runner old: pre_build_script runs docker-credential-harbor pre-build without the check that reports a missing binary",
    );
}

/// The allowlist of runners >= 19.4: its shape is unconfirmed and a key of the wrong type
/// stops the runner from loading config.toml, so install prints the line and never writes it,
/// and doctor calls a hand-written one present, never "allows".
#[test]
fn registry_prints_the_allowlist_and_never_writes_it() {
    let t = TestEnv::new("install-allowlist");
    let config = config_file(&t, SIMPLE);
    install(&t, &config, &["--registry", "\"; rm -rf /"])
        .failure()
        .stderr_has("--registry");
    assert_eq!(fs::read_to_string(&config).unwrap(), SIMPLE);

    // Printed canonical, as the runner matches image names: no scheme, no path, no :443.
    let out = install(
        &t,
        &config,
        &["--registry", "HTTPS://Harbor.example.com:443/"],
    )
    .success();
    out.stdout_has("added 2 hook line(s)")
        .stdout_has("allowed_docker_credential_helpers is not written")
        .stdout_has(
            "\n  allowed_docker_credential_helpers = { \"harbor.example.com\" = \"harbor\" }\n",
        )
        .stdout_has("gitlab-runner lint --config");
    assert!(!out.stdout.contains("runner log"), "{}", out.stdout);
    let text = fs::read_to_string(&config).unwrap();
    assert!(
        !text.contains("allowed_docker_credential_helpers"),
        "{text}"
    );
    assert_hooks_added(SIMPLE, &text, &[0], "\n");

    let doctor = |registry: &str| {
        let mut cmd = t.command(BIN);
        cmd.args(["doctor", "--runner-config"])
            .arg(&config)
            .args(["--registry", registry]);
        run(&mut cmd)
    };
    doctor("harbor.example.com")
        .success()
        .stdout_has("ok    hooks        runner docker: pre_build_script and post_build_script call docker-credential-harbor")
        .stdout_has("warn  allowlist    runner docker: no allowed_docker_credential_helpers");
    // The admin adds the printed line by hand.
    let with_allowlist = text.replacen(
        "[[runners]]\n",
        "[[runners]]\n  allowed_docker_credential_helpers = { \"harbor.example.com\" = \"harbor\" }\n",
        1,
    );
    fs::write(&config, &with_allowlist).unwrap();
    let out = doctor("harbor.example.com").success();
    out.stdout_has("info  allowlist    runner docker: allowed_docker_credential_helpers in [[runners]] names docker-credential-harbor for harbor.example.com: present, shape unverified");
    assert!(
        !out.stdout.contains("allows") && !out.stdout.contains("lets "),
        "{}",
        out.stdout
    );
    // Another port is another registry.
    doctor("harbor.example.com:8443")
        .success()
        .stdout_has("warn  allowlist    runner docker: allowed_docker_credential_helpers in [[runners]] does not name \"harbor.example.com:8443\"");
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

/// The `pre_build_script` README.md shows, as the job's shell runs it.
fn readme_pre_hook() -> String {
    let readme = fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    readme
        .lines()
        .find_map(|l| l.strip_prefix("pre_build_script"))
        .and_then(|l| l.split_once("= '"))
        .and_then(|(_, v)| v.strip_suffix('\''))
        .expect("README.md shows a pre_build_script")
        .to_owned()
}

/// Runs `pre_build_script` as the runner's job shell does (errexit, xtrace), then a build
/// step that leaves a mark.
fn hook_job(t: &TestEnv, shell: &str, hook: &str) -> Out {
    let script = format!(
        "set -e\nset -x\n{hook}\necho \"registry=${{HARBOR_REGISTRY-}}\"\ntouch \"$TMPDIR/built\"\n"
    );
    let file = t.path("tmp/job.sh");
    fs::write(&file, script).unwrap();
    let _ = fs::remove_file(t.path("tmp/built"));
    let mut words = shell.split(' ');
    let mut cmd = t.command(require(words.next().unwrap()));
    cmd.args(words).arg(&file);
    let out = run(&mut cmd);
    t.assert_clean(&out);
    out
}

/// With the binary missing (or crashing), `eval "$(… pre-build)"` evaluated nothing
/// and the job went on silently. The documented line says so in the job log, and fails the job
/// under strict, in dash, bash and busybox sh; with the binary there it behaves as before, and
/// under xtrace no secret shows.
#[test]
fn issue_16_the_hook_line_reports_a_missing_or_crashing_binary_and_strict_fails_the_job() {
    for shell in SHELLS {
        let mut t = TestEnv::new(&format!("install-hook-line-{}", shell.replace(' ', "-")));
        let h = start(&t, false);
        gitlab(&mut t, &h, "alice", &h.password("alice"), "proj");
        let hook = readme_pre_hook();
        let built = t.path("tmp/built");
        let said = "docker-credential-harbor pre-build failed (exit ";
        let present = t.var("PATH").unwrap();
        // No binary on PATH, then one that crashes (SIGSEGV).
        fs::create_dir_all(t.path("crash")).unwrap();
        write_mode(
            &t.path("crash/docker-credential-harbor"),
            "#!/bin/sh\nkill -SEGV $$\n",
            0o755,
        );
        let crash_path = format!("{}:/usr/bin:/bin", t.path("crash").display());
        for (what, path) in [
            ("absent", "/usr/bin:/bin".to_owned()),
            ("crashing", crash_path),
        ] {
            t.set("PATH", &path);
            t.unset("DOCKER_CREDENTIAL_HARBOR_VERIFY");
            let out = hook_job(&t, shell, &hook).success();
            out.stderr_has(said);
            assert!(
                built.exists(),
                "{shell}, {what}, warn: the job did not go on"
            );
            assert!(
                out.stdout.contains("registry=\n"),
                "{shell}: {}",
                out.stdout
            );
            t.set("DOCKER_CREDENTIAL_HARBOR_VERIFY", "strict");
            let out = hook_job(&t, shell, &hook).failure();
            out.stderr_has(said);
            assert!(!built.exists(), "{shell}, {what}, strict: the build ran");
        }
        t.set("PATH", &present);
        for verify in ["warn", "strict"] {
            t.set("DOCKER_CREDENTIAL_HARBOR_VERIFY", verify);
            let out = hook_job(&t, shell, &hook).success();
            assert!(
                !out.stderr.contains(said),
                "{shell}, {verify}: {}",
                out.stderr
            );
            assert!(
                out.stdout.contains(&format!("registry={}\n", h.addr())),
                "{shell}, {verify}: {}",
                out.stdout
            );
            assert!(built.exists());
        }
        // strict with credentials that cannot push: pre-build's own verdict fails the job,
        // and the line adds no second message.
        gitlab(&mut t, &h, "gary", &h.password("gary"), "proj");
        let out = hook_job(&t, shell, &hook).failure();
        out.stderr_has("strict: failing the job");
        assert!(!out.stderr.contains(said), "{shell}: {}", out.stderr);
        assert!(!built.exists());
    }
}

/// The hook line every document shows is the one install writes.
#[test]
fn the_documented_hook_lines_are_the_ones_install_writes() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut seen = 0;
    for doc in ["README.md", "docs/gitlab-runner.md", "docs/install.md"] {
        let text = fs::read_to_string(root.join(doc)).unwrap();
        for line in text.lines().filter(|l| l.contains("pre_build_script")) {
            let Some(value) = line
                .split_once("= '")
                .and_then(|(_, v)| v.strip_suffix('\''))
            else {
                continue;
            };
            let path = value
                .strip_prefix("eval \"$(")
                .and_then(|v| v.split_once(" pre-build"))
                .map(|(p, _)| p)
                .unwrap_or_else(|| panic!("{doc}: {line}"));
            assert_eq!(value, pre_hook(path), "{doc}");
            seen += 1;
        }
    }
    assert!(seen >= 4, "{seen}");
}
