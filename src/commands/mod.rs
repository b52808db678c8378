//! One driver per subcommand, and the dispatch to them. Each command's inputs are resolved
//! once here, from the environment, into an [`Integration`] and [`Settings`], and passed down.
//! Drivers never call each other; code two of them need lives in a lower module (`job`,
//! `job_robot`, `client_config`, `certs_d`, `leases`, `harbor`). The protocol's own answers
//! (`get`, `version`, the usage line, …) never come here: the core serves them (`main`).

pub(crate) mod configure;
pub(crate) mod doctor;
pub(crate) mod install_hooks;
pub(crate) mod post_build;
pub(crate) mod pre_build;
pub(crate) mod robots;

use std::io::Write;

use crate::cli::{self, Subcommand};
use crate::env::Env;
use crate::integration::Integration;
use crate::report::{self, Said};
use crate::settings::Settings;
use crate::text::Escaped;

/// Runs a subcommand; `true` for exit status 0. Everything a person reads goes through
/// [`Escaped`]; only pre-build's stdout (the `export` lines) is machine output, and its
/// summary adds GitLab's section markers itself.
pub fn run(command: Subcommand, env: &Env) -> bool {
    let (mut out, mut err) = (
        Escaped::new(std::io::stdout().lock()),
        Escaped::new(std::io::stderr().lock()),
    );
    let integration = || Integration::resolve(env);
    let settings = || Settings::from_env(env);
    match command {
        Subcommand::Help => print(&mut out, &cli::help()),
        Subcommand::SubcommandHelp(text) => print(&mut out, text),
        Subcommand::BadArguments(text) => {
            let _ = report::error(&mut err, &Said(&text, None));
            false
        }
        Subcommand::Doctor => doctor::run(&integration(), &settings(), &mut out).unwrap_or(false),
        Subcommand::DoctorRunner { config, registry } => {
            doctor::runner::run(&config, registry.as_deref(), &integration(), &mut out)
                .unwrap_or(false)
        }
        Subcommand::PreBuild { job_robot } => pre_build::run(
            &integration(),
            &settings(),
            job_robot,
            &mut std::io::stdout().lock(),
            &mut std::io::stderr().lock(),
        )
        .is_ok(),
        Subcommand::InstallHooks {
            config,
            job_path,
            registry,
        } => install_hooks::run(
            &config,
            job_path.as_deref(),
            registry.as_deref(),
            &mut out,
            &mut err,
        )
        .unwrap_or(false),
        // Always 0: a cleanup problem is a warning, never a failed job.
        Subcommand::PostBuild => {
            let _ = post_build::run(&settings(), &mut err);
            true
        }
        Subcommand::Configure(args) => {
            configure::run(&integration(), &settings(), &args, &mut out, &mut err).unwrap_or(false)
        }
        Subcommand::RobotsPrune {
            older_than_hours,
            dry_run,
        } => robots::prune(
            &integration(),
            &settings(),
            older_than_hours,
            dry_run,
            &mut out,
            &mut err,
        )
        .unwrap_or(false),
        Subcommand::RobotKeeper => crate::job_robot::keeper::run(&settings()),
    }
}

/// Help texts go to stdout, as DCH's `Serve` prints its usage there.
fn print(out: &mut dyn Write, text: &str) -> bool {
    writeln!(out, "{}", text.trim_end())
        .and_then(|()| out.flush())
        .is_ok()
}
