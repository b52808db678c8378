//! What `pre-build` did for one CI job, recorded so that `post-build` undoes exactly that and
//! nothing else: the per-job directory, `credHelpers` entries added to a user's files, CA
//! files placed in `certs.d`.
//!
//! The record lives in the per-job directory under `RUNNER_TEMP_PROJECT_DIR`, or, without
//! one, in the data directory keyed by `CI_JOB_ID`. It holds paths and registry names only,
//! never a secret, and is written atomically with mode 0600.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow};
use serde::{Deserialize, Serialize};

use crate::atomic_file;
use crate::env::Env;

/// The directory `pre-build` owns inside `RUNNER_TEMP_PROJECT_DIR`.
pub const PER_JOB_DIR: &str = "docker-credential-harbor";
const STATE_FILE: &str = "state.json";
const FORMAT_VERSION: u32 = 1;

/// `credHelpers` entries added to one file that is not ours.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Edit {
    pub path: PathBuf,
    pub registries: Vec<String>,
    /// pre-build created the file: post-build removes it when nothing else is left in it.
    #[serde(default)]
    pub created: bool,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct JobState {
    pub version: u32,
    /// `CI_JOB_ID`, when there is one.
    #[serde(default)]
    pub job_id: Option<String>,
    /// Removed whole by post-build.
    #[serde(default)]
    pub per_job_dir: Option<PathBuf>,
    #[serde(default)]
    pub edits: Vec<Edit>,
    /// Files pre-build created (CA certificates in certs.d).
    #[serde(default)]
    pub placed_files: Vec<PathBuf>,
    /// Directories pre-build created for them, deepest last; removed only when empty.
    #[serde(default)]
    pub created_dirs: Vec<PathBuf>,
    /// The job robot, when one was minted.
    #[serde(default)]
    pub robot: Option<crate::job_robot::JobRobot>,
}

/// The per-job directory, when the runner gives one.
pub fn per_job_dir(env: &Env) -> Option<PathBuf> {
    env.path("RUNNER_TEMP_PROJECT_DIR")
        .map(|d| d.join(PER_JOB_DIR))
}

/// Where this job's record lives.
pub fn state_path(env: &Env) -> anyhow::Result<PathBuf> {
    if let Some(dir) = per_job_dir(env) {
        return Ok(dir.join(STATE_FILE));
    }
    let data = env.data_dir().ok_or_else(|| {
        anyhow!("no RUNNER_TEMP_PROJECT_DIR and no data directory (HOME is not set)")
    })?;
    let job = env.var("CI_JOB_ID").unwrap_or_else(|| "local".to_owned());
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

impl JobState {
    pub fn new(env: &Env) -> JobState {
        JobState {
            version: FORMAT_VERSION,
            job_id: env.var("CI_JOB_ID"),
            ..JobState::default()
        }
    }

    /// The record at `path`; `Ok(None)` when pre-build left none.
    pub fn load(path: &Path) -> anyhow::Result<Option<JobState>> {
        match fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| anyhow!("the job record {} is not valid ({e})", path.display())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(anyhow!(
                "cannot read the job record {}: {e}",
                path.display()
            )),
        }
    }

    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        if let Some(dir) = path.parent() {
            atomic_file::create_private_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let bytes = serde_json::to_vec_pretty(self).context("cannot encode the job record")?;
        atomic_file::write_private(path, &bytes)
            .with_context(|| format!("cannot write the job record {}", path.display()))
    }

    /// Notes an entry added to a file that is not ours (`created`: the file did not exist).
    pub fn record_edit(&mut self, path: &Path, registry: &str, created: bool) {
        match self.edits.iter_mut().find(|e| e.path == path) {
            Some(e) if !e.registries.iter().any(|r| r == registry) => {
                e.registries.push(registry.to_owned())
            }
            Some(_) => {}
            None => self.edits.push(Edit {
                path: path.to_owned(),
                registries: vec![registry.to_owned()],
                created,
            }),
        }
    }
}
