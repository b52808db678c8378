//! Job-scoped robot accounts: `pre-build` mints one with the integration's credentials, the
//! job's tools see only the robot, and the robot is deleted when the job ends.
//!
//! The robot's secret goes into a per-job 0600 store that the helper serves; the integration
//! password stays only in the keeper process (keeper.rs), which deletes the robot on
//! `post-build`'s request ([`retire`], the undo of [`mint`]) or when the job's shell is gone.
//! Harbor's 1-day expiry is the backstop when nothing can reach Harbor, and `robots prune`
//! removes leftovers. What this does not protect (a hostile job script) is in
//! docs/security.md.

pub(crate) mod keeper;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};

use docker_credential_harbor_core::integration::Account;
use docker_credential_harbor_core::problem::Problem;
use docker_credential_harbor_core::protocol::Credentials;
use docker_credential_harbor_core::sources::store::Store;
use docker_credential_harbor_core::url::HarborUrl;
use harbor_client::HarborClient;
use harbor_client::robots::{self, CreateError, MARK, RepositoryAccess};

use crate::job_record::{self, JobRobot};
use crate::process::ProcessId;
use crate::settings::JobContext;

/// Why the job keeps the integration's credentials instead of a robot.
#[derive(Debug, thiserror::Error)]
pub(crate) enum MintError {
    /// Harbor would not create one.
    #[error(transparent)]
    Create(CreateError),
    /// A robot was made but cannot be put in service (it is deleted again).
    #[error("cannot {what}: {error:#}")]
    Setup { what: String, error: anyhow::Error },
}

impl Problem for MintError {
    fn hint(&self) -> Option<String> {
        match self {
            MintError::Create(e) => e.hint(),
            MintError::Setup { .. } => None,
        }
    }
}

/// Why post-build could not have the robot deleted.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RetireError {
    /// Nothing listens on the keeper's socket (the keeper died, or the job moved machines).
    #[error("the robot's keeper is not reachable ({0})")]
    NoKeeper(String),
    /// The keeper answered, but Harbor refused or did not answer.
    #[error("{0}")]
    Harbor(String),
}

/// Creates the job's robot, stores its secret for the helper and starts its keeper. On any
/// failure after creation the robot is deleted again, so none is left without a keeper.
pub(crate) fn mint(
    context: &JobContext,
    timeout: Duration,
    client: &HarborClient,
    account: &Account,
    url: &HarborUrl,
    project: &str,
    job_shell: Option<&ProcessId>,
) -> Result<JobRobot, MintError> {
    let job = &context.job;
    let description = format!(
        "GitLab job {} ({}) of {}; created by {MARK} pre-build, deleted when the job ends",
        job.id.as_deref().unwrap_or("?"),
        job.url.as_deref().unwrap_or("no CI_JOB_URL"),
        job.project_path.as_deref().unwrap_or("no CI_PROJECT_PATH"),
    );
    let name = || robots::job_robot_name(job.id.as_deref());
    let mut attempt = robots::create(
        client,
        project,
        &name(),
        &description,
        RepositoryAccess::PullPush,
    );
    if let Err(CreateError::Duplicate) = attempt {
        // Another job drew the same random suffix: draw again, once.
        attempt = robots::create(
            client,
            project,
            &name(),
            &description,
            RepositoryAccess::PullPush,
        );
    }
    let robot = attempt.map_err(MintError::Create)?;
    let undo = |what: &str, error: anyhow::Error| {
        let _ = robots::delete(client, robot.id);
        MintError::Setup {
            what: what.to_owned(),
            error,
        }
    };
    let (store, socket) = paths(context, &robot.name).map_err(|e| undo("prepare its files", e))?;
    Store::at(store.clone())
        .upsert(
            &url.registry,
            Credentials {
                username: robot.name.clone(),
                secret: robot.secret.clone(),
            },
        )
        .map_err(|e| undo("store the robot's secret", e))?;
    if let Err(e) = start_keeper(timeout, url, account, &robot, &socket, &store, job_shell) {
        let _ = std::fs::remove_file(&store);
        return Err(undo("start the robot's keeper", e));
    }
    Ok(JobRobot {
        id: robot.id,
        name: robot.name,
        expires_at: robot.expires_at,
        socket,
        store,
    })
}

/// Undoes [`mint`]: asks the keeper to delete the robot and removes its secret.
pub(crate) fn retire(timeout: Duration, robot: &JobRobot) -> Result<String, RetireError> {
    let _ = std::fs::remove_file(&robot.store);
    keeper::request_delete(&robot.socket, timeout + Duration::from_secs(5))
}

/// The robot's store and the keeper's socket: in the per-job directory, else by job id in
/// the data directory. A socket path has to fit in 107 bytes; a longer one goes into a new
/// directory of its own under the temp directory, mode 0700 like the per-job one, so no other
/// user can reach the socket (docs/security.md#job-robots-what-they-protect-and-what-they-do-not).
fn paths(context: &JobContext, robot_name: &str) -> anyhow::Result<(PathBuf, PathBuf)> {
    let (dir, stem, store) = store_path(context, robot_name)?;
    let mut socket = dir.join(keeper::SOCKET);
    if socket.as_os_str().len() > 100 {
        let private = std::env::temp_dir().join(format!("dch-{stem}"));
        // A new directory or none: one that exists already may be someone else's.
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&private)
            .with_context(|| format!("cannot create {}", private.display()))?;
        socket = private.join(keeper::SOCKET);
    }
    Ok((store, socket))
}

/// The per-job store for a robot's secret (the broker's robot has one too): in the per-job
/// directory, else by job id in the data directory, which is created 0700. With the directory
/// and the robot name's file-name stem.
pub(crate) fn store_path(
    context: &JobContext,
    robot_name: &str,
) -> anyhow::Result<(PathBuf, String, PathBuf)> {
    let dir = match &context.per_job_dir {
        Some(d) => d.clone(),
        None => job_record::state_path(context)?
            .parent()
            .map(Path::to_owned)
            .ok_or_else(|| anyhow!("no directory for the job's files"))?,
    };
    docker_credential_harbor_core::atomic_file::create_private_dir_all(&dir)
        .with_context(|| format!("cannot create {}", dir.display()))?;
    let stem: String = robot_name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    let store = dir.join(format!("{stem}.credentials.json"));
    Ok((dir, stem, store))
}

fn start_keeper(
    timeout: Duration,
    url: &HarborUrl,
    account: &Account,
    robot: &robots::Created,
    socket: &Path,
    store: &Path,
    job_shell: Option<&ProcessId>,
) -> anyhow::Result<()> {
    let exe = std::env::current_exe()?;
    // The job's shell itself, not a subshell that ran pre-build
    // (docs/gitlab-runner.md#job-scoped-robot-accounts).
    let shell = job_shell.ok_or_else(|| anyhow!("cannot find the job's shell in /proc"))?;
    let mut child = Command::new(exe)
        .arg("robot-keeper")
        // The password reaches the keeper only through the pipe below.
        .env_remove(docker_credential_harbor_core::env::HARBOR_PASSWORD)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let request = keeper::Request::new(&url.base(), account, robot, socket, store, shell).json();
    let mut stdin = child
        .stdin
        .take()
        .ok_or_else(|| anyhow!("no pipe to the keeper"))?;
    stdin.write_all(&request)?;
    drop(stdin);
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| anyhow!("no pipe from the keeper"))?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    match rx.recv_timeout(timeout) {
        Ok(line) if line.trim() == "ready" => Ok(()),
        _ => {
            let _ = child.kill();
            let _ = child.wait();
            bail!("it did not start")
        }
    }
}
