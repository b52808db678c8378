//! `kubelet-credential-provider` end to end: the provider binary run exactly as the kubelet
//! runs it (`args: ["kubelet-credential-provider"]`, the v1 request on stdin as the kubelet
//! encodes it, an environment of the CredentialProviderConfig's `env` entries alone) against a
//! real `harbor-broker` process with `[kubernetes]` (the Kubernetes issuer double found by
//! discovery, its CA) and the Harbor double with its real registry; the credentials it answers
//! are then used by skopeo, through a 0600 `--authfile`, never argv. Every refusal is the real
//! broker's own. The robots' sweep is the broker library's, driven with a clock past their
//! expiry (the process's sweeper waits `ttl_seconds`). No output may show a service-account
//! token, a robot's secret or a password.
//! The rig runs the `harbor-broker` beside the helper in the target directory: `cargo test
//! --workspace` builds it; with `--test tests` alone, run `cargo build -p harbor-broker` first.

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use harbor_broker::robots::Robots as _;
use harbor_double::PodClaims;
use serde_json::{Value, json};

use crate::util::kubelet::{assert_refused, go_seconds, now, request};
use crate::util::{BIN, Out, TestEnv, base64, require, run_with_stdin};

use crate::util::rig::{Broker, Rig};

/// The image every test pulls, pushed by the project member `alice` at the start.
const IMAGE: &str = "proj/hello:v1";

/// A rig with the registry, a broker granting pull on `proj` to every service account of
/// namespace `ci`, the test image pushed, and a test directory confined for skopeo.
fn setup(name: &str) -> (TestEnv, Rig, Broker) {
    setup_with(name, &[])
}

/// [`setup`], with these other private projects in Harbor, each granted to namespace `ci`
/// too and holding the test image (pushed by the admin).
fn setup_with(name: &str, others: &[&str]) -> (TestEnv, Rig, Broker) {
    let rig = Rig::with_kubernetes(true);
    let mut config = rig.admin_config();
    let mut rules = vec![("ci", None, "proj")];
    for other in others {
        rig.harbor.add_project(other, false);
        rules.push(("ci", None, other));
    }
    config.kubernetes = Some(rig.kubernetes_config(&rules));
    let broker = rig.broker("k", &config);
    let mut t = TestEnv::new(name);
    t.secret(&rig.harbor.password("admin"))
        .secret(&rig.harbor.password("alice"));
    t.containers_env();
    t.make_image();
    let certs = t.path("certs");
    fs::create_dir_all(&certs).unwrap();
    fs::copy(rig.harbor.ca_file(), certs.join("ca.crt")).unwrap();
    push_as(&t, &rig, "alice", IMAGE);
    for other in others {
        push_as(&t, &rig, "admin", &IMAGE.replacen("proj", other, 1));
    }
    (t, rig, broker)
}

/// `user` pushes the test image as `path` (in Harbor), through a 0600 auth file it deletes.
fn push_as(t: &TestEnv, rig: &Rig, user: &str, path: &str) {
    let auth = authfile(
        t,
        &format!("{user}-auth.json"),
        &rig.harbor.addr(),
        user,
        &rig.harbor.password(user),
    );
    let out = skopeo(
        t,
        &[
            "copy",
            "--format",
            "v2s2",
            "--dest-authfile",
            &auth,
            "--dest-cert-dir",
            &t.path("certs").display().to_string(),
            &format!("oci:{}:v1", t.path("img").display()),
            &format!("docker://{}", rig.image(path)),
        ],
    );
    assert_eq!(out.code, Some(0), "{user} pushes {path}: {out:?}");
    fs::remove_file(&auth).unwrap();
}

/// A containers auth file (0600 from its creation) holding `user`'s credentials for `key`.
fn authfile(t: &TestEnv, name: &str, key: &str, user: &str, password: &str) -> String {
    let path = t.path(name);
    let _ = fs::remove_file(&path);
    let auth = base64(format!("{user}:{password}").as_bytes());
    write_secret(&path, &json!({"auths": {key: {"auth": auth}}}));
    path.display().to_string()
}

/// Writes `value` to a new file that is 0600 from its creation (it holds a secret).
fn write_secret(path: &Path, value: &Value) {
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut f| f.write_all(value.to_string().as_bytes()))
        .unwrap();
}

/// Runs skopeo in the test's confined environment; fails on a registered secret in its output.
fn skopeo(t: &TestEnv, args: &[&str]) -> Out {
    t.run_clean(t.command(require("skopeo")).args(args), b"")
}

/// skopeo pulls `image` with the credentials of `auth`.
fn pull(t: &TestEnv, auth: &str, image: &str, into: &str) -> Out {
    skopeo(
        t,
        &[
            "copy",
            "--src-authfile",
            auth,
            "--src-cert-dir",
            &t.path("certs").display().to_string(),
            &format!("docker://{image}"),
            &format!("oci:{}:v1", t.path(into).display()),
        ],
    )
}

/// Runs the provider as the kubelet does: the request on stdin, exactly `env`, and fails on a
/// registered secret on stdout or stderr (stdout is checked by the caller: it holds a robot).
fn provider(t: &TestEnv, env: &[(&str, String)], stdin: &str) -> Out {
    let mut cmd = std::process::Command::new(BIN);
    cmd.env_clear()
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .current_dir(&t.dir)
        .arg("kubelet-credential-provider");
    let out = run_with_stdin(&mut cmd, stdin.as_bytes());
    t.assert_clean(&Out {
        code: out.code,
        stdout: String::new(),
        stderr: out.stderr.clone(),
    });
    out
}

/// The CredentialProviderConfig's `env` for federated mode against `broker`.
fn federated_env(rig: &Rig, broker: &Broker) -> Vec<(&'static str, String)> {
    vec![
        ("DOCKER_CREDENTIAL_HARBOR_BROKER", broker.url.clone()),
        ("HARBOR_URL", rig.harbor.url()),
        (
            "DOCKER_CREDENTIAL_HARBOR_CA_FILE",
            rig.harbor.ca_file().display().to_string(),
        ),
    ]
}

/// The one (username, password) of a successful answer, under `key`; registers the password.
fn answered(t: &mut TestEnv, out: &Out, key: &str) -> (Value, String, String) {
    let (answer, mut robots) = answered_keys(t, out, &[key]);
    let (user, password) = robots.remove(0);
    (answer, user, password)
}

/// The (username, password) under each of `keys`, the answer's only keys, in sorted order;
/// registers the passwords.
fn answered_keys(t: &mut TestEnv, out: &Out, keys: &[&str]) -> (Value, Vec<(String, String)>) {
    assert_eq!((out.code, out.stderr.as_str()), (Some(0), ""), "{out:?}");
    let answer: Value = serde_json::from_str(&out.stdout).unwrap();
    let auth = answer["auth"].as_object().unwrap();
    assert_eq!(auth.keys().collect::<Vec<_>>(), keys, "{}", out.stdout);
    let robots = keys
        .iter()
        .map(|key| {
            let user = auth[*key]["username"].as_str().unwrap().to_owned();
            let password = auth[*key]["password"].as_str().unwrap().to_owned();
            t.secret(&password);
            (user, password)
        })
        .collect();
    (answer, robots)
}

#[test]
fn a_pods_token_gets_pull_only_robots_for_each_granted_project_and_skopeo_pulls_with_them() {
    let (mut t, rig, broker) = setup_with("kubelet-e2e-federated", &["tools"]);
    let env = federated_env(&rig, &broker);
    let pod = PodClaims::default();
    let token = rig.sa_token(&pod);
    t.secret(&token);
    let image = rig.image(IMAGE);
    let asked = now();
    let out = provider(&t, &env, &request(&image, Some(&token)));
    let key = format!("{}/proj", rig.harbor.addr());
    let tools_key = format!("{}/tools", rig.harbor.addr());
    let (answer, mut robots) = answered_keys(&mut t, &out, &[&key, &tools_key]);
    let (tools_user, tools_password) = robots.pop().unwrap();
    let (user, password) = robots.pop().unwrap();
    assert!(tools_user.starts_with("robot$tools+hk-"), "{tools_user}");
    assert_eq!(answer["kind"], "CredentialProviderResponse");
    assert_eq!(answer["cacheKeyType"], "Registry", "{answer}");
    assert!(user.starts_with("robot$proj+hk-"), "{user}");

    // Harbor holds it: pull only, its description naming the pod's identity.
    let robot = rig
        .harbor
        .robots()
        .into_iter()
        .find(|r| r.name == user)
        .expect("the answer's robot is in Harbor");
    let actions: Vec<&str> = robot
        .permissions
        .iter()
        .flat_map(|(_, access)| access.iter().map(|(_, action)| action.as_str()))
        .collect();
    assert_eq!(actions, ["pull"], "{robot:?}");
    for part in [
        "Kubernetes service account ci/builder",
        "pod builder-0",
        "node node-1",
    ] {
        assert!(robot.description.contains(part), "{part}: {robot:?}");
    }
    // The kubelet's cache ends at least the 60 s margin before the robot does (its end is in
    // its name, `hk-<hash>-<expiry>-<nonce>`: Harbor's own expiry is whole days).
    let ends: i64 = user.split('-').nth(2).unwrap().parse().unwrap();
    let cache = go_seconds(answer["cacheDuration"].as_str().unwrap()) as i64;
    assert!(
        cache > 0 && cache <= ends - asked - 60,
        "cacheDuration {cache} s, robot ends in {} s",
        ends - asked
    );

    let auth = authfile(&t, "robot-auth.json", &key, &user, &password);
    pull(&t, &auth, &image, "pulled").success();
    assert!(t.path("pulled/index.json").is_file());

    // The kubelet serves a pod's image in the other project from the same cached answer:
    // that project's robot pulls it, and reaches nothing else.
    let tools_auth = authfile(
        &t,
        "tools-auth.json",
        &rig.harbor.addr(),
        &tools_user,
        &tools_password,
    );
    let tools_image = rig.image(&IMAGE.replacen("proj", "tools", 1));
    pull(&t, &tools_auth, &tools_image, "pulled-tools").success();
    let out = pull(&t, &tools_auth, &image, "not-pulled");
    assert_ne!(
        out.code,
        Some(0),
        "the tools robot pulled from proj: {out:?}"
    );

    // The registry refuses its push.
    rig.harbor.clear_requests();
    let push_auth = authfile(&t, "push-auth.json", &rig.harbor.addr(), &user, &password);
    let out = skopeo(
        &t,
        &[
            "copy",
            "--dest-authfile",
            &push_auth,
            "--dest-cert-dir",
            &t.path("certs").display().to_string(),
            &format!("oci:{}:v1", t.path("img").display()),
            &format!("docker://{}", rig.image("proj/pushed:v1")),
        ],
    );
    assert_ne!(out.code, Some(0), "a pull robot pushed: {out:?}");
    assert!(
        !rig.harbor
            .requests()
            .iter()
            .any(|r| r.path.contains("/proj/pushed/") && r.method != "GET" && r.status < 300),
        "{:?}",
        rig.harbor.requests()
    );

    let mint = broker
        .audit()
        .into_iter()
        .find(|l| l["outcome"] == "granted")
        .expect("the broker's audit line for the mint");
    let fields = [
        "namespace",
        "service_account",
        "pod",
        "node",
        "image",
        "robot",
    ]
    .map(|f| &mint[f]);
    let expected = ["ci", "builder", "builder-0", "node-1", &image, &user].map(Value::from);
    assert_eq!(fields, expected.each_ref(), "{mint}");
    assert_eq!(mint["other_robots"], json!([tools_user]), "{mint}");
    for secret in [&token, &password, &tools_password] {
        assert!(!broker.output().contains(secret.as_str()));
    }
    t.scan_files(&[
        Path::new(&auth),
        Path::new(&push_auth),
        Path::new(&tools_auth),
    ]);
}

#[test]
fn the_brokers_refusals_reach_the_kubelet_as_one_line_and_a_sweep_ends_the_robots() {
    let (mut t, rig, broker) = setup("kubelet-e2e-refusals");
    let env = federated_env(&rig, &broker);
    let image = rig.image(IMAGE);
    let issuer = rig.kubernetes();
    let pod = PodClaims::default();
    let cases = [
        (
            rig.sa_token(&PodClaims {
                namespace: "other".into(),
                ..PodClaims::default()
            }),
            "harbor-broker's policy refuses this service account: \"no [[kubernetes_rules]] entry matches service account other/builder",
        ),
        (
            issuer.token_with(&pod, json!({"aud": ["someone-else"]})),
            "harbor-broker refused the pod's service-account token: \"the token's aud does not include this broker's audience",
        ),
        (
            issuer.token(&PodClaims {
                lifetime: -3600,
                ..PodClaims::default()
            }),
            "harbor-broker refused the pod's service-account token: \"the token has expired",
        ),
        (
            issuer.foreign_token(&pod),
            "harbor-broker refused the pod's service-account token: \"the token's signing key (kid ",
        ),
    ];
    for (token, reason) in &cases {
        t.secret(token);
        assert_refused(&provider(&t, &env, &request(&image, Some(token))), reason);
    }
    assert!(
        !rig.harbor.robots().iter().any(|r| r.name.contains("+hk-")),
        "no robot for a refused token"
    );

    // A fourth live robot for one service account is refused; another still gets one.
    let token = rig.sa_token(&pod);
    t.secret(&token);
    let key = format!("{}/proj", rig.harbor.addr());
    for _ in 0..3 {
        let out = provider(&t, &env, &request(&image, Some(&token)));
        answered(&mut t, &out, &key);
    }
    assert_refused(
        &provider(&t, &env, &request(&image, Some(&token))),
        "harbor-broker refused another robot for this service account: \"service account ci/builder already holds 3 live robots",
    );
    let other = rig.sa_token(&PodClaims {
        service_account: "tester".into(),
        pod: "tester-0".into(),
        ..PodClaims::default()
    });
    t.secret(&other);
    let out = provider(&t, &env, &request(&image, Some(&other)));
    answered(&mut t, &out, &key);
    let output = broker.output();
    for (token, _) in &cases {
        assert!(!output.contains(token.as_str()));
    }

    // Nothing releases them: a sweep past their expiry ends all four. The real sweeper waits
    // ttl_seconds (300 s at least), so this runs what its loop runs, `Robots::sweep`, on a
    // client made from the same [harbor] settings, with the clock moved past the ttl.
    let minted = || -> Vec<String> {
        let robots = rig.harbor.robots().into_iter().map(|r| r.name);
        robots.filter(|n| n.starts_with("robot$proj+hk-")).collect()
    };
    assert_eq!(minted().len(), 4, "{:?}", minted());
    let config = harbor_broker::config::Harbor {
        url: rig.harbor.url(),
        username: "admin".to_owned(),
        password_file: broker.dir.join("harbor-password"),
        ca_file: Some(rig.harbor.ca_file()),
    };
    let ttl = rig.admin_config().ttl_seconds;
    let robots =
        harbor_broker::harbor::connect_with(&config, ttl, Duration::from_secs(10)).unwrap();
    let projects = ["proj".to_owned()];
    let early = robots.sweep(&projects, now()).unwrap();
    assert_eq!(early.deleted, 0, "none has ended yet");
    let swept = robots.sweep(&projects, now() + ttl as i64 + 1).unwrap();
    assert_eq!((swept.deleted, swept.failed), (4, 0));
    assert!(minted().is_empty(), "{:?}", minted());
    t.scan_files(&[]);
}

/// The runner-side config (0600) the static mode reads, holding `user` for `registry`.
fn runner_side(t: &TestEnv, registry: &str, user: &str, password: &str) -> PathBuf {
    let path = t.path("runner-side.json");
    write_secret(
        &path,
        &json!({"registries": {registry: {"username": user, "password": password}}}),
    );
    path
}

#[test]
fn without_a_broker_the_runner_side_robot_is_answered_and_skopeo_pulls_with_it() {
    let (mut t, rig, _broker) = setup("kubelet-e2e-static");
    let robot = rig.harbor.add_robot("proj", "node-pull", &["pull"], -1);
    t.secret(&robot.secret);
    let addr = rig.harbor.addr();
    let config = runner_side(&t, &addr, &robot.name, &robot.secret);
    let env = [(
        "DOCKER_CREDENTIAL_HARBOR_CONFIG",
        config.display().to_string(),
    )];
    // A token in the request is ignored without the broker.
    let token = rig.sa_token(&PodClaims::default());
    t.secret(&token);
    let image = rig.image(IMAGE);
    let out = provider(&t, &env, &request(&image, Some(&token)));
    let (answer, user, password) = answered(&mut t, &out, &addr);
    assert_eq!(answer["cacheKeyType"], "Registry", "{answer}");
    assert!(answer.get("cacheDuration").is_none(), "{answer}");
    assert_eq!(
        (user.as_str(), password.as_str()),
        (robot.name.as_str(), robot.secret.as_str())
    );
    let auth = authfile(&t, "static-auth.json", &addr, &user, &password);
    pull(&t, &auth, &image, "pulled").success();
    assert!(t.path("pulled/index.json").is_file());

    // An image on a registry the config does not list: no credentials, exit 0.
    let out = provider(
        &t,
        &env,
        &request("registry.example.org/proj/hello:v1", None),
    );
    assert_eq!((out.code, out.stderr.as_str()), (Some(0), ""), "{out:?}");
    let answer: Value = serde_json::from_str(&out.stdout).unwrap();
    assert!(
        answer.get("auth").is_none_or(|a| a == &json!({})),
        "{answer}"
    );
    t.scan_files(&[&config, Path::new(&auth)]);
}
