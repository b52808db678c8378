//! The `docker-credential-harbor` binary: parse argv, run one command, exit 0 or 1.
//!
//! Kept thin: everything it calls lives in the libraries. The protocol (`get`, `store`,
//! `erase`, `list`, `version`) is answered by the core crate alone, straight from stdin to
//! stdout, so `get` touches nothing but the credential sources; subcommands go to `commands`.

use std::process::ExitCode;

use docker_credential_harbor::cli::{self, Command};
use docker_credential_harbor::env::Env;
use docker_credential_harbor::{commands, debug, hardening, protocol, report, sources};

fn main() -> ExitCode {
    // Before anything can hold a secret: no core dump of it.
    hardening::no_core_dumps();
    report::install_panic_hook();
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
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
