//! What `pre-build` did for one CI job, recorded so that `post-build` undoes exactly that and
//! nothing else: the per-job directory, `credHelpers` entries added to a user's files, CA
//! files placed in `certs.d`.
//!
//! The record lives in the per-job directory under `RUNNER_TEMP_PROJECT_DIR`, or, without
//! one, in the data directory keyed by `CI_JOB_ID`. It holds paths and registry names only,
//! never a secret, and is written atomically with mode 0600. [`shell`] finds the job's shell,
//! whose life is the job's: the keeper of a job robot and the leases of shared things watch it.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow};
use serde::{Deserialize, Serialize};

use crate::atomic_file::{self, Links};
use crate::env::Env;

/// The directory `pre-build` owns inside `RUNNER_TEMP_PROJECT_DIR`.
pub const PER_JOB_DIR: &str = "docker-credential-harbor";
const STATE_FILE: &str = "state.json";
const FORMAT_VERSION: u32 = 1;

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct JobState {
    pub version: u32,
    /// `CI_JOB_ID`, when there is one.
    #[serde(default)]
    pub job_id: Option<String>,
    /// Removed whole by post-build.
    #[serde(default)]
    pub per_job_dir: Option<PathBuf>,
    /// Things shared with other jobs that this job holds a lease on (crate::leases): CA
    /// files in certs.d, entries in the user's own config files.
    #[serde(default)]
    pub leases: Vec<crate::leases::Thing>,
    /// The job's shell, which holds those leases.
    #[serde(default)]
    pub shell: Option<Shell>,
    /// The job robot, when one was minted.
    #[serde(default)]
    pub robot: Option<crate::job_robot::JobRobot>,
}

/// A process, told from a later one that reuses its pid by its start time.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Shell {
    pub pid: u32,
    /// Field 22 of `/proc/<pid>/stat`, in clock ticks since boot.
    pub start: u64,
}

impl Shell {
    /// This process.
    pub fn this_process() -> Shell {
        let pid = std::process::id();
        Shell {
            pid,
            start: stat(pid).map_or(0, |s| s.start),
        }
    }

    /// The process still runs (and is the same one).
    pub fn is_alive(&self) -> bool {
        stat(self.pid).is_some_and(|s| s.start == self.start)
    }
}

struct Stat {
    ppid: u32,
    start: u64,
}

fn stat(pid: u32) -> Option<Stat> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
    let rest = stat.get(stat.rfind(')')? + 1..)?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Some(Stat {
        ppid: fields.get(1)?.parse().ok()?,
        start: fields.get(19)?.parse().ok()?,
    })
}

/// The same program with the same arguments: a subshell its shell forked (`$(…)`, `( … )`).
fn same_program(a: u32, b: u32) -> bool {
    let exe = |p: u32| fs::read_link(format!("/proc/{p}/exe")).ok();
    let cmdline = |p: u32| fs::read(format!("/proc/{p}/cmdline")).ok();
    exe(a).is_some() && exe(a) == exe(b) && cmdline(a).is_some() && cmdline(a) == cmdline(b)
}

/// The job's shell: this process's parent, or, when that parent is a subshell forked to run
/// it (bash runs `eval "$(… pre-build 2>/dev/null)"` in one, which exits right after), the
/// shell that forked it (issue 9, defect 7). `None` without /proc.
pub fn shell() -> Option<Shell> {
    let mut pid = std::os::unix::process::parent_id();
    let mut here = stat(pid)?;
    while here.ppid > 1 && same_program(pid, here.ppid) {
        pid = here.ppid;
        here = stat(pid)?;
    }
    Some(Shell {
        pid,
        start: here.start,
    })
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
    pub fn from_bytes(path: &Path, bytes: &[u8]) -> anyhow::Result<JobState> {
        serde_json::from_slice(bytes).map_err(|e| {
            anyhow!(
                "the job record {} is not valid (line {}, column {})",
                path.display(),
                e.line(),
                e.column()
            )
        })
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_a_made_up_one_is_not() {
        let me = Shell::this_process();
        assert!(me.start > 0 && me.is_alive());
        assert!(
            !Shell {
                start: me.start + 1,
                ..me.clone()
            }
            .is_alive()
        );
        assert!(
            !Shell {
                pid: u32::MAX,
                start: 1
            }
            .is_alive()
        );
    }
}
