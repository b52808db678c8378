//! `docker-credential-harbor post-build`: the runner's `post_build_script`. A loop over what
//! `pre-build` recorded for this job (`job_record::Action`), last first, each undone by the module
//! that did it: the job robot (`job_robot::retire`), harbor-broker's robot (`broker_robot::release`,
//! with the job's id_token read again here), what the job shares with concurrent jobs
//! (`leases`: undone once no living job holds it), the per-job directory. What jobs that died
//! before their post-build left is undone too. Nothing else is touched.
//!
//! It always exits 0: a cleanup problem is a warning on stderr, never a failed job.

use std::fs;
use std::io::{self, Write};
use std::time::SystemTime;

use crate::broker_robot;
use crate::job_record::{self, Action, JobState};
use crate::job_robot;
use crate::leases::{self, Leases, Thing};
use crate::process;
use crate::report::{self, Message};
use crate::settings::{BrokerSettings, HarborSettings, JobContext};

/// `harbor`'s timeout bounds the wait for the job robot's keeper, and each call to the broker.
pub(crate) fn run(
    context: &JobContext,
    harbor: &HarborSettings,
    broker: Option<&BrokerSettings>,
    err: &mut dyn Write,
) -> io::Result<()> {
    let timeout = harbor.timeout;
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
    // The robots first, and before the lease table is locked: deleting one waits on Harbor.
    for action in &state.actions {
        match action {
            Action::Robot { robot } => match job_robot::retire(timeout, robot) {
                Ok(said) => {
                    removed += 1;
                    report::note(err, said)?;
                }
                Err(e) => warnings.push(format!(
                    "could not delete the job robot {}: {e}; it expires at {} (unix time) regardless, \
                     and `docker-credential-harbor robots prune` removes leftovers",
                    robot.name, robot.expires_at
                )),
            },
            Action::BrokerRobot { robot } => match broker_robot::release(broker, harbor, robot) {
                Ok(n) => {
                    removed += 1;
                    report::note(
                        err,
                        format_args!(
                            "harbor-broker released {} (robots deleted: {n})",
                            robot.username
                        ),
                    )?;
                }
                Err(e) => warnings.push(format!(
                    "could not release harbor-broker's robot {}: {e}; harbor-broker's sweeper deletes it \
                     once its expiry has passed, at {} (Unix time, {})",
                    robot.username,
                    robot.expires_at,
                    from_now(robot.expires_at)
                )),
            },
            _ => {}
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
            Action::Robot { .. } | Action::BrokerRobot { .. } => {}
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

/// How far `unix` is from now, in words.
fn from_now(unix: i64) -> String {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    match unix.saturating_sub(now) {
        s if s <= 0 => "already past".to_owned(),
        s => format!("in {} min", (s + 59) / 60),
    }
}
