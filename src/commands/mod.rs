//! One driver per subcommand, and the dispatch to them. Each command's inputs are resolved
//! once here, from the environment, into an [`Integration`], the Harbor client's
//! [`HarborSettings`] and the hooks' [`JobContext`], each built only for the commands that
//! read it, and passed down. A path only one command reads is not in either: pre-build's
//! runner-side config is resolved here for it, and `configure` resolves its own (that config,
//! PATH, the clients' files, the store) from the environment.
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
use crate::settings::{HarborSettings, JobContext};
use crate::sources::runner_config;
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
    let harbor = || HarborSettings::from_env(env);
    let context = || JobContext::from_env(env);
    match command {
        Subcommand::Help => print(&mut out, &cli::help()),
        Subcommand::SubcommandHelp(text) => print(&mut out, text),
        Subcommand::BadArguments(text) => {
            let _ = report::error(&mut err, &Said(&text, None));
            false
        }
        Subcommand::Doctor => {
            doctor::run(&integration(), &harbor(), &context(), &mut out).unwrap_or(false)
        }
        Subcommand::DoctorRunner { config, registry } => {
            doctor::runner::run(&config, registry.as_deref(), &integration(), &mut out)
                .unwrap_or(false)
        }
        Subcommand::PreBuild { job_robot } => {
            let mut context = context();
            // `--job-robot` asks what the variable asks.
            context.job_robot |= job_robot;
            pre_build::run(
                &integration(),
                &harbor(),
                &context,
                &runner_config::locate(env),
                &mut std::io::stdout().lock(),
                &mut std::io::stderr().lock(),
            )
            .is_ok()
        }
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
            let _ = post_build::run(&context(), harbor().timeout, &mut err);
            true
        }
        Subcommand::Configure(args) => {
            configure::run(&integration(), env, &args, &mut out, &mut err).unwrap_or(false)
        }
        Subcommand::RobotsPrune {
            older_than_hours,
            dry_run,
        } => robots::prune(
            &integration(),
            &harbor(),
            older_than_hours,
            dry_run,
            &mut out,
            &mut err,
        )
        .unwrap_or(false),
        Subcommand::RobotKeeper => crate::job_robot::keeper::run(&harbor()),
    }
}

/// Help texts go to stdout, as DCH's `Serve` prints its usage there.
fn print(out: &mut dyn Write, text: &str) -> bool {
    writeln!(out, "{}", text.trim_end())
        .and_then(|()| out.flush())
        .is_ok()
}
