//! What pre-build places for the job's clients, each action recorded for post-build: the
//! `credHelpers` entries (per-job copies, or the user's own files under a lease), and the CA
//! in the `certs.d` directories (under a lease).

use std::path::Path;

use docker_credential_harbor_core::address::Registry;
use docker_credential_harbor_core::atomic_file;
use harbor_client::tls;

use super::summary::Report;
use crate::certs_d;
use crate::client_config::{self, Client, EntryChange, Target};
use crate::job_record::{Action, JobState};
use crate::leases::{JobLeases, Thing};
use crate::settings::JobContext;
use crate::shell;

/// Writes `credHelpers` for every registry into each client's config: per-job copies when the
/// runner gives a per-job directory, the user's own files (under a lease) otherwise. kaniko
/// reads only its own file, so it is always edited in place when kaniko is here.
pub(super) fn point_clients(
    context: &JobContext,
    registries: &[Registry],
    shared: &mut JobLeases,
    state: &mut JobState,
    o: &mut Report,
) {
    let mut per_job = context.per_job_dir.as_deref();
    if let Some(dir) = per_job {
        // A previous job's leftovers (post-build is skipped when a job fails) are replaced.
        let _ = std::fs::remove_dir_all(dir);
        match atomic_file::create_private_dir_all(dir) {
            Ok(()) => state.push(Action::PerJobDir {
                path: dir.to_owned(),
            }),
            Err(e) => {
                o.note(format!(
                    "cannot create {}: {e}; falling back to the user's own files",
                    dir.display()
                ));
                per_job = None;
            }
        }
    }
    for client in Client::ALL {
        let user_file = context.clients.get(client);
        match (per_job, user_file) {
            (Some(dir), _) if client != Client::Kaniko => {
                copy_for_job(client, dir, user_file, registries, o)
            }
            (_, Some(file)) => in_place(client, file, registries, shared, state, o),
            (_, None) => {}
        }
    }
}

/// The client's per-job copy, and the variable that points the client at it.
fn copy_for_job(
    client: Client,
    dir: &Path,
    user_file: Option<&Path>,
    registries: &[Registry],
    o: &mut Report,
) {
    let mut pointed = match client_config::point(
        client,
        registries,
        Target::CopyInto {
            dir,
            from: user_file,
        },
    ) {
        Ok(p) => p,
        Err(e) => return o.warn(&e),
    };
    let origin = user_file.map_or_else(
        || format!("the {client} config"),
        |p| p.display().to_string(),
    );
    if let Some(e) = &pointed.unreadable_source {
        o.note(format!("{e}; the job's copy starts empty"));
    }
    if !pointed.left_out.is_empty() {
        // A per-job file never holds a password: it sits on the builds volume and outlives a
        // failed job (docs/security.md#what-holds-and-how-it-is-checked).
        o.note(format!(
            "the job's copy of {origin} leaves out its plaintext logins for {} (a per-job file never holds a password); \
             `docker-credential-harbor configure --migrate` moves them into the helper's store, where jobs find them",
            pointed.left_out.join(", ")
        ));
    }
    for (r, entry) in &pointed.entries {
        if let EntryChange::Replaced(other) = entry {
            o.note(format!(
                "{origin} named the helper {other:?} for {r}; the job's copy uses harbor"
            ));
        }
    }
    pointed.file.mark_changed();
    if let Err(e) = pointed.file.save() {
        return o.warn(&e);
    }
    let target = pointed.file.path.clone();
    if client == Client::Docker {
        client_config::link_cli_plugins(user_file, &target);
    }
    if let Some((var, value)) = client.per_job_export(dir) {
        o.exports.push(shell::export(var, &value));
    }
    o.configured
        .push(format!("{} ({})", client.readers(), target.display()));
}

/// Adds the entries to a user's own file, each under a lease, so that the last job using an
/// entry is the one that takes it out again. The file is read, decided on and written under
/// the lease table's lock, the one another job's post-build removes entries under
/// (docs/gitlab-runner.md#what-the-hooks-do).
fn in_place(
    client: Client,
    file: &Path,
    registries: &[Registry],
    shared: &mut JobLeases,
    state: &mut JobState,
    o: &mut Report,
) {
    shared.lock();
    let mut pointed = match client_config::point(client, registries, Target::InPlace(file)) {
        Ok(p) => p,
        Err(e) => return o.note(format!("{e}; {} will not use the helper", client.readers())),
    };
    let mut held = Vec::new();
    for (r, entry) in &pointed.entries {
        let thing = Thing::Entry {
            file: file.to_owned(),
            registry: r.as_str().to_owned(),
            created_file: !pointed.file.existed,
            created_helpers: pointed.created_helpers,
        };
        match entry {
            EntryChange::Added => held.push(thing),
            // Another job's entry (alive or dead) is shared; one the user wrote stays theirs.
            EntryChange::AlreadySet if shared.is_ours(&thing) => held.push(thing),
            EntryChange::KeptOther(other) => o.note(format!(
                "{} names the helper {other:?} for {r}; left as it is, so {} will not use docker-credential-harbor there",
                file.display(),
                client.readers()
            )),
            EntryChange::AlreadySet | EntryChange::Replaced(_) => {}
        }
    }
    match pointed.file.save() {
        Ok(_) => {
            for thing in held {
                state.push(Action::Shared {
                    thing: shared.take(thing),
                });
            }
            o.configured
                .push(format!("{} ({})", client.readers(), file.display()));
        }
        Err(e) => o.warn(&e),
    }
}

/// Places the CA's certificates (nothing else of the bundle) where docker and the containers
/// tools look (rootless ones under `home`), each file under a lease, placed under the lease
/// table's lock.
pub(super) fn place_ca(
    home: Option<&Path>,
    registry: &Registry,
    ca: &Path,
    shared: &mut JobLeases,
    state: &mut JobState,
    o: &mut Report,
) {
    let pem = match tls::ca_bundle(ca) {
        Ok((pem, _)) => pem,
        Err(e) => return o.note(format!("{e}; no CA was placed in certs.d")),
    };
    let Some(dirs) = certs_d::write_dirs(atomic_file::euid() == 0, home, registry) else {
        return o.note("HOME is not set: the CA was not placed in a certs.d directory");
    };
    shared.lock();
    let mut placed = Vec::new();
    for dir in dirs {
        match certs_d::place(&dir, &pem) {
            Ok(p) => {
                // Adopted when an earlier job left it: its directories were that job's.
                let thing = Thing::File {
                    path: p.file.clone(),
                    created_dirs: p.created_dirs,
                };
                state.push(Action::Shared {
                    thing: shared.take(thing),
                });
                placed.push(p.file.display().to_string());
            }
            Err(e) => o.note(format!("cannot place the CA in {}: {e}", dir.display())),
        }
    }
    if !placed.is_empty() {
        o.configured
            .push(format!("CA for {registry} ({})", placed.join(", ")));
    }
}
