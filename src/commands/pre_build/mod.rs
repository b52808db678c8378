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
//! (`summary`). With `DOCKER_CREDENTIAL_HARBOR_BROKER` set, the robot harbor-broker gives for the
//! job's id_token (`broker_robot`) replaces the integration's credentials and the job robot: the
//! registry and project come from the broker's answer, and no `HARBOR_*` variable is needed;
//! when the broker gives none, the job goes on as without it. It never prints the password: the job already has it, and `set -x` would show
//! an export. Without Harbor variables or a broker it writes nothing and exits 0; only
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
use docker_credential_harbor_core::problem::Problem;
use docker_credential_harbor_core::sources::runner_side;
use docker_credential_harbor_core::url::HarborUrl;
use docker_credential_harbor_core::vars::RegistryFrom;
use harbor_client::broker::Access;
use harbor_client::{HarborClient, verify};

use crate::broker_robot::{self, Minted};
use crate::client_config;
use crate::job_record::{self, Action, JobState};
use crate::leases::{self, JobLeases};
use crate::process::{self, ProcessId};
use crate::report::{self, Message};
use crate::settings::{BrokerSettings, HarborSettings, JobContext, VerifyMode};
use crate::{job_robot, shell};

/// Runs the hook: exports on `out`, the summary and warnings on `err`. Whether the job may go
/// on is in the output (a last `false` in strict mode); an error means it could not be said.
/// `runner_side_config` is the helper's runner-side config, whose registries are pointed at the
/// helper too.
pub(crate) fn run(
    integration: &Integration,
    harbor: &HarborSettings,
    context: &JobContext,
    broker: Option<&BrokerSettings>,
    runner_side_config: &Path,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> io::Result<()> {
    if !integration.present() && broker.is_none() {
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
    // The broker's robot, when there is a broker, wins over the integration's credentials.
    let obtained = broker.and_then(|b| match broker_robot::obtain(b, harbor) {
        Ok(got) => Some(got),
        Err(e) => {
            let next = if integration.present() {
                "the job keeps the integration's credentials"
            } else {
                "the job has no Harbor credentials from the helper"
            };
            o.warn(&Message(&format!("{e}; {next}"), e.hint()));
            o.failed = strict;
            None
        }
    });
    let via_broker = obtained.as_ref().map(|got| broker_view(got, integration));
    let shown = via_broker.as_ref().unwrap_or(integration);
    match (shown.harbor_url(), obtained) {
        (Ok(url), got) => {
            configure_job(shown, harbor, context, runner_side_config, url, got, &mut o)
        }
        // A failed broker and no integration: the warning says it all.
        (Err(_), None) if !integration.present() => {
            o.headline =
                Some("harbor-broker: no robot for this job; see the warnings below".into());
        }
        (Err(p), _) => {
            o.warn(&p);
            o.failed = strict;
        }
    }
    summary::write(shown, context, harbor, &o, err)?;
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
    from_broker: Option<Minted>,
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
    let brokered = from_broker.is_some();
    let robot = match from_broker {
        Some(got) => serve_broker_robot(&got, context, &mut state, o),
        None => access(
            integration,
            harbor,
            context,
            url,
            job_shell.as_ref(),
            &mut state,
            o,
        ),
    };
    // A broker's robot that could not be served was released: its name is no one's now.
    let account = if brokered { None } else { integration.user() };
    if let Some(u) = robot.as_deref().or(account) {
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

/// The integration as the broker's answer makes it: its registry, project and robot, no
/// password. GitLab's own URL is kept when it names the same registry (it may carry a path).
fn broker_view(got: &Minted, integration: &Integration) -> Integration {
    let g = &got.granted;
    let url = match integration.harbor_url() {
        Ok(u) if u.registry == g.registry => Ok(u.clone()),
        _ => HarborUrl::parse(&format!("https://{}", g.registry), RegistryFrom::Url),
    };
    Integration {
        url: Some(url),
        registry: Some((g.registry.clone(), RegistryFrom::Url)),
        username: Some((g.robot.username.clone(), HARBOR_USERNAME)),
        password: None,
        project: Some(g.robot.project.clone()),
    }
}

/// Serves the broker's robot as a job robot is served: its store, and no integration password
/// left in the job's shell. Returns its name, or `None` (and a warning) when it cannot be
/// served.
fn serve_broker_robot(
    got: &Minted,
    context: &JobContext,
    state: &mut JobState,
    o: &mut Report,
) -> Option<String> {
    let robot = match broker_robot::serve(got, context) {
        Ok(r) => r,
        Err(e) => {
            o.warn(&e);
            o.failed = context.verify == VerifyMode::Strict;
            return None;
        }
    };
    o.exports.push(shell::unset(HARBOR_PASSWORD));
    o.exports.push(shell::export(STORE_VAR, &robot.store));
    if let Some(why) = &got.push_refused {
        o.note(format!(
            "harbor-broker refused push for this job (\"{}\"), so its robot may only pull",
            docker_credential_harbor_core::text::inline(why)
        ));
    }
    let rights = match got.access {
        Access::Push => "pull and push",
        Access::Pull => "pull only",
    };
    o.verified = Some(format!(
        "{} from harbor-broker: {rights} on {}",
        robot.username, robot.project
    ));
    o.configured.push(format!(
        "robot {} from harbor-broker (released by post-build; harbor-broker's sweeper deletes it after {} (Unix time) regardless)",
        robot.username, robot.expires_at
    ));
    o.headline = Some(format!(
        "Harbor {}: robot from harbor-broker ({rights})",
        robot.registry
    ));
    let name = robot.username.clone();
    state.push(Action::BrokerRobot { robot });
    Some(name)
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
