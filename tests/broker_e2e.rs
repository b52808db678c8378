//! The runner hooks against a real `harbor-broker` process (the broker's rig: the Harbor
//! double with its registry, the GitLab issuer double, the broker built beside the helper):
//! a job that holds only `DOCKER_CREDENTIAL_HARBOR_BROKER` and a signed `HARBOR_ID_TOKEN`
//! gets the broker's robot, pushes with it, and post-build deletes it from Harbor; every
//! refusal is the broker's own (403, 401, 429, 503), not a canned answer. What a real broker
//! never sends stays in tests/broker_hooks.rs, against the stand-in. No test may find the
//! minter's password, a robot's secret or the id_token in any output, or in any file after
//! the job (the shell's own environment dump, which holds the id_token, is checked by hand).
//! The rig runs the `harbor-broker` beside the helper in the target directory: `cargo test
//! --workspace` builds it; with `--test tests` alone, run `cargo build -p harbor-broker` first.

use std::fs;
use std::path::Path;

use harbor_double::{Fault, JobClaims};

use crate::util::jobs::{dump, gitlab, job, job_with_private_etc, trust_in_home};
use crate::util::{TestEnv, is_root};

use crate::util::rig::{Broker, Rig};

/// The job the tests run as: job 4242 on a protected branch of the rule's project 42.
fn claims() -> JobClaims {
    JobClaims {
        job_id: 4242,
        ..JobClaims::default()
    }
}

/// A job with no Harbor variable at all, only the runner's `DOCKER_CREDENTIAL_HARBOR_BROKER`
/// and the job's id_token, against a broker whose minter is the double's admin. The broker's
/// certificate is the double's, trusted through `SSL_CERT_FILE` (a CA file would be placed
/// in the host's /etc by a pre-build run as root).
fn broker_job(name: &str, registry: bool) -> (TestEnv, Rig, Broker, String) {
    let rig = Rig::start(registry);
    let broker = rig.broker("a", &rig.admin_config());
    let token = rig.token(&claims());
    let mut t = TestEnv::new(name);
    let build_tmp = t.path("build.tmp");
    fs::create_dir_all(&build_tmp).unwrap();
    t.set("CI", "true")
        .set("CI_JOB_ID", "4242")
        .set("RUNNER_TEMP_PROJECT_DIR", &build_tmp)
        .set("SSL_CERT_FILE", rig.harbor.ca_file())
        .set("DOCKER_CREDENTIAL_HARBOR_BROKER", &broker.url)
        .set("HARBOR_ID_TOKEN", &token)
        .secret(&token)
        .secret(&rig.harbor.password("admin"));
    trust_in_home(&t, &rig.harbor);
    (t, rig, broker, token)
}

/// The job's `get` answer for its registry, and the job shell's whole environment after the
/// eval, into files the test reads.
const SAVE: &str = "printf %s \"$HARBOR_REGISTRY\" | docker-credential-harbor get > \"$TMPDIR/get.json\"; env > \"$TMPDIR/env.out\"";

const VARS: [&str; 6] = [
    "HARBOR_URL",
    "HARBOR_HOST",
    "HARBOR_REGISTRY",
    "HARBOR_PROJECT",
    "HARBOR_USERNAME",
    "HARBOR_PASSWORD",
];

/// The robot the job was served (name, secret), registered as a secret from now on.
fn served(t: &mut TestEnv) -> (String, String) {
    let answer: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(t.path("tmp/get.json")).unwrap()).unwrap();
    let name = answer["Username"].as_str().unwrap().to_owned();
    let secret = answer["Secret"].as_str().unwrap().to_owned();
    assert!(!secret.is_empty());
    t.secret(&secret);
    (name, secret)
}

/// The job shell's environment after the eval holds no Harbor password and none of `secrets`
/// (the minter's password, the robot's secret, the integration's password).
fn assert_env_holds_no_secret(t: &TestEnv, secrets: &[&str]) {
    let env = fs::read_to_string(t.path("tmp/env.out")).unwrap();
    assert!(
        env.lines().any(|l| l.starts_with("HARBOR_ID_TOKEN=")),
        "the dump is the job's environment"
    );
    assert!(
        !env.lines().any(|l| l.starts_with("HARBOR_PASSWORD=")),
        "HARBOR_PASSWORD in the job shell: {env}"
    );
    for s in secrets {
        assert!(!env.contains(s), "a secret in the job shell's environment");
    }
}

/// The robots Harbor holds for job 4242.
fn job_robots(rig: &Rig) -> Vec<String> {
    rig.harbor
        .robots()
        .into_iter()
        .map(|r| r.name)
        .filter(|n| n.starts_with("robot$proj+hb-4242-"))
        .collect()
}

#[test]
fn a_job_with_only_the_broker_and_its_id_token_gets_the_brokers_robot_and_releases_it() {
    let (mut t, rig, broker, _token) = broker_job("e2e-broker-only", false);
    let addr = rig.harbor.addr();
    let admin = rig.harbor.password("admin");
    let out = job(&t, "dash", true, &[&dump(&VARS), SAVE]).success();
    let (robot, secret) = served(&mut t);
    assert!(robot.starts_with("robot$proj+hb-4242-"), "{robot}");
    assert_eq!(
        fs::read_to_string(t.path("tmp/vars.out")).unwrap(),
        format!("https://{addr}|127.0.0.1|{addr}|proj|{robot}|unset|")
    );
    assert_env_holds_no_secret(&t, &[&admin, &secret]);
    out.stderr_has("robot from harbor-broker (pull and push)");
    out.stderr_has(&format!("harbor-broker released {robot}"));
    // The broker minted it with push (pull comes with it) and post-build deleted it.
    let audit = broker.audit();
    let mint = audit.iter().find(|l| l["event"] == "mint").unwrap();
    assert_eq!(
        (&mint["outcome"], &mint["robot"], &mint["job_id"]),
        (&"granted".into(), &robot.as_str().into(), &"4242".into())
    );
    let release = audit.iter().find(|l| l["event"] == "release").unwrap();
    assert_eq!(release["deleted"], 1, "{release}");
    assert!(job_robots(&rig).is_empty(), "{:?}", rig.harbor.robots());
    assert!(
        !t.path("build.tmp/docker-credential-harbor").exists(),
        "post-build removed the robot's store"
    );
    assert!(!broker.output().contains(&secret));
    t.scan_files(&[&t.path("tmp/get.json"), &t.path("tmp/env.out")]);

    // GitLab's integration sets its variables too: the broker's robot wins, and the job shell
    // no longer holds the integration's password.
    let alice = rig.harbor.password("alice");
    gitlab(&mut t, &rig.harbor, "alice", &alice, "proj");
    job(&t, "bash", true, &[&dump(&VARS), SAVE]).success();
    let (second, secret) = served(&mut t);
    assert!(second.starts_with("robot$proj+hb-4242-"), "{second}");
    assert_ne!(second, robot, "a new robot for the new job");
    assert_eq!(
        fs::read_to_string(t.path("tmp/vars.out")).unwrap(),
        format!("{}|127.0.0.1|{addr}|proj|{second}|unset|", rig.harbor.url())
    );
    assert_env_holds_no_secret(&t, &[&admin, &secret, &alice]);
    assert!(job_robots(&rig).is_empty(), "{:?}", rig.harbor.robots());
    t.scan_files(&[&t.path("tmp/get.json"), &t.path("tmp/env.out")]);
}

/// skopeo pushes `app:TAG` to the job's registry and project; `pull` copies `app:broker` back.
fn push(tag: &str, img: &str) -> String {
    format!(
        "skopeo copy --format v2s2 oci:{img}:v1 docker://$HARBOR_REGISTRY/$HARBOR_PROJECT/app:{tag}"
    )
}
const PULL: &str =
    "skopeo copy docker://$HARBOR_REGISTRY/$HARBOR_PROJECT/app:broker oci:$TMPDIR/pulled:v1";

#[test]
fn skopeo_pushes_as_the_brokers_robot_and_an_unprotected_ref_gets_a_robot_that_only_pulls() {
    if !is_root() || !Path::new("/etc/docker").is_dir() || !Path::new("/etc/containers").is_dir() {
        eprintln!("skipped: skopeo runs rootful here, in a private /etc");
        return;
    }
    let (mut t, rig, broker, _token) = broker_job("e2e-broker-skopeo", true);
    // The CA as pre-build places it for the broker's registry (no HARBOR_URL to take it from).
    let _ = fs::remove_dir_all(t.path("home/.config/containers/certs.d"));
    t.set("DOCKER_CREDENTIAL_HARBOR_CA_FILE", rig.harbor.ca_file())
        .unset("SSL_CERT_FILE");
    t.containers_env();
    t.make_image();
    let img = t.path("img").display().to_string();
    let out =
        job_with_private_etc(&t, &[&push("broker", &img), "env > \"$TMPDIR/env.out\""]).success();
    out.stderr_has("robot from harbor-broker (pull and push)");
    assert!(
        rig.harbor
            .requests()
            .iter()
            .any(|r| r.method == "PUT" && r.status == 201 && r.path.ends_with("/manifests/broker")),
        "skopeo pushed with the broker's robot"
    );
    assert_env_holds_no_secret(&t, &[&rig.harbor.password("admin")]);
    assert!(job_robots(&rig).is_empty(), "released");

    // A job on an unprotected ref asks push, the broker's policy refuses it (403), and the
    // job gets a pull robot: the registry refuses its push and serves its pull.
    let feature = rig.token(&JobClaims {
        git_ref: "feature".into(),
        ref_protected: false,
        ..claims()
    });
    t.set("HARBOR_ID_TOKEN", &feature).secret(&feature);
    rig.harbor.clear_requests();
    let out = job_with_private_etc(
        &t,
        &[
            &format!(
                "if {} 2>\"$TMPDIR/push.err\"; then exit 3; fi",
                push("pull", &img)
            ),
            PULL,
        ],
    )
    .success();
    out.stderr_has("harbor-broker refused push for this job (\"push needs a protected ref");
    out.stderr_has("so its robot may only pull");
    out.stderr_has("robot from harbor-broker (pull only)");
    let requests = rig.harbor.requests();
    let pushes: Vec<u16> = requests
        .iter()
        .filter(|r| r.method == "PUT" && r.path.ends_with("/manifests/pull"))
        .map(|r| r.status)
        .collect();
    assert!(
        !pushes.is_empty() && pushes.iter().all(|s| [401, 403].contains(s)),
        "the registry refused the push: {pushes:?}"
    );
    assert!(
        requests
            .iter()
            .any(|r| r.method == "GET" && r.status == 200 && r.path.ends_with("/manifests/broker")),
        "{requests:?}"
    );
    assert!(t.path("tmp/pulled/index.json").is_file());
    let refused = broker
        .audit()
        .into_iter()
        .find(|l| l["event"] == "mint" && l["outcome"] == "refused")
        .expect("the broker's audit line for the refused push");
    assert_eq!(refused["ref"], "feature", "{refused}");
    assert!(job_robots(&rig).is_empty(), "released");
    t.scan_files(&[&t.path("tmp/env.out")]);
}

/// Runs a job that echoes `went-on`, once by default (a warning, the job goes on) and once
/// under strict (the job fails before its lines); both say `warning` and `hint`.
fn warns_then_fails_under_strict(t: &mut TestEnv, warning: &str, hint: &str) {
    t.unset("DOCKER_CREDENTIAL_HARBOR_VERIFY");
    let out = job(t, "dash", false, &["echo went-on"]).success();
    assert!(out.stdout.contains("went-on"), "{out:?}");
    out.stderr_has(&format!("warning: {warning}"));
    out.stderr_has(hint);
    out.stderr_has("the job has no Harbor credentials from the helper");
    t.set("DOCKER_CREDENTIAL_HARBOR_VERIFY", "strict");
    let out = job(t, "dash", false, &["echo went-on"]).failure();
    assert!(!out.stdout.contains("went-on"), "{out:?}");
    out.stderr_has(&format!("error: {warning}"));
    out.stderr_has("DOCKER_CREDENTIAL_HARBOR_VERIFY=strict: failing the job before the build");
    t.unset("DOCKER_CREDENTIAL_HARBOR_VERIFY");
}

#[test]
fn the_brokers_refusals_are_warnings_by_default_and_fail_the_job_under_strict() {
    let (mut t, rig, broker, token) = broker_job("e2e-broker-refusals", false);
    let hint = format!("HARBOR_ID_TOKEN: {{ aud: {} }}", broker.url);

    // No token: nothing is sent.
    t.unset("HARBOR_ID_TOKEN");
    warns_then_fails_under_strict(&mut t, "HARBOR_ID_TOKEN is not set", &hint);
    assert!(broker.audit().is_empty(), "{:?}", broker.audit());

    // A token for another audience: the broker's 401.
    let wrong = rig
        .gitlab
        .sign(&claims().to_json(&rig.gitlab.url(), "https://another-service.example"));
    t.set("HARBOR_ID_TOKEN", &wrong).secret(&wrong);
    warns_then_fails_under_strict(
        &mut t,
        "harbor-broker refused the job's id_token (HARBOR_ID_TOKEN): \"the token's aud does not include this broker's audience",
        &hint,
    );
    assert!(
        broker
            .audit()
            .iter()
            .all(|l| l["event"] == "mint" && l["outcome"] == "refused"),
        "{:?}",
        broker.audit()
    );

    // A project no rule names: the broker's 403, for push and then for pull.
    let stranger = rig.token(&JobClaims {
        project_id: 99,
        ..claims()
    });
    t.set("HARBOR_ID_TOKEN", &stranger).secret(&stranger);
    warns_then_fails_under_strict(
        &mut t,
        "harbor-broker's policy refuses this job: \"no [[rules]] entry matches project 99 (group/project)",
        "ask the broker's administrator for a [[rules]] entry for this project",
    );
    assert!(job_robots(&rig).is_empty());
    // Each job asked push, was refused, and asked pull before giving up.
    let asked: Vec<String> = broker
        .audit()
        .iter()
        .filter(|l| l["project_id"] == "99")
        .map(|l| format!("{} {}", l["access_asked"], l["outcome"]))
        .collect();
    let refused = [r#""push" "refused""#, r#""pull" "refused""#];
    assert_eq!(asked, [refused, refused].concat());

    // The job already holds 3 live robots: the broker's 429 for the fourth.
    t.set("HARBOR_ID_TOKEN", &token);
    for _ in 0..3 {
        let (status, body) = broker.mint(&token, "pull");
        assert_eq!(status, 201, "{body}");
        t.secret(body["password"].as_str().unwrap());
    }
    warns_then_fails_under_strict(
        &mut t,
        "harbor-broker refused another robot for this job: \"job 4242 already holds 3 live robots",
        "retry the job later",
    );
    assert_eq!(job_robots(&rig).len(), 3, "no fourth robot");
    assert_eq!(broker.release(&token).0, 200);
    assert!(job_robots(&rig).is_empty());

    // Harbor down: the broker's 503, and the broker lives on.
    rig.harbor.set_fault(Fault::Html503);
    warns_then_fails_under_strict(
        &mut t,
        "harbor-broker could not reach Harbor (HTTP 503): \"Harbor is unavailable: ",
        "retry later",
    );
    rig.harbor.set_fault(Fault::None);
    job(&t, "dash", false, &["true"])
        .success()
        .stderr_has("robot from harbor-broker (pull and push)");
    assert!(job_robots(&rig).is_empty());

    // Nothing listens at the broker's address.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("https://{}", l.local_addr().unwrap())
    };
    t.set("DOCKER_CREDENTIAL_HARBOR_BROKER", &closed);
    warns_then_fails_under_strict(
        &mut t,
        "cannot connect to harbor-broker at 127.0.0.1:",
        "that harbor-broker is running",
    );

    // With GitLab's integration too, a Harbor that fails the broker's robot calls leaves the
    // job its integration's credentials, verified as ever.
    gitlab(
        &mut t,
        &rig.harbor,
        "alice",
        &rig.harbor.password("alice"),
        "proj",
    );
    t.set("DOCKER_CREDENTIAL_HARBOR_BROKER", &broker.url);
    rig.harbor.set_fault_on("/api/v2.0/robots", Fault::Html503);
    let out = job(
        &t,
        "dash",
        false,
        &[&dump(&["HARBOR_USERNAME"]), "test -n \"$HARBOR_PASSWORD\""],
    )
    .success();
    out.stderr_has("harbor-broker could not reach Harbor (HTTP 503)");
    out.stderr_has("the job keeps the integration's credentials");
    out.stderr_has("alice may pull from and push to proj");
    assert_eq!(
        fs::read_to_string(t.path("tmp/vars.out")).unwrap(),
        "alice|"
    );
    assert!(!broker.output().contains(&token));
    t.scan_files(&[]);
}

#[test]
fn a_release_the_broker_cannot_make_is_a_warning_naming_the_robot_and_its_sweep() {
    let (t, rig, _broker, _token) = broker_job("e2e-broker-release-fails", false);
    t.helper(&["pre-build"], b"").success();
    let robots = job_robots(&rig);
    let [robot] = robots.as_slice() else {
        panic!("one robot: {robots:?}")
    };
    let store = t.path(&format!(
        "build.tmp/docker-credential-harbor/{}.credentials.json",
        robot.replace(['$', '+'], "")
    ));
    assert!(
        store.is_file(),
        "the robot's store is in the per-job directory"
    );
    assert_eq!(crate::util::mode(&store) & 0o777, 0o600);
    rig.harbor.set_fault(Fault::Html503);
    let out = t.helper(&["post-build"], b"").success();
    t.assert_clean(&out);
    out.stderr_has(&format!(
        "could not release harbor-broker's robot {robot}: harbor-broker could not reach Harbor (HTTP 503)"
    ));
    out.stderr_has("harbor-broker's sweeper deletes it once its expiry has passed");
    assert!(!store.exists(), "the secret goes whatever the broker said");
    rig.harbor.set_fault(Fault::None);
    assert_eq!(job_robots(&rig), robots, "Harbor still holds it");
    t.scan_files(&[]);
}
