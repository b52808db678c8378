//! The job's `DOCKER_AUTH_CONFIG`, made harmless for the docker CLI ≥ 28.3 (field-2026.md §1).
//! Such a CLI answers a host listed there from the variable and never asks the helper, so a
//! pull-only entry meant for the runner's job-image pulls makes `docker push` fail after the
//! build; and a value it rejects (`credHelpers`, say) it ignores, but prints "Failed to create
//! credential store from DOCKER_AUTH_CONFIG" at every credential lookup.
//!
//! The runner has already pulled the job's images and keeps its own copy, so the job's shell
//! can lose what would shadow the helper: the entries for the registries pre-build points at
//! the helper (under any spelling), the whole variable when nothing else is left or docker
//! rejects it anyway. Other registries' entries stay, rebuilt from the variable by offsets
//! (`shell::rebuild`), so no secret is written into pre-build's output. Nothing to undo:
//! `after_script` starts a new shell with the original value.

use super::summary::Outcome;
use crate::address::Registry;
use crate::docker_auth_config::{DockerAuthConfig, Entry};
use crate::env::{DOCKER_AUTH_CONFIG, KEEP_AUTH_CONFIG_VAR};
use crate::settings::Settings;
use crate::shell::{self, Piece};

/// Adds the lines that neutralise the variable, and says what they do.
pub(super) fn neutralise(settings: &Settings, registries: &[Registry], o: &mut Outcome) {
    let config = &settings.docker_auth_config;
    let gone: Vec<&Entry> = config.shadowing(registries).collect();
    if settings.keep_docker_auth_config {
        if !gone.is_empty() {
            o.note(format!(
                "{DOCKER_AUTH_CONFIG} has an entry for {}, kept because {KEEP_AUTH_CONFIG_VAR} is set: docker ≥ 28.3 uses it instead of the helper",
                listed(&gone)
            ));
        }
        return;
    }
    match config {
        DockerAuthConfig::Unset => {}
        DockerAuthConfig::Valid { .. } if gone.is_empty() => {}
        DockerAuthConfig::Valid {
            len,
            ascii,
            entries,
        } => {
            let kept: Vec<&Entry> = entries.iter().filter(|e| !gone.contains(e)).collect();
            let why = format!(
                "docker ≥ 28.3 would use the entry for {} instead of the helper",
                listed(&gone)
            );
            if kept.is_empty() {
                o.exports.push(shell::unset(DOCKER_AUTH_CONFIG));
                o.configured
                    .push(format!("{DOCKER_AUTH_CONFIG} unset for this job ({why})"));
            } else if !ascii {
                o.exports.push(shell::unset(DOCKER_AUTH_CONFIG));
                o.note(format!(
                    "{DOCKER_AUTH_CONFIG} unset for this job ({why}); its other entries cannot be kept, because the value is not ASCII"
                ));
            } else {
                o.exports
                    .push(shell::rebuild(DOCKER_AUTH_CONFIG, *len, &pieces(&kept)));
                o.configured.push(format!(
                    "{DOCKER_AUTH_CONFIG} without its Harbor entry for this job ({why}); {} other {} kept",
                    kept.len(),
                    if kept.len() == 1 { "entry" } else { "entries" }
                ));
            }
        }
        DockerAuthConfig::Invalid(why) => {
            o.exports.push(shell::unset(DOCKER_AUTH_CONFIG));
            o.note(format!(
                "{DOCKER_AUTH_CONFIG} unset for this job: docker ≥ 28.3 rejects it ({why}), so it ignores it and \
                 uses its config files, but prints \"Failed to create credential store from DOCKER_AUTH_CONFIG\" at \
                 every credential lookup; unsetting it loses nothing docker uses. The runner has already pulled \
                 the job's images; for the runner's own pulls, put credHelpers in the runner user's \
                 ~/.docker/config.json instead (docs/gitlab-runner.md)"
            ));
        }
    }
}

/// `{"auths":{<kept member>,<kept member>…}}`, each member cut from the value as it was.
fn pieces<'a>(kept: &[&Entry]) -> Vec<Piece<'a>> {
    let mut pieces = vec![Piece::Text(b"{\"auths\":{")];
    for (i, e) in kept.iter().enumerate() {
        if i > 0 {
            pieces.push(Piece::Text(b","));
        }
        pieces.push(Piece::Kept(e.member.clone()));
    }
    pieces.push(Piece::Text(b"}}"));
    pieces
}

fn listed(entries: &[&Entry]) -> String {
    let mut names: Vec<String> = entries.iter().map(|e| e.shown()).collect();
    names.sort();
    names.dedup();
    names.join(", ")
}
