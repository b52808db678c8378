//! The `docker-credential-harbor` binary: parse argv, run one command, exit 0 or 1.
//!
//! Kept thin: everything it calls lives in the library. Only this file touches the real
//! stdin and stdout handles and the exit status.

use std::io::Write;
use std::process::ExitCode;

use docker_credential_harbor::cli::{self, Command};
use docker_credential_harbor::commands::{configure, doctor, post_build, pre_build};
use docker_credential_harbor::env::Env;
use docker_credential_harbor::{debug, protocol, report, sources};

fn main() -> ExitCode {
    report::install_panic_hook();
    let env = Env::process();
    debug::set_enabled(env.debug_enabled());
    let (ok, text) = match cli::parse(&Env::args()) {
        Command::Protocol(verb) => {
            let chain = sources::Chain::new(&env);
            let ok = protocol::serve(
                verb,
                &mut std::io::stdin().lock(),
                &mut std::io::stdout().lock(),
                &chain,
            );
            (ok, None)
        }
        Command::Version => (true, Some(protocol::version_line())),
        Command::Help => (true, Some(cli::help())),
        Command::Usage => (false, Some(protocol::USAGE.to_owned())),
        Command::Unknown(word) => (false, Some(protocol::unknown_action(&word))),
        Command::SubcommandHelp(text) => (true, Some(text.to_owned())),
        Command::BadArguments(text) => {
            report::error(&text);
            (false, None)
        }
        Command::Doctor => (
            doctor::run(&env, &mut std::io::stdout().lock()).unwrap_or(false),
            None,
        ),
        Command::PreBuild => {
            let ok = pre_build::run(
                &env,
                &mut std::io::stdout().lock(),
                &mut std::io::stderr().lock(),
            );
            (ok.unwrap_or(false), None)
        }
        Command::PostBuild => {
            // Always 0: a cleanup problem is a warning, never a failed job.
            let _ = post_build::run(&env, &mut std::io::stderr().lock());
            (true, None)
        }
        Command::Configure(args) => {
            let ok = configure::run(
                &env,
                &args,
                &mut std::io::stdout().lock(),
                &mut std::io::stderr().lock(),
            );
            (ok.unwrap_or(false), None)
        }
    };
    if let Some(text) = text {
        // As DCH's `Serve`: usage and errors go to stdout, where clients look for them.
        let mut out = std::io::stdout().lock();
        let written = writeln!(out, "{}", text.trim_end()).and_then(|()| out.flush());
        if written.is_err() {
            return ExitCode::FAILURE;
        }
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
