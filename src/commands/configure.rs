//! `docker-credential-harbor configure`: outside CI, point docker, the containers tools, helm
//! and kaniko at the helper for some registries (like gcr's `configure-docker`), and with
//! `--migrate` move docker's plaintext `auths` into the helper's store.
//!
//! Reports each change on stdout. Edits merge into the user's files and never replace another
//! helper already named for a registry. Migrated passwords pass from docker's file to the
//! 0600 store without being printed; the base64 entry is then emptied, as docker leaves it
//! for credential stores. A migration never replaces a login: two different ones for one
//! registry stay where they were, and only what reached the store is reported moved.

use std::io::{self, Write};
use std::path::PathBuf;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use secrecy::zeroize::Zeroizing;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value};

use docker_credential_harbor_core::address::Registry;
use docker_credential_harbor_core::env::{Env, PATH};
use docker_credential_harbor_core::integration::Integration;
use docker_credential_harbor_core::protocol::Credentials;
use docker_credential_harbor_core::sources::store::{Inserted, Store};
use docker_credential_harbor_core::sources::{self, NoStorePath, runner_side};

use crate::cli::ConfigureArgs;
use crate::client_config::{self, Client, ClientFiles, ConfigFile, EntryChange, Target};
use crate::report::{self, Message};

/// Runs `configure`; `Ok(false)` when something could not be done (reported on `err`). What
/// it reads besides the integration (the helper's runner-side config, PATH, the clients'
/// files, the store for `--migrate`) it resolves from `env` where it needs it: it is no job,
/// so it takes no job context.
pub(crate) fn run(
    integration: &Integration,
    env: &Env,
    args: &ConfigureArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> io::Result<bool> {
    let mut ok = true;
    let mut registries = Vec::new();
    for (n, r) in args.registries.iter().enumerate() {
        match Registry::parse(r) {
            Ok(reg) => registries.push(reg),
            Err(e) => {
                // Never echoed: what cannot be parsed may carry user:password@.
                let what = format!("registry argument {} is not a registry address: {e}", n + 1);
                report::error(err, &Message(&what, None))?;
                ok = false;
            }
        }
    }
    if args.registries.is_empty() {
        if let Some(r) = integration.registry() {
            registries.push(r.clone());
        }
        let (listed, note) = match runner_side::registries_at(&runner_side::locate(env)) {
            Ok(found) => found,
            Err(e) => (Vec::new(), Some(format!("{e:#}"))),
        };
        if let Some(note) = note {
            report::warning(err, &Message(&note, None))?;
        }
        // dedup() alone keeps a HARBOR_URL registry the runner config lists again, unless adjacent.
        for r in listed {
            if !registries.contains(&r) {
                registries.push(r);
            }
        }
    }
    if registries.is_empty() && !args.migrate {
        report::error(
            err,
            &Message(
                "no registry to configure: name one (configure harbor.example.net), set HARBOR_URL, or list registries in the runner config",
                None,
            ),
        )?;
        return Ok(false);
    }
    if !client_config::helper_on_path(&env.var_os(PATH).unwrap_or_default()) {
        report::warning(
            err,
            &Message(
                "docker-credential-harbor is not on PATH, so clients will not find it; install it in a PATH directory",
                None,
            ),
        )?;
    }
    let clients: Vec<Client> = if args.clients.is_empty() {
        Client::ALL.to_vec()
    } else {
        args.clients.clone()
    };
    let files = ClientFiles::from_env(env);
    for client in clients {
        let Some(path) = files.get(client) else {
            if args.clients.contains(&client) {
                let what =
                    format!("{client}: no config location here (for kaniko: no /kaniko directory)");
                report::error(err, &Message(&what, None))?;
                ok = false;
            }
            continue;
        };
        let mut pointed = match client_config::point(client, &registries, Target::InPlace(path)) {
            Ok(p) => p,
            Err(e) => {
                report::error(err, &e)?;
                ok = false;
                continue;
            }
        };
        for (r, entry) in &pointed.entries {
            let what = match entry {
                EntryChange::Added => "added".to_owned(),
                EntryChange::AlreadySet => "already set".to_owned(),
                EntryChange::KeptOther(other) => {
                    format!("left as {other:?}: remove that entry to use harbor")
                }
                EntryChange::Replaced(other) => format!("replaced {other:?}"),
            };
            writeln!(
                out,
                "{client:<10} {}: {r} -> harbor ({what})",
                path.display()
            )?;
        }
        if client == Client::Docker && args.migrate {
            ok &= migrate(sources::store_path(env), &mut pointed.file, out, err)?;
        }
        if let Err(e) = pointed.file.save() {
            report::error(err, &e)?;
            ok = false;
        }
    }
    Ok(ok)
}

/// One registry's logins in `auths`: every key that names it, and what each holds.
struct Logins {
    registry: Registry,
    keys: Vec<String>,
    found: Vec<Credentials>,
}

/// Moves every `auths` login into the store, one registry at a time. A registry whose keys
/// (`h.example`, `https://h.example/`) hold different logins, or whose login differs from the
/// one the store already holds, is a conflict: both stay where they were and the user chooses
/// (docs/store.md#migrating-docker-logins). A moved registry's entries are emptied, as docker
/// leaves an entry a credential store holds, and named in `credHelpers`.
fn migrate(
    store: Result<PathBuf, NoStorePath>,
    file: &mut ConfigFile,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> io::Result<bool> {
    let store = match store {
        Ok(p) => Store::at(p),
        Err(e) => {
            report::error(err, &Message(&format!("cannot migrate: {e}"), None))?;
            return Ok(false);
        }
    };
    let path = file.path.display().to_string();
    let Some(auths) = file.auths_mut() else {
        writeln!(out, "migrate    {path}: no auths entries")?;
        return Ok(true);
    };
    let mut ok = true;
    let mut logins: Vec<Logins> = Vec::new();
    for (key, entry) in auths.iter() {
        let Some(obj) = entry.as_object() else {
            continue;
        };
        // Named by the canonical address, never by the key, which may carry user:password@.
        let registry = Registry::parse(key);
        let shown = registry.as_ref().map_or_else(
            |_| "an entry that is not a registry address".to_owned(),
            |r| r.to_string(),
        );
        let left = |why: &dyn std::fmt::Display| format!("{path}: {shown}: {why}; left in place");
        let credentials = match credentials_of(obj) {
            Ok(Some(c)) => c,
            Ok(None) => continue,
            Err(why) => {
                report::error(err, &Message(&left(&why), None))?;
                ok = false;
                continue;
            }
        };
        let registry = match registry {
            Ok(r) => r,
            Err(e) => {
                report::error(err, &Message(&left(&e), None))?;
                ok = false;
                continue;
            }
        };
        match logins.iter_mut().find(|l| l.registry == registry) {
            Some(l) => {
                l.keys.push(key.clone());
                l.found.push(credentials);
            }
            None => logins.push(Logins {
                registry,
                keys: vec![key.clone()],
                found: vec![credentials],
            }),
        }
    }
    let again = "then run `docker-credential-harbor configure --migrate` again";
    let mut emptied = Vec::new();
    for Logins {
        registry,
        keys,
        mut found,
    } in logins
    {
        if found.iter().any(|c| !same_login(c, &found[0])) {
            let users: Vec<&str> = found.iter().map(|c| c.username.as_str()).collect();
            let what = format!(
                "{path}: {registry}: {} entries hold different logins (users {}); all left in place",
                found.len(),
                users.join(", ")
            );
            let hint = format!("delete the entries you no longer use from {path}, {again}");
            report::error(err, &Message(&what, Some(hint)))?;
            ok = false;
            continue;
        }
        let credentials = found.swap_remove(0);
        let user = credentials.username.clone();
        let store_path = store.path().display();
        match store.insert_new(&registry, credentials) {
            Ok(Inserted::Added) => {
                let from = match keys.len() {
                    1 => String::new(),
                    n => format!(" (from its {n} entries)"),
                };
                writeln!(
                    out,
                    "migrate    {path}: {registry} (user {user}) moved to the helper's store {store_path}{from}"
                )?;
                emptied.extend(keys);
            }
            Ok(Inserted::Same) => {
                writeln!(
                    out,
                    "migrate    {path}: {registry} (user {user}) is already in the helper's store {store_path}; its entry here was emptied"
                )?;
                emptied.extend(keys);
            }
            Ok(Inserted::Kept(other)) => {
                let what = format!(
                    "{path}: {registry}: the helper's store already holds another login for it (user {other}); \
                     both left in place (user {user} in {path})"
                );
                let hint = format!(
                    "keep one: delete the entry from {path}, or erase the store's with \
                     `printf {registry} | docker-credential-harbor erase`; {again}"
                );
                report::error(err, &Message(&what, Some(hint)))?;
                ok = false;
            }
            Err(e) => {
                let what = format!("{path}: {registry}: {e:#}; left in place");
                report::error(err, &Message(&what, None))?;
                ok = false;
            }
        }
    }
    if let Some(auths) = file.auths_mut() {
        for key in &emptied {
            if let Some(obj) = auths.get_mut(key).and_then(Value::as_object_mut) {
                for field in ["auth", "username", "password", "identitytoken"] {
                    obj.shift_remove(field);
                }
            }
        }
    }
    for key in emptied {
        file.set_helper_key(&key, false);
        file.mark_changed();
    }
    Ok(ok)
}

/// Whether two logins are one: the same user name and secret.
fn same_login(a: &Credentials, b: &Credentials) -> bool {
    a.username == b.username && a.secret.expose_secret() == b.secret.expose_secret()
}

/// Why an `auths` entry's `auth` holds no login; never quotes it (it is a secret).
#[derive(Debug, thiserror::Error)]
enum BadAuth {
    #[error("the auth field is not base64")]
    NotBase64,
    #[error("the auth field is not UTF-8")]
    NotUtf8,
    #[error("the auth field is not user:password")]
    NoColon,
}

/// The credentials an `auths` entry holds: `auth` (base64 `user:password`), or
/// `username`/`password`, or `identitytoken` (stored as docker's `<token>` user).
fn credentials_of(entry: &Map<String, Value>) -> Result<Option<Credentials>, BadAuth> {
    let text = |k: &str| {
        entry
            .get(k)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    if let Some(token) = text("identitytoken") {
        return Ok(Some(Credentials {
            username: "<token>".into(),
            secret: SecretString::from(token),
        }));
    }
    if let Some(auth) = text("auth") {
        let decoded = Zeroizing::new(STANDARD.decode(auth).map_err(|_| BadAuth::NotBase64)?);
        let text = std::str::from_utf8(&decoded).map_err(|_| BadAuth::NotUtf8)?;
        let (user, password) = text.split_once(':').ok_or(BadAuth::NoColon)?;
        return Ok(Some(Credentials {
            username: user.to_owned(),
            secret: SecretString::from(password),
        }));
    }
    match (text("username"), text("password")) {
        (Some(u), Some(p)) => Ok(Some(Credentials {
            username: u.to_owned(),
            secret: SecretString::from(p),
        })),
        _ => Ok(None),
    }
}
