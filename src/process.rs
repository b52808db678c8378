//! Processes told apart from later ones that reuse their pid, and the job's shell: the
//! process whose life is the job's. The keeper of a job robot watches it, and the leases of
//! what concurrent jobs share are held in its name. Reads `/proc` only.

use std::fs;

use serde::{Deserialize, Serialize};

/// A process, told from a later one that reuses its pid by its start time.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct ProcessId {
    pub(crate) pid: u32,
    /// Field 22 of `/proc/<pid>/stat`, in clock ticks since boot.
    pub(crate) start: u64,
}

impl ProcessId {
    /// This process.
    pub(crate) fn this_process() -> ProcessId {
        let pid = std::process::id();
        ProcessId {
            pid,
            start: stat(pid).map_or(0, |s| s.start),
        }
    }

    /// The process still runs (and is the same one).
    pub(crate) fn is_alive(&self) -> bool {
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
/// shell that forked it (docs/gitlab-runner.md#job-scoped-robot-accounts). `None` without /proc.
pub(crate) fn job_shell() -> Option<ProcessId> {
    let mut pid = std::os::unix::process::parent_id();
    let mut here = stat(pid)?;
    while here.ppid > 1 && same_program(pid, here.ppid) {
        pid = here.ppid;
        here = stat(pid)?;
    }
    Some(ProcessId {
        pid,
        start: here.start,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_a_made_up_one_is_not() {
        let me = ProcessId::this_process();
        assert!(me.start > 0 && me.is_alive());
        assert!(
            !ProcessId {
                start: me.start + 1,
                ..me.clone()
            }
            .is_alive()
        );
        assert!(
            !ProcessId {
                pid: u32::MAX,
                start: 1
            }
            .is_alive()
        );
    }
}
