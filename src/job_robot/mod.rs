//! Job-scoped robot accounts: `pre-build` mints one with the integration's credentials, the
//! job sees only the robot, and the robot is deleted when the job ends.
//!
//! The robot's secret goes into a per-job 0600 store that the helper serves; the integration
//! password stays only in the keeper process (keeper.rs), which deletes the robot on
//! `post-build`'s request or when the job's shell is gone. Harbor's 1-day expiry is the
//! backstop when nothing can reach Harbor, and `robots prune` removes leftovers.

pub mod keeper;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::env::Env;
use crate::harbor::robots::{self, CreateError, MARK};
use crate::harbor::url::HarborUrl;
use crate::harbor::{self, Account, HarborClient};
use crate::job::{self, JobState};
use crate::protocol::Credentials;
use crate::sources::store::Store;

/// `1`, `true` or `yes`: pre-build swaps the integration's credentials for a job robot.
pub const ENABLE_VAR: &str = "DOCKER_CREDENTIAL_HARBOR_JOB_ROBOT";

pub fn enabled(env: &Env) -> bool {
    matches!(
        env.var(ENABLE_VAR)
            .map(|v| v.to_ascii_lowercase())
            .as_deref(),
        Some("1" | "true" | "yes")
    )
}

/// What post-build needs to know about the job's robot.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct JobRobot {
    pub id: i64,
    pub name: String,
    pub expires_at: i64,
    pub socket: PathBuf,
    pub store: PathBuf,
}

/// A robot in service for this job.
pub struct Minted {
    pub name: String,
    pub store: PathBuf,
}

/// Creates the job's robot, stores its secret for the helper and starts its keeper. On any
/// failure after creation the robot is deleted again, so none is left without a keeper.
pub fn mint(
    env: &Env,
    client: &HarborClient,
    account: &Account,
    url: &HarborUrl,
    project: &str,
    state: &mut JobState,
) -> Result<Minted, String> {
    let job_id = env.var("CI_JOB_ID");
    let description = format!(
        "GitLab job {} ({}) of {}; created by {MARK} pre-build, deleted when the job ends",
        job_id.as_deref().unwrap_or("?"),
        env.var("CI_JOB_URL")
            .unwrap_or_else(|| "no CI_JOB_URL".into()),
        env.var("CI_PROJECT_PATH")
            .unwrap_or_else(|| "no CI_PROJECT_PATH".into()),
    );
    let mut attempt = robots::create(
        client,
        project,
        &robots::job_robot_name(job_id.as_deref()),
        &description,
    );
    if let Err(CreateError::Duplicate) = attempt {
        // Another job drew the same random suffix: draw again, once.
        attempt = robots::create(
            client,
            project,
            &robots::job_robot_name(job_id.as_deref()),
            &description,
        );
    }
    let robot = attempt.map_err(|e| e.to_string())?;
    let undo = |why: String| {
        let _ = robots::delete(client, robot.id);
        why
    };
    let (store, socket) = paths(env, &robot.name).map_err(&undo)?;
    Store::at(store.clone())
        .upsert(
            &url.registry,
            Credentials {
                username: robot.name.clone(),
                secret: robot.secret.clone(),
            },
        )
        .map_err(|e| undo(format!("cannot store the robot's secret: {e:#}")))?;
    if let Err(e) = start_keeper(env, url, account, &robot, &socket, &store) {
        let _ = std::fs::remove_file(&store);
        return Err(undo(format!("cannot start the robot's keeper: {e}")));
    }
    state.robot = Some(JobRobot {
        id: robot.id,
        name: robot.name.clone(),
        expires_at: robot.expires_at,
        socket,
        store: store.clone(),
    });
    Ok(Minted {
        name: robot.name,
        store,
    })
}

/// Deletes the job's robot through its keeper and removes its secret.
pub fn retire(env: &Env, robot: &JobRobot) -> Result<String, String> {
    let _ = std::fs::remove_file(&robot.store);
    let timeout = harbor::timeout(env).unwrap_or(harbor::DEFAULT_TIMEOUT) + Duration::from_secs(5);
    keeper::request_delete(&robot.socket, timeout)
}

/// The robot's store and the keeper's socket: in the per-job directory, else by job id in
/// the data directory. A socket path has to fit in 107 bytes; a longer one goes into a new
/// directory of its own under the temp directory, mode 0700 like the per-job one, so no other
/// user can reach the socket (issue 9, defect 6).
fn paths(env: &Env, robot_name: &str) -> Result<(PathBuf, PathBuf), String> {
    let dir = match job::per_job_dir(env) {
        Some(d) => d,
        None => job::state_path(env)
            .map_err(|e| format!("{e:#}"))?
            .parent()
            .map(Path::to_owned)
            .ok_or("no directory for the job's files")?,
    };
    crate::atomic_file::create_private_dir_all(&dir)
        .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let stem: String = robot_name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    let store = dir.join(format!("{stem}.credentials.json"));
    let mut socket = dir.join(keeper::SOCKET);
    if socket.as_os_str().len() > 100 {
        let private = std::env::temp_dir().join(format!("dch-{stem}"));
        // A new directory or none: one that exists already may be someone else's.
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&private)
            .map_err(|e| format!("cannot create {}: {e}", private.display()))?;
        socket = private.join(keeper::SOCKET);
    }
    Ok((store, socket))
}

fn start_keeper(
    env: &Env,
    url: &HarborUrl,
    account: &Account,
    robot: &robots::Created,
    socket: &Path,
    store: &Path,
) -> Result<(), String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    // The job's shell itself, not a subshell that ran pre-build (issue 9, defect 7).
    let shell = job::shell().ok_or("cannot find the job's shell in /proc")?;
    let mut child = Command::new(exe)
        .arg("robot-keeper")
        // The password reaches the keeper only through the pipe below.
        .env_remove(crate::vars::HARBOR_PASSWORD)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| e.to_string())?;
    let request = keeper::request_json(&url.base(), account, robot, socket, store, &shell);
    let mut stdin = child.stdin.take().ok_or("no pipe to the keeper")?;
    stdin.write_all(&request).map_err(|e| e.to_string())?;
    drop(stdin);
    let stdout = child.stdout.take().ok_or("no pipe from the keeper")?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let wait = harbor::timeout(env).unwrap_or(harbor::DEFAULT_TIMEOUT);
    match rx.recv_timeout(wait) {
        Ok(line) if line.trim() == "ready" => Ok(()),
        _ => {
            let _ = child.kill();
            let _ = child.wait();
            Err("it did not start".into())
        }
    }
}
