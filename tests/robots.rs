//! Job-scoped robot accounts against the Harbor double: created with exactly pull and push on
//! one project and a finite expiry, used by real clients, the integration password gone from
//! the job, deleted at the end (by post-build, or when the job's shell is gone), pruned when
//! left over; and the fallback with one warning when the account may not create robots.

use std::fs;
use std::time::{Duration, Instant};

use harbor_client::robots::{self, CreateError, RepositoryAccess};
use harbor_client::{HarborClient, verify};
use harbor_double::{Config, Fault, Harbor, RobotInfo};

use crate::util::harbor::{client, whoami_answers};
use crate::util::jobs::{
    dump, gitlab, job, job_with_private_etc, pam_job, pam_job_on, start, use_ca_file,
};
use crate::util::{TestEnv, is_root};

/// The prefixes the prefix tests run under: Harbor's default and one without a `$`.
const PREFIXES: [&str; 2] = ["robot$", "svc-"];

/// [`pam_job`] on a double whose `robot_name_prefix` is `prefix`.
fn pam_job_under(name: &str, prefix: &str) -> (TestEnv, Harbor) {
    let t = TestEnv::new(name);
    let h = Harbor::start(&t.path("harbor"), under(prefix));
    pam_job_on(t, h)
}

fn under(prefix: &str) -> Config {
    Config {
        robot_prefix: prefix.into(),
        ..Config::default()
    }
}

fn job_robots(h: &Harbor) -> Vec<RobotInfo> {
    h.robots()
        .into_iter()
        .filter(|r| r.name.contains("+ci-job-"))
        .collect()
}

/// Waits (without asserting on time) until the double holds no job robot.
fn wait_until_gone(h: &Harbor) -> bool {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(20) {
        if job_robots(h).is_empty() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

#[test]
fn the_job_sees_the_robot_and_not_the_integration_password() {
    let (t, h) = pam_job("robots-created", false);
    let check =
        "printf '%s' \"$HARBOR_REGISTRY\" | docker-credential-harbor get > \"$TMPDIR/get.json\"";
    let out = job(
        &t,
        "dash",
        true,
        &[
            &dump(&["HARBOR_USERNAME", "HARBOR_USER", "HARBOR_PASSWORD"]),
            check,
            "env > \"$TMPDIR/env.txt\"",
        ],
    )
    .success();
    out.stderr_has("job robot robot$proj+ci-job-4242-");
    let vars = fs::read_to_string(t.path("tmp/vars.out")).unwrap();
    let name = vars.split('|').next().unwrap().to_owned();
    assert!(name.starts_with("robot$proj+ci-job-4242-"), "{vars}");
    assert_eq!(
        vars,
        format!("{name}|{name}|unset|"),
        "the job sees the robot and no HARBOR_PASSWORD"
    );
    // The helper served the robot, whose secret is not the integration password.
    let got: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(t.path("tmp/get.json")).unwrap()).unwrap();
    assert_eq!(got["Username"], name.as_str());
    assert_ne!(got["Secret"], h.password("pam").as_str());
    assert!(
        !fs::read_to_string(t.path("tmp/env.txt"))
            .unwrap()
            .contains(&h.password("pam"))
    );

    let create = h
        .requests()
        .into_iter()
        .find(|r| r.method == "POST" && r.path == "/api/v2.0/robots")
        .expect("a robot was created");
    assert_eq!(create.status, 201);
    assert!(wait_until_gone(&h), "post-build deleted the robot");
    let delete = h
        .requests()
        .into_iter()
        .find(|r| r.method == "DELETE")
        .expect("a delete");
    assert_eq!(delete.status, 200);
    t.scan_files(&[]);
}

#[test]
fn the_live_robot_has_exactly_pull_and_push_a_finite_expiry_and_a_description_of_the_job() {
    // pre-build straight from the test: the keeper watches this long-lived process, so the
    // robot lives until post-build.
    let (t, h) = pam_job("robots-shape", false);
    let out = t.helper(&["pre-build"], b"").success();
    out.stdout_has("unset HARBOR_PASSWORD")
        .stdout_has("export DOCKER_CREDENTIAL_HARBOR_STORE=");
    let live = job_robots(&h);
    assert_eq!(live.len(), 1, "{live:?}");
    let r = &live[0];
    assert_eq!(
        r.permissions,
        vec![(
            "proj".to_owned(),
            vec![
                ("repository".to_owned(), "pull".to_owned()),
                ("repository".to_owned(), "push".to_owned())
            ]
        )]
    );
    assert_eq!(r.duration, 1, "the shortest finite lifetime");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!(
        r.expires_at > now && r.expires_at <= now + 86_400 + 60,
        "{}",
        r.expires_at
    );
    for part in [
        "4242",
        "https://gitlab.example.com/group/app/-/jobs/4242",
        "group/app",
        "docker-credential-harbor",
    ] {
        assert!(
            r.description.contains(part),
            "{part} not in {:?}",
            r.description
        );
    }
    t.helper(&["post-build"], b"")
        .success()
        .stderr_has(&format!("deleted {}", r.name));
    assert!(job_robots(&h).is_empty());
    t.scan_files(&[]);
}

#[test]
fn real_clients_push_with_the_robot_and_its_credentials_die_with_the_job() {
    if !is_root()
        || !std::path::Path::new("/etc/docker").is_dir()
        || !std::path::Path::new("/etc/containers").is_dir()
    {
        eprintln!("skipped: podman runs rootful here, in a private /etc");
        return;
    }
    let (mut t, h) = pam_job("robots-clients", true);
    use_ca_file(&mut t, &h);
    t.containers_env();
    t.make_image();
    let img = t.path("img").display().to_string();
    let save = "printf '%s\\n%s\\n' \"$HARBOR_USERNAME\" \"$(printf %s \"$HARBOR_REGISTRY\" | docker-credential-harbor get)\" > \"$TMPDIR/robot.txt\"";
    let out = job_with_private_etc(
        &t,
        &[
            &format!("skopeo copy --format v2s2 oci:{img}:v1 docker://$HARBOR_REGISTRY/$HARBOR_PROJECT/app:robot"),
            "podman pull -q $HARBOR_REGISTRY/$HARBOR_PROJECT/app:robot",
            save,
        ],
    )
    .success();
    out.stderr_has("deleted robot$proj+ci-job-4242-");
    // The push was made by the robot: the token request for it named the robot.
    let robot_line = fs::read_to_string(t.path("tmp/robot.txt")).unwrap();
    let robot = robot_line.lines().next().unwrap().to_owned();
    let got: serde_json::Value = serde_json::from_str(robot_line.lines().nth(1).unwrap()).unwrap();
    let secret = got["Secret"].as_str().unwrap().to_owned();
    t.secret(&secret);
    assert!(
        h.requests()
            .iter()
            .any(|r| r.method == "PUT" && r.status == 201 && r.path.ends_with("/manifests/robot"))
    );
    // Its credentials stopped working with the job.
    assert!(wait_until_gone(&h));
    let after = verify::verify_push(&client(&h, &robot, &secret), "proj");
    assert!(after.is_err(), "the deleted robot still works: {after:?}");
    // The test's own copy of the `get` answer holds the secret; nothing else may.
    t.scan_files(&[&t.path("tmp/robot.txt")]);
}

#[test]
fn a_failed_job_loses_its_robot_when_the_shell_exits() {
    let (t, h) = pam_job("robots-failed-job", false);
    // The runner skips post_build_script when the script fails.
    let out = job(&t, "bash", false, &["false"]).failure();
    out.stderr_has("job robot");
    assert!(
        wait_until_gone(&h),
        "the keeper deleted the robot after the job's shell exited"
    );
}

#[test]
fn a_developer_keeps_the_integration_credentials_with_one_warning_and_strict_fails() {
    let mut t = TestEnv::new("robots-developer");
    let h = start(&t, false);
    gitlab(&mut t, &h, "alice", &h.password("alice"), "proj");
    t.set("DOCKER_CREDENTIAL_HARBOR_JOB_ROBOT", "1");
    let out = job(
        &t,
        "dash",
        false,
        &[&dump(&["HARBOR_USERNAME"]), "test -n \"$HARBOR_PASSWORD\""],
    )
    .success();
    out.stderr_has("alice may not create robot accounts in project proj (by default only project admins may); the job keeps the integration's credentials");
    assert_eq!(
        out.stderr.matches("may not create robot").count(),
        1,
        "one warning: {}",
        out.stderr
    );
    assert_eq!(
        fs::read_to_string(t.path("tmp/vars.out")).unwrap(),
        "alice|"
    );
    assert!(job_robots(&h).is_empty());
    t.set("DOCKER_CREDENTIAL_HARBOR_VERIFY", "strict");
    job(&t, "dash", false, &["touch \"$TMPDIR/built\""]).failure();
    assert!(!t.path("tmp/built").exists());
}

#[test]
fn pre_build_with_the_flag_works_like_the_variable() {
    let (mut t, h) = pam_job("robots-flag", false);
    t.unset("DOCKER_CREDENTIAL_HARBOR_JOB_ROBOT");
    let script = format!(
        "set -e\neval \"$(docker-credential-harbor pre-build --job-robot)\"\n{}\ndocker-credential-harbor post-build\n",
        dump(&["HARBOR_USERNAME"])
    );
    fs::write(t.path("tmp/flag.sh"), script).unwrap();
    let out = crate::util::run(t.command("/usr/bin/dash").arg(t.path("tmp/flag.sh")));
    t.assert_clean(&out);
    out.success();
    assert!(
        fs::read_to_string(t.path("tmp/vars.out"))
            .unwrap()
            .starts_with("robot$proj+ci-job-4242-")
    );
    assert!(wait_until_gone(&h));
}

#[test]
fn harbor_failing_at_creation_or_deletion_is_a_warning_and_the_expiry_remains() {
    let (t, h) = pam_job("robots-harbor-down", false);
    h.set_fault_on("/api/v2.0/robots", Fault::Status500);
    let out = job(&t, "dash", false, &[&dump(&["HARBOR_USERNAME"])]).success();
    out.stderr_has("Harbor failed with 500")
        .stderr_has("the job keeps the integration's credentials");
    assert_eq!(fs::read_to_string(t.path("tmp/vars.out")).unwrap(), "pam|");
    assert!(job_robots(&h).is_empty());
    // Creation works, deletion fails: post-build warns, names the expiry and prune, exits 0.
    h.set_fault(Fault::None);
    t.helper(&["pre-build"], b"").success();
    assert_eq!(job_robots(&h).len(), 1);
    h.set_fault_on("/api/v2.0/robots", Fault::Html503);
    let out = t.helper(&["post-build"], b"").success();
    t.assert_clean(&out);
    out.stderr_has("could not delete the job robot robot$proj+ci-job-4242-")
        .stderr_has("expires at")
        .stderr_has("robots prune");
    h.set_fault(Fault::None);
    assert_eq!(job_robots(&h).len(), 1, "left for its expiry and for prune");
}

#[test]
fn harbors_refusals_of_a_robot_are_named() {
    let t = TestEnv::new("robots-refusals");
    let h = start(&t, false);
    let pam = client(&h, "pam", &h.password("pam"));
    robots::create(
        &pam,
        "proj",
        "ci-job-7-00000000",
        "docker-credential-harbor",
        RepositoryAccess::PullPush,
    )
    .unwrap();
    assert!(matches!(
        robots::create(
            &pam,
            "proj",
            "ci-job-7-00000000",
            "x",
            RepositoryAccess::PullPush
        ),
        Err(CreateError::Duplicate)
    ));
    match robots::create(&pam, "proj", "Upper+Case", "x", RepositoryAccess::PullPush) {
        Err(CreateError::Rejected {
            status: 400,
            message,
        }) => assert!(message.contains("lower case"), "{message}"),
        other => panic!("{other:?}"),
    }
    let alice = client(&h, "alice", &h.password("alice"));
    let e = robots::create(
        &alice,
        "proj",
        "ci-job-8-00000000",
        "x",
        RepositoryAccess::PullPush,
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "alice may not create robot accounts in project proj (by default only project admins may)"
    );
}

#[test]
fn a_200_that_is_not_harbor_s_json_is_an_error_not_an_empty_list() {
    let t = TestEnv::new("robots-junk");
    let h = start(&t, false);
    let pam = client(&h, "pam", &h.password("pam"));
    h.set_fault(Fault::Huge(64));
    for e in [
        robots::project_id(&pam, "proj").map(|_| ()).unwrap_err(),
        robots::list(&pam, 5).map(|_| ()).unwrap_err(),
    ] {
        assert!(
            e.to_string().contains("the answer is not Harbor's JSON"),
            "{e}"
        );
    }
    h.set_fault(Fault::None);
    assert_eq!(robots::project_id(&pam, "proj").unwrap(), Some(5));
    assert!(robots::list(&pam, 5).unwrap().unwrap().is_empty());
}

#[test]
fn prune_deletes_only_leftover_job_robots() {
    let mut t = TestEnv::new("robots-prune");
    let h = start(&t, false);
    let pam = client(&h, "pam", &h.password("pam"));
    let old = leftover(&pam, "100-0000aaaa");
    let fresh = leftover(&pam, "101-0000bbbb");
    let human = robots::create(
        &pam,
        "proj",
        "ci-job-102-0000cccc",
        "made by hand",
        RepositoryAccess::PullPush,
    )
    .unwrap();
    let deploy = robots::create(
        &pam,
        "proj",
        "deployer",
        "docker-credential-harbor mentioned",
        RepositoryAccess::PullPush,
    )
    .unwrap();
    h.expire_robot(old.id);
    h.expire_robot(human.id);
    h.expire_robot(deploy.id);
    gitlab(&mut t, &h, "pam", &h.password("pam"), "proj");

    let out = t.helper(&["robots", "prune", "--dry-run"], b"").success();
    out.stdout_has(&format!("would delete {} (job 100, expired)", old.name))
        .stdout_has(&format!("kept     {}", fresh.name));
    assert_eq!(h.robots().len(), 4, "a dry run deletes nothing");

    let out = t.helper(&["robots", "prune"], b"").success();
    t.assert_clean(&out);
    out.stdout_has(&format!("deleted  {}", old.name))
        .stdout_has("robots prune: 1 deleted, 1 kept, in project proj");
    let left: Vec<String> = h.robots().into_iter().map(|r| r.name).collect();
    assert_eq!(left.len(), 3, "{left:?}");
    assert!(!left.contains(&old.name));

    let out = t
        .helper(&["robots", "prune", "--older-than", "0"], b"")
        .success();
    out.stdout_has(&format!("deleted  {} (job 101, 0 h old)", fresh.name));
    assert_eq!(h.robots().len(), 2, "the hand-made robots stay");

    // A developer may list robots but not delete them: said, with who can.
    let leftover = robots::create(
        &pam,
        "proj",
        "ci-job-103-0000dddd",
        "GitLab job 103; docker-credential-harbor",
        RepositoryAccess::PullPush,
    )
    .unwrap();
    h.expire_robot(leftover.id);
    gitlab(&mut t, &h, "alice", &h.password("alice"), "proj");
    let out = t.helper(&["robots", "prune"], b"").failure();
    out.stderr_has("alice may not delete robot accounts in proj")
        .stderr_has("project admin");
}

#[test]
fn doctor_says_whether_the_account_can_mint_job_robots() {
    let mut t = TestEnv::new("robots-doctor");
    let h = start(&t, false);
    gitlab(&mut t, &h, "pam", &h.password("pam"), "proj");
    let out = t.helper(&["doctor"], b"").success();
    out.stdout_has("ok    job robots   pam may create robot accounts in proj");
    gitlab(&mut t, &h, "alice", &h.password("alice"), "proj");
    t.set("DOCKER_CREDENTIAL_HARBOR_JOB_ROBOT", "1");
    let out = t.helper(&["doctor"], b"").success();
    out.stdout_has("warn  job robots   alice may not create robot accounts in proj");
}

#[test]
fn the_keeper_holding_the_integration_password_is_unreadable_to_the_job() {
    if !is_root() {
        eprintln!("skipped: needs root to run the job as another user");
        return;
    }
    let (mut t, h) = pam_job("robots-keeper-sealed", false);
    t.give_to_nobody(&["home", "tmp", "build.tmp"]);
    t.set("PATH", format!("{}:/usr/bin:/bin", t.path("bin").display()));
    // As the job's own user: find the keeper, try its environment, memory and command line.
    let script = "set -e\neval \"$(docker-credential-harbor pre-build)\"\n\
         k=$(pgrep -u 65534 -f 'docker-credential-harbor robot-keeper' | head -1)\n\
         test -n \"$k\"\n\
         if cat /proc/$k/environ > /dev/null 2>&1; then echo environ-readable; fi\n\
         if head -c 1 /proc/$k/mem > /dev/null 2>&1; then echo mem-readable; fi\n\
         tr '\\0' ' ' < /proc/$k/cmdline; echo\n\
         docker-credential-harbor post-build\n";
    let out = t.run_as_nobody(script).success();
    assert!(!out.stdout.contains("readable"), "{}", out.stdout);
    out.stdout_has("docker-credential-harbor robot-keeper");
    assert!(wait_until_gone(&h));
}

/// A robot as a job's pre-build leaves it when post-build never runs: `ci-job-<id>-<suffix>`,
/// with this tool's mark in its description.
fn leftover(pam: &HarborClient, id_suffix: &str) -> robots::Created {
    let job = id_suffix.split('-').next().unwrap_or(id_suffix);
    robots::create(
        pam,
        "proj",
        &format!("ci-job-{id_suffix}"),
        &format!("GitLab job {job}; docker-credential-harbor"),
        RepositoryAccess::PullPush,
    )
    .unwrap()
}

#[test]
fn job_robots_are_minted_used_and_deleted_under_any_prefix() {
    for prefix in PREFIXES {
        let (mut t, h) = pam_job_under(&format!("robots-prefix-{}", prefix.len()), prefix);
        let stem = format!("{prefix}proj+ci-job-4242-");
        // pre-build from the test: the keeper watches this process, so the robot lives until
        // post-build, and the test can use it as the job would.
        let out = t.helper(&["pre-build"], b"").success();
        out.stderr_has(&format!("job robot {stem}"));
        let live = job_robots(&h);
        assert_eq!(live.len(), 1, "{live:?}");
        let name = live[0].name.clone();
        assert!(name.starts_with(&stem), "{name}");
        out.stdout_has(&format!("export HARBOR_USERNAME='{name}'"));
        let store = out
            .stdout
            .lines()
            .find_map(|l| l.strip_prefix("export DOCKER_CREDENTIAL_HARBOR_STORE="))
            .expect("the robot's store is exported")
            .trim_matches('\'')
            .to_owned();
        // The job's environment after `eval`: the robot, its store, no integration password.
        t.unset("HARBOR_PASSWORD")
            .set("HARBOR_USERNAME", &name)
            .set("DOCKER_CREDENTIAL_HARBOR_STORE", &store);
        let got = t.helper(&["get"], h.addr().as_bytes()).success();
        let got: serde_json::Value = serde_json::from_str(&got.stdout).unwrap();
        assert_eq!(got["Username"], name.as_str());
        let secret = got["Secret"].as_str().unwrap().to_owned();
        t.secret(&secret);
        assert_ne!(secret, h.password("pam"));
        let robot = client(&h, &name, &secret);
        assert_eq!(verify::verify_push(&robot, "proj").unwrap().subject, name);
        // Minting asks nothing about the account: creation succeeded.
        assert_eq!(whoami_answers(&h), Vec::<u16>::new());

        let out = t.helper(&["post-build"], b"").success();
        t.assert_clean(&out);
        out.stderr_has(&format!("deleted {name}"));
        assert!(job_robots(&h).is_empty());
        assert!(verify::verify_push(&robot, "proj").is_err(), "deleted");
        t.scan_files(&[]);
    }
}

#[test]
fn a_robot_integration_account_without_robot_create_is_told_what_a_robot_needs() {
    for prefix in PREFIXES {
        let mut t = TestEnv::new(&format!("robots-robot-account-{}", prefix.len()));
        let h = Harbor::start(&t.path("harbor"), under(prefix));
        let robot = h.add_robot("proj", "ci", &["pull", "push"], 1);
        gitlab(&mut t, &h, &robot.name, &robot.secret, "proj");
        // Without job robots, pre-build asks nothing about the account.
        t.helper(&["pre-build"], b"").success();
        t.helper(&["post-build"], b"").success();
        assert_eq!(whoami_answers(&h), Vec::<u16>::new());

        t.set("DOCKER_CREDENTIAL_HARBOR_JOB_ROBOT", "1");
        let out = t.helper(&["pre-build"], b"").success();
        t.assert_clean(&out);
        out.stderr_has(&format!(
            "{} may not create robot accounts in project proj (a robot may create robots from Harbor 2.12 on, with robot:create in its own permissions); the job keeps the integration's credentials",
            robot.name
        ));
        assert!(!out.stderr.contains("project admins"), "{}", out.stderr);
        assert_eq!(whoami_answers(&h), [412], "asked once, after the refusal");
        assert!(job_robots(&h).is_empty());
        t.helper(&["post-build"], b"").success();
    }
}

#[test]
fn prune_works_under_any_prefix_and_tells_a_robot_what_it_lacks() {
    for prefix in PREFIXES {
        let mut t = TestEnv::new(&format!("robots-prune-prefix-{}", prefix.len()));
        let h = Harbor::start(&t.path("harbor"), under(prefix));
        let pam = client(&h, "pam", &h.password("pam"));
        let old = leftover(&pam, "100-0000aaaa");
        assert!(
            old.name.starts_with(&format!("{prefix}proj+")),
            "{}",
            old.name
        );
        let fresh = leftover(&pam, "101-0000bbbb");
        h.expire_robot(old.id);
        gitlab(&mut t, &h, "pam", &h.password("pam"), "proj");
        let out = t.helper(&["robots", "prune"], b"").success();
        t.assert_clean(&out);
        out.stdout_has(&format!("deleted  {} (job 100, expired)", old.name))
            .stdout_has(&format!("kept     {} (job 101,", fresh.name))
            .stdout_has("robots prune: 1 deleted, 1 kept, in project proj");
        assert!(h.robot(old.id).is_none() && h.robot(fresh.id).is_some());
        assert_eq!(whoami_answers(&h), Vec::<u16>::new(), "nothing refused");

        // A robot that may not read the project: told what a robot needs, not to be an admin.
        let bot = h.add_robot("proj", "cleaner", &["pull"], 1);
        gitlab(&mut t, &h, &bot.name, &bot.secret, "proj");
        let out = t.helper(&["robots", "prune"], b"").failure();
        t.assert_clean(&out);
        out.stderr_has(&format!(
            "{} may not read project proj or list its robot accounts",
            bot.name
        ))
        .stderr_has(&format!(
            "{} is a robot: it needs project read and robot list and delete on proj in its own permissions",
            bot.name
        ));
        assert_eq!(whoami_answers(&h), [412]);
    }
}
