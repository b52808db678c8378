//! doctor's look at what the job's docker CLI reads besides this helper: a
//! `DOCKER_AUTH_CONFIG` that docker ≥ 28.3 answers Harbor from, or rejects (then ignores, with
//! a warning at every credential lookup; docs/gitlab-runner.md#versions-that-matter).
//! Reads the value already parsed in `JobContext`; never prints it, only registry names.

use super::{Checkup, Finding, Line};
use crate::docker_auth_verdict::{Reader, Verdict};

pub(super) fn docker_auth(c: &mut Checkup) -> Vec<Line> {
    let registries: Vec<_> = c.url.iter().map(|u| u.registry.clone()).collect();
    let Some(verdict) = Verdict::of(&c.context.docker_auth_config, &registries) else {
        return Vec::new();
    };
    verdict
        .said(Reader::Doctor)
        .map(|said| ("docker auth", Finding::Warn(said)))
        .into_iter()
        .collect()
}
