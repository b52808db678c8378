//! `docker-credential-harbor pre-build`: the runner's `pre_build_script`, run as
//! `eval "$(docker-credential-harbor pre-build)"` in the job's own shell.
//!
//! It resolves GitLab's `HARBOR_*` variables and prints POSIX `export` lines for the job
//! (stdout carries nothing else), points every client at the helper for Harbor's registry
//! (per-job copies under `RUNNER_TEMP_PROJECT_DIR` when the runner gives one), places a CA
//! where clients look, verifies the credentials and the push right with one request, and
//! summarises on stderr. It never prints the password: the job already has it, and `set -x`
//! would show an export. Without Harbor variables it writes nothing and exits 0; only
//! `DOCKER_CREDENTIAL_HARBOR_VERIFY=strict` can fail the job, by ending its output with `false`.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::address::Registry;
use crate::atomic_file::Links;
use crate::client_config::{self, Client, ConfigFile, Entry};
use crate::env::Env;
use crate::env::STORE_VAR;
use crate::harbor::tls::{self, CA_FILE_VAR};
use crate::harbor::url::HarborUrl;
use crate::harbor::verify;
use crate::harbor::{Account, HarborClient, HarborError};
use crate::job::{self, JobState, Shell};
use crate::job_robot;
use crate::leases::{self, Leases, Thing};
use crate::sources::runner_config;
use crate::{atomic_file, shell, text, vars};

pub const VERIFY_VAR: &str = "DOCKER_CREDENTIAL_HARBOR_VERIFY";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VerifyMode {
    Warn,
    Strict,
    Off,
}

/// Reads `DOCKER_CREDENTIAL_HARBOR_VERIFY`; an unknown value is `warn`, and says so.
fn verify_mode(env: &Env, notes: &mut Vec<String>) -> VerifyMode {
    match env
        .var(VERIFY_VAR)
        .as_deref()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None | Some("warn") => VerifyMode::Warn,
        Some("strict") => VerifyMode::Strict,
        Some("off") => VerifyMode::Off,
        Some(other) => {
            notes.push(format!(
                "{VERIFY_VAR}={other:?} is not warn, strict or off; using warn"
            ));
            VerifyMode::Warn
        }
    }
}

/// Everything the run decided, for the summary and the exit status.
struct Outcome {
    exports: Vec<Vec<u8>>,
    warnings: Vec<String>,
    configured: Vec<String>,
    verified: Option<String>,
    failed: bool,
}

impl Outcome {
    fn warn(&mut self, text: impl Into<String>) {
        self.warnings.push(text.into());
    }
}

/// Runs the hook: exports on `out`, the summary and warnings on `err`. Returns whether the
/// job may go on (false only in strict mode).
pub fn run(
    env: &Env,
    job_robot: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> io::Result<bool> {
    let mut notes = Vec::new();
    let mode = verify_mode(env, &mut notes);
    if vars::url_or_host(env).is_none() {
        writeln!(
            err,
            "docker-credential-harbor: no HARBOR_URL or HARBOR_HOST in this job (no Harbor integration); nothing to do"
        )?;
        return Ok(true);
    }
    let mut o = Outcome {
        exports: Vec::new(),
        warnings: notes,
        configured: Vec::new(),
        verified: None,
        failed: false,
    };
    let url = match HarborUrl::from_env(env) {
        Ok(u) => Some(u),
        Err(p) => {
            o.warn(format!("{p}\n  hint: {}", p.hint()));
            o.failed = mode == VerifyMode::Strict;
            None
        }
    };
    if let Some(url) = &url {
        configure_job(env, url, mode, job_robot || job_robot::enabled(env), &mut o);
    }
    summary(env, url.as_ref(), mode, &o, err)?;
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
    out.flush()?;
    Ok(!o.failed)
}

fn configure_job(env: &Env, url: &HarborUrl, mode: VerifyMode, job_robot: bool, o: &mut Outcome) {
    let registry = &url.registry;
    let username = vars::username(env);
    let project = vars::project(env);
    // The variables as every GitLab version should have set them.
    o.exports.push(shell::export("HARBOR_URL", url.base()));
    o.exports
        .push(shell::export("HARBOR_HOST", registry.host()));
    o.exports
        .push(shell::export("HARBOR_REGISTRY", registry.as_str()));
    o.exports
        .push(shell::export("HARBOR_OCI", format!("oci://{registry}")));
    if let Some(p) = &project {
        o.exports.push(shell::export("HARBOR_PROJECT", p));
    }
    if let Some(path) = helper_missing_from_path(env) {
        o.exports.push(shell::export("PATH", &path));
    }

    let mut registries = vec![registry.clone()];
    match runner_config::registries(env) {
        Ok((list, note)) => {
            registries.extend(list.into_iter().filter(|r| r != registry));
            if let Some(note) = note {
                o.warn(note);
            }
        }
        Err(e) => o.warn(format!("{e:#}")),
    }

    let mut state = JobState::new(env);
    let mut shared = Shared::new(env, &mut state);
    point_clients(env, &registries, &mut shared, &mut state, o);
    if let Some(ca) = env.path(CA_FILE_VAR) {
        place_ca(env, registry, &ca, &mut shared, &mut state, o);
    }
    shared.close(o);
    let robot = access(env, url, mode, job_robot, &mut state, o);
    let shown_user = match &robot {
        Some(r) => Some(r.clone()),
        None => username,
    };
    if let Some(u) = &shown_user {
        o.exports.push(shell::export("HARBOR_USERNAME", u));
        o.exports.push(shell::export("HARBOR_USER", u));
    }
    match job::state_path(env) {
        Ok(path) => {
            if let Err(e) = state.save(&path) {
                o.warn(format!("{e:#}; post-build will not be able to clean up"));
            }
        }
        Err(e) => o.warn(format!("{e:#}; post-build will not be able to clean up")),
    }
}

/// Verifies the integration's credentials and, when asked, swaps them for a job robot.
/// Returns the robot's name when the job is to use one.
fn access(
    env: &Env,
    url: &HarborUrl,
    mode: VerifyMode,
    job_robot: bool,
    state: &mut JobState,
    o: &mut Outcome,
) -> Option<String> {
    if mode == VerifyMode::Off && !job_robot {
        return None;
    }
    let strict = mode == VerifyMode::Strict;
    let (user, password, project) = (vars::username(env), vars::password(env), vars::project(env));
    let (Some(user), Some(password), Some(project)) = (user, password, project) else {
        o.warn(format!(
            "cannot verify: {} not set; the helper answers only when HARBOR_USERNAME and HARBOR_PASSWORD are set",
            vars::missing(env).join(", ")
        ));
        o.failed = strict;
        return None;
    };
    let account = Account {
        username: user,
        password,
    };
    let client = match HarborClient::from_env(env, url, account.clone()) {
        Ok(c) => c,
        Err(e) => {
            o.warn(with_hint(&e));
            o.failed = strict;
            return None;
        }
    };
    if mode != VerifyMode::Off {
        let start = Instant::now();
        match verify::verify_push(&client, &project) {
            Ok(v) => {
                o.verified = Some(format!(
                    "{} may pull from and push to {project} ({} ms)",
                    v.subject,
                    start.elapsed().as_millis()
                ))
            }
            Err(e) => {
                o.warn(with_hint(&e));
                o.failed = strict;
                // A robot minted from credentials that cannot push would not help.
                return None;
            }
        }
    }
    if !job_robot {
        return None;
    }
    match job_robot::mint(env, &client, &account, url, &project, state) {
        Ok(minted) => {
            o.exports.push(shell::unset("HARBOR_PASSWORD"));
            o.exports.push(shell::export(STORE_VAR, &minted.store));
            o.configured.push(format!(
                "job robot {} (pull and push on {project}; deleted when the job ends, expires within a day regardless)",
                minted.name
            ));
            Some(minted.name)
        }
        Err(e) => {
            o.warn(format!("{e}; the job keeps the integration's credentials"));
            o.failed = strict;
            None
        }
    }
}

fn with_hint(e: &HarborError) -> String {
    let hint = e
        .hint()
        .map(|h| format!("\n  hint: {h}"))
        .unwrap_or_default();
    format!("{e}{hint}")
}

/// The things this job shares with concurrent jobs of the same user (crate::leases), under
/// the lease table's lock while pre-build places them. The table is opened only when there
/// is something to share (a job with a per-job directory and no CA usually has nothing, and
/// its HOME may be read-only). Without a table the job owns what it places alone, as its
/// record says.
struct Shared<'e> {
    env: &'e Env,
    leases: Option<Option<Leases>>,
    me: Shell,
}

impl<'e> Shared<'e> {
    fn new(env: &'e Env, state: &mut JobState) -> Shared<'e> {
        let me = leases::me();
        state.shell = Some(me.clone());
        Shared {
            env,
            leases: None,
            me,
        }
    }

    fn table(&mut self, o: &mut Outcome) -> Option<&mut Leases> {
        let env = self.env;
        self.leases
            .get_or_insert_with(|| {
                Leases::path(env).and_then(|p| match Leases::open(&p) {
                    Ok(l) => Some(l),
                    Err(e) => {
                        o.warn(format!(
                            "{e:#}; what this job places is not shared with concurrent jobs"
                        ));
                        None
                    }
                })
            })
            .as_mut()
    }

    /// A job made `thing` and nobody undid it: it is ours to hold.
    fn is_ours(&mut self, thing: &Thing, o: &mut Outcome) -> bool {
        self.table(o).is_some_and(|l| l.known(thing))
    }

    fn take(&mut self, thing: Thing, state: &mut JobState, o: &mut Outcome) {
        let me = self.me.clone();
        if let Some(l) = self.table(o) {
            l.take(thing.clone(), &me);
        }
        state.leases.push(thing);
    }

    fn close(self, o: &mut Outcome) {
        if let Some(Some(l)) = self.leases
            && let Err(e) = l.save()
        {
            o.warn(format!("{e:#}"));
        }
    }
}

/// Writes `credHelpers` for every registry into each client's config: per-job copies when the
/// runner gives a per-job directory, the user's own files otherwise.
fn point_clients(
    env: &Env,
    registries: &[Registry],
    shared: &mut Shared,
    state: &mut JobState,
    o: &mut Outcome,
) {
    let per_job = job::per_job_dir(env);
    let Some(dir) = per_job else {
        return point_clients_in_place(env, registries, shared, state, o);
    };
    // A previous job's leftovers (post-build is skipped when a job fails) are replaced.
    let _ = fs::remove_dir_all(&dir);
    if let Err(e) = atomic_file::create_private_dir_all(&dir) {
        o.warn(format!(
            "cannot create {}: {e}; falling back to the user's own files",
            dir.display()
        ));
        return point_clients_in_place(env, registries, shared, state, o);
    }
    state.per_job_dir = Some(dir.clone());
    for client in Client::ALL {
        let user_file = client.user_file(env);
        if client == Client::Kaniko {
            // kaniko reads only its own file; edit it in place when kaniko is here.
            if user_file.is_some() {
                point_clients_in_place_one(client, user_file, registries, shared, state, o);
            }
            continue;
        }
        let source = match user_file.as_deref().map(ConfigFile::load) {
            Some(Ok(f)) => Some(f),
            Some(Err(e)) => {
                o.warn(format!("{e}; the job's copy starts empty"));
                None
            }
            None => None,
        };
        let target = client.per_job_file(&dir);
        let mut copy = match &source {
            Some(f) => {
                // A per-job file never holds a password (issue 9, defect 5): it sits on the
                // builds volume and outlives a failed job.
                let (copy, left_out) = f.copy_without_logins(&target);
                if !left_out.is_empty() {
                    o.warn(format!(
                        "the job's copy of {} leaves out its plaintext logins for {} (a per-job file never holds a password); \
                         `docker-credential-harbor configure --migrate` moves them into the helper's store, where jobs find them",
                        f.path.display(),
                        left_out.join(", ")
                    ));
                }
                copy
            }
            None => match ConfigFile::load(&target) {
                Ok(f) => f,
                Err(e) => {
                    o.warn(e.to_string());
                    continue;
                }
            },
        };
        copy.mark_changed();
        for r in registries {
            if let Entry::Replaced(other) = copy.set_helper(r, true) {
                o.warn(format!(
                    "{} named the helper {other:?} for {r}; the job's copy uses harbor",
                    copy_origin(&source, client)
                ));
            }
        }
        if let Err(e) = copy.save() {
            o.warn(e.to_string());
            continue;
        }
        if client == Client::Docker {
            link_cli_plugins(user_file.as_deref(), &target);
        }
        if let Some((var, value)) = client.per_job_export(&dir) {
            o.exports.push(shell::export(var, &value));
        }
        o.configured
            .push(format!("{} ({})", client.readers(), target.display()));
    }
}

fn copy_origin(source: &Option<ConfigFile>, client: Client) -> String {
    match source {
        Some(f) => f.path.display().to_string(),
        None => format!("the {client} config"),
    }
}

/// docker looks for CLI plugins (buildx, compose) under `$DOCKER_CONFIG/cli-plugins`: keep the
/// user's visible from the per-job config.
fn link_cli_plugins(user_file: Option<&Path>, per_job_file: &Path) {
    let (Some(user_dir), Some(job_dir)) = (user_file.and_then(Path::parent), per_job_file.parent())
    else {
        return;
    };
    let plugins = user_dir.join("cli-plugins");
    if plugins.is_dir() {
        let _ = std::os::unix::fs::symlink(&plugins, job_dir.join("cli-plugins"));
    }
}

fn point_clients_in_place(
    env: &Env,
    registries: &[Registry],
    shared: &mut Shared,
    state: &mut JobState,
    o: &mut Outcome,
) {
    for client in Client::ALL {
        point_clients_in_place_one(client, client.user_file(env), registries, shared, state, o);
    }
}

/// Adds the entries to a user's own file, under a lease, so that the last job using an
/// entry is the one that takes it out again (issue 9, defect 14).
fn point_clients_in_place_one(
    client: Client,
    file: Option<PathBuf>,
    registries: &[Registry],
    shared: &mut Shared,
    state: &mut JobState,
    o: &mut Outcome,
) {
    let Some(path) = file else { return };
    let mut f = match ConfigFile::load(&path) {
        Ok(f) => f,
        Err(e) => return o.warn(format!("{e}; {} will not use the helper", client.readers())),
    };
    let mut held = Vec::new();
    let created_helpers = !f.has_helpers();
    for r in registries {
        let thing = Thing::Entry {
            file: path.clone(),
            registry: r.as_str().to_owned(),
            created_file: !f.existed,
            created_helpers,
        };
        match f.set_helper(r, false) {
            Entry::Added => held.push(thing),
            // Another job's entry (alive or dead) is shared; one the user wrote stays theirs.
            Entry::AlreadySet if shared.is_ours(&thing, o) => held.push(thing),
            Entry::KeptOther(other) => o.warn(format!(
                "{} names the helper {other:?} for {r}; left as it is, so {} will not use docker-credential-harbor there",
                path.display(),
                client.readers()
            )),
            Entry::AlreadySet | Entry::Replaced(_) => {}
        }
    }
    match f.save() {
        Ok(_) => {
            for thing in held {
                shared.take(thing, state, o);
            }
            o.configured
                .push(format!("{} ({})", client.readers(), path.display()));
        }
        Err(e) => o.warn(e.to_string()),
    }
}

/// The name of the CA file pre-build places: its own, so a user's `ca.crt` is never
/// touched, and whatever carries this name is pre-build's to own or remove (issue 9,
/// defect 13). docker and the containers tools read every `*.crt` of the directory.
pub const PLACED_CA: &str = "docker-credential-harbor.crt";

/// Places the CA's certificates (nothing else of the bundle) as `certs.d/<registry>/` +
/// [`PLACED_CA`] where docker and the containers tools look: `/etc/...` for root, the
/// user's config directories otherwise.
fn place_ca(
    env: &Env,
    registry: &Registry,
    ca: &Path,
    shared: &mut Shared,
    state: &mut JobState,
    o: &mut Outcome,
) {
    let pem = match tls::ca_bundle(ca) {
        Ok((pem, _)) => pem,
        Err(e) => {
            return o.warn(format!(
                "cannot use {CA_FILE_VAR}={}: {e}; no CA was placed in certs.d",
                ca.display()
            ));
        }
    };
    let targets: Vec<PathBuf> = if is_root() {
        vec![
            PathBuf::from("/etc/docker/certs.d"),
            PathBuf::from("/etc/containers/certs.d"),
        ]
    } else {
        let Some(home) = env.path("HOME") else {
            return o.warn("HOME is not set: the CA was not placed in a certs.d directory");
        };
        vec![
            home.join(".config/docker/certs.d"),
            home.join(".config/containers/certs.d"),
        ]
    };
    let mut placed = Vec::new();
    for base in targets {
        let dir = base.join(registry.as_str());
        let file = dir.join(PLACED_CA);
        let mut missing_dirs: Vec<PathBuf> = dir
            .ancestors()
            .take_while(|d| !d.exists())
            .map(Path::to_owned)
            .collect();
        missing_dirs.reverse();
        let current = atomic_file::read_regular(&file, Links::Refuse, 4 << 20)
            .ok()
            .flatten()
            .is_some_and(|(bytes, _)| bytes.as_slice() == pem.as_slice());
        let written = if current {
            Ok(())
        } else {
            fs::create_dir_all(&dir).and_then(|()| atomic_file::write_with_mode(&file, &pem, 0o644))
        };
        match written {
            Ok(()) => {
                // Adopted when an earlier job left it: its directories were that job's.
                let thing = Thing::File {
                    path: file.clone(),
                    created_dirs: missing_dirs,
                };
                shared.take(thing, state, o);
                placed.push(file);
            }
            Err(e) => o.warn(format!("cannot place the CA at {}: {e}", file.display())),
        }
    }
    if !placed.is_empty() {
        let shown: Vec<String> = placed.iter().map(|p| p.display().to_string()).collect();
        o.configured
            .push(format!("CA for {registry} ({})", shown.join(", ")));
    }
}

fn is_root() -> bool {
    // SAFETY: geteuid takes no arguments and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// When clients cannot find `docker-credential-harbor` on PATH (the runner calls the hook by
/// an absolute path), the PATH that adds this binary's directory.
fn helper_missing_from_path(env: &Env) -> Option<OsString> {
    if client_config::helper_on_path(env) {
        return None;
    }
    let exe = std::env::current_exe().ok()?;
    if exe.file_name()? != "docker-credential-harbor" {
        return None;
    }
    let mut path = exe.parent()?.as_os_str().to_owned();
    if let Some(old) = env.var_os("PATH").filter(|p| !p.is_empty()) {
        path.push(":");
        path.push(old);
    }
    Some(path)
}

/// The job-log summary on stderr, folded into a collapsible section when `CI` is set.
fn summary(
    env: &Env,
    url: Option<&HarborUrl>,
    mode: VerifyMode,
    o: &Outcome,
    err: &mut dyn Write,
) -> io::Result<()> {
    let ci = env.var("CI").is_some();
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let headline = match (url, &o.verified, o.warnings.is_empty()) {
        (Some(u), Some(_), true) => format!("Harbor {}: credentials verified", u.registry),
        (Some(u), None, true) if mode == VerifyMode::Off => {
            format!("Harbor {}: clients configured (not verified)", u.registry)
        }
        (Some(u), _, _) => format!("Harbor {}: see the warnings below", u.registry),
        (None, _, _) => "Harbor: the variables cannot be used".to_owned(),
    };
    // Every value below may come from a variable or from Harbor: the body is escaped, and
    // only the section markers written here carry control characters.
    let mut text = String::new();
    let _ = writeln!(text, "docker-credential-harbor: {headline}");
    if let Some(u) = url {
        let _ = writeln!(
            text,
            "  registry   {} (HARBOR_REGISTRY; image names start {}/…)",
            u.registry, u.registry
        );
    }
    if let Some(p) = vars::project(env) {
        let _ = writeln!(text, "  project    {p}");
    }
    if let Some(user) = vars::username(env) {
        let _ = writeln!(text, "  user       {user}");
    }
    let verification = match (&o.verified, mode) {
        (Some(v), _) => v.clone(),
        (None, VerifyMode::Off) => format!("off ({VERIFY_VAR}=off)"),
        (None, _) => "failed (see below)".to_owned(),
    };
    let _ = writeln!(text, "  verified   {verification}");
    for c in &o.configured {
        let _ = writeln!(text, "  configured {c}");
    }
    if let Some(u) = url
        && env.var(CA_FILE_VAR).is_some()
    {
        let _ = writeln!(
            text,
            "  docker:dind: the daemon verifies Harbor itself; mount the CA into the service with \
             volumes = [\"<ca.crt>:/etc/docker/certs.d/{}/ca.crt:ro\"] in config.toml",
            u.registry
        );
    }
    let mut tail = String::new();
    for w in &o.warnings {
        let level = if o.failed { "error" } else { "warning" };
        let _ = writeln!(tail, "docker-credential-harbor: {level}: {w}");
    }
    if o.failed {
        let _ = writeln!(
            tail,
            "docker-credential-harbor: {VERIFY_VAR}=strict: failing the job before the build"
        );
    }
    let mut all = String::new();
    if ci {
        let _ = write!(
            all,
            "\x1b[0Ksection_start:{stamp}:docker_credential_harbor[collapsed=true]\r\x1b[0K"
        );
    }
    all.push_str(&text::escape(&text));
    if ci {
        let _ = write!(
            all,
            "\x1b[0Ksection_end:{stamp}:docker_credential_harbor\r\x1b[0K\n"
        );
    }
    all.push_str(&text::escape(&tail));
    err.write_all(all.as_bytes())
}
