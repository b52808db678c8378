//! `docker-credential-harbor post-build`: the runner's `post_build_script`. Undoes what
//! `pre-build` recorded for this job (job::JobState) and nothing else: the per-job directory,
//! the `credHelpers` entries it added to a user's files (only while they still name this
//! helper), the CA files it placed and the directories it created for them.
//!
//! It always exits 0: a cleanup problem is a warning on stderr, never a failed job.

use std::fs;
use std::io::{self, Write};
use std::path::Path;

use crate::address::Registry;
use crate::client_config::ConfigFile;
use crate::env::Env;
use crate::job::{self, JobState, PER_JOB_DIR};
use crate::job_robot;

pub fn run(env: &Env, err: &mut dyn Write) -> io::Result<()> {
    let path = match job::state_path(env) {
        Ok(p) => p,
        Err(e) => {
            return writeln!(
                err,
                "docker-credential-harbor: warning: {e:#}; nothing cleaned up"
            );
        }
    };
    let state = match JobState::load(&path) {
        Ok(Some(s)) => s,
        Ok(None) => return Ok(()),
        Err(e) => {
            return writeln!(
                err,
                "docker-credential-harbor: warning: {e:#}; nothing cleaned up"
            );
        }
    };
    let mut warnings = Vec::new();
    let mut removed = 0usize;
    if let Some(robot) = &state.robot {
        match job_robot::retire(env, robot) {
            Ok(said) => {
                removed += 1;
                writeln!(err, "docker-credential-harbor: {said}")?;
            }
            Err(e) => warnings.push(format!(
                "could not delete the job robot {}: {e}; it expires at {} (unix time) regardless, \
                 and `docker-credential-harbor robots prune` removes leftovers",
                robot.name, robot.expires_at
            )),
        }
    }
    for edit in &state.edits {
        match ConfigFile::load(&edit.path) {
            Ok(mut f) => {
                for r in edit
                    .registries
                    .iter()
                    .filter_map(|r| Registry::parse(r).ok())
                {
                    removed += usize::from(f.remove_helper(&r));
                }
                if edit.created && f.is_empty() {
                    // The file was pre-build's and holds nothing else: it goes.
                    if let Err(e) = fs::remove_file(&edit.path) {
                        warnings.push(format!("cannot remove {}: {e}", edit.path.display()));
                    }
                } else if let Err(e) = f.save() {
                    warnings.push(e.to_string());
                }
            }
            Err(e) => warnings.push(e.to_string()),
        }
    }
    for file in &state.placed_files {
        match fs::remove_file(file) {
            Ok(()) => removed += 1,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => warnings.push(format!("cannot remove {}: {e}", file.display())),
        }
    }
    for dir in state.created_dirs.iter().rev() {
        // Only empty ones: something else may have been put there since.
        let _ = fs::remove_dir(dir);
    }
    if let Some(dir) = &state.per_job_dir {
        // Remove only what can be ours: a directory named as pre-build names it.
        if dir.file_name().is_some_and(|n| n == PER_JOB_DIR) && is_dir(dir) {
            match fs::remove_dir_all(dir) {
                Ok(()) => removed += 1,
                Err(e) => warnings.push(format!("cannot remove {}: {e}", dir.display())),
            }
        }
    }
    if state.per_job_dir.is_none()
        && let Err(e) = fs::remove_file(&path)
        && e.kind() != io::ErrorKind::NotFound
    {
        warnings.push(format!(
            "cannot remove the job record {}: {e}",
            path.display()
        ));
    }
    for w in &warnings {
        writeln!(err, "docker-credential-harbor: warning: {w}")?;
    }
    if removed > 0 && warnings.is_empty() {
        writeln!(
            err,
            "docker-credential-harbor: post-build removed this job's client configuration"
        )?;
    }
    Ok(())
}

fn is_dir(p: &Path) -> bool {
    fs::symlink_metadata(p).is_ok_and(|m| m.is_dir())
}
