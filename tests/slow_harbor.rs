//! `DOCKER_CREDENTIAL_HARBOR_TIMEOUT` bounds each call to Harbor as a
//! whole. A server that trickles its headers, or its body, a byte at a time never pauses long
//! enough for a per-read timeout; `pre-build`, `doctor` and `robots prune` must still give up
//! at the deadline and say which variable sets it. Each command runs under a 60 s watchdog (a
//! hang guard: the trickled answers would take hours).

use std::time::Duration;

use crate::util::trickle::{Phase, Trickle};
use crate::util::{Out, TestEnv};

const TIMEOUT_VAR: &str = "DOCKER_CREDENTIAL_HARBOR_TIMEOUT";
/// Shorter than the timeout, so no single read ever waits long enough to time out.
const PAUSE: Duration = Duration::from_millis(250);

/// Runs the helper with `args` against a server trickling each phase in turn, with the job's
/// variables and a 2 s timeout, and hands each output to `check`.
fn against_trickles(name: &str, args: &[&str], check: impl Fn(Out)) {
    for phase in [Phase::Headers, Phase::Body] {
        let mut t = TestEnv::new(&format!("slow-{name}-{phase:?}"));
        let server = Trickle::start(phase, PAUSE);
        t.harbor_env(&server.url, "alice", "alice-Secret-16")
            .set("HARBOR_PROJECT", "proj")
            .set(TIMEOUT_VAR, "2");
        let out = t.bounded(args, b"");
        t.assert_clean(&out);
        assert!(server.requests() > 0, "{phase:?}: Harbor was never asked");
        check(out);
    }
}

const GAVE_UP: &str = "Harbor did not answer within 2 s";

#[test]
fn issue_16_3_pre_build_gives_up_on_a_trickled_answer_at_the_timeout() {
    against_trickles("pre-build", &["pre-build"], |out| {
        out.success().stderr_has(GAVE_UP).stderr_has(TIMEOUT_VAR);
    });
}

#[test]
fn issue_16_3_doctor_gives_up_on_a_trickled_answer_at_the_timeout() {
    against_trickles("doctor", &["doctor"], |out| {
        let out = out.failure();
        let line = out
            .stdout
            .lines()
            .find(|l| l.contains(GAVE_UP))
            .unwrap_or_else(|| panic!("no check gave up:\n{}", out.stdout));
        assert!(line.contains("FAIL"), "{line}");
        out.stdout_has(TIMEOUT_VAR);
    });
}

#[test]
fn issue_16_3_robots_prune_gives_up_on_a_trickled_answer_at_the_timeout() {
    against_trickles("prune", &["robots", "prune"], |out| {
        out.failure()
            .stderr_has(&format!("robots prune: {GAVE_UP}"))
            .stderr_has(TIMEOUT_VAR);
    });
}
