//! The runner-side config file: credentials for processes that carry no job variables.
//!
//! The GitLab runner resolves `DOCKER_AUTH_CONFIG={"credHelpers":{…}}` in its own process, with
//! no `HARBOR_*` variables, before every image pull (protocol.md §5); this file gives it a
//! pull-only robot per Harbor. It is read only after the environment and the store missed.
//! A host it does not list is a plain miss, never an error, because the runner drops every
//! credential of a source whose helper fails. A password is read from `password_file`,
//! `password_env`, or inline `password` (only from a file no group or other can read).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow, bail};
use secrecy::SecretString;
use secrecy::zeroize::Zeroizing;
use serde::Deserialize;

use crate::address::Registry;
use crate::debug;
use crate::env::{CONFIG_VAR, Env};
use crate::protocol::Credentials;

/// The system-wide location, for the runner host.
pub const SYSTEM_PATH: &str = "/etc/docker-credential-harbor/config.json";
/// The file name inside the user's config directory.
pub const FILE_NAME: &str = "config.json";
/// A config or password file larger than this is a mistake, not a config.
const MAX_FILE: u64 = 1 << 20;

#[derive(Deserialize)]
struct ConfigFile {
    #[serde(default)]
    registries: BTreeMap<String, RawEntry>,
}

#[derive(Deserialize)]
struct RawEntry {
    username: Option<String>,
    password_file: Option<PathBuf>,
    password_env: Option<String>,
    password: Option<SecretString>,
}

/// Where the config was found, and what it says.
pub struct RunnerConfig {
    path: PathBuf,
    /// Group- or other-readable: inline passwords are refused.
    shared: bool,
    registries: BTreeMap<Registry, (String, RawEntry)>,
}

/// The config file to use: `$DOCKER_CREDENTIAL_HARBOR_CONFIG`, else the user's
/// `$XDG_CONFIG_HOME/docker-credential-harbor/config.json` when it exists, else the system file.
pub fn locate(env: &Env) -> PathBuf {
    if let Some(p) = env.path(CONFIG_VAR) {
        return p;
    }
    if let Some(user) = env.config_dir().map(|d| d.join(FILE_NAME))
        && user.exists()
    {
        return user;
    }
    PathBuf::from(SYSTEM_PATH)
}

/// The registries the located runner config lists (none when there is no config), for the
/// commands that point clients at the helper.
pub fn registries(env: &Env) -> anyhow::Result<Vec<Registry>> {
    Ok(match RunnerConfig::load(&locate(env))? {
        Some(c) => c.list()?.into_keys().collect(),
        None => Vec::new(),
    })
}

impl RunnerConfig {
    /// Loads the file at `path`; `Ok(None)` when there is no such file.
    pub fn load(path: &Path) -> anyhow::Result<Option<RunnerConfig>> {
        let mut file = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                debug!("no runner config at {}", path.display());
                return Ok(None);
            }
            Err(e) => bail!("cannot read the runner config {}: {e}", path.display()),
        };
        let mode = file
            .metadata()
            .with_context(|| format!("cannot read the runner config {}", path.display()))?
            .permissions()
            .mode();
        let bytes = read_bounded(&mut file)
            .with_context(|| format!("cannot read the runner config {}", path.display()))?;
        let parsed: ConfigFile = serde_json::from_slice(&bytes).map_err(|e| {
            anyhow!(
                "the runner config {} is not valid (line {}, column {}); expected \
                 {{\"registries\": {{\"harbor.example.net\": {{\"username\": …, \"password_file\": …}}}}}}",
                path.display(),
                e.line(),
                e.column()
            )
        })?;
        let mut registries = BTreeMap::new();
        for (key, entry) in parsed.registries {
            let registry = Registry::parse(&key)
                .map_err(|e| anyhow!("the runner config {} lists {key:?}: {e}", path.display()))?;
            registries.insert(registry, (key, entry));
        }
        Ok(Some(RunnerConfig {
            path: path.to_owned(),
            shared: mode & 0o044 != 0,
            registries,
        }))
    }

    /// Every configured registry with its user name (the password is not read).
    pub fn list(&self) -> anyhow::Result<BTreeMap<Registry, String>> {
        self.registries
            .iter()
            .map(|(r, (key, e))| Ok((r.clone(), self.username(key, e)?)))
            .collect()
    }

    /// The credentials for `server`; `Ok(None)` when it is not configured. A configured host
    /// whose password cannot be read is an error that names the file or variable to fix.
    pub fn get(&self, server: &Registry, env: &Env) -> anyhow::Result<Option<Credentials>> {
        let Some((key, entry)) = self.registries.get(server) else {
            debug!("{server}: not in the runner config {}", self.path.display());
            return Ok(None);
        };
        let username = self.username(key, entry)?;
        let secret = self.password(key, entry, env)?;
        debug!(
            "{server}: answered from the runner config {}",
            self.path.display()
        );
        Ok(Some(Credentials { username, secret }))
    }

    fn username(&self, key: &str, entry: &RawEntry) -> anyhow::Result<String> {
        match entry.username.as_deref() {
            Some(u) if !u.is_empty() => Ok(u.to_owned()),
            _ => bail!(
                "the runner config {} has no \"username\" for {key}",
                self.path.display()
            ),
        }
    }

    fn password(&self, key: &str, entry: &RawEntry, env: &Env) -> anyhow::Result<SecretString> {
        let config = self.path.display();
        match (&entry.password_file, &entry.password_env, &entry.password) {
            (Some(file), None, None) => {
                // A relative path is relative to the config file, not to the caller's cwd.
                let file = self.path.parent().unwrap_or(Path::new("/")).join(file);
                read_password_file(&file).with_context(|| {
                    format!(
                        "cannot read the password for {key} from {} (password_file in {config})",
                        file.display()
                    )
                })
            }
            (None, Some(var), None) => env.var(var).map(SecretString::from).ok_or_else(|| {
                anyhow!("the password for {key} is to come from ${var} (password_env in {config}), but {var} is not set")
            }),
            (None, None, Some(_)) if self.shared => bail!(
                "refusing the inline password for {key}: {config} is readable by group or others; \
                 run chmod 600 {config}, or move the password to a password_file"
            ),
            (None, None, Some(secret)) => Ok(secret.clone()),
            (None, None, None) => bail!(
                "the runner config {config} gives no password for {key}; add \"password_file\", \"password_env\" or \"password\""
            ),
            _ => bail!(
                "the runner config {config} gives more than one of password_file, password_env and password for {key}; keep one"
            ),
        }
    }
}

/// The file's content without trailing line breaks (editors add one).
fn read_password_file(path: &Path) -> anyhow::Result<SecretString> {
    let mut file = File::open(path)?;
    let bytes = read_bounded(&mut file)?;
    let text = std::str::from_utf8(&bytes).map_err(|_| anyhow!("the file is not UTF-8 text"))?;
    let trimmed = text.trim_end_matches(['\n', '\r']);
    if trimmed.is_empty() {
        bail!("the file is empty");
    }
    Ok(SecretString::from(trimmed))
}

fn read_bounded(file: &mut File) -> anyhow::Result<Zeroizing<Vec<u8>>> {
    let mut bytes = Zeroizing::new(Vec::new());
    file.take(MAX_FILE + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_FILE {
        bail!("the file is larger than {} KiB", MAX_FILE / 1024);
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;
    use std::fs;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("dch-runner-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn write(path: &Path, text: &str, mode: u32) {
        fs::write(path, text).unwrap();
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn password_file_env_and_inline() {
        let dir = scratch("kinds");
        write(&dir.join("pull.secret"), "from-file\n", 0o600);
        let cfg = dir.join("config.json");
        write(
            &cfg,
            r#"{"registries":{
                "https://a.example/":{"username":"robot$pull+runner","password_file":"pull.secret"},
                "b.example:8443":{"username":"u","password_env":"B_PW"},
                "c.example":{"username":"u","password":"inline"}}}"#,
            0o600,
        );
        let env = Env::from_pairs([("B_PW", "from-env")]);
        let c = RunnerConfig::load(&cfg).unwrap().unwrap();
        let get = |h: &str| {
            c.get(&Registry::parse(h).unwrap(), &env)
                .unwrap()
                .map(|c| c.secret.expose_secret().to_owned())
        };
        assert_eq!(get("a.example").as_deref(), Some("from-file"));
        assert_eq!(get("b.example:8443").as_deref(), Some("from-env"));
        assert_eq!(get("c.example").as_deref(), Some("inline"));
        assert_eq!(get("b.example"), None);
        assert_eq!(c.list().unwrap().len(), 3);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn inline_password_in_a_readable_file_is_refused_and_not_shown() {
        let dir = scratch("shared");
        let cfg = dir.join("config.json");
        write(
            &cfg,
            r#"{"registries":{"c.example":{"username":"u","password":"TOPSECRET"}}}"#,
            0o644,
        );
        let c = RunnerConfig::load(&cfg).unwrap().unwrap();
        let err = c
            .get(&Registry::parse("c.example").unwrap(), &Env::empty())
            .unwrap_err();
        let text = format!("{err:#}");
        assert!(
            text.contains("chmod 600") && !text.contains("TOPSECRET"),
            "{text}"
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn broken_entries_name_what_to_fix() {
        let dir = scratch("broken");
        let cfg = dir.join("config.json");
        write(
            &cfg,
            r#"{"registries":{"a.example":{"username":"u","password_file":"missing.secret"},
                "b.example":{"username":"u","password_env":"NOPE"},
                "c.example":{"username":"u"},
                "d.example":{"username":"u","password_env":"X","password":"y"}}}"#,
            0o600,
        );
        let c = RunnerConfig::load(&cfg).unwrap().unwrap();
        let err = |h: &str| {
            format!(
                "{:#}",
                c.get(&Registry::parse(h).unwrap(), &Env::empty())
                    .unwrap_err()
            )
        };
        assert!(err("a.example").contains("missing.secret"));
        assert!(err("b.example").contains("NOPE is not set"));
        assert!(err("c.example").contains("no password"));
        assert!(err("d.example").contains("more than one"));
        write(
            &cfg,
            r#"{"registries":{"a.example":{"username":"u","password":"TOPSECRET",}}}"#,
            0o600,
        );
        let text = format!("{:#}", RunnerConfig::load(&cfg).err().unwrap());
        assert!(
            text.contains("not valid") && !text.contains("TOPSECRET"),
            "{text}"
        );
        assert!(
            RunnerConfig::load(&dir.join("none.json"))
                .unwrap()
                .is_none()
        );
        fs::remove_dir_all(&dir).unwrap();
    }
}
