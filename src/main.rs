//! The `docker-credential-harbor` binary: parse argv, run one command, exit 0 or 1.
//!
//! Kept thin: everything it calls lives in the library. The protocol verbs are served here,
//! straight from stdin to stdout, so `get` touches nothing but the sources.

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
        Command::Protocol(verb) => {
            let chain = sources::Chain::new(&env);
            protocol::serve(
                verb,
                &mut std::io::stdin().lock(),
                &mut std::io::stdout().lock(),
                &chain,
            )
        }
        other => commands::run(other, &env),
    };
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
