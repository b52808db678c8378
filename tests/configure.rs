//! `configure` outside CI: credHelpers entries for docker, the containers tools, helm and
//! kaniko, merged into the user's files; `--migrate` moves `docker login`'s plaintext entries
//! into the helper's store, after which the real docker CLI still authenticates.

use std::fs;

use crate::util::registry::TestRegistry;
use crate::util::{TestEnv, mode, require, run, run_with_stdin, write_mode};

fn json(path: &std::path::Path) -> serde_json::Value {
    serde_json::from_str(&fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn configure_points_every_client_at_the_helper_and_keeps_the_rest() {
    let mut t = TestEnv::new("configure-all");
    t.set("DOCKER_CREDENTIAL_HARBOR_KANIKO_DIR", t.path("kaniko"));
    fs::create_dir_all(t.path("kaniko")).unwrap();
    let docker = t.path("home/.docker/config.json");
    write_mode(
        &docker,
        r#"{"auths":{},"credHelpers":{"harbor.example.net":"desktop"},"psFormat":"x"}"#,
        0o640,
    );
    let out = t
        .helper(
            &[
                "configure",
                "harbor.example.net:8443",
                "https://Harbor.Example.net/",
            ],
            b"",
        )
        .success();
    assert!(
        out.stdout
            .contains("harbor.example.net:8443 -> harbor (added)"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("harbor.example.net -> harbor (left as \"desktop\""),
        "{}",
        out.stdout
    );
    let d = json(&docker);
    assert_eq!(d["psFormat"], "x");
    assert_eq!(
        d["credHelpers"]["harbor.example.net"], "desktop",
        "another helper is never replaced"
    );
    assert_eq!(d["credHelpers"]["harbor.example.net:8443"], "harbor");
    assert_eq!(mode(&docker), 0o640);
    for file in [
        "home/.config/containers/auth.json",
        "home/.config/helm/registry/config.json",
        "kaniko/.docker/config.json",
    ] {
        let v = json(&t.path(file));
        assert_eq!(
            v["credHelpers"]["harbor.example.net:8443"], "harbor",
            "{file}"
        );
        assert_eq!(v["credHelpers"]["harbor.example.net"], "harbor", "{file}");
        assert!(!fs::read(t.path(file)).unwrap().starts_with(b"\xEF\xBB\xBF"));
    }
    let again = t
        .helper(&["configure", "--podman", "harbor.example.net:8443"], b"")
        .success();
    assert_eq!(again.stdout.lines().count(), 1);
    assert!(again.stdout.contains("(already set)"), "{}", again.stdout);
}

#[test]
fn configure_defaults_to_harbor_url_and_the_runner_config() {
    let mut t = TestEnv::new("configure-defaults");
    t.set("HARBOR_URL", "https://harbor.example.net:8443/");
    write_mode(
        &t.path("runner-config.json"),
        r#"{"registries":{"a.example.net":{"username":"u","password_env":"X"},
            "harbor.example.net:8443":{"username":"u","password_env":"X"},
            "pull.example.net":{"username":"u","password_env":"X"}}}"#,
        0o600,
    );
    let out = t.helper(&["configure", "--docker"], b"").success();
    // The registry both HARBOR_URL and the runner config name is configured once.
    assert_eq!(
        out.stdout
            .matches("harbor.example.net:8443 -> harbor")
            .count(),
        1,
        "{}",
        out.stdout
    );
    let d = json(&t.path("home/.docker/config.json"));
    assert_eq!(
        d["credHelpers"],
        serde_json::json!({"harbor.example.net:8443": "harbor", "a.example.net": "harbor", "pull.example.net": "harbor"})
    );
    assert!(
        !t.path("home/.config").exists(),
        "--docker touches docker's config only"
    );
}

#[test]
fn configure_without_a_registry_says_what_to_do_and_refuses_broken_files() {
    let t = TestEnv::new("configure-nothing");
    let out = t.helper(&["configure"], b"").failure();
    out.stderr_has("no registry to configure")
        .stderr_has("HARBOR_URL");
    write_mode(&t.path("home/.docker/config.json"), "{\"auths\": {", 0o600);
    let out = t
        .helper(&["configure", "--docker", "h.example"], b"")
        .failure();
    out.stderr_has("left untouched");
    assert_eq!(
        fs::read_to_string(t.path("home/.docker/config.json")).unwrap(),
        "{\"auths\": {"
    );
    let out = t.helper(&["configure", "--bogus"], b"").failure();
    out.stderr_has("unknown option");
}

#[test]
fn migrate_moves_docker_logins_into_the_store_and_docker_still_authenticates() {
    let mut t = TestEnv::new("configure-migrate");
    let password = "migr8-Pa$$w0rd";
    t.secret(password).secret(&format!("mover:{password}"));
    let reg = TestRegistry::start(&t, &[("mover", password)]);
    fs::create_dir_all(t.path("home/.docker")).unwrap();
    t.set(
        "DOCKER_HOST",
        format!("unix://{}/no-daemon.sock", t.dir.display()),
    );
    let docker = require("docker");
    // A plain `docker login`, without any helper: the password lands base64-encoded in
    // config.json. PATH holds docker alone, so it cannot pick a platform default store.
    fs::create_dir_all(t.path("docker-only")).unwrap();
    std::os::unix::fs::symlink(&docker, t.path("docker-only/docker")).unwrap();
    let out = run_with_stdin(
        t.command(&docker).env("PATH", t.path("docker-only")).args([
            "login",
            "-u",
            "mover",
            "--password-stdin",
            &reg.addr,
        ]),
        password.as_bytes(),
    );
    assert!(out.ok(), "{out:?}");
    let config = t.path("home/.docker/config.json");
    assert!(
        fs::read_to_string(&config)
            .unwrap()
            .contains(&crate::util::base64(format!("mover:{password}").as_bytes()))
    );
    // A second entry for another registry, with username/password fields.
    let mut v = json(&config);
    v["auths"]["other.example:5000"] = serde_json::json!({"username": "o", "password": "other-pw"});
    v["auths"]["empty.example"] = serde_json::json!({});
    fs::write(&config, serde_json::to_string(&v).unwrap()).unwrap();
    t.secret("other-pw");

    let out = t
        .helper(&["configure", "--docker", "--migrate"], b"")
        .success();
    t.assert_clean(&out);
    out.stdout_has(&format!(
        "{} (user mover) moved to the helper's store",
        reg.addr
    ));
    out.stdout_has("other.example:5000 (user o) moved");
    let after = json(&config);
    assert_eq!(
        after["auths"][&reg.addr],
        serde_json::json!({}),
        "docker's marker stays, the secret goes"
    );
    assert_eq!(after["credHelpers"][&reg.addr], "harbor");
    assert_eq!(after["auths"]["empty.example"], serde_json::json!({}));
    t.scan_files(&[&t.store_path()]);
    assert_eq!(mode(&t.store_path()), 0o600);

    // The real docker CLI now gets the credentials from the helper's store.
    t.make_image();
    let mut copy = t.command(require("skopeo"));
    copy.args(["copy", "--format", "v2s2", "--dest-cert-dir"])
        .arg(&reg.cert_dir)
        .arg(format!("oci:{}:v1", t.path("img").display()))
        .arg(format!("docker://{}/lib/app:v1", reg.addr));
    // skopeo reads docker's config.json too (credHelpers included).
    let out = run(&mut copy);
    t.assert_clean(&out);
    assert!(out.ok(), "{out:?}");
    let out =
        run(t
            .command(&docker)
            .args(["manifest", "inspect", &format!("{}/lib/app:v1", reg.addr)]));
    t.assert_clean(&out);
    assert!(out.ok(), "{out:?}");
}

/// An `auths` entry as `docker login` writes it.
fn login(user: &str, password: &str) -> serde_json::Value {
    serde_json::json!({ "auth": crate::util::base64(format!("{user}:{password}").as_bytes()) })
}

#[test]
fn issue_16_5_migrate_moves_no_login_over_another() {
    let mut t = TestEnv::new("configure-migrate-conflict");
    for (user, password) in [
        ("alice", "pw-alice-16"),
        ("bob", "pw-bob-16"),
        ("carol", "pw-carol-16"),
        ("dave", "pw-dave-16"),
        ("erin", "pw-erin-16"),
        ("frank", "pw-frank-16"),
    ] {
        t.secret(password).secret(&crate::util::base64(
            format!("{user}:{password}").as_bytes(),
        ));
    }
    t.store("taken.example", "erin", "pw-erin-16").success();
    t.store("kept.example", "frank", "pw-frank-16").success();
    let config = t.path("home/.docker/config.json");
    let before = serde_json::json!({"auths": {
        // One registry, two spellings, two different logins: a conflict.
        "harbor.example.com": login("alice", "pw-alice-16"),
        "https://harbor.example.com/": login("bob", "pw-bob-16"),
        // One registry, two spellings, one login: moved once.
        "same.example": login("carol", "pw-carol-16"),
        "https://same.example/": {"username": "carol", "password": "pw-carol-16"},
        // The store holds another login for it: a conflict.
        "taken.example": login("dave", "pw-dave-16"),
        // The store holds this very login: nothing to move.
        "kept.example": login("frank", "pw-frank-16"),
    }});
    write_mode(&config, &before.to_string(), 0o600);

    let out = t
        .helper(&["configure", "--docker", "--migrate"], b"")
        .failure();
    t.assert_clean(&out);
    let moved: Vec<&str> = out.stdout.lines().filter(|l| l.contains("moved")).collect();
    assert_eq!(moved.len(), 1, "{}", out.stdout);
    assert!(
        moved[0].contains("same.example (user carol) moved to the helper's store"),
        "{}",
        moved[0]
    );
    out.stdout_has("kept.example (user frank) is already in the helper's store");
    out.stderr_has("harbor.example.com: 2 entries hold different logins (users alice, bob)")
        .stderr_has(
            "taken.example: the helper's store already holds another login for it (user erin)",
        )
        .stderr_has("left in place");

    let after = json(&config);
    for key in [
        "harbor.example.com",
        "https://harbor.example.com/",
        "taken.example",
    ] {
        assert_eq!(after["auths"][key], before["auths"][key], "{key}");
        assert!(after["credHelpers"].get(key).is_none(), "{key}");
    }
    for key in ["same.example", "https://same.example/", "kept.example"] {
        assert_eq!(after["auths"][key], serde_json::json!({}), "{key}");
        assert_eq!(after["credHelpers"][key], "harbor", "{key}");
    }
    let get = |registry: &str| t.helper(&["get"], registry.as_bytes()).stdout;
    assert_eq!(
        get("harbor.example.com"),
        "credentials not found in native keychain\n"
    );
    for (registry, user, password) in [
        ("same.example", "carol", "pw-carol-16"),
        ("taken.example", "erin", "pw-erin-16"),
        ("kept.example", "frank", "pw-frank-16"),
    ] {
        assert_eq!(
            get(registry),
            crate::util::get_answer(registry, user, password),
            "{registry}"
        );
    }
}
