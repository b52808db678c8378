//! The `harbor-broker` binary end to end: real processes against the Harbor double and the
//! GitLab issuer double (tests/rig): a job's token buys a robot Harbor knows, the job's
//! release deletes it on any replica, the audit line holds no secret, and SIGTERM stops the
//! process cleanly.

mod rig;

use harbor_double::JobClaims;
use rig::Rig;

#[test]
fn a_job_token_buys_a_robot_on_one_replica_and_the_other_releases_it() {
    let rig = Rig::start(false);
    let config = rig.admin_config();
    let a = rig.broker("a", &config);
    let b = rig.broker("b", &config);
    let job = JobClaims {
        job_id: 4242,
        ..JobClaims::default()
    };
    let token = rig.token(&job);

    let (status, body) = a.mint(&token, "push");
    assert_eq!(status, 201, "{body}");
    let username = body["username"].as_str().unwrap().to_owned();
    let password = body["password"].as_str().unwrap().to_owned();
    assert_eq!(body["registry"], rig.harbor.addr());
    assert_eq!(body["project"], "proj");
    assert!(username.starts_with("robot$proj+hb-4242-"), "{username}");
    let robot = rig
        .harbor
        .robots()
        .into_iter()
        .find(|r| r.name == username)
        .expect("Harbor holds the robot");

    let (status, body) = b.release(&token);
    assert_eq!((status, body["deleted"].as_u64()), (200, Some(1)), "{body}");
    assert!(rig.harbor.robot(robot.id).is_none());

    for broker in [&a, &b] {
        let out = broker.output();
        assert!(
            !out.contains(&password),
            "a robot's secret in the broker's output"
        );
        assert!(!out.contains(&token), "the token in the broker's output");
    }
    let audit = a.audit();
    let mint = audit.iter().find(|l| l["event"] == "mint").unwrap();
    assert_eq!(mint["outcome"], "granted");
    assert_eq!(mint["job_id"], "4242");
    assert_eq!(mint["robot"], username.as_str());
    let release = b
        .audit()
        .into_iter()
        .find(|l| l["event"] == "release")
        .unwrap();
    assert_eq!(release["deleted"], 1);
}

#[test]
fn sigterm_stops_the_broker_with_exit_status_0() {
    let rig = Rig::start(false);
    let mut broker = rig.broker("a", &rig.admin_config());
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(broker.child.id() as i32, libc::SIGTERM) };
    let status = broker.child.wait().unwrap();
    assert!(status.success(), "{status:?}: {}", broker.stderr());
    assert!(!broker.stderr().contains("panicked"), "{}", broker.stderr());
}
