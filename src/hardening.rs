//! What every command does first, before it reads a secret: no core dump of this process,
//! ever (docs/security.md#what-holds-and-how-it-is-checked).
//!
//! Two calls, because each covers what the other does not:
//! - `prctl(PR_SET_DUMPABLE, 0)`: the kernel writes no core for the process, whatever
//!   `core_pattern` says (a pipe to systemd-coredump or apport ignores `RLIMIT_CORE`), and
//!   other processes of the same user can no longer read its memory or environment through
//!   `/proc/<pid>/mem`, `environ` or ptrace. It is reset by `execve`, so it protects this
//!   process only.
//! - `setrlimit(RLIMIT_CORE, 0)`, soft and hard: no core file where `suid_dumpable=2` would
//!   still dump non-dumpable processes to a file, and inherited by any child.
//!
//! Both are single system calls; `scripts/bench` measures what they cost `get`. Failure
//! changes nothing but the protection, so it is not reported.

/// Turns core dumps off for this process and its children.
pub fn no_core_dumps() {
    let zero = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `zero` is a valid rlimit for the call's duration; prctl takes no pointers.
    unsafe {
        libc::setrlimit(libc::RLIMIT_CORE, &zero);
        libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0);
    }
}
