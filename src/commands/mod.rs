//! One driver per subcommand, and the dispatch to them. Drivers never call each other; code
//! two of them need lives in a lower module (`job`, `job_robot`, `client_config`, `harbor`).

pub mod configure;
pub mod doctor;
pub mod post_build;
pub mod pre_build;
pub mod robots;

use std::io::Write;

use crate::cli::{self, Command};
use crate::env::Env;
use crate::text::Escaped;
use crate::{job_robot, protocol, report};

/// Runs every command but the protocol verbs; `true` for exit status 0. Everything a person
/// reads goes through [`Escaped`]; only pre-build's stdout (the `export` lines) is machine
/// output, and its summary adds GitLab's section markers itself.
pub fn run(command: Command, env: &Env) -> bool {
    let (mut out, mut err) = (
        Escaped::new(std::io::stdout().lock()),
        Escaped::new(std::io::stderr().lock()),
    );
    let (ok, text) = match command {
        Command::Protocol(_) => unreachable!("main serves the protocol verbs"),
        Command::Version => (true, Some(protocol::version_line())),
        Command::Help => (true, Some(cli::help())),
        Command::Usage => (false, Some(protocol::USAGE.to_owned())),
        Command::Unknown(word) => (false, Some(protocol::unknown_action(&word))),
        Command::SubcommandHelp(text) => (true, Some(text.to_owned())),
        Command::BadArguments(text) => {
            report::error(&text);
            (false, None)
        }
        Command::Doctor => (doctor::run(env, &mut out).unwrap_or(false), None),
        Command::PreBuild { job_robot } => (
            pre_build::run(
                env,
                job_robot,
                &mut std::io::stdout().lock(),
                &mut std::io::stderr().lock(),
            )
            .unwrap_or(false),
            None,
        ),
        // Always 0: a cleanup problem is a warning, never a failed job.
        Command::PostBuild => (
            post_build::run(env, &mut err)
                .map(|()| true)
                .unwrap_or(true),
            None,
        ),
        Command::Configure(args) => (
            configure::run(env, &args, &mut out, &mut err).unwrap_or(false),
            None,
        ),
        Command::RobotsPrune {
            older_than_hours,
            dry_run,
        } => (
            robots::prune(env, older_than_hours, dry_run, &mut out, &mut err).unwrap_or(false),
            None,
        ),
        Command::RobotKeeper => (job_robot::keeper::run(env), None),
    };
    match text {
        // As DCH's `Serve`: usage and errors go to stdout, where clients look for them.
        Some(text) => {
            writeln!(out, "{}", text.trim_end())
                .and_then(|()| out.flush())
                .is_ok()
                && ok
        }
        None => ok,
    }
}
