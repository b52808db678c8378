//! The static build (`scripts/build-static`) in places a CI job may put it: an empty root
//! holding only the binary and a CA file (as kaniko's FROM-scratch image is), with and without
//! HOME, with a read-only root, as an unprivileged user. `scripts/test` builds it and passes its
//! path in DOCKER_CREDENTIAL_HARBOR_STATIC_BIN; without that variable these tests say so and
//! return.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use harbor_double::{Config, Harbor};

use crate::util::{
    Out, TestEnv, in_private_mounts, is_root, require, run, run_with_stdin, store_json,
};

const STATIC_VAR: &str = "DOCKER_CREDENTIAL_HARBOR_STATIC_BIN";

/// The static binary, or `None` (with the reason on stderr) when this run cannot test it.
fn static_bin() -> Option<PathBuf> {
    let Some(bin) = std::env::var_os(STATIC_VAR).map(PathBuf::from) else {
        eprintln!(
            "skipped: {STATIC_VAR} is not set (scripts/test sets it from scripts/build-static)"
        );
        return None;
    };
    if !is_root() {
        eprintln!("skipped: chroot needs root");
        return None;
    }
    assert!(
        bin.is_file(),
        "{STATIC_VAR}={} is not a file",
        bin.display()
    );
    Some(bin)
}

/// An empty root: the binary at /docker-credential-harbor, the double's CA at /ca.pem, an
/// empty /home and /build.tmp. No /etc, no /tmp, no /dev, no /proc, no shell, no libc.
fn empty_root(t: &TestEnv, bin: &Path, h: &Harbor) -> PathBuf {
    let root = t.path("root");
    for d in ["home", "build.tmp"] {
        fs::create_dir_all(root.join(d)).unwrap();
    }
    fs::copy(bin, root.join("docker-credential-harbor")).unwrap();
    fs::copy(h.ca_file(), root.join("ca.pem")).unwrap();
    root
}

/// Runs the binary inside `root` with exactly `vars` as its environment.
fn inside(
    root: &Path,
    user: Option<&str>,
    vars: &[(&str, String)],
    args: &[&str],
    stdin: &[u8],
) -> Out {
    let mut cmd = Command::new(require("chroot"));
    cmd.env_clear();
    if let Some(u) = user {
        cmd.arg(format!("--userspec={u}"));
    }
    cmd.arg(root).arg("/docker-credential-harbor").args(args);
    for (k, v) in vars {
        cmd.env(k, v);
    }
    run_with_stdin(&mut cmd, stdin)
}

/// GitLab's variables for alice against the double at `host` (a name or an address).
fn alice(h: &Harbor, host: &str) -> Vec<(&'static str, String)> {
    vec![
        ("HARBOR_URL", format!("https://{host}:{}", h.port())),
        ("HARBOR_USERNAME", "alice".into()),
        ("HARBOR_PASSWORD", h.password("alice")),
        ("HARBOR_PROJECT", "proj".into()),
        ("DOCKER_CREDENTIAL_HARBOR_CA_FILE", "/ca.pem".into()),
    ]
}

#[test]
fn the_static_binary_needs_no_loader_and_no_library() {
    let Some(bin) = static_bin() else { return };
    crate::util::assert_static(&bin);
}

#[test]
fn in_an_empty_root_every_command_works_by_name_and_by_address() {
    let Some(bin) = static_bin() else { return };
    let mut t = TestEnv::new("static-empty-root");
    let h = Harbor::start(&t.path("harbor"), Config::default());
    t.secret(&h.password("alice"));
    let root = empty_root(&t, &bin, &h);
    let home = vec![("HOME", "/home".to_owned())];

    let out = inside(&root, None, &home, &["version"], b"").success();
    assert!(
        out.stdout
            .starts_with("docker-credential-harbor (docker-credential-harbor) ")
    );

    let env = alice(&h, "127.0.0.1");
    let out = inside(&root, None, &env, &["get"], h.addr().as_bytes()).success();
    assert!(out.stdout.contains("\"Username\":\"alice\""), "{out:?}");

    inside(
        &root,
        None,
        &home,
        &["store"],
        store_json("other.example:5000", "bob", "bob-pw").as_bytes(),
    )
    .success();
    let out = inside(&root, None, &home, &["get"], b"other.example:5000").success();
    assert_eq!(
        out.stdout,
        crate::util::get_answer("other.example:5000", "bob", "bob-pw")
    );
    assert_eq!(
        crate::util::mode(
            &root.join("home/.local/share/docker-credential-harbor/credentials.json")
        ),
        0o600
    );
    inside(&root, None, &home, &["erase"], b"other.example:5000").success();

    for host in ["localhost", "127.0.0.1"] {
        let mut env = alice(&h, host);
        env.push(("HOME", "/home".into()));
        let out = inside(&root, None, &env, &["doctor"], b"");
        t.assert_clean(&out);
        assert!(out.ok(), "doctor by {host}: {}", out.stdout);
        out.stdout_has(&format!(
            "ok    tls          TLS 1.3, certificate valid for {host}"
        ));

        env.push(("RUNNER_TEMP_PROJECT_DIR", "/build.tmp".into()));
        env.push(("CI", "true".into()));
        let out = inside(&root, None, &env, &["pre-build"], b"");
        t.assert_clean(&out);
        let out = out.success();
        out.stdout_has(&format!("export HARBOR_REGISTRY='{host}:{}'", h.port()))
            .stdout_has("export DOCKER_CONFIG='/build.tmp/docker-credential-harbor/docker'");
        out.stderr_has("credentials verified");
        inside(&root, None, &env, &["post-build"], b"").success();
        assert!(!root.join("build.tmp/docker-credential-harbor").exists());
    }
}

#[test]
fn with_no_ca_at_all_it_says_exactly_that() {
    let Some(bin) = static_bin() else { return };
    let t = TestEnv::new("static-no-ca");
    let h = Harbor::start(&t.path("harbor"), Config::default());
    let root = empty_root(&t, &bin, &h);
    let env: Vec<_> = alice(&h, "127.0.0.1")
        .into_iter()
        .filter(|(k, _)| *k != "DOCKER_CREDENTIAL_HARBOR_CA_FILE")
        .collect();
    let out = inside(&root, None, &env, &["doctor"], b"").failure();
    out.stdout_has(
        "FAIL  tls          no CA certificates to verify Harbor with: no system store was found",
    )
    .stdout_has("hint: set DOCKER_CREDENTIAL_HARBOR_CA_FILE");
    // kaniko's layout: a bundle in SSL_CERT_DIR.
    fs::create_dir_all(root.join("kaniko/ssl/certs")).unwrap();
    fs::copy(
        h.ca_file(),
        root.join("kaniko/ssl/certs/ca-certificates.crt"),
    )
    .unwrap();
    let mut env = env;
    env.push(("SSL_CERT_DIR", "/kaniko/ssl/certs".into()));
    inside(&root, None, &env, &["doctor"], b"")
        .success()
        .stdout_has("SSL_CERT_DIR=/kaniko/ssl/certs (1)");
}

#[test]
fn issue_9_12_without_a_resolver_no_public_one_is_asked() {
    let Some(bin) = static_bin() else { return };
    let t = TestEnv::new("static-no-resolver");
    let h = Harbor::start(&t.path("harbor"), Config::default());
    let root = empty_root(&t, &bin, &h);
    // No /etc/resolv.conf in the root: reqwest's own hickory glue would ask Google instead.
    let mut env = alice(&h, "harbor.example.test");
    env.push(("HOME", "/home".into()));
    for args in [&["doctor"][..], &["pre-build"][..]] {
        let mut cmd = Command::new(require("strace"));
        cmd.env_clear()
            .args(["-f", "-qq", "-e", "trace=connect,sendto,sendmsg,sendmmsg"])
            .arg(require("chroot"))
            .arg(&root)
            .arg("/docker-credential-harbor")
            .args(args);
        for (k, v) in &env {
            cmd.env(k, v);
        }
        let out = run(&mut cmd);
        let said = format!("{}{}", out.stdout, out.stderr);
        assert!(
            said.contains("no usable DNS configuration"),
            "{args:?}: {said}"
        );
        assert!(
            !out.stderr.contains("htons(53)"),
            "{args:?} sent a DNS query: {}",
            out.stderr
        );
    }
}

#[test]
fn without_home_read_only_or_unprivileged_it_falls_back_or_says_what_it_needs() {
    let Some(bin) = static_bin() else { return };
    let t = TestEnv::new("static-homes");
    let h = Harbor::start(&t.path("harbor"), Config::default());
    let root = empty_root(&t, &bin, &h);

    // HOME unset: the environment still serves, the store asks for what it needs.
    let env = alice(&h, "127.0.0.1");
    inside(&root, None, &env, &["get"], h.addr().as_bytes()).success();
    let out = inside(
        &root,
        None,
        &[],
        &["store"],
        store_json("x.example", "u", "p").as_bytes(),
    )
    .failure();
    out.stdout_has("HOME is not set")
        .stdout_has("DOCKER_CREDENTIAL_HARBOR_STORE");
    let mut job = env.clone();
    job.push(("RUNNER_TEMP_PROJECT_DIR", "/build.tmp".into()));
    inside(&root, None, &job, &["pre-build"], b"")
        .success()
        .stderr_has("credentials verified");
    inside(&root, None, &job, &["post-build"], b"").success();

    // HOME=/ on a read-only root: clear messages, the job goes on, nothing written.
    let ro = t.path("ro");
    fs::create_dir_all(&ro).unwrap();
    let script = format!(
        "mount --bind {root} {ro} && mount -o remount,ro,bind {ro} || exit 99\n\
         printf '%s' '{store}' | env -i HOME=/ {chroot} {ro} /docker-credential-harbor store; echo \"store=$?\"\n",
        chroot = require("chroot").display(),
        root = root.display(),
        ro = ro.display(),
        store = store_json("x.example", "u", "p").trim(),
    );
    let out = in_private_mounts(Command::new(require("unshare")), &script);
    assert!(
        out.stdout.contains("Read-only file system") && out.stdout.contains("store=1"),
        "{out:?}"
    );
    let pre = format!(
        "mount --bind {root} {ro}\nmount -o remount,ro,bind {ro}\n\
         HOME=/ chroot {ro} /docker-credential-harbor pre-build; echo \"pre-build=$?\"\n",
        root = root.display(),
        ro = ro.display()
    );
    // The job's variables reach the hook through the environment, as in a job.
    let mut unshare = Command::new(require("unshare"));
    unshare
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .envs(job.iter().map(|(k, v)| (*k, v.as_str())));
    let out = in_private_mounts(unshare, &pre);
    assert!(out.stdout.contains("pre-build=0"), "{out:?}");
    assert!(
        out.stdout.contains("export HARBOR_REGISTRY="),
        "the exports still come: {out:?}"
    );
    assert!(
        out.stderr.contains("Read-only file system"),
        "and it says why nothing was written: {out:?}"
    );

    // An unprivileged user with a HOME of its own.
    std::os::unix::fs::chown(root.join("home"), Some(65534), Some(65534)).unwrap();
    let home = vec![("HOME", "/home".to_owned())];
    inside(
        &root,
        Some("65534:65534"),
        &home,
        &["store"],
        store_json("y.example", "u", "pw").as_bytes(),
    )
    .success();
    inside(&root, Some("65534:65534"), &home, &["get"], b"y.example")
        .success()
        .stdout_has("\"Username\":\"u\"");
    let mut env = alice(&h, "localhost");
    env.push(("HOME", "/home".into()));
    inside(&root, Some("65534:65534"), &env, &["doctor"], b"").success();
}
