//! Load with faults: 200 jobs run pre-build at once against a Harbor that answers
//! 30 % of requests with nginx's 503 and delays others. Every job must end, verified or
//! warned, with no more requests than the retry budget allows and an intact job record; and
//! the retries must not come in lockstep.

use std::fs;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use harbor_double::{Fault, Robot};

use crate::util::jobs::{start, trust_in_home};
use crate::util::{BIN, TestEnv, base64};

const JOBS: usize = 200;
/// DOCKER_CREDENTIAL_HARBOR_TIMEOUT for every job.
const TIMEOUT_S: u64 = 5;

fn spawn_job(t: &TestEnv, h_url: &str, i: usize, robot: &Robot) -> Child {
    let dir = t.path(&format!("jobs/{i}"));
    fs::create_dir_all(dir.join("build.tmp")).unwrap();
    t.command(BIN)
        .arg("pre-build")
        .env("HARBOR_URL", h_url)
        .env("HARBOR_USERNAME", &robot.name)
        .env("HARBOR_PASSWORD", &robot.secret)
        .env("HARBOR_PROJECT", "proj")
        .env("CI", "true")
        .env("CI_JOB_ID", i.to_string())
        .env("RUNNER_TEMP_PROJECT_DIR", dir.join("build.tmp"))
        .env("DOCKER_CREDENTIAL_HARBOR_TIMEOUT", TIMEOUT_S.to_string())
        .stdin(Stdio::null())
        .stdout(fs::File::create(dir.join("stdout")).unwrap())
        .stderr(fs::File::create(dir.join("stderr")).unwrap())
        .spawn()
        .unwrap()
}

#[test]
fn two_hundred_jobs_against_a_flaky_harbor_end_verified_or_warned() {
    let mut t = TestEnv::new("load-200");
    let h = start(&t, false);
    trust_in_home(&t, &h);
    // One account per job, so Harbor's log says which job sent which request.
    let robots: Vec<Robot> = (0..JOBS)
        .map(|i| h.add_robot("proj", &format!("load{i}"), &["pull", "push"], 1))
        .collect();
    for r in &robots {
        t.secret(&r.secret);
    }
    h.set_fault(Fault::Flaky {
        percent_503: 30,
        percent_slow: 10,
        slow: Duration::from_millis(1500),
    });
    let mut jobs: Vec<Option<Child>> = robots
        .iter()
        .enumerate()
        .map(|(i, r)| Some(spawn_job(&t, &h.url(), i, r)))
        .collect();

    // A watchdog, not a speed check: a job that outlives three times its timeout hangs.
    let deadline = Instant::now() + Duration::from_secs(3 * TIMEOUT_S + 60);
    let mut codes = vec![None; JOBS];
    while codes.iter().any(Option::is_none) {
        for (i, slot) in jobs.iter_mut().enumerate() {
            if let Some(child) = slot
                && let Some(status) = child.try_wait().unwrap()
            {
                codes[i] = Some(status.code());
                *slot = None;
            }
        }
        if Instant::now() > deadline {
            let hung: Vec<usize> = (0..JOBS).filter(|&i| codes[i].is_none()).collect();
            for child in jobs.iter_mut().flatten() {
                let _ = child.kill();
            }
            panic!("jobs {hung:?} did not end");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    h.set_fault(Fault::None);

    let (mut verified, mut warned) = (0, 0);
    for (i, robot) in robots.iter().enumerate() {
        let dir = t.path(&format!("jobs/{i}"));
        let stderr = fs::read_to_string(dir.join("stderr")).unwrap();
        assert_eq!(codes[i], Some(Some(0)), "job {i}: {stderr}");
        for s in [&robot.secret, &h.password("alice")] {
            assert!(!stderr.contains(s.as_str()), "job {i} printed a secret");
        }
        if stderr.contains("credentials verified") {
            verified += 1;
        } else {
            assert!(
                stderr.contains("docker-credential-harbor: warning:"),
                "job {i}: {stderr}"
            );
            warned += 1;
        }
        // The job's record and its per-job docker config are whole.
        let per_job = dir.join("build.tmp/docker-credential-harbor");
        let state: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(per_job.join("state.json")).unwrap())
                .unwrap_or_else(|e| panic!("job {i}: a broken record: {e}"));
        assert_eq!(state["job_id"], i.to_string());
        let docker: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(per_job.join("docker/config.json")).unwrap())
                .unwrap();
        assert_eq!(docker["credHelpers"][h.addr()], "harbor", "job {i}");
    }

    // At most the retry budget per job, and retries spread out.
    let requests = h.requests();
    assert!(requests.len() <= 3 * JOBS, "{} requests", requests.len());
    let mut first_gaps = Vec::new();
    for robot in &robots {
        let basic = format!(
            "Basic {}",
            base64(format!("{}:{}", robot.name, robot.secret).as_bytes())
        );
        let mine: Vec<i64> = requests
            .iter()
            .filter(|r| r.header("authorization") == Some(basic.as_str()))
            .map(|r| r.received_ms)
            .collect();
        assert!(
            !mine.is_empty() && mine.len() <= 3,
            "{}: {} requests",
            robot.name,
            mine.len()
        );
        if mine.len() >= 2 {
            first_gaps.push(mine[1] - mine[0]);
        }
    }
    first_gaps.sort_unstable();
    eprintln!(
        "load: {verified} verified, {warned} warned; {} jobs retried; first-retry gaps (ms) min {:?} median {:?} max {:?}",
        first_gaps.len(),
        first_gaps.first(),
        first_gaps.get(first_gaps.len() / 2),
        first_gaps.last()
    );
    assert!(verified > JOBS / 2, "{verified} of {JOBS} verified");
    // The first pause is 250 ms scaled by 0.5 to 1.5. A retry that arrives sooner than the
    // unscaled pause is only possible with that jitter: a sleep is never shorter than asked.
    assert!(
        first_gaps.len() < 10 || first_gaps.iter().any(|&g| g < 240),
        "every retry waited the full 250 ms: no jitter? {first_gaps:?}"
    );
}
