//! One driver per subcommand, and the dispatch to them. Each command's inputs are resolved
//! once here, from the environment, into an [`Integration`], the Harbor client's
//! [`HarborSettings`] and the hooks' [`JobContext`] (and, for the hooks alone, their
//! [`BrokerSettings`]), each built only for the commands that read it, and passed down. A path only one command reads is not in either: pre-build's
//! runner-side config is resolved here for it, and `configure` resolves its own (that config,
//! PATH, the clients' files, the store) from the environment.
//! Drivers never call each other; code two of them need lives in a lower module (`job_record`,
//! `job_robot`, `client_config`, `certs_d`, `leases`, `harbor`). The protocol's own answers
//! (`get`, `version`, the usage line, …) never come here: the core serves them (`main`).

pub(crate) mod configure;
pub(crate) mod doctor;
pub(crate) mod install_hooks;
pub(crate) mod kubelet_provider;
pub(crate) mod post_build;
pub(crate) mod pre_build;
pub(crate) mod robots;

use std::io::{self, Write};

use docker_credential_harbor_core::env::Env;
use docker_credential_harbor_core::integration::Integration;
use docker_credential_harbor_core::problem::Problem;
use docker_credential_harbor_core::sources::runner_side;
use docker_credential_harbor_core::text::Escaped;

use crate::cli::{self, Subcommand};
use crate::report;
use crate::settings::{BrokerSettings, HarborSettings, JobContext};

/// Runs a subcommand; `true` for exit status 0. Everything a person reads goes through
/// [`Escaped`]; only pre-build's stdout (the `export` lines) is machine output, and its
/// summary adds GitLab's section markers itself. A driver reports its own findings and
/// returns whether they pass; what stopped it from reporting them (an error writing stdout
/// or stderr) comes back here and is printed once, through `report`, and fails the command,
/// except post-build's, which never fails a job. A reader that went away (`… | head`, EPIPE)
/// is the one error not said, as for the protocol's verbs: the reader asked for no more, and
/// exit 1 says the rest was not written.
pub fn run(command: Subcommand, env: &Env) -> bool {
    let never_fails = matches!(command, Subcommand::PostBuild);
    let mut err = Escaped::new(std::io::stderr().lock());
    match drive(command, env, &mut err) {
        Ok(ok) => ok,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => never_fails,
        Err(e) => {
            // The message may fail to write too (stderr closed): the exit status still says.
            let _ = report::error(&mut err, &Unwritten(e));
            never_fails
        }
    }
}

/// Why a command's own output could not be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot write the report: {0}")]
struct Unwritten(io::Error);

impl Problem for Unwritten {
    fn hint(&self) -> Option<String> {
        Some("check that the command's stdout and stderr are open and writable".into())
    }
}

/// The driver `command` names, with its inputs resolved; `Ok(false)` when it reported a
/// failure, `Err` when it could not report.
fn drive(command: Subcommand, env: &Env, err: &mut dyn Write) -> io::Result<bool> {
    let mut out = Escaped::new(std::io::stdout().lock());
    let integration = || Integration::resolve(env);
    let harbor = || HarborSettings::from_env(env);
    let context = || JobContext::from_env(env);
    match command {
        Subcommand::Help => print(&mut out, &cli::help()),
        Subcommand::SubcommandHelp(text) => print(&mut out, text),
        Subcommand::BadArguments(e) => {
            report::error(err, &e)?;
            Ok(false)
        }
        Subcommand::Doctor => doctor::run(&integration(), &harbor(), &context(), &mut out),
        Subcommand::DoctorGitlabRunner { config, registry } => {
            doctor::gitlab_runner::run(&config, registry.as_deref(), &integration(), &mut out)
        }
        Subcommand::PreBuild { job_robot } => {
            let mut context = context();
            // `--job-robot` asks what the variable asks.
            context.job_robot |= job_robot;
            pre_build::run(
                &integration(),
                &harbor(),
                &context,
                BrokerSettings::from_env(env).as_ref(),
                &runner_side::locate(env),
                &mut std::io::stdout().lock(),
                &mut std::io::stderr().lock(),
            )
            .map(|()| true)
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
            err,
        ),
        // Always 0: a cleanup problem is a warning, never a failed job.
        Subcommand::PostBuild => post_build::run(
            &context(),
            &harbor(),
            BrokerSettings::from_env(env).as_ref(),
            err,
        )
        .map(|()| true),
        Subcommand::Configure(args) => configure::run(&integration(), env, &args, &mut out, err),
        Subcommand::RobotsPrune {
            older_than_hours,
            dry_run,
        } => robots::prune(
            &integration(),
            &harbor(),
            older_than_hours,
            dry_run,
            &mut out,
            err,
        ),
        Subcommand::RobotKeeper => Ok(crate::job_robot::keeper::run(&harbor())),
        // Machine output: stdout is written as it is, not through `Escaped`.
        Subcommand::KubeletProvider => kubelet_provider::run(
            env,
            &mut std::io::stdin().lock(),
            &mut std::io::stdout().lock(),
            err,
        ),
    }
}

/// Help texts go to stdout, as DCH's `Serve` prints its usage there.
fn print(out: &mut dyn Write, text: &str) -> io::Result<bool> {
    writeln!(out, "{}", text.trim_end())?;
    out.flush()?;
    Ok(true)
}
