//! The broker's robots against the Harbor double (tests/harbor-double): minting as an admin and
//! as the minimal system robot, for jobs and for Kubernetes service accounts, the per-holder
//! limits, release and sweep across replicas, and each Harbor failure as the status the server
//! answers with. Every error is checked for secrets.
//!
//! What it must never do: reach a network beyond 127.0.0.1, or leave a double running (each
//! [`Harbor`] stops on drop).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use docker_credential_harbor_core::integration::Account;
use docker_credential_harbor_core::url::HarborUrl;
use docker_credential_harbor_core::vars::RegistryFrom;
use harbor_broker::claims::Claims;
use harbor_broker::config;
use harbor_broker::harbor::{self, HarborRobots};
use harbor_broker::kubernetes::ServiceAccountClaims;
use harbor_broker::policy::{Grant, Table};
use harbor_broker::robots::{Holder, Minted, RobotError, Robots};
use harbor_client::broker::Access;
use harbor_client::{HarborClient, Options, Proxies, TrustFiles, robots as api, tls};
use harbor_double::{Config, Fault, Harbor, HarborVersion, Robot};
use secrecy::ExposeSecret;
use serde_json::json;
use tempfile::TempDir;

const TTL: u64 = 3600;

/// The minimal minter: a system robot that may mint pull and push project robots in any
/// project, list and delete them, and nothing more (docs/broker.md).
fn minimal_minter() -> Vec<(&'static str, &'static str)> {
    vec![
        ("project", "read"),
        ("robot", "create"),
        ("robot", "list"),
        ("robot", "delete"),
        ("repository", "pull"),
        ("repository", "push"),
    ]
}

struct Rig {
    dir: TempDir,
    h: Harbor,
    /// Every secret a test saw: the broker's passwords and the minted robots' secrets.
    secrets: std::cell::RefCell<Vec<String>>,
}

/// A double of Harbor 2.15, the first release whose system robots create project robots.
fn rig() -> Rig {
    rig_of(HarborVersion::V2_15)
}

fn rig_of(version: HarborVersion) -> Rig {
    let dir = tempfile::Builder::new()
        .prefix("broker-harbor-")
        .tempdir()
        .unwrap();
    let config = Config {
        version,
        ..Config::default()
    };
    let h = Harbor::start(&dir.path().join("double"), config);
    Rig {
        dir,
        h,
        secrets: Default::default(),
    }
}

impl Rig {
    /// `[harbor]` for `user`, its password in a 0600 file.
    fn config(&self, user: &str, password: &str) -> config::Harbor {
        let file = self
            .dir
            .path()
            .join(format!("password-{}", user.replace('$', "_")));
        std::fs::write(&file, format!("{password}\n")).unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        self.secrets.borrow_mut().push(password.to_owned());
        config::Harbor {
            url: self.h.url(),
            username: user.to_owned(),
            password_file: file,
            ca_file: Some(self.h.ca_file()),
        }
    }

    fn broker(&self, user: &str, password: &str) -> HarborRobots {
        harbor::connect_with(&self.config(user, password), TTL, Duration::from_secs(3)).unwrap()
    }

    fn admin(&self) -> HarborRobots {
        self.broker("admin", &self.h.password("admin"))
    }

    /// A system robot holding exactly `access` on every project, made by the admin through
    /// Harbor's API, as docs/broker.md tells an operator to.
    fn system_robot(&self, name: &str, access: &[(&str, &str)]) -> Robot {
        let body = json!({
            "name": name,
            "description": "the broker's minter",
            "level": "system",
            "duration": -1,
            "permissions": [{
                "kind": "project",
                "namespace": "*",
                "access": access.iter().map(|(r, a)| json!({"resource": r, "action": a}))
                    .collect::<Vec<_>>(),
            }],
        });
        let reply = client(&self.h, "admin", &self.h.password("admin"))
            .post_json("/api/v2.0/robots", &body)
            .unwrap();
        assert_eq!(reply.status, 201, "{reply:?}");
        let created = api::parse_created(&reply.body).unwrap();
        Robot {
            id: created.id,
            name: created.name,
            secret: created.secret.expose_secret().to_owned(),
        }
    }

    fn minter(&self, access: &[(&str, &str)]) -> HarborRobots {
        let name = format!("minter{}", self.h.robots().len());
        let robot = self.system_robot(&name, access);
        self.broker(&robot.name, &robot.secret)
    }

    fn mint(&self, broker: &HarborRobots, job: &str, access: Access, now: i64) -> Minted {
        let minted = broker
            .mint(&grant("proj", access), Holder::Job(&claims(job)), now)
            .unwrap_or_else(|e| panic!("{e}"));
        self.secrets
            .borrow_mut()
            .push(minted.password.expose_secret().to_owned());
        minted
    }

    /// A pull robot for service account `namespace/name` in project `proj` by
    /// `[[kubernetes_rules]]` entry 3 (a grant of push is minted pull all the same).
    fn mint_for(&self, broker: &HarborRobots, sa: &ServiceAccountClaims, now: i64) -> Minted {
        let minted = broker
            .mint(&sa_grant(), Holder::ServiceAccount(sa), now)
            .unwrap_or_else(|e| panic!("{e}"));
        self.secrets
            .borrow_mut()
            .push(minted.password.expose_secret().to_owned());
        minted
    }

    /// The status and text of a mint the test expects to fail.
    fn refused(
        &self,
        broker: &HarborRobots,
        project: &str,
        access: Access,
        job: &str,
        now: i64,
    ) -> (u16, String) {
        let e = broker
            .mint(&grant(project, access), Holder::Job(&claims(job)), now)
            .unwrap_err();
        self.error(e)
    }

    /// The error's text and `Debug`, checked for every secret seen so far.
    fn error(&self, e: RobotError) -> (u16, String) {
        let shown = format!("{e} | {e:?}");
        for secret in self.secrets.borrow().iter() {
            assert!(!shown.contains(secret.as_str()), "a secret in {shown}");
        }
        (e.status(), e.to_string())
    }

    /// The double's robots whose names are broker robots' names.
    fn broker_robots(&self) -> Vec<harbor_double::RobotInfo> {
        self.h
            .robots()
            .into_iter()
            .filter(|r| r.name.contains("+hb-"))
            .collect()
    }
}

/// A client of the double as `user`, for setting up what an operator would.
fn client(h: &Harbor, user: &str, password: &str) -> HarborClient {
    let options = Options {
        timeout: Duration::from_secs(5),
        trust: TrustFiles {
            ca_file: Some(h.ca_file()),
            ..TrustFiles::default()
        },
        certs_d: Vec::new(),
        proxies: Proxies::default(),
    };
    let url = HarborUrl::parse(&h.url(), RegistryFrom::Url).unwrap();
    let account = Account {
        username: user.to_owned(),
        password: password.to_owned().into(),
    };
    HarborClient::new(
        url,
        &tls::build(&options).unwrap(),
        options.timeout,
        Some(account),
    )
    .unwrap()
}

fn claims(job: &str) -> Claims {
    serde_json::from_value(json!({
        "iss": "https://gitlab.example.com", "sub": "project_path:team/app:ref_type:branch:ref:main",
        "aud": "https://harbor-broker.example.com", "exp": 2_000_000_000u64,
        "nbf": 1_700_000_000u64, "iat": 1_700_000_000u64, "jti": "j",
        "namespace_id": "7", "namespace_path": "team", "project_id": "42",
        "project_path": "team/app", "user_id": "3", "user_login": "alice",
        "pipeline_id": "900", "pipeline_source": "push", "job_id": job, "ref": "main",
        "ref_type": "branch", "ref_protected": "true",
    }))
    .unwrap()
}

fn grant(project: &str, access: Access) -> Grant {
    Grant {
        harbor_project: project.to_owned(),
        access,
        rule: 2,
        table: Table::Gitlab,
    }
}

/// A pod-bound token's claims, as the API server writes them.
fn service_account(namespace: &str, name: &str) -> ServiceAccountClaims {
    serde_json::from_value(json!({
        "iss": "https://kubernetes.default.svc.cluster.local", "aud": ["harbor-broker"],
        "sub": format!("system:serviceaccount:{namespace}:{name}"),
        "exp": 2_000_000_000u64, "nbf": 1_700_000_000u64, "iat": 1_700_000_000u64,
        "jti": "j",
        "kubernetes.io": {
            "namespace": namespace,
            "serviceaccount": {"name": name, "uid": "6c1a5f1e-0000-4000-8000-000000000001"},
            "pod": {"name": "web-0", "uid": "6c1a5f1e-0000-4000-8000-000000000002"},
            "node": {"name": "node-a", "uid": "6c1a5f1e-0000-4000-8000-000000000003"},
        },
    }))
    .unwrap()
}

/// What `[[kubernetes_rules]]` entry 3 grants; push, which no such rule can say, to show
/// that the robot is pull-only whatever the grant.
fn sa_grant() -> Grant {
    Grant {
        harbor_project: "proj".to_owned(),
        access: Access::Push,
        rule: 3,
        table: Table::Kubernetes,
    }
}

fn now() -> i64 {
    api::unix_now()
}

fn projects() -> Vec<String> {
    vec!["proj".to_owned(), "pub".to_owned(), "proj".to_owned()]
}

/// The repository actions the double holds for the robot `minted` names.
fn actions(r: &Rig, minted: &Minted) -> Vec<(String, Vec<(String, String)>)> {
    let robot =
        r.h.robots()
            .into_iter()
            .find(|x| x.name == minted.username)
            .unwrap_or_else(|| panic!("{} is not in Harbor", minted.username));
    assert_eq!(robot.duration, 1, "Harbor's shortest lifetime");
    robot.permissions
}

fn repository(actions: &[&str]) -> Vec<(String, Vec<(String, String)>)> {
    vec![(
        "proj".to_owned(),
        actions
            .iter()
            .map(|a| ("repository".to_owned(), (*a).to_owned()))
            .collect(),
    )]
}

#[test]
fn an_admin_and_the_minimal_system_robot_mint_exactly_the_granted_access() {
    let r = rig();
    let minter = r.minter(&minimal_minter());
    for broker in [r.admin(), minter] {
        broker.ready().unwrap();
        let t = now();
        let pull = r.mint(&broker, "4242", Access::Pull, t);
        assert_eq!(
            actions(&r, &pull),
            repository(&["pull"]),
            "pull is pull only"
        );
        let push = r.mint(&broker, "4242", Access::Push, t);
        assert_eq!(actions(&r, &push), repository(&["pull", "push"]));

        assert_eq!(push.registry, r.h.addr());
        assert_eq!(push.project, "proj");
        assert_eq!(push.expires_at, t + TTL as i64);
        let short = push.username.strip_prefix("robot$proj+").unwrap();
        let parts: Vec<&str> = short.split('-').collect();
        assert_eq!(parts[..3], ["hb", "4242", &(t + TTL as i64).to_string()]);
        assert!(parts[3].len() == 8 && parts[3].bytes().all(|b| b.is_ascii_hexdigit()));
        let info =
            r.h.robots()
                .into_iter()
                .find(|x| x.name == push.username)
                .unwrap();
        for part in [
            "harbor-broker: GitLab job 4242 of pipeline 900, project 42 (team/app), ref main",
            &format!("ends at {}", t + TTL as i64),
        ] {
            assert!(info.description.contains(part), "{}", info.description);
        }
        assert!(info.description.starts_with("harbor-broker"));
        // The robot works, and its secret is nowhere in the value's Debug.
        let as_robot = client(&r.h, &push.username, push.password.expose_secret());
        assert_eq!(
            harbor_client::account::kind(&as_robot).unwrap(),
            harbor_client::account::Kind::Robot
        );
        assert!(!format!("{push:?}").contains(push.password.expose_secret()));
        assert_eq!(broker.release(&projects(), "4242").unwrap(), 2);
    }
}

#[test]
fn each_permission_of_the_minimal_minter_is_needed() {
    let r = rig();
    let full = minimal_minter();
    for (i, missing) in full.iter().enumerate() {
        let mut access = full.clone();
        access.remove(i);
        let broker = r.minter(&access);
        let t = now();
        let pull = broker.mint(&grant("proj", Access::Pull), Holder::Job(&claims("1")), t);
        let push = broker.mint(&grant("proj", Access::Push), Holder::Job(&claims("1")), t);
        let release = broker.release(&projects(), "1");
        let failed = [pull.is_err(), push.is_err(), release.is_err()];
        assert!(failed.iter().any(|f| *f), "{missing:?} was not needed");
        for e in [pull.err(), push.err(), release.err()]
            .into_iter()
            .flatten()
        {
            let (status, text) = r.error(e);
            assert_eq!(status, 502, "{text}");
            assert!(text.contains("docs/broker.md"), "{text}");
        }
        // What a release could not delete goes with the admin.
        r.admin().release(&projects(), "1").unwrap();
    }
}

#[test]
fn a_minter_without_push_is_refused_push_with_harbor_s_words() {
    let r = rig();
    let mut pull_only = minimal_minter();
    assert_eq!(pull_only.pop(), Some(("repository", "push")));
    let broker = r.minter(&pull_only);
    r.mint(&broker, "5", Access::Pull, now());
    let (status, text) = r.refused(&broker, "proj", Access::Push, "5", now());
    assert_eq!(status, 502);
    assert!(
        text.contains(
            "permission scope is invalid. It must be equal to or more restrictive than the \
             creator robot's permissions: robot$minter0"
        ),
        "{text}"
    );
    assert!(text.contains("repository pull and push"), "{text}");
}

#[test]
fn before_2_15_a_system_robot_minter_is_refused_and_told_why() {
    let r = rig_of(HarborVersion::V2_13);
    let broker = r.minter(&minimal_minter());
    broker.ready().unwrap();
    let (status, text) = r.refused(&broker, "proj", Access::Pull, "1", now());
    assert_eq!(status, 502);
    assert!(text.contains("(Harbor: \"DENIED: denied\")"), "{text}");
    assert!(text.contains("only from Harbor 2.15 on"), "{text}");
    // An admin mints on any release.
    r.mint(&r.admin(), "1", Access::Push, now());
}

#[test]
fn the_fourth_live_robot_of_a_job_is_refused_and_other_jobs_are_not() {
    let r = rig();
    let broker = r.admin();
    let t = now();
    // A robot whose intended expiry has passed no longer counts.
    r.mint(&broker, "77", Access::Pull, t - TTL as i64 - 5);
    for _ in 0..3 {
        r.mint(&broker, "77", Access::Pull, t);
    }
    let (status, text) = r.refused(&broker, "proj", Access::Pull, "77", t);
    assert_eq!(status, 429);
    assert!(
        text.contains("job 77 already holds 3 live robots"),
        "{text}"
    );
    r.mint(&broker, "78", Access::Push, t);
    // A job whose id only starts like another's is another job.
    r.mint(&broker, "7", Access::Push, t);
    assert_eq!(r.broker_robots().len(), 6);
}

#[test]
fn release_deletes_that_job_s_robots_only_on_any_replica() {
    let r = rig();
    let (one, two) = (r.admin(), r.admin());
    let t = now();
    let minted = r.mint(&one, "300", Access::Push, t);
    r.mint(&one, "300", Access::Pull, t);
    let other = r.mint(&one, "301", Access::Pull, t);
    // Named like ours, but not made by a broker: its description lacks the mark.
    let foreign =
        r.h.add_robot("proj", &format!("hb-300-{}-0a1b2c3d", t + 60), &["pull"], 1);
    let human = r.h.add_robot("proj", "deployer", &["pull", "push"], -1);

    assert_eq!(
        two.release(&projects(), "300").unwrap(),
        2,
        "the other replica"
    );
    assert_eq!(one.release(&projects(), "300").unwrap(), 0, "gone already");
    let left: Vec<String> = r.h.robots().into_iter().map(|x| x.name).collect();
    assert!(!left.contains(&minted.username), "{left:?}");
    for kept in [&other.username, &foreign.name, &human.name] {
        assert!(left.contains(kept), "{kept} in {left:?}");
    }
}

#[test]
fn robots_past_the_first_page_are_counted_released_and_swept() {
    let r = rig();
    let broker = r.minter(&minimal_minter());
    for i in 0..150 {
        r.h.add_robot("proj", &format!("other-{i}"), &["pull"], 1);
    }
    let t = now();
    for _ in 0..3 {
        r.mint(&broker, "600", Access::Pull, t);
    }
    r.mint(&broker, "601", Access::Pull, t - TTL as i64 - 1);
    assert_eq!(r.refused(&broker, "proj", Access::Pull, "600", t).0, 429);
    let swept = broker.sweep(&projects(), t).unwrap();
    assert_eq!((swept.deleted, swept.failed), (1, 0));
    assert_eq!(broker.release(&projects(), "600").unwrap(), 3);
    assert_eq!(
        r.h.robots().len(),
        151,
        "the other robots and the minter stay"
    );
    // The sweep reads every page; the count and the release ask Harbor for the job's robots.
    let requests = r.h.requests();
    let pages = requests
        .iter()
        .filter(|q| q.path.contains("ProjectID%3D5&page_size=100&page=2"))
        .count();
    assert!(pages >= 1, "{pages}");
    let by_name = requests
        .iter()
        .filter(|q| {
            q.path
                .contains("ProjectID%3D5%2Cname%3D~hb-600-&page_size=100&page=1")
        })
        .count();
    assert!(by_name >= 5, "{by_name}");
}

#[test]
fn the_sweep_ends_expired_robots_once_whichever_replica_runs_it() {
    let r = rig();
    let (one, two) = (r.admin(), r.minter(&minimal_minter()));
    let t = now();
    let expired = r.mint(&one, "400", Access::Pull, t - TTL as i64 - 1);
    let live = r.mint(&one, "401", Access::Push, t);
    let foreign =
        r.h.add_robot("proj", &format!("hb-402-{}-0a1b2c3d", t - 60), &["pull"], 1);

    let swept = one.sweep(&projects(), t).unwrap();
    assert_eq!((swept.deleted, swept.failed), (1, 0));
    let swept = two.sweep(&projects(), t).unwrap();
    assert_eq!(
        (swept.deleted, swept.failed),
        (0, 0),
        "nothing left to sweep"
    );
    let left: Vec<String> = r.h.robots().into_iter().map(|x| x.name).collect();
    assert!(!left.contains(&expired.username));
    assert!(left.contains(&live.username) && left.contains(&foreign.name));
    // Its intended expiry passes: the next sweep ends it.
    let later = one.sweep(&projects(), t + TTL as i64).unwrap();
    assert_eq!((later.deleted, later.failed), (1, 0));
}

/// Harbor pages its robot listing by offset, so a robot deleted from page 1 while page 2 is
/// read moves the first robot of page 2 onto page 1, where a listing page by page never sees
/// it. A release must find its job's robot all the same. (Found by scripts/bench-broker: 200
/// concurrent jobs left robots behind, each release answering 200 with nothing deleted.)
#[test]
fn a_release_finds_the_job_s_robot_while_other_robots_are_deleted_under_it() {
    let r = rig();
    let config = r.config("admin", &r.h.password("admin"));
    let broker = harbor::connect_with(&config, TTL, Duration::from_secs(30)).unwrap();
    // Page 1, in Harbor's name order and in the double's creation order alike.
    let others: Vec<Robot> = (0..100)
        .map(|i| r.h.add_robot("proj", &format!("aa-{i:03}"), &["pull"], 1))
        .collect();
    let job = r.mint(&broker, "800", Access::Pull, now());
    // Each listing takes 3 s; a delete does not wait.
    r.h.set_fault_on("/api/v2.0/robots", Fault::Slow(Duration::from_secs(3)));
    r.h.set_fault_on("/api/v2.0/robots/", Fault::Slow(Duration::ZERO));
    r.h.clear_requests();
    let admin = client(&r.h, "admin", &r.h.password("admin"));
    let released = std::thread::scope(|s| {
        let release = s.spawn(|| broker.release(&projects(), "800"));
        // Once the release asks for a second page, another job's robot goes.
        let start = Instant::now();
        while !release.is_finished() {
            let second_page =
                r.h.requests()
                    .iter()
                    .any(|q| q.path.starts_with("/api/v2.0/robots?") && q.path.contains("page=2"));
            if second_page {
                assert!(api::delete(&admin, others[0].id).unwrap());
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "the release hangs"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
        release.join().unwrap()
    });
    assert_eq!(released.unwrap(), 1, "the job's robot was not found");
    assert!(r.h.robots().iter().all(|x| x.name != job.username));
}

#[test]
fn a_sweep_that_cannot_delete_counts_the_failure_and_goes_on() {
    let r = rig();
    let admin = r.admin();
    let t = now();
    let old = t - TTL as i64 - 1;
    r.mint(&admin, "500", Access::Pull, old);
    r.mint(&admin, "501", Access::Pull, old);
    let lister = r.minter(&[("project", "read"), ("robot", "list")]);
    let swept = lister.sweep(&projects(), t).unwrap();
    assert_eq!((swept.deleted, swept.failed), (0, 2));
    assert_eq!(r.broker_robots().len(), 2);
}

#[test]
fn harbor_s_failures_are_503_504_and_502_and_the_next_call_works() {
    let r = rig();
    let broker = r.admin();
    let cases: [(Fault, u16, &str); 8] = [
        (Fault::Html503, 503, "Harbor is down"),
        (Fault::Html504, 503, "Harbor is down"),
        (Fault::Reset, 503, "Harbor is unavailable"),
        (Fault::Status500, 503, "internal server error"),
        (
            Fault::Slow(Duration::from_secs(6)),
            504,
            "did not answer within",
        ),
        (
            Fault::Redirect("https://elsewhere.example/api/v2.0/".into()),
            502,
            "[harbor] url",
        ),
        (Fault::Huge(2 << 20), 502, "[harbor] url is Harbor itself"),
        // A 200 that is not Harbor's JSON: not an empty list, not a missing project.
        (Fault::Huge(64), 502, "[harbor] url is Harbor itself"),
    ];
    for (fault, status, says) in cases {
        r.h.set_fault(fault.clone());
        let t = now();
        let mut errors = vec![
            broker
                .mint(&grant("proj", Access::Pull), Holder::Job(&claims("9")), t)
                .err(),
            broker.release(&projects(), "9").err(),
            broker.sweep(&projects(), t).err(),
        ];
        // Readiness reads only the status of GET /users/current, which a small junk 200 passes.
        if fault != Fault::Huge(64) {
            errors.push(broker.ready().err());
        }
        for (i, e) in errors.into_iter().enumerate() {
            let (got, text) =
                r.error(e.unwrap_or_else(|| panic!("{fault:?} went unnoticed ({i})")));
            assert_eq!(got, status, "{fault:?}: {text}");
            assert!(text.contains(says), "{fault:?}: {text}");
        }
        r.h.set_fault(Fault::None);
        broker.ready().unwrap();
        r.mint(&broker, "9", Access::Pull, t);
        assert_eq!(broker.release(&projects(), "9").unwrap(), 1);
    }
}

#[test]
fn a_wrong_password_names_the_password_file() {
    let r = rig();
    let broker = r.broker("admin", "not-the-password");
    let minter = r.system_robot("minter", &minimal_minter());
    let robot = r.broker(&minter.name, "Wrong-secret-1");
    for broker in [broker, robot] {
        let errors = [
            broker.ready().unwrap_err(),
            broker
                .mint(
                    &grant("proj", Access::Push),
                    Holder::Job(&claims("1")),
                    now(),
                )
                .unwrap_err(),
            broker.release(&projects(), "1").unwrap_err(),
            broker.sweep(&projects(), now()).unwrap_err(),
        ];
        for e in errors {
            let (status, text) = r.error(e);
            assert_eq!(status, 502, "{text}");
            assert!(
                text.contains("[harbor] password_file") && text.contains("[harbor] username"),
                "{text}"
            );
        }
    }
}

#[test]
fn a_missing_project_names_the_rule_s_harbor_project() {
    let r = rig();
    for broker in [r.admin(), r.minter(&minimal_minter())] {
        let (status, text) = r.refused(&broker, "nosuch", Access::Pull, "1", now());
        assert_eq!(status, 502);
        assert!(
            text.contains("project nosuch (harbor_project in [[rules]] entry 2)"),
            "{text}"
        );
        let grant = Grant {
            harbor_project: "nosuch".to_owned(),
            ..sa_grant()
        };
        let sa = service_account("ci", "builder");
        let e = broker
            .mint(&grant, Holder::ServiceAccount(&sa), now())
            .unwrap_err();
        let (status, text) = r.error(e);
        assert_eq!(status, 502);
        assert!(
            text.contains("project nosuch (harbor_project in [[kubernetes_rules]] entry 3)"),
            "{text}"
        );
        // A sweep looks in the projects of both tables.
        let e = broker.sweep(&["nosuch".to_owned()], now()).unwrap_err();
        let (status, text) = r.error(e);
        assert_eq!(status, 502);
        assert!(
            text.contains("harbor_project of a [[rules]] or [[kubernetes_rules]] entry"),
            "{text}"
        );
    }
}

#[test]
fn connect_names_the_key_that_cannot_be_used() {
    let r = rig();
    let mut config = r.config("admin", "x");
    config.password_file = r.dir.path().join("absent");
    let e = harbor::connect(&config, TTL).err().unwrap().to_string();
    assert!(e.contains("harbor.password_file"), "{e}");
    let mut config = r.config("admin", "x");
    let open = r.dir.path().join("open");
    std::fs::write(&open, "x").unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o644)).unwrap();
    config.password_file = open;
    let e = harbor::connect(&config, TTL).err().unwrap().to_string();
    assert!(e.contains("mode 0644"), "{e}");
    let mut config = r.config("admin", "x");
    config.ca_file = Some(Path::new("/nonexistent/ca.pem").to_owned());
    let e = harbor::connect(&config, TTL).err().unwrap().to_string();
    assert!(e.contains("[harbor] ca_file /nonexistent/ca.pem"), "{e}");
    let mut config = r.config("admin", "x");
    config.url = "https://bad host".into();
    let e = harbor::connect(&config, TTL).err().unwrap().to_string();
    assert!(e.contains("[harbor] url"), "{e}");
    assert!(!e.contains("HARBOR_URL"), "{e}");
}

#[test]
fn a_service_account_s_robot_is_pull_only_and_traces_the_pod_and_node() {
    let r = rig();
    for broker in [r.admin(), r.minter(&minimal_minter())] {
        let t = now();
        let minted = r.mint_for(&broker, &service_account("ci", "builder"), t);
        assert_eq!(actions(&r, &minted), repository(&["pull"]));
        assert_eq!(
            (minted.registry.as_str(), minted.project.as_str()),
            (r.h.addr().as_str(), "proj")
        );
        assert_eq!(minted.expires_at, t + TTL as i64);
        let short = minted.username.strip_prefix("robot$proj+").unwrap();
        let parts: Vec<&str> = short.split('-').collect();
        assert_eq!(parts.len(), 4, "{short}");
        assert_eq!(parts[0], "hk");
        assert_eq!(parts[2], (t + TTL as i64).to_string());
        for hex in [(parts[1], 16), (parts[3], 8)] {
            assert!(
                hex.0.len() == hex.1
                    && hex
                        .0
                        .bytes()
                        .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')),
                "{short}"
            );
        }
        let info =
            r.h.robots()
                .into_iter()
                .find(|x| x.name == minted.username)
                .unwrap();
        assert_eq!(
            info.description,
            format!(
                "harbor-broker: Kubernetes service account ci/builder (pod web-0, node node-a); \
                 pull by [[kubernetes_rules]] entry 3; ends at {} (Unix seconds)",
                t + TTL as i64
            )
        );
        let as_robot = client(&r.h, &minted.username, minted.password.expose_secret());
        assert_eq!(
            harbor_client::account::kind(&as_robot).unwrap(),
            harbor_client::account::Kind::Robot
        );
        // Nothing releases it; the sweep ends it once its expiry passes.
        let swept = broker.sweep(&projects(), t + TTL as i64).unwrap();
        assert_eq!((swept.deleted, swept.failed), (1, 0));
    }
}

#[test]
fn the_fourth_live_robot_of_a_service_account_is_refused_and_its_neighbours_are_not() {
    let r = rig();
    let broker = r.minter(&minimal_minter());
    let t = now();
    let builder = service_account("ci", "builder");
    // A robot whose intended expiry has passed no longer counts.
    r.mint_for(&broker, &builder, t - TTL as i64 - 5);
    for _ in 0..3 {
        r.mint_for(&broker, &builder, t);
    }
    let e = broker
        .mint(&sa_grant(), Holder::ServiceAccount(&builder), t)
        .unwrap_err();
    let (status, text) = r.error(e);
    assert_eq!(status, 429, "{text}");
    assert!(
        text.contains("service account ci/builder already holds 3 live robots"),
        "{text}"
    );
    assert!(
        text.contains("the sweeper ends them ttl_seconds after"),
        "{text}"
    );
    // Another service account of the namespace, the same name in another namespace, and a
    // job all still mint.
    r.mint_for(&broker, &service_account("ci", "deployer"), t);
    r.mint_for(&broker, &service_account("ci2", "builder"), t);
    r.mint(&broker, "5", Access::Pull, t);
    let hk =
        r.h.robots()
            .into_iter()
            .filter(|x| x.name.contains("+hk-"))
            .count();
    assert_eq!(hk, 6);
    // The count asks Harbor for that account's robots only.
    assert!(
        r.h.requests()
            .iter()
            .any(|q| q.path.contains("%2Cname%3D~hk-") && q.path.contains("&page_size=100&page=1")),
        "no filtered listing"
    );
}

#[test]
fn a_job_s_release_leaves_service_accounts_robots_and_the_sweep_ends_both() {
    let r = rig();
    let broker = r.admin();
    let t = now();
    let job = r.mint(&broker, "900", Access::Pull, t);
    let sa = r.mint_for(&broker, &service_account("ci", "builder"), t);
    let old_job = r.mint(&broker, "901", Access::Pull, t - 10);
    let old_sa = r.mint_for(&broker, &service_account("ci", "runner"), t - 10);
    // Named like a service account's, but not made by a broker: its description lacks the mark.
    let foreign = r.h.add_robot(
        "proj",
        &format!("hk-0123456789abcdef-{}-0a1b2c3d", t - 60),
        &["pull"],
        1,
    );
    let names = || -> Vec<String> { r.h.robots().into_iter().map(|x| x.name).collect() };

    assert_eq!(broker.release(&projects(), "900").unwrap(), 1);
    let left = names();
    assert!(!left.contains(&job.username), "{left:?}");
    assert!(
        left.contains(&sa.username) && left.contains(&old_sa.username),
        "{left:?}"
    );

    // Past the older robots' expiry, not the newer one's.
    let swept = broker.sweep(&projects(), t - 10 + TTL as i64).unwrap();
    assert_eq!((swept.deleted, swept.failed), (2, 0));
    let left = names();
    assert!(left.contains(&sa.username), "{left:?}");
    for gone in [&old_job.username, &old_sa.username] {
        assert!(!left.contains(gone), "{gone} in {left:?}");
    }
    let swept = broker.sweep(&projects(), t + TTL as i64).unwrap();
    assert_eq!((swept.deleted, swept.failed), (1, 0));
    let left = names();
    assert!(!left.contains(&sa.username), "{left:?}");
    assert!(left.contains(&foreign.name), "{left:?}");
}
