//! doctor's look at what the job's docker CLI reads besides this helper: a
//! `DOCKER_AUTH_CONFIG` that docker ≥ 28.3 answers Harbor from, or rejects (then ignores, with
//! a warning at every credential lookup; docs/gitlab-runner.md#versions-that-matter).
//! Reads the value already parsed in `Settings`; never prints it, only registry names.

use super::{Checkup, Line, Outcome};
use crate::docker_auth_config::DockerAuthConfig;
use crate::env::DOCKER_AUTH_CONFIG;

const FIX: &str = "for the runner's job-image pulls, put credHelpers in the runner user's \
                   ~/.docker/config.json instead (docs/gitlab-runner.md); pre-build removes it \
                   from the job's shell meanwhile";

pub(super) fn docker_auth(c: &mut Checkup) -> Vec<Line> {
    let registries: Vec<_> = c.url.iter().map(|u| u.registry.clone()).collect();
    let config = &c.settings.docker_auth_config;
    let outcome = match config {
        DockerAuthConfig::Unset => return Vec::new(),
        DockerAuthConfig::Valid { .. } => {
            let Some(entry) = config.shadowing(&registries).next() else {
                return Vec::new();
            };
            Outcome::Warn(format!(
                "{DOCKER_AUTH_CONFIG} has an entry for {}: docker ≥ 28.3 answers from it and never asks the helper, so a push with a pull-only entry is denied; {FIX}",
                entry.shown()
            ))
        }
        DockerAuthConfig::Invalid(why) => Outcome::Warn(format!(
            "{DOCKER_AUTH_CONFIG} is rejected by docker ≥ 28.3 ({why}): it prints \"Failed to create credential store from DOCKER_AUTH_CONFIG\" at every credential lookup, then uses its config files as if the variable were unset, and the command goes on; {FIX}"
        )),
    };
    vec![("docker auth", outcome)]
}
