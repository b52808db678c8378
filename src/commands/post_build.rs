//! `docker-credential-harbor post-build`: the runner's `post_build_script`. A loop over what
//! `pre-build` recorded for this job (`job_record::Action`), last first, each undone by the module
//! that did it: the job robot (`job_robot::retire`), what the job shares with concurrent jobs
//! (`leases`: undone once no living job holds it), the per-job directory. What jobs that died
//! before their post-build left is undone too. Nothing else is touched.
//!
//! It always exits 0: a cleanup problem is a warning on stderr, never a failed job.

use std::fs;
use std::io::{self, Write};
use std::time::Duration;

use crate::job_record::{self, Action, JobState};
use crate::job_robot;
use crate::leases::{self, Leases, Thing};
use crate::process;
use crate::report::{self, Message};
use crate::settings::JobContext;

/// `timeout` bounds the wait for the job robot's keeper to delete the robot.
pub(crate) fn run(context: &JobContext, timeout: Duration, err: &mut dyn Write) -> io::Result<()> {
    let loaded =
        job_record::state_path(context).and_then(|path| JobState::load(&path).map(|s| (path, s)));
    let (path, state) = match loaded {
        Ok((path, Some(state))) => (path, state),
        Ok((path, None)) => {
            return report::note(
                err,
                format_args!(
                    "post-build found no job record at {}; nothing to clean up",
                    path.display()
                ),
            );
        }
        Err(e) => {
            return report::warning(err, &Message(&format!("{e:#}; nothing cleaned up"), None));
        }
    };
    let mut warnings = Vec::new();
    let mut removed = 0usize;
    let me = state
        .shell
        .clone()
        .unwrap_or_else(|| leases::me(process::job_shell()));
    let shared: Vec<&Thing> = state
        .actions
        .iter()
        .filter_map(|a| match a {
            Action::Shared { thing } => Some(thing),
            _ => None,
        })
        .collect();
    // The robot first, and before the lease table is locked: deleting it waits on Harbor.
    for action in &state.actions {
        if let Action::Robot { robot } = action {
            match job_robot::retire(timeout, robot) {
                Ok(said) => {
                    removed += 1;
                    report::note(err, said)?;
                }
                Err(e) => warnings.push(format!(
                    "could not delete the job robot {}: {e}; it expires at {} (unix time) regardless, \
                     and `docker-credential-harbor robots prune` removes leftovers",
                    robot.name, robot.expires_at
                )),
            }
        }
    }
    // The table is opened when this job holds something, or when dead jobs may have left
    // something in it.
    let table =
        Leases::path(context.data_dir.as_deref()).filter(|p| !shared.is_empty() || p.exists());
    let mut table = match table.map(|p| Leases::open(&p)) {
        Some(Ok(t)) => Some(t),
        Some(Err(e)) => {
            warnings.push(format!("{e:#}"));
            None
        }
        None => None,
    };
    let undo = |thing: &Thing, removed: &mut usize, warnings: &mut Vec<String>| match leases::undo(
        thing,
    ) {
        Ok(done) => *removed += usize::from(done),
        Err(e) => warnings.push(format!("{e:#}")),
    };
    for action in state.actions.iter().rev() {
        match action {
            Action::Robot { .. } => {}
            // Shared: undone now only when no other living job holds it (without the table, the
            // job undoes what it made, as its record says).
            Action::Shared { thing } => match &mut table {
                Some(t) => {
                    if let Some(last) = t.release(thing, &me) {
                        undo(&last, &mut removed, &mut warnings);
                    }
                }
                None => undo(thing, &mut removed, &mut warnings),
            },
            Action::PerJobDir { path } => match job_record::remove_per_job_dir(path) {
                Ok(done) => removed += usize::from(done),
                Err(e) => warnings.push(format!("{e:#}")),
            },
        }
    }
    if let Some(mut t) = table {
        // What jobs that died before their post-build left; undone under the table's lock, so
        // no pre-build takes a thing being removed.
        for thing in t.take_unheld() {
            undo(&thing, &mut removed, &mut warnings);
        }
        if let Err(e) = t.save() {
            warnings.push(format!("{e:#}"));
        }
    }
    if context.per_job_dir.is_none()
        && let Err(e) = fs::remove_file(&path)
        && e.kind() != io::ErrorKind::NotFound
    {
        warnings.push(format!(
            "cannot remove the job record {}: {e}",
            path.display()
        ));
    }
    for w in &warnings {
        report::warning(err, &Message(w, None))?;
    }
    if removed > 0 && warnings.is_empty() {
        report::note(err, "post-build removed this job's client configuration")?;
    }
    Ok(())
}
