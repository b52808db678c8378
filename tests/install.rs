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
