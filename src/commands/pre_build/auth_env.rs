//! The job's `DOCKER_AUTH_CONFIG`, made harmless for the docker CLI ≥ 28.3
//! (docs/gitlab-runner.md#versions-that-matter).
//! Such a CLI answers a host listed there from the variable and never asks the helper, so a
//! pull-only entry meant for the runner's job-image pulls makes `docker push` fail after the
//! build; and a value it rejects (`credHelpers`, say) it ignores, but prints "Failed to create
//! credential store from DOCKER_AUTH_CONFIG" at every credential lookup.
//!
//! The runner has already pulled the job's images and keeps its own copy, so the job's shell
//! can lose what would shadow the helper: the entries for the registries pre-build points at
//! the helper (under any spelling), the whole variable when nothing else is left, it is too
//! long or not ASCII, or docker ignores it anyway. Other registries' entries stay, cut from
//! the variable in the job's shell (`shell::rebuild`), so no secret is written into
//! pre-build's output. Nothing to undo: `after_script` starts a new shell with the original
//! value.

use std::ops::Range;

use docker_credential_harbor_core::address::Registry;
use docker_credential_harbor_core::docker_auth_config::{AuthsEntry, DockerAuthConfig};
use docker_credential_harbor_core::env::DOCKER_AUTH_CONFIG;

use super::summary::Report;
use crate::docker_auth_verdict::{Reader, Verdict};
use crate::settings::JobContext;
use crate::shell::{self, Cut, Piece};

/// The longest value pre-build rebuilds without its Harbor entries; a longer one that holds
/// one is unset, with a note. Not for the time (the rebuild is linear, `shell::Cut`) but for
/// the script: up to about twice the value, eval'd by the job's shell and shown in the job
/// log under `CI_DEBUG_TRACE`. Half of what Linux lets one environment string hold.
const MAX_REBUILT: usize = 64 * 1024;

/// Adds the lines that neutralise the variable, and says what they do.
pub(super) fn neutralise(context: &JobContext, registries: &[Registry], o: &mut Report) {
    let config = &context.docker_auth_config;
    let Some(verdict) = Verdict::of(config, registries) else {
        return;
    };
    if context.keep_docker_auth_config {
        if let Some(note) = verdict.said(Reader::PreBuildKeeping) {
            o.note(note);
        }
        return;
    }
    let why = verdict.said(Reader::PreBuild).unwrap_or_default();
    let (
        Verdict::Shadows(gone),
        DockerAuthConfig::Valid {
            len,
            ascii,
            entries,
            quotes,
        },
    ) = (&verdict, config)
    else {
        // Rejected: docker ignores it anyway, so unsetting it loses nothing.
        o.exports.push(shell::unset(DOCKER_AUTH_CONFIG));
        o.note(why);
        return;
    };
    let kept = entries.len() - gone.len();
    let cut = if !ascii {
        Err(Uncut::NotAscii)
    } else if *len > MAX_REBUILT {
        Err(Uncut::TooLong)
    } else {
        let pieces = pieces(entries, |e| !gone.contains(&e));
        Cut::new(*len, b'"', quotes, &pieces).ok_or(Uncut::Inseparable)
    };
    match cut {
        _ if kept == 0 => {
            o.exports.push(shell::unset(DOCKER_AUTH_CONFIG));
            o.configured
                .push(format!("{DOCKER_AUTH_CONFIG} unset for this job ({why})"));
        }
        Err(because) => {
            o.exports.push(shell::unset(DOCKER_AUTH_CONFIG));
            o.note(format!(
                "{DOCKER_AUTH_CONFIG} unset for this job ({why}); its other entries cannot be kept, because {because}"
            ));
        }
        Ok(cut) => {
            o.exports.push(shell::rebuild(DOCKER_AUTH_CONFIG, &cut));
            o.configured.push(format!(
                "{DOCKER_AUTH_CONFIG} without its Harbor entry for this job ({why}); {kept} other {} kept",
                if kept == 1 { "entry" } else { "entries" }
            ));
        }
    }
}

/// `{"auths":{<run>,<run>…}}`, where a run is consecutive members of one `auths` object that
/// all stay: one range of the value, with the commas and spacing between them as they were.
pub(crate) fn pieces<'a>(
    entries: &[AuthsEntry],
    keep: impl Fn(&AuthsEntry) -> bool,
) -> Vec<Piece<'a>> {
    let mut runs: Vec<Range<usize>> = Vec::new();
    // The `auths` object of the entry before, when it stays.
    let mut after = None;
    for e in entries {
        if !keep(e) {
            after = None;
            continue;
        }
        match runs.last_mut() {
            Some(run) if after == Some(e.object) => run.end = e.member.end,
            _ => runs.push(e.member.clone()),
        }
        after = Some(e.object);
    }
    let mut pieces = vec![Piece::Text(b"{\"auths\":{")];
    for (i, run) in runs.into_iter().enumerate() {
        if i > 0 {
            pieces.push(Piece::Text(b","));
        }
        pieces.push(Piece::Kept(run));
    }
    pieces.push(Piece::Text(b"}}"));
    pieces
}

/// Why the entries that would shadow the helper cannot be cut out of the value, so that the
/// others are kept; said after "because".
#[derive(Debug, thiserror::Error)]
enum Uncut {
    #[error("the value is not ASCII")]
    NotAscii,
    #[error("the value is longer than {MAX_REBUILT} bytes, the most pre-build rebuilds")]
    TooLong,
    #[error("they cannot be cut from the value")]
    Inseparable,
}
