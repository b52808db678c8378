//! `docker-credential-harbor post-build`: the runner's `post_build_script`. Undoes what
//! `pre-build` recorded for this job (job::JobState) and nothing else: the job robot, the
//! per-job directory, and its leases on what it shares with concurrent jobs (the
//! `credHelpers` entries it added to a user's files, the CA files it placed), each undone
//! once no living job holds it; what jobs that died before their post-build left is undone
//! too.
//!
//! It always exits 0: a cleanup problem is a warning on stderr, never a failed job.

use std::fs;
use std::io::{self, Write};
use std::path::Path;

use crate::env::Env;
use crate::job::{self, JobState, PER_JOB_DIR};
use crate::job_robot;
use crate::leases::{self, Leases, Thing};

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
    // What this job shared goes only when no other living job holds it; what dead jobs left
    // (their post-build never ran) goes now.
    let me = state.shell.clone().unwrap_or_else(leases::me);
    let undo_all = |things: Vec<Thing>, removed: &mut usize, warnings: &mut Vec<String>| {
        for thing in things {
            match leases::undo(&thing) {
                Ok(done) => *removed += usize::from(done),
                Err(e) => warnings.push(e),
            }
        }
    };
    // The table is opened when this job holds something, or when dead jobs may have left
    // something in it.
    let table = Leases::path(env).filter(|p| !state.leases.is_empty() || p.exists());
    match table.map(|p| Leases::open(&p)) {
        Some(Ok(mut table)) => {
            let mine: Vec<Thing> = state
                .leases
                .iter()
                .filter_map(|t| table.release(t, &me))
                .collect();
            let orphans = table.take_unheld();
            // Undone under the table's lock, so no pre-build takes a thing being removed.
            undo_all(mine, &mut removed, &mut warnings);
            undo_all(orphans, &mut removed, &mut warnings);
            if let Err(e) = table.save() {
                warnings.push(format!("{e:#}"));
            }
        }
        // Without the table the job undoes what it made, as its record says.
        Some(Err(e)) => {
            warnings.push(format!("{e:#}"));
            undo_all(state.leases.clone(), &mut removed, &mut warnings);
        }
        None => undo_all(state.leases.clone(), &mut removed, &mut warnings),
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
