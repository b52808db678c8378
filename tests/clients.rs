//! Real clients against a real distribution registry (TLS, htpasswd) on 127.0.0.1, through
//! the helper: skopeo and podman/buildah via auth.json `credHelpers`, the docker CLI via
//! config.json `credHelpers` (login, manifest inspect, logout, all without a daemon), with
//! negative controls that show the same requests refused without the helper.

use std::fs;

use crate::util::registry::TestRegistry;
use crate::util::{Out, TestEnv, is_root, require, run};

const USER: &str = "robot$proj+ci";
/// A robot-style secret with the characters that break hand-written shell and JSON.
const PASSWORD: &str = "Pa$$w0rd\"'`\\ä+/=";

/// A test with a registry that knows `USER`/`PASSWORD`, a one-layer image at `img/`, and
/// containers-tools configuration confined to the test directory.
fn setup(name: &str) -> (TestEnv, TestRegistry) {
    let mut t = TestEnv::new(name);
    t.secret(PASSWORD);
    t.secret(&format!("{USER}:{PASSWORD}"));
    let reg = TestRegistry::start(&t, &[(USER, PASSWORD)]);
    t.make_image();
    t.containers_env();
    let d = t.dir.clone();
    t.set("REGISTRY_AUTH_FILE", d.join("auth.json"))
        .set("DOCKER_CONFIG", d.join("docker"));
    fs::create_dir_all(d.join("docker")).unwrap();
    (t, reg)
}

/// `{"credHelpers":{"<registry>":"harbor"}}`, the line a user (or `configure`) adds.
fn cred_helpers(reg: &TestRegistry) -> String {
    format!("{{\"credHelpers\":{{\"{}\":\"harbor\"}}}}\n", reg.addr)
}

/// Pushes the test image as `proj/app:v1` with credentials from the GitLab variables.
fn push_image(t: &TestEnv, reg: &TestRegistry) {
    fs::write(t.path("push-auth.json"), cred_helpers(reg)).unwrap();
    let mut cmd = t.command(require("skopeo"));
    cmd.env("HARBOR_URL", format!("https://{}", reg.addr))
        .env("HARBOR_USERNAME", "robot$$proj+ci")
        .env("HARBOR_PASSWORD", PASSWORD)
        .arg("copy")
        .args(["--format", "v2s2", "--dest-authfile"])
        .arg(t.path("push-auth.json"))
        .arg("--dest-cert-dir")
        .arg(&reg.cert_dir)
        .arg(format!("oci:{}:v1", t.path("img").display()))
        .arg(format!("docker://{}/proj/app:v1", reg.addr));
    t.run_clean(&mut cmd, b"").success();
}

fn skopeo_inspect(t: &TestEnv, reg: &TestRegistry, extra: &[&str]) -> Out {
    let mut cmd = t.command(require("skopeo"));
    cmd.args(extra)
        .arg("inspect")
        .arg("--cert-dir")
        .arg(&reg.cert_dir)
        .arg(format!("docker://{}/proj/app:v1", reg.addr));
    t.run_clean(&mut cmd, b"")
}

#[test]
fn skopeo_copies_and_inspects_with_gitlab_variables_through_cred_helpers() {
    let (mut t, reg) = setup("skopeo-env");
    push_image(&t, &reg);
    // Negative control: the same inspect with no helper is refused.
    fs::write(t.path("auth.json"), "{}\n").unwrap();
    let out = skopeo_inspect(&t, &reg, &[]).failure();
    assert!(
        out.stderr.contains("authentication required") || out.stderr.contains("unauthorized"),
        "{}",
        out.stderr
    );
    // auth.json credHelpers (REGISTRY_AUTH_FILE) and the integration's variables: it works.
    t.harbor_env(
        &format!("https://{}/", reg.addr),
        "robot$$proj+ci",
        PASSWORD,
    );
    assert!(
        !skopeo_inspect(&t, &reg, &[]).ok(),
        "variables alone are not enough without the helper"
    );
    fs::write(t.path("auth.json"), cred_helpers(&reg)).unwrap();
    let out = skopeo_inspect(&t, &reg, &[]).success();
    assert!(
        out.stdout.contains("\"Architecture\": \"amd64\""),
        "{}",
        out.stdout
    );
    // registries.conf `credential-helpers`, the other containers-tools route.
    fs::write(t.path("auth.json"), "{}\n").unwrap();
    fs::write(
        t.path("registries-helper.conf"),
        "unqualified-search-registries = []\ncredential-helpers = [\"harbor\"]\n",
    )
    .unwrap();
    let conf = t.path("registries-helper.conf").display().to_string();
    skopeo_inspect(&t, &reg, &["--registries-conf", &conf]).success();
    // A wrong password from the environment is refused by the registry, not masked by us.
    t.set("HARBOR_PASSWORD", "wrong-password");
    fs::write(t.path("auth.json"), cred_helpers(&reg)).unwrap();
    skopeo_inspect(&t, &reg, &[]).failure();
    assert!(
        !t.store_path().exists(),
        "serving from the environment writes nothing"
    );
    t.scan_files(&[]);
}

#[test]
fn docker_login_stores_through_the_helper_manifest_inspect_uses_it_and_logout_erases() {
    let (t, reg) = setup("docker-cli");
    push_image(&t, &reg);
    fs::write(t.path("docker/config.json"), cred_helpers(&reg)).unwrap();
    let docker = require("docker");
    let image = format!("{}/proj/app:v1", reg.addr);

    let inspect = || {
        t.run_clean(
            t.command(&docker).args(["manifest", "inspect", &image]),
            b"",
        )
    };

    // Negative control: no credentials yet.
    inspect().failure();

    let login = ["login", "-u", USER, "--password-stdin", &reg.addr];
    let out = t
        .run_clean(t.command(&docker).args(login), PASSWORD.as_bytes())
        .success();
    assert!(!out.stderr.contains("stored unencrypted"), "{}", out.stderr);
    let stored = t.helper(&["get"], reg.addr.as_bytes()).success();
    assert_eq!(
        stored.stdout,
        crate::util::get_answer(&reg.addr, USER, PASSWORD)
    );
    // docker keeps only an empty marker; the password is in the helper's 0600 store alone.
    let config: serde_json::Value =
        serde_json::from_slice(&fs::read(t.path("docker/config.json")).unwrap()).unwrap();
    assert_eq!(config["credHelpers"][&reg.addr], "harbor");
    t.scan_files(&[&t.store_path()]);
    assert_eq!(crate::util::mode(&t.store_path()), 0o600);

    let out = inspect().success();
    assert!(
        out.stdout.contains("\"schemaVersion\": 2"),
        "{}",
        out.stdout
    );

    t.run_clean(t.command(&docker).args(["logout", &reg.addr]), b"")
        .success();
    assert_eq!(
        t.helper(&["get"], reg.addr.as_bytes()).stdout,
        "credentials not found in native keychain\n"
    );
    inspect().failure();
}

#[test]
fn podman_login_and_logout_store_and_erase_through_the_helper() {
    if !is_root() {
        eprintln!("skipped: podman runs rootful here (rootless needs subuid setup)");
        return;
    }
    let (t, reg) = setup("podman");
    push_image(&t, &reg);
    fs::write(t.path("auth.json"), cred_helpers(&reg)).unwrap();
    let podman = require("podman");
    let cert_dir = reg.cert_dir.display().to_string();
    let image = format!("{}/proj/app:v1", reg.addr);
    let pull = || {
        t.run_clean(
            t.command(&podman)
                .args(["pull", "-q", "--cert-dir", &cert_dir, &image]),
            b"",
        )
    };

    pull().failure();
    let login = [
        "login",
        "--cert-dir",
        &cert_dir,
        "-u",
        USER,
        "--password-stdin",
        &reg.addr,
    ];
    t.run_clean(t.command(&podman).args(login), PASSWORD.as_bytes())
        .success();
    assert_eq!(
        t.helper(&["get"], reg.addr.as_bytes()).success().stdout,
        crate::util::get_answer(&reg.addr, USER, PASSWORD)
    );
    let auth: serde_json::Value =
        serde_json::from_slice(&fs::read(t.path("auth.json")).unwrap()).unwrap();
    assert!(
        auth.get("auths").is_none_or(|a| a.get(&reg.addr).is_none()),
        "podman wrote the password itself: {auth}"
    );
    pull().success();

    t.run_clean(t.command(&podman).args(["logout", &reg.addr]), b"")
        .success();
    assert_eq!(
        t.helper(&["get"], reg.addr.as_bytes()).stdout,
        "credentials not found in native keychain\n"
    );
    t.scan_files(&[&t.store_path()]);
}

#[test]
fn buildah_pulls_and_pushes_with_gitlab_variables() {
    if !is_root() {
        eprintln!("skipped: buildah runs rootful here (rootless needs subuid setup)");
        return;
    }
    let (mut t, reg) = setup("buildah");
    push_image(&t, &reg);
    fs::write(t.path("auth.json"), cred_helpers(&reg)).unwrap();
    t.harbor_env(&format!("https://{}", reg.addr), "robot$$proj+ci", PASSWORD);
    let buildah = require("buildah");
    let cert_dir = reg.cert_dir.display().to_string();
    let src = format!("{}/proj/app:v1", reg.addr);
    t.run_clean(
        t.command(&buildah)
            .args(["pull", "-q", "--cert-dir", &cert_dir, &src]),
        b"",
    )
    .success();
    let dest = format!("docker://{}/proj/app:buildah", reg.addr);
    t.run_clean(
        t.command(&buildah)
            .args(["push", "-q", "--cert-dir", &cert_dir, &src, &dest]),
        b"",
    )
    .success();
    // What buildah pushed is there, read back through the helper.
    let mut cmd = t.command(require("skopeo"));
    cmd.args([
        "inspect",
        "--cert-dir",
        &cert_dir,
        &format!("docker://{}/proj/app:buildah", reg.addr),
    ]);
    run(&mut cmd).success();
    t.scan_files(&[]);
}
