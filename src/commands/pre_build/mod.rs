//! `docker-credential-harbor pre-build`: the runner's `pre_build_script`, run as
//! `eval "$(docker-credential-harbor pre-build)"` in the job's own shell. This is the driver:
//! it decides the order and records each action with its undo; the work is done by the
//! modules that own it.
//!
//! It exports the `HARBOR_*` variables as every GitLab version should have set them (POSIX
//! `export` lines on stdout, nothing else), points every client at the helper for Harbor's
//! registry (`client_config`: per-job copies under `RUNNER_TEMP_PROJECT_DIR`, or the user's
//! files under a lease), takes what would shadow the helper out of the job's
//! `DOCKER_AUTH_CONFIG` (`auth_env`), places the CA where clients look (`certs_d`), verifies the
//! credentials and the push right with one request (`harbor_client::verify`), optionally swaps them
//! for a job robot (`job_robot`), writes the job's record (`job_record`), and summarises on stderr
//! (`summary`). It never prints the password: the job already has it, and `set -x` would show
//! an export. Without Harbor variables it writes nothing and exits 0; only
//! `DOCKER_CREDENTIAL_HARBOR_VERIFY=strict` can fail the job, by ending its output with `false`.
//! Its exit status is 0 whenever it wrote its output, so that the hook line
//! (`gitlab_runner_toml::pre_build_script`) can tell a binary that is missing or did not finish.

pub(crate) mod auth_env;
mod clients;
mod summary;

use std::ffi::{OsStr, OsString};
use std::io::{self, Write};
use std::path::Path;
use std::time::Instant;

use summary::Report;

use docker_credential_harbor_core::env::{
    HARBOR_HOST, HARBOR_OCI, HARBOR_PASSWORD, HARBOR_PROJECT, HARBOR_REGISTRY, HARBOR_URL,
    HARBOR_USER, HARBOR_USERNAME, PATH, STORE_VAR,
};
use docker_credential_harbor_core::integration::Integration;
use docker_credential_harbor_core::sources::runner_side;
use docker_credential_harbor_core::url::HarborUrl;
use harbor_client::{HarborClient, verify};

use crate::client_config;
use crate::job_record::{self, Action, JobState};
use crate::leases::{self, JobLeases};
use crate::process::{self, ProcessId};
use crate::report::{self, Message};
use crate::settings::{HarborSettings, JobContext, VerifyMode};
use crate::{job_robot, shell};

/// Runs the hook: exports on `out`, the summary and warnings on `err`. Whether the job may go
/// on is in the output (a last `false` in strict mode); an error means it could not be said.
/// `runner_side_config` is the helper's runner-side config, whose registries are pointed at the
/// helper too.
pub(crate) fn run(
    integration: &Integration,
    harbor: &HarborSettings,
    context: &JobContext,
    runner_side_config: &Path,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> io::Result<()> {
    if !integration.present() {
        report::note(
            err,
            "no HARBOR_URL or HARBOR_HOST in this job (no Harbor integration); nothing to do",
        )?;
        return Ok(());
    }
    let strict = context.verify == VerifyMode::Strict;
    let mut o = Report::default();
    for note in [&context.verify_note, &harbor.timeout_note]
        .into_iter()
        .flatten()
    {
        o.note(note.clone());
    }
    match integration.harbor_url() {
        Ok(url) => configure_job(
            integration,
            harbor,
            context,
            runner_side_config,
            url,
            &mut o,
        ),
        Err(p) => {
            o.warn(&p);
            o.failed = strict;
        }
    }
    summary::write(integration, context, harbor, &o, err)?;
    let mut text = Vec::new();
    for line in &o.exports {
        text.extend_from_slice(line);
        text.push(b'\n');
    }
    if o.failed {
        // `eval "$(…)"` ignores the hook's exit status: the evaluated `false` fails the job
        // under errexit and the runner's per-command check alike.
        text.extend_from_slice(b"false\n");
    }
    out.write_all(&text)?;
    out.flush()
}

fn configure_job(
    integration: &Integration,
    harbor: &HarborSettings,
    context: &JobContext,
    runner_side_config: &Path,
    url: &HarborUrl,
    o: &mut Report,
) {
    let registry = &url.registry;
    o.exports.push(shell::export(HARBOR_URL, url.base()));
    o.exports.push(shell::export(HARBOR_HOST, registry.host()));
    o.exports
        .push(shell::export(HARBOR_REGISTRY, registry.as_str()));
    o.exports
        .push(shell::export(HARBOR_OCI, format!("oci://{registry}")));
    if let Some(p) = &integration.project {
        o.exports.push(shell::export(HARBOR_PROJECT, p));
    }
    if let Some(path) = helper_missing_from_path(&context.path) {
        o.exports.push(shell::export(PATH, path));
    }

    let mut registries = vec![registry.clone()];
    match runner_side::registries_at(runner_side_config) {
        Ok((list, note)) => {
            registries.extend(list.into_iter().filter(|r| r != registry));
            if let Some(note) = note {
                o.note(note);
            }
        }
        Err(e) => o.note(format!("{e:#}")),
    }

    auth_env::neutralise(context, &registries, o);

    // The job's shell, found once: it holds the leases, and a job robot's keeper lives as long.
    let job_shell = process::job_shell();
    let me = leases::me(job_shell.clone());
    let mut state = JobState::new(&context.job, me.clone());
    let mut shared = JobLeases::new(context.data_dir.as_deref(), me);
    clients::point_clients(context, &registries, &mut shared, &mut state, o);
    if let Some(ca) = &harbor.trust.ca_file {
        clients::place_ca(
            harbor.home.as_deref(),
            registry,
            ca,
            &mut shared,
            &mut state,
            o,
        );
    }
    if let Some(problem) = shared.problem() {
        o.note(problem);
    }
    if let Err(e) = shared.close() {
        o.note(format!("{e:#}"));
    }
    let robot = access(
        integration,
        harbor,
        context,
        url,
        job_shell.as_ref(),
        &mut state,
        o,
    );
    if let Some(u) = robot.as_deref().or(integration.user()) {
        o.exports.push(shell::export(HARBOR_USERNAME, u));
        o.exports.push(shell::export(HARBOR_USER, u));
    }
    let saved = job_record::state_path(context).and_then(|path| state.save(&path));
    if let Err(e) = saved {
        o.note(format!("{e:#}; post-build will not be able to clean up"));
    }
}

/// Verifies the integration's credentials and, when asked, swaps them for a job robot.
/// Returns the robot's name when the job is to use one.
fn access(
    integration: &Integration,
    harbor: &HarborSettings,
    context: &JobContext,
    url: &HarborUrl,
    job_shell: Option<&ProcessId>,
    state: &mut JobState,
    o: &mut Report,
) -> Option<String> {
    let mode = context.verify;
    let job_robot = context.job_robot;
    if mode == VerifyMode::Off && !job_robot {
        return None;
    }
    let strict = mode == VerifyMode::Strict;
    let (Some(account), Some(project)) = (integration.account(), &integration.project) else {
        o.note(format!(
            "cannot verify: {} not set; the helper answers only when {HARBOR_USERNAME} and {HARBOR_PASSWORD} are set",
            integration.missing().join(", ")
        ));
        o.failed = strict;
        return None;
    };
    let client = match HarborClient::with_options(
        &harbor.harbor_options(&url.registry),
        url,
        account.clone(),
    ) {
        Ok(c) => c,
        Err(e) => {
            o.warn(&e);
            o.failed = strict;
            return None;
        }
    };
    if mode != VerifyMode::Off {
        let start = Instant::now();
        match verify::verify_push(&client, project) {
            Ok(v) => {
                o.verified = Some(format!(
                    "{} may pull from and push to {project} ({} ms)",
                    v.subject,
                    start.elapsed().as_millis()
                ))
            }
            Err(e) => {
                o.warn(&e);
                o.failed = strict;
                // A robot minted from credentials that cannot push would not help.
                return None;
            }
        }
    }
    if !job_robot {
        return None;
    }
    match job_robot::mint(
        context,
        harbor.timeout,
        &client,
        &account,
        url,
        project,
        job_shell,
    ) {
        Ok(robot) => {
            o.exports.push(shell::unset(HARBOR_PASSWORD));
            o.exports.push(shell::export(STORE_VAR, &robot.store));
            o.configured.push(format!(
                "job robot {} (pull and push on {project}; deleted when the job ends, expires within a day regardless)",
                robot.name
            ));
            let name = robot.name.clone();
            state.push(Action::Robot { robot });
            Some(name)
        }
        Err(e) => {
            o.warn(&Message(
                &format!("{e}; the job keeps the integration's credentials"),
                docker_credential_harbor_core::problem::Problem::hint(&e),
            ));
            o.failed = strict;
            None
        }
    }
}

/// When clients cannot find `docker-credential-harbor` on PATH (the runner calls the hook by
/// an absolute path), the PATH that adds this binary's directory.
fn helper_missing_from_path(path: &OsStr) -> Option<OsString> {
    if client_config::helper_on_path(path) {
        return None;
    }
    let exe = std::env::current_exe().ok()?;
    if exe.file_name()? != "docker-credential-harbor" {
        return None;
    }
    let mut with_exe = exe.parent()?.as_os_str().to_owned();
    if !path.is_empty() {
        with_exe.push(":");
        with_exe.push(path);
    }
    Some(with_exe)
}
