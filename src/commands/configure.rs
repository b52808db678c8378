//! `docker-credential-harbor configure`: outside CI, point docker, the containers tools, helm
//! and kaniko at the helper for some registries (like gcr's `configure-docker`), and with
//! `--migrate` move docker's plaintext `auths` into the helper's store.
//!
//! Reports each change on stdout. Edits merge into the user's files and never replace another
//! helper already named for a registry. Migrated passwords pass from docker's file to the
//! 0600 store without being printed; the base64 entry is then emptied, as docker leaves it
//! for credential stores.

use std::io::{self, Write};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use secrecy::SecretString;
use secrecy::zeroize::Zeroizing;
use serde_json::{Map, Value};

use crate::address::Registry;
use crate::cli::ConfigureArgs;
use crate::client_config::{self, Client, ConfigFile, Entry, Target};
use crate::integration::Integration;
use crate::protocol::Credentials;
use crate::report::{self, Said};
use crate::settings::Settings;
use crate::sources::runner_config;
use crate::sources::store::Store;

/// Runs `configure`; `Ok(false)` when something could not be done (reported on `err`).
pub fn run(
    integration: &Integration,
    settings: &Settings,
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
                report::error(err, &Said(&what, None))?;
                ok = false;
            }
        }
    }
    if args.registries.is_empty() {
        if let Some(r) = integration.registry() {
            registries.push(r.clone());
        }
        let (listed, note) = match runner_config::registries_at(&settings.runner_config) {
            Ok(found) => found,
            Err(e) => (Vec::new(), Some(format!("{e:#}"))),
        };
        if let Some(note) = note {
            report::warning(err, &Said(&note, None))?;
        }
        // dedup() alone keeps a HARBOR_URL registry the runner config lists again, unless adjacent.
        for r in listed {
            if !registries.contains(&r) {
                registries.push(r);
            }
        }
    }
    if registries.is_empty() && !args.migrate {
        writeln!(
            err,
            "docker-credential-harbor: no registry to configure: name one (configure harbor.example.net), set HARBOR_URL, or list registries in the runner config"
        )?;
        return Ok(false);
    }
    if !client_config::helper_on_path(&settings.path) {
        writeln!(
            err,
            "docker-credential-harbor: warning: docker-credential-harbor is not on PATH, so clients will not find it; install it in a PATH directory"
        )?;
    }
    let clients: Vec<Client> = if args.clients.is_empty() {
        Client::ALL.to_vec()
    } else {
        args.clients.clone()
    };
    for client in clients {
        let Some(path) = settings.clients.get(client) else {
            if args.clients.contains(&client) {
                let what =
                    format!("{client}: no config location here (for kaniko: no /kaniko directory)");
                report::error(err, &Said(&what, None))?;
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
                Entry::Added => "added".to_owned(),
                Entry::AlreadySet => "already set".to_owned(),
                Entry::KeptOther(other) => {
                    format!("left as {other:?}: remove that entry to use harbor")
                }
                Entry::Replaced(other) => format!("replaced {other:?}"),
            };
            writeln!(
                out,
                "{client:<10} {}: {r} -> harbor ({what})",
                path.display()
            )?;
        }
        if client == Client::Docker && args.migrate {
            ok &= migrate(settings, &mut pointed.file, out, err)?;
        }
        if let Err(e) = pointed.file.save() {
            report::error(err, &e)?;
            ok = false;
        }
    }
    Ok(ok)
}

/// Moves every `auths` entry holding a password or token into the store.
fn migrate(
    settings: &Settings,
    file: &mut ConfigFile,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> io::Result<bool> {
    let store = match &settings.store {
        Ok(p) => Store::at(p.clone()),
        Err(e) => {
            report::error(err, &Said(&format!("cannot migrate: {e}"), None))?;
            return Ok(false);
        }
    };
    let path = file.path.display().to_string();
    let Some(auths) = file.auths_mut() else {
        writeln!(out, "migrate    {path}: no auths entries")?;
        return Ok(true);
    };
    let mut ok = true;
    let mut moved = Vec::new();
    for (key, entry) in auths.iter_mut() {
        let Some(obj) = entry.as_object_mut() else {
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
                report::error(err, &Said(&left(&why), None))?;
                ok = false;
                continue;
            }
        };
        let registry = match registry {
            Ok(r) => r,
            Err(e) => {
                report::error(err, &Said(&left(&e), None))?;
                ok = false;
                continue;
            }
        };
        let user = credentials.username.clone();
        if let Err(e) = store.upsert(&registry, credentials) {
            report::error(err, &Said(&left(&format!("{e:#}")), None))?;
            ok = false;
            continue;
        }
        for field in ["auth", "username", "password", "identitytoken"] {
            obj.shift_remove(field);
        }
        moved.push(key.clone());
        writeln!(
            out,
            "migrate    {path}: {registry} (user {user}) moved to the helper's store {}",
            store.path().display()
        )?;
    }
    for key in moved {
        file.set_helper_key(&key, false);
        file.mark_changed();
    }
    Ok(ok)
}

/// The credentials an `auths` entry holds: `auth` (base64 `user:password`), or
/// `username`/`password`, or `identitytoken` (stored as docker's `<token>` user).
fn credentials_of(entry: &Map<String, Value>) -> Result<Option<Credentials>, &'static str> {
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
        let decoded = Zeroizing::new(
            STANDARD
                .decode(auth)
                .map_err(|_| "the auth field is not base64")?,
        );
        let text = std::str::from_utf8(&decoded).map_err(|_| "the auth field is not UTF-8")?;
        let (user, password) = text
            .split_once(':')
            .ok_or("the auth field is not user:password")?;
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
