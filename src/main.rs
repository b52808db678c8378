//! The `docker-credential-harbor` binary: parse argv, run one command, exit 0 or 1.
//!
//! Kept thin: everything it calls lives in the libraries. The protocol (`get`, `store`,
//! `erase`, `list`, `version`) is answered by the core crate alone, straight from stdin to
//! stdout, so `get` touches nothing but the credential sources; subcommands go to `commands`.
//!
//! `no_main`: the C runtime calls `main` below directly, without std's runtime start-up,
//! whose stack-guard lookup and signal handlers were a quarter of a static `get`'s
//! instructions (docs/benchmarks.md). What of it matters is kept in `start`; argv still
//! reaches `std::env::args_os`, which glibc hands to std before `main`, static or dynamic.
//! Must never run anything before `hardening::no_core_dumps`.

#![no_main]

use std::ffi::{c_char, c_int};
use std::panic::{AssertUnwindSafe, catch_unwind};

use docker_credential_harbor::cli::{self, Command};
use docker_credential_harbor::{commands, hardening, report, start};
use docker_credential_harbor_core::debug;
use docker_credential_harbor_core::env::Env;
use docker_credential_harbor_core::protocol;
use docker_credential_harbor_core::sources;

/// The C entry point. argc and argv are read through `std::env::args_os` instead.
#[unsafe(no_mangle)]
extern "C" fn main(_argc: c_int, _argv: *const *const c_char) -> c_int {
    // Before anything can hold a secret: no core dump of it.
    hardening::no_core_dumps();
    start::standard_descriptors_and_sigpipe();
    report::install_panic_hook();
    // As std's start-up: a panic (in a build that unwinds) exits 101 after the hook's line;
    // it must not unwind into C. Release builds abort at the panic instead.
    let code = catch_unwind(AssertUnwindSafe(run)).unwrap_or(101);
    start::flush_stdout();
    code
}

/// Runs the command argv names; 0 on success, 1 on failure.
fn run() -> c_int {
    let env = Env::process();
    debug::set_enabled(env.debug_enabled());
    let ok = match cli::parse(&Env::args()) {
        Command::Protocol(call) => protocol::answer(
            &call,
            &mut std::io::stdin().lock(),
            &mut std::io::stdout().lock(),
            &mut std::io::stderr().lock(),
            &sources::Chain::new(&env),
        ),
        Command::Sub(command) => commands::run(command, &env),
    };
    if ok { 0 } else { 1 }
}
