//! What `pre-build` did for one CI job, as a list of [`Action`]s, each of which `post-build`
//! undoes, last first, and nothing else: the per-job directory, what the job shares with other
//! jobs under a lease (`credHelpers` entries in a user's files, CA files in `certs.d`), the job
//! robot, or the robot harbor-broker gave the job. Each action's undo lives beside the action it
//! undoes: `remove_per_job_dir` here, `leases` for shared things, `job_robot::retire` for the
//! job robot, `broker_robot::release` for the broker's.
//!
//! The record lives in the per-job directory under `RUNNER_TEMP_PROJECT_DIR`, or, without
//! one, in the data directory keyed by `CI_JOB_ID`. It holds paths, registry names and ids
//! only, never a secret, and is written atomically with mode 0600. The job's
//! shell (`process::job_shell`), whose life is the job's.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow};
use serde::{Deserialize, Serialize};

use docker_credential_harbor_core::atomic_file::{self, Links};

use crate::leases::Thing;
use crate::process::ProcessId;
use crate::settings::{CiJob, JobContext, PER_JOB_DIR};

const STATE_FILE: &str = "state.json";
/// 2: a list of actions (0.1 wrote fields per kind of thing).
const FORMAT_VERSION: u32 = 2;

/// One thing pre-build did for the job, with what post-build needs to undo it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "action", rename_all = "snake_case")]
pub(crate) enum Action {
    /// Made the per-job directory (removed whole: [`remove_per_job_dir`]).
    PerJobDir { path: PathBuf },
    /// Took a lease on something shared with other jobs (undone by `leases` once no living
    /// job holds it).
    Shared { thing: Thing },
    /// Minted the job's robot (deleted by `job_robot::retire`).
    Robot { robot: JobRobot },
    /// Got the job's robot from harbor-broker (released by `broker_robot::release`).
    BrokerRobot { robot: BrokerRobot },
}

/// The robot harbor-broker gave the job, as post-build needs it to release it and to say what
/// it released (never its secret: that is in the 0600 store alone).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct BrokerRobot {
    /// `host[:port]`.
    pub(crate) registry: String,
    pub(crate) username: String,
    pub(crate) project: String,
    /// Unix seconds: when the broker's sweeper deletes it if nothing released it.
    pub(crate) expires_at: i64,
    /// The 0600 store that holds the robot's secret for the helper.
    pub(crate) store: PathBuf,
}

/// The job's robot, as post-build and the keeper know it (never its secret).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct JobRobot {
    pub(crate) id: i64,
    pub(crate) name: String,
    pub(crate) expires_at: i64,
    /// The keeper's socket.
    pub(crate) socket: PathBuf,
    /// The 0600 store that holds the robot's secret for the helper.
    pub(crate) store: PathBuf,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct JobState {
    pub(crate) version: u32,
    /// `CI_JOB_ID`, when there is one.
    #[serde(default)]
    pub(crate) job_id: Option<String>,
    /// The job's shell, which holds the leases.
    #[serde(default)]
    pub(crate) shell: Option<ProcessId>,
    /// What pre-build did, in order.
    #[serde(default)]
    pub(crate) actions: Vec<Action>,
}

/// Where this job's record lives: the per-job directory, else the data directory by job id.
pub(crate) fn state_path(context: &JobContext) -> anyhow::Result<PathBuf> {
    if let Some(dir) = &context.per_job_dir {
        return Ok(dir.join(STATE_FILE));
    }
    let data = context.data_dir.as_ref().ok_or_else(|| {
        anyhow!("no RUNNER_TEMP_PROJECT_DIR and no data directory (HOME is not set)")
    })?;
    let job = context.job.id.as_deref().unwrap_or("local");
    // A job id is digits; anything else is kept to a safe file name.
    let job: String = job
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    Ok(data.join("jobs").join(format!("{job}.json")))
}

/// Undoes [`Action::PerJobDir`]: only a directory named as pre-build names it, and never
/// through a link.
pub(crate) fn remove_per_job_dir(dir: &Path) -> anyhow::Result<bool> {
    let ours = dir.file_name().is_some_and(|n| n == PER_JOB_DIR)
        && fs::symlink_metadata(dir).is_ok_and(|m| m.is_dir());
    if !ours {
        return Ok(false);
    }
    fs::remove_dir_all(dir).with_context(|| format!("cannot remove {}", dir.display()))?;
    Ok(true)
}

impl JobState {
    pub(crate) fn new(job: &CiJob, shell: ProcessId) -> JobState {
        JobState {
            version: FORMAT_VERSION,
            job_id: job.id.clone(),
            shell: Some(shell),
            actions: Vec::new(),
        }
    }

    pub(crate) fn push(&mut self, action: Action) {
        self.actions.push(action);
    }

    /// The record at `path`; `Ok(None)` when pre-build left none.
    pub(crate) fn load(path: &Path) -> anyhow::Result<Option<JobState>> {
        match atomic_file::read_regular(path, Links::Refuse, 1 << 20) {
            Ok(Some((bytes, _))) => JobState::from_bytes(path, &bytes).map(Some),
            Ok(None) => Ok(None),
            Err(e) => Err(anyhow!(
                "cannot read the job record {}: {e}",
                path.display()
            )),
        }
    }

    /// The record `bytes` hold, as read from `path`. It lives where the job can write, so it
    /// is outside input like any other.
    /// A record of another format version is refused, not read as this one: its actions could
    /// mean something else, and undoing the wrong thing is worse than undoing nothing.
    pub(crate) fn from_bytes(path: &Path, bytes: &[u8]) -> anyhow::Result<JobState> {
        let invalid = |e: serde_json::Error| {
            anyhow!(
                "the job record {} is not valid (line {}, column {})",
                path.display(),
                e.line(),
                e.column()
            )
        };
        // The version first, alone: a newer record need not parse as this one.
        #[derive(Deserialize)]
        struct Version {
            version: u32,
        }
        let Version { version } = serde_json::from_slice(bytes).map_err(invalid)?;
        if version != FORMAT_VERSION {
            return Err(anyhow!(
                "the job record {} has format version {version}, and this docker-credential-harbor \
                 reads version {FORMAT_VERSION} only; run pre-build and post-build with the same \
                 docker-credential-harbor, or remove what the record lists by hand",
                path.display()
            ));
        }
        serde_json::from_slice(bytes).map_err(invalid)
    }

    pub(crate) fn save(&self, path: &Path) -> anyhow::Result<()> {
        if let Some(dir) = path.parent() {
            atomic_file::create_private_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let bytes = serde_json::to_vec_pretty(self).context("cannot encode the job record")?;
        atomic_file::write_private(path, &bytes)
            .with_context(|| format!("cannot write the job record {}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_of_another_format_version_is_refused_with_what_to_do() {
        let path = Path::new("/build.tmp/docker-credential-harbor/state.json");
        // 0.1's record (fields per kind of thing) and a future one with an action this
        // version does not know; both used to load as a record with nothing to undo, or fail
        // as "not valid".
        for (bytes, version) in [
            (
                &br#"{"version":1,"docker_config":"/home/u/.docker/config.json"}"#[..],
                1,
            ),
            (br#"{"version":3,"actions":[{"action":"new_kind"}]}"#, 3),
        ] {
            let e = format!("{:#}", JobState::from_bytes(path, bytes).unwrap_err());
            assert_eq!(
                e,
                format!(
                    "the job record {} has format version {version}, and this \
                     docker-credential-harbor reads version 2 only; run pre-build and post-build \
                     with the same docker-credential-harbor, or remove what the record lists by \
                     hand",
                    path.display()
                )
            );
        }
    }

    #[test]
    fn a_record_of_this_version_loads_and_one_without_a_version_is_not_valid() {
        let path = Path::new("state.json");
        let mut state = JobState {
            version: FORMAT_VERSION,
            job_id: Some("7".into()),
            ..JobState::default()
        };
        state.push(Action::PerJobDir {
            path: "/build.tmp/docker-credential-harbor".into(),
        });
        let bytes = serde_json::to_vec(&state).unwrap();
        let back = JobState::from_bytes(path, &bytes).unwrap();
        assert_eq!((back.job_id, back.actions), (state.job_id, state.actions));
        let e = JobState::from_bytes(path, br#"{"actions":[]}"#).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("the job record state.json is not valid"),
            "{e}"
        );
    }
}
