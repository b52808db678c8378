//! What std's runtime start-up did before `main` that this binary keeps, now that `main.rs`
//! is `no_main`: the standard descriptors are open, SIGPIPE is ignored, and stdout is flushed
//! at the end. Nothing else of std's start-up is kept.
//!
//! Dropped on purpose: the main thread's guard page lookup (glibc reads `/proc/self/maps` for
//! it), the alternate signal stack and the SIGSEGV/SIGBUS handlers that print "has overflowed
//! its stack" (in any thread). A stack overflow still ends the process by SIGSEGV, with no
//! core (hardening), only without that line; that work was 27 % of a static `get`'s
//! instructions
//! (docs/benchmarks.md#2026-12-03-same-kind-of-vm-get-at-the-exec-floor-issue-17-step-8).
//! Must never open anything but `/dev/null`: it runs before any file of the command is open.

use std::io::Write;

/// Every standard descriptor that is closed is opened on `/dev/null`, as std does before
/// `main`: otherwise the first file the command opens (the store, its lock) would become
/// stdout or stderr and receive the answer or a message. Then SIGPIPE is ignored, as std does,
/// so a write to a closed pipe is an `EPIPE` error the command handles, not a silent death.
/// Children get SIGPIPE back at its default: std's `Command` resets it.
pub fn standard_descriptors_and_sigpipe() {
    let mut fds = [0, 1, 2].map(|fd| libc::pollfd {
        fd,
        events: 0,
        revents: 0,
    });
    // One system call finds every closed descriptor (POLLNVAL), as std's start-up does.
    let closed: [bool; 3] = loop {
        // SAFETY: `fds` is a valid array of 3 pollfd for the call's duration.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), 3, 0) };
        if n >= 0 {
            break fds.map(|p| p.revents & libc::POLLNVAL != 0);
        }
        if std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            // poll refused (EINVAL under some sandboxes, ENOMEM): ask descriptor by descriptor.
            // SAFETY: F_GETFD takes no pointer; it only reports whether `fd` is open.
            break [0, 1, 2].map(|fd| unsafe { libc::fcntl(fd, libc::F_GETFD) } == -1);
        }
    };
    for fd_is_closed in closed {
        // In ascending order, so each open takes the lowest free descriptor: the closed one.
        // SAFETY: a NUL-terminated path literal; the descriptor is kept for the process's life.
        if fd_is_closed && unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) } == -1 {
            // What std does here too: running on with a closed stdout is the danger above.
            std::process::abort();
        }
    }
    // SAFETY: SIG_IGN installs no handler code; nothing else changes SIGPIPE concurrently,
    // as no other thread exists yet.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
}

/// What std does after `main` returns: stdout is flushed (its buffer may hold a line without
/// its newline); a failure is ignored, as std ignores it there.
pub fn flush_stdout() {
    let _ = std::io::stdout().lock().flush();
}
