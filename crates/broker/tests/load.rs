//! Load with faults, end to end (tests/rig): 300 concurrent jobs against two real
//! `harbor-broker` replicas while the Harbor double answers 30 % of its requests with nginx's
//! 503, and one replica is SIGKILLed mid-run. It checks that every answer is one the contract
//! allows and arrives (the client's 60 s timeout is the hang guard; nothing here asserts a
//! speed), that the survivor keeps answering, and that no broker robot outlives the jobs once
//! they have released and a sweep has run. It prints the figures docs/benchmarks.md quotes.
//!
//! What it must never do: wait out a real `ttl_seconds` (300 s at least), or pass when a
//! robot is left behind.

mod rig;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Barrier, Mutex};
use std::time::{Duration, Instant};

use harbor_broker::config;
use harbor_broker::harbor;
use harbor_broker::robots::Robots;
use harbor_double::{Fault, JobClaims};
use rig::{Broker, Rig};
use serde_json::Value;

const JOBS: u64 = 300;
/// Answers (mints and releases) received before replica `a` is killed.
const KILL_AFTER: usize = 120;
/// The first jobs `a` grants a robot to that never release: their runner died with `a`'s node.
const ABANDONED: usize = 5;
const TTL: u64 = 300;

/// One request as a job saw it.
struct Call {
    what: &'static str,
    /// 0 for `a` (the replica killed), 1 for `b`.
    replica: usize,
    latency: Duration,
    /// The status and body, or the client's error and whether it was the timeout.
    answer: Result<(u16, Value), (String, bool)>,
}

impl Call {
    fn status(&self) -> Option<u16> {
        self.answer.as_ref().ok().map(|(s, _)| *s)
    }
}

fn call(
    what: &'static str,
    replica: usize,
    answered: &AtomicUsize,
    send: impl FnOnce() -> reqwest::Result<(u16, Value)>,
) -> Call {
    let start = Instant::now();
    let answer = send().map_err(|e| (format!("{e:?}"), e.is_timeout()));
    answered.fetch_add(1, Ordering::SeqCst);
    Call {
        what,
        replica,
        latency: start.elapsed(),
        answer,
    }
}

/// What one job did: its calls, in order, and the robot it was granted.
struct Job {
    token: String,
    calls: Vec<Call>,
    robot: Option<String>,
    abandoned: bool,
    released: bool,
}

/// One job: mint on its replica, then release on the same one, or on the other when its
/// replica is gone (a job whose replica died uses the other). Some jobs of `a` never release.
fn run_job(
    i: u64,
    token: String,
    brokers: [&Broker; 2],
    killed: &AtomicBool,
    answered: &AtomicUsize,
    abandoned: &AtomicUsize,
) -> Job {
    let home = (i % 2) as usize;
    let mint = call("mint", home, answered, || {
        brokers[home].try_mint(&token, "push")
    });
    let robot = match &mint.answer {
        Ok((201, body)) => body["username"].as_str().map(str::to_owned),
        _ => None,
    };
    let mut job = Job {
        token,
        calls: vec![mint],
        abandoned: home == 0
            && robot.is_some()
            && abandoned.fetch_add(1, Ordering::SeqCst) < ABANDONED,
        robot,
        released: false,
    };
    if job.abandoned {
        return job;
    }
    let mut replica = if killed.load(Ordering::SeqCst) {
        1
    } else {
        home
    };
    loop {
        let release = call("release", replica, answered, || {
            brokers[replica].try_release(&job.token)
        });
        let gone = release.answer.is_err() && replica == 0;
        job.released = release.status() == Some(200);
        job.calls.push(release);
        if !gone {
            return job;
        }
        replica = 1;
    }
}

/// Checks one answer against the contract: 201 or 200 for a mint or a release, 502/503/504
/// with an `{"error"}` naming Harbor, a connection error only from the killed replica.
fn check(c: &Call) {
    match &c.answer {
        Ok((201, body)) if c.what == "mint" => {
            assert!(
                body["username"].is_string() && body["password"].is_string(),
                "{body}"
            );
        }
        Ok((200, body)) if c.what == "release" => assert!(body["deleted"].is_u64(), "{body}"),
        Ok((502..=504, body)) => {
            let error = body["error"].as_str().unwrap_or_default();
            assert!(error.contains("Harbor"), "{} answered {body}", c.what);
        }
        Ok((status, body)) => panic!("{} answered {status} {body}", c.what),
        Err((e, timeout)) => {
            assert!(
                !timeout,
                "{} got no answer within the client's timeout: {e}",
                c.what
            );
            assert_eq!(c.replica, 0, "{} failed on the survivor: {e}", c.what);
        }
    }
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    sorted[(sorted.len() * p).div_ceil(100).saturating_sub(1)]
}

fn broker_robots(rig: &Rig) -> BTreeSet<String> {
    rig.harbor
        .robots()
        .into_iter()
        .map(|r| r.name)
        .filter(|n| n.contains(&format!("+{}", harbor::STEM)))
        .collect()
}

/// 300 jobs, Harbor failing 30 % of calls, replica `a` SIGKILLed once 120 answers are in.
///
/// The sweep at the end does not wait for `ttl_seconds` (300 s at least, too long for a test):
/// it calls what the survivor's sweeper loop calls, `Robots::sweep` on a client made by
/// `harbor::connect_with` from the same `[harbor]` settings, with the clock moved past the
/// ttl (`now + ttl + 1`). The robots the killed replica minted for jobs that never released
/// must be among those it deletes.
#[test]
#[allow(clippy::print_stderr)] // the figures, for docs/benchmarks.md
fn three_hundred_jobs_with_harbor_failing_and_a_replica_killed_leave_no_robot() {
    let rig = Rig::start(false);
    let config = rig.admin_config();
    let mut a = rig.broker("a", &config);
    let b = rig.broker("b", &config);
    let tokens: Vec<String> = (0..JOBS)
        .map(|i| {
            rig.token(&JobClaims {
                job_id: 70_000 + i,
                ..JobClaims::default()
            })
        })
        .collect();
    let robots_at_start = rig.harbor.robots().len();
    rig.harbor.set_fault(Fault::Flaky {
        percent_503: 30,
        percent_slow: 0,
        slow: Duration::ZERO,
    });

    let killed = AtomicBool::new(false);
    let abandoned = AtomicUsize::new(0);
    let answered = AtomicUsize::new(0);
    let start = Barrier::new(JOBS as usize);
    let jobs = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for (i, token) in tokens.into_iter().enumerate() {
            let (a, b, killed, answered, start, jobs) = (&a, &b, &killed, &answered, &start, &jobs);
            let abandoned = &abandoned;
            s.spawn(move || {
                start.wait();
                let job = run_job(i as u64, token, [a, b], killed, answered, abandoned);
                jobs.lock().unwrap().push(job);
            });
        }
        let waiting = Instant::now();
        while answered.load(Ordering::SeqCst) < KILL_AFTER {
            assert!(
                waiting.elapsed() < Duration::from_secs(180),
                "the jobs are stuck"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
        // SAFETY: kill(2) on our own child's pid; `a.kill()` reaps it below.
        unsafe { libc::kill(a.child.id() as i32, libc::SIGKILL) };
        killed.store(true, Ordering::SeqCst);
    });
    a.kill();
    let mut jobs = jobs.into_inner().unwrap();

    let mut by_status = BTreeMap::<String, usize>::new();
    let mut latencies = Vec::new();
    for c in jobs.iter().flat_map(|j| &j.calls) {
        check(c);
        let status = c
            .status()
            .map_or("connection error".to_owned(), |s| s.to_string());
        let name = ["a", "b"][c.replica];
        *by_status
            .entry(format!("{} on {name}: {status}", c.what))
            .or_default() += 1;
        latencies.push(c.latency);
    }
    latencies.sort();
    let survivor_answers = jobs
        .iter()
        .flat_map(|j| &j.calls)
        .filter(|c| c.replica == 1 && c.answer.is_ok())
        .count();
    assert!(survivor_answers > 0, "the survivor answered nothing");

    // The fault clears; every job that has not released (its release met Harbor's 503)
    // releases on the survivor, which now must succeed.
    rig.harbor.set_fault(Fault::None);
    let mut late_releases = 0;
    for job in jobs.iter_mut().filter(|j| !j.abandoned && !j.released) {
        let (status, body) = b.release(&job.token);
        assert_eq!(status, 200, "{body}");
        late_releases += 1;
    }
    let (status, body) = b.get("/healthz");
    assert_eq!(status, 200, "{body}");
    let fresh = rig.token(&JobClaims {
        job_id: 79_999,
        ..JobClaims::default()
    });
    assert_eq!(b.mint(&fresh, "push").0, 201, "the survivor mints");
    assert_eq!(b.release(&fresh).0, 200, "the survivor releases");

    let abandoned: BTreeSet<String> = jobs
        .iter()
        .filter(|j| j.abandoned)
        .filter_map(|j| j.robot.clone())
        .collect();
    assert!(
        !abandoned.is_empty(),
        "no job of the killed replica was abandoned"
    );
    let before = broker_robots(&rig);
    assert!(
        abandoned.is_subset(&before),
        "robots of abandoned jobs are missing before the sweep"
    );

    let harbor_config = config::Harbor {
        url: rig.harbor.url(),
        username: config.username.clone(),
        password_file: b.dir.join("harbor-password"),
        ca_file: Some(rig.harbor.ca_file()),
    };
    let robots = harbor::connect_with(&harbor_config, TTL, Duration::from_secs(10)).unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let swept = robots
        .sweep(&["proj".to_owned()], now + TTL as i64 + 1)
        .unwrap();
    let after = broker_robots(&rig);
    assert_eq!((swept.deleted, swept.failed), (before.len(), 0));
    assert!(after.is_empty(), "left after the sweep: {after:?}");
    assert_eq!(rig.harbor.robots().len(), robots_at_start);

    // The figures docs/benchmarks.md quotes (cargo test ... -- --nocapture shows them).
    let mut figures = String::from("answers by request, replica and status:\n");
    for (k, n) in &by_status {
        figures += &format!("  {k}: {n}\n");
    }
    eprintln!(
        "{figures}answers: {}, max latency {:?}, p99 {:?}, p50 {:?}; releases after the fault \
         cleared: {late_releases}; broker robots before the sweep {} (abandoned jobs' {}), \
         after {}",
        latencies.len(),
        latencies[latencies.len() - 1],
        percentile(&latencies, 99),
        percentile(&latencies, 50),
        before.len(),
        abandoned.len(),
        after.len()
    );
}
