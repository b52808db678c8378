//! What concurrent jobs of one user share, and who still needs it: a CA that `pre-build`
//! placed in a `certs.d` directory, or a `credHelpers` entry it added to a user's own config
//! file when the runner gives no per-job directory.
//!
//! `pre-build` takes a lease on each such thing and `post-build` gives it back; the thing is
//! removed only when no living job holds a lease. A job whose shell is gone (a failed job skips
//! `post_build_script`) holds nothing, so what it left is an orphan: the next `pre-build` that
//! needs it adopts it, and the next `post-build` removes it
//! (docs/gitlab-runner.md#what-the-hooks-do). [`undo`] hands each thing back to the module that
//! made it: `certs_d` for a placed file, `client_config` for an entry. The table is one JSON file
//! in the user's data directory, changed only under its lock; it holds paths, registry names and
//! process ids, never a secret.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, anyhow};
use serde::{Deserialize, Serialize};

use docker_credential_harbor_core::address::Registry;
use docker_credential_harbor_core::atomic_file::{self, Links, Lock, LockError};

use crate::process::ProcessId;
use crate::{certs_d, client_config};

const FILE_NAME: &str = "leases.json";
const FORMAT_VERSION: u32 = 1;
const LOCK_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_TABLE: u64 = 4 << 20;

/// A shared thing pre-build made.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum Thing {
    /// A file it placed (a CA in certs.d), and the directories it created for it.
    File {
        path: PathBuf,
        #[serde(default)]
        created_dirs: Vec<PathBuf>,
    },
    /// A `credHelpers` entry naming this helper in a config file that is not ours.
    Entry {
        file: PathBuf,
        registry: String,
        /// The file did not exist before: it goes when nothing else is left in it.
        #[serde(default)]
        created_file: bool,
        /// The file had no `credHelpers` object before: it goes when left empty.
        #[serde(default)]
        created_helpers: bool,
    },
}

impl Thing {
    /// Whether two records name the same thing (what was created along with it aside).
    fn same(&self, other: &Thing) -> bool {
        match (self, other) {
            (Thing::File { path: a, .. }, Thing::File { path: b, .. }) => a == b,
            (
                Thing::Entry {
                    file: a,
                    registry: r,
                    ..
                },
                Thing::Entry {
                    file: b,
                    registry: s,
                    ..
                },
            ) => a == b && r == s,
            _ => false,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
struct Lease {
    thing: Thing,
    /// The job shells that use it.
    #[serde(default)]
    holders: Vec<ProcessId>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Table {
    version: u32,
    #[serde(default)]
    leases: Vec<Lease>,
}

/// The lease table of this user, open under its lock for one read-modify-write.
pub(crate) struct Leases {
    path: PathBuf,
    table: Table,
    changed: bool,
    _lock: Lock,
}

impl Leases {
    /// Where the table lives: the user's data directory.
    pub(crate) fn path(data_dir: Option<&Path>) -> Option<PathBuf> {
        data_dir.map(|d| d.join(FILE_NAME))
    }

    /// Opens the table at `path`, waiting for its lock, and forgets every holder whose shell
    /// has exited.
    pub(crate) fn open(path: &Path) -> anyhow::Result<Leases> {
        let dir = path.parent().unwrap_or(Path::new("."));
        atomic_file::create_private_dir_all(dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let mut lock_name = path.as_os_str().to_owned();
        lock_name.push(".lock");
        let lock = Lock::acquire(Path::new(&lock_name), LOCK_TIMEOUT).map_err(|e| match e {
            LockError::Busy(t) => anyhow!(
                "another job held the lock of {} for {} s",
                path.display(),
                t.as_secs()
            ),
            LockError::Io(e) => anyhow!("cannot lock {}: {e}", path.display()),
        })?;
        let table = match atomic_file::read_regular(path, Links::Refuse, MAX_TABLE)
            .with_context(|| format!("cannot read the job lease table {}", path.display()))?
        {
            // A damaged table loses only who holds what; the things stay where they are.
            Some((bytes, _)) => serde_json::from_slice(&bytes).unwrap_or_default(),
            None => Table::default(),
        };
        let mut leases = Leases {
            path: path.to_owned(),
            table,
            changed: false,
            _lock: lock,
        };
        for lease in &mut leases.table.leases {
            let before = lease.holders.len();
            lease.holders.retain(ProcessId::is_alive);
            leases.changed |= lease.holders.len() != before;
        }
        Ok(leases)
    }

    fn find(&mut self, thing: &Thing) -> Option<&mut Lease> {
        self.table.leases.iter_mut().find(|l| l.thing.same(thing))
    }

    /// Whether a job made `thing` and nobody has undone it: then it is ours, whether its
    /// holders are alive or not.
    pub(crate) fn known(&self, thing: &Thing) -> bool {
        self.table.leases.iter().any(|l| l.thing.same(thing))
    }

    /// `me` holds `thing`. A first holder's record of what it created is kept.
    pub(crate) fn take(&mut self, thing: Thing, me: &ProcessId) {
        self.changed = true;
        match self.find(&thing) {
            Some(lease) if lease.holders.contains(me) => {}
            Some(lease) => lease.holders.push(me.clone()),
            None => self.table.leases.push(Lease {
                thing,
                holders: vec![me.clone()],
            }),
        }
    }

    /// `me` gives `thing` back. `Some` when nobody holds it any more: the caller undoes it.
    pub(crate) fn release(&mut self, thing: &Thing, me: &ProcessId) -> Option<Thing> {
        let i = self.table.leases.iter().position(|l| l.thing.same(thing))?;
        self.table.leases[i].holders.retain(|h| h != me);
        self.changed = true;
        if self.table.leases[i].holders.is_empty() {
            Some(self.table.leases.remove(i).thing)
        } else {
            None
        }
    }

    /// Every thing nobody alive holds (left by jobs whose post-build never ran), taken out of
    /// the table for the caller to undo.
    pub(crate) fn take_unheld(&mut self) -> Vec<Thing> {
        let (unheld, held): (Vec<Lease>, Vec<Lease>) = std::mem::take(&mut self.table.leases)
            .into_iter()
            .partition(|l| l.holders.is_empty());
        self.table.leases = held;
        self.changed |= !unheld.is_empty();
        unheld.into_iter().map(|l| l.thing).collect()
    }

    /// Writes the table if it changed; the lock is released on drop.
    pub(crate) fn save(mut self) -> anyhow::Result<()> {
        if !self.changed {
            return Ok(());
        }
        self.table.version = FORMAT_VERSION;
        let bytes =
            serde_json::to_vec_pretty(&self.table).context("cannot encode the job lease table")?;
        atomic_file::write_private(&self.path, &bytes)
            .with_context(|| format!("cannot write the job lease table {}", self.path.display()))?;
        self.changed = false;
        Ok(())
    }
}

/// This job, as a holder of leases: the job's shell (`process::job_shell`, found once by the
/// caller), or this process when it has none.
pub(crate) fn me(job_shell: Option<ProcessId>) -> ProcessId {
    job_shell.unwrap_or_else(ProcessId::this_process)
}

/// The lease table as one job uses it: opened on first need (a job with a per-job directory
/// and no CA usually shares nothing, and its HOME may be read-only), held in the job's name,
/// saved on [`JobLeases::close`]. Without a table (no HOME, or it cannot be opened) the job
/// owns what it places alone, as its record says, and [`JobLeases::problem`] says why.
pub(crate) struct JobLeases<'s> {
    data_dir: Option<&'s Path>,
    table: Option<Option<Leases>>,
    me: ProcessId,
    problem: Option<String>,
}

impl<'s> JobLeases<'s> {
    pub(crate) fn new(data_dir: Option<&'s Path>, me: ProcessId) -> JobLeases<'s> {
        JobLeases {
            data_dir,
            table: None,
            me,
            problem: None,
        }
    }

    fn table(&mut self) -> Option<&mut Leases> {
        let (data_dir, problem) = (self.data_dir, &mut self.problem);
        self.table
            .get_or_insert_with(|| {
                Leases::path(data_dir).and_then(|p| match Leases::open(&p) {
                    Ok(l) => Some(l),
                    Err(e) => {
                        *problem = Some(format!(
                            "{e:#}; what this job places is not shared with concurrent jobs"
                        ));
                        None
                    }
                })
            })
            .as_mut()
    }

    /// Opens the table now, waiting for its lock, which is then held until [`JobLeases::close`]:
    /// what is read from a shared file before it would be stale by the time it is written,
    /// since another job's post-build removes things under the same lock
    /// (docs/gitlab-runner.md#what-the-hooks-do).
    pub(crate) fn lock(&mut self) {
        self.table();
    }

    /// A job made `thing` and nobody undid it: it is ours to hold.
    pub(crate) fn is_ours(&mut self, thing: &Thing) -> bool {
        self.table().is_some_and(|l| l.known(thing))
    }

    /// Holds `thing` in this job's name; returns it, for the job's record.
    pub(crate) fn take(&mut self, thing: Thing) -> Thing {
        let me = self.me.clone();
        if let Some(l) = self.table() {
            l.take(thing.clone(), &me);
        }
        thing
    }

    /// Why the table could not be used, once.
    pub(crate) fn problem(&mut self) -> Option<String> {
        self.problem.take()
    }

    /// Saves the table (and releases its lock).
    pub(crate) fn close(self) -> anyhow::Result<()> {
        match self.table {
            Some(Some(l)) => l.save(),
            _ => Ok(()),
        }
    }
}

/// Undoes `thing`, through the module that made it. Returns whether something was removed.
pub(crate) fn undo(thing: &Thing) -> anyhow::Result<bool> {
    match thing {
        Thing::File { path, created_dirs } => certs_d::remove(path, created_dirs),
        Thing::Entry {
            file,
            registry,
            created_file,
            created_helpers,
        } => match Registry::parse(registry) {
            Ok(r) => client_config::unpoint(file, &r, *created_file, *created_helpers),
            Err(_) => Ok(false),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn a_thing_goes_when_its_last_living_holder_lets_go() {
        let dir = std::env::temp_dir().join(format!("dch-leases-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let path = dir.join("leases.json");
        let me = ProcessId::this_process();
        let dead = ProcessId {
            pid: u32::MAX - 1,
            start: 1,
        };
        let ca = Thing::File {
            path: dir.join("x.crt"),
            created_dirs: vec![],
        };
        let left = Thing::File {
            path: dir.join("left.crt"),
            created_dirs: vec![],
        };
        let mut l = Leases::open(&path).unwrap();
        assert!(!l.known(&ca));
        l.take(ca.clone(), &me);
        l.take(ca.clone(), &dead);
        l.take(left.clone(), &dead);
        l.save().unwrap();

        let mut l = Leases::open(&path).unwrap();
        assert!(l.known(&ca) && l.known(&left));
        assert_eq!(
            l.take_unheld(),
            vec![left.clone()],
            "only the dead job's thing"
        );
        assert_eq!(l.release(&ca, &me), Some(ca.clone()));
        assert!(!l.known(&ca));
        l.save().unwrap();
        fs::remove_dir_all(&dir).unwrap();
    }
}
