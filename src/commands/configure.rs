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
use crate::client_config::{self, Client, ConfigFile, Entry};
use crate::env::Env;
use crate::protocol::Credentials;
use crate::sources::runner_config;
use crate::sources::{self, store::Store};
use crate::vars;

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Args {
    pub clients: Vec<Client>,
    pub migrate: bool,
    pub registries: Vec<String>,
}

/// Runs `configure`; `Ok(false)` when something could not be done (reported on `err`).
pub fn run(env: &Env, args: &Args, out: &mut dyn Write, err: &mut dyn Write) -> io::Result<bool> {
    let mut ok = true;
    let mut registries = Vec::new();
    for r in &args.registries {
        match Registry::parse(r) {
            Ok(reg) => registries.push(reg),
            Err(e) => {
                writeln!(err, "docker-credential-harbor: {r:?}: {e}")?;
                ok = false;
            }
        }
    }
    if args.registries.is_empty() {
        if let Some((r, _)) = vars::registry(env) {
            registries.push(r);
        }
        let (listed, note) = match runner_config::registries(env) {
            Ok(found) => found,
            Err(e) => (Vec::new(), Some(format!("{e:#}"))),
        };
        if let Some(note) = note {
            writeln!(err, "docker-credential-harbor: warning: {note}")?;
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
    if !client_config::helper_on_path(env) {
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
        let Some(path) = client.user_file(env) else {
            if args.clients.contains(&client) {
                writeln!(
                    err,
                    "docker-credential-harbor: {client}: no config location here (for kaniko: no /kaniko directory)"
                )?;
                ok = false;
            }
            continue;
        };
        let mut file = match ConfigFile::load(&path) {
            Ok(f) => f,
            Err(e) => {
                writeln!(err, "docker-credential-harbor: {e}")?;
                ok = false;
                continue;
            }
        };
        for r in &registries {
            let what = match file.set_helper(r, false) {
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
            ok &= migrate(env, &mut file, out, err)?;
        }
        if let Err(e) = file.save() {
            writeln!(err, "docker-credential-harbor: {e}")?;
            ok = false;
        }
    }
    Ok(ok)
}

/// Moves every `auths` entry holding a password or token into the store.
fn migrate(
    env: &Env,
    file: &mut ConfigFile,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> io::Result<bool> {
    let store = match sources::store_path(env) {
        Ok(p) => Store::at(p),
        Err(e) => {
            writeln!(err, "docker-credential-harbor: cannot migrate: {e:#}")?;
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
        let credentials = match credentials_of(obj) {
            Ok(Some(c)) => c,
            Ok(None) => continue,
            Err(why) => {
                writeln!(
                    err,
                    "docker-credential-harbor: {path}: {key}: {why}; left in place"
                )?;
                ok = false;
                continue;
            }
        };
        let registry = match Registry::parse(key) {
            Ok(r) => r,
            Err(e) => {
                writeln!(
                    err,
                    "docker-credential-harbor: {path}: {key}: {e}; left in place"
                )?;
                ok = false;
                continue;
            }
        };
        let user = credentials.username.clone();
        if let Err(e) = store.upsert(&registry, credentials) {
            writeln!(err, "docker-credential-harbor: {key}: {e:#}; left in place")?;
            ok = false;
            continue;
        }
        for field in ["auth", "username", "password", "identitytoken"] {
            obj.shift_remove(field);
        }
        moved.push(key.clone());
        writeln!(
            out,
            "migrate    {path}: {key} (user {user}) moved to the helper's store {}",
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
