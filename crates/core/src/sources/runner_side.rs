//! The runner-side config file: credentials for processes that carry no job variables.
//!
//! The GitLab runner resolves `DOCKER_AUTH_CONFIG={"credHelpers":{…}}` in its own process, with
//! no `HARBOR_*` variables, before every image pull
//! (docs/gitlab-runner.md#job-images-from-harbor-image-and-services); this file gives it a
//! pull-only robot per Harbor. It is read only after the environment and the store missed.
//! A host it does not list is a plain miss, never an error, because the runner drops every
//! credential of a source whose helper fails. A password is read from `password_file`,
//! `password_env`, or inline `password` (only from a file no group or other can read).
//!
//! The file decides which host gets which secret, so it must be its reader's or root's, and
//! no one else may write it or its directory. An entry whose key is not a registry address is
//! ignored and reported by its position, never echoed: a key may carry `user:password@`
//! (docs/security.md#what-holds-and-how-it-is-checked).

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow, bail};
use secrecy::SecretString;
use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, Visitor};

use crate::address::{AddressError, Registry};
use crate::atomic_file::{self, Links, NotOwned, Owner};
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
    registries: InFileOrder,
}

/// The `registries` object's entries in the order of the file, so a message can say which.
#[derive(Default)]
struct InFileOrder(Vec<(String, RawEntry)>);

impl<'de> Deserialize<'de> for InFileOrder {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<InFileOrder, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = InFileOrder;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of registries")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<InFileOrder, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    entries.push(entry);
                }
                Ok(InFileOrder(entries))
            }
        }
        d.deserialize_map(V)
    }
}

#[derive(Deserialize)]
struct RawEntry {
    username: Option<String>,
    password_file: Option<PathBuf>,
    password_env: Option<String>,
    password: Option<SecretString>,
}

/// Where the config was found, and what it says.
pub struct RunnerSideConfig {
    path: PathBuf,
    /// Group- or other-readable: inline passwords are refused.
    shared: bool,
    registries: BTreeMap<Registry, (String, RawEntry)>,
    /// Entries whose key has no canonical form: their 1-based position and why.
    ignored: Vec<(usize, AddressError)>,
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
/// commands that point clients at the helper, and a warning when it ignores some entries.
pub fn registries(env: &Env) -> anyhow::Result<(Vec<Registry>, Option<String>)> {
    registries_at(&locate(env))
}

/// As [`registries`], for the config at `path`.
pub fn registries_at(path: &Path) -> anyhow::Result<(Vec<Registry>, Option<String>)> {
    Ok(match RunnerSideConfig::load(path)? {
        Some(c) => (c.list()?.into_keys().collect(), c.ignored_note()),
        None => (Vec::new(), None),
    })
}

impl RunnerSideConfig {
    /// Loads the file at `path`; `Ok(None)` when there is no such file.
    pub fn load(path: &Path) -> anyhow::Result<Option<RunnerSideConfig>> {
        let found = atomic_file::read_regular(path, Links::Follow, MAX_FILE)
            .map_err(|e| anyhow!("cannot read the runner config {}: {e}", path.display()))?;
        let Some((bytes, meta)) = found else {
            debug!("no runner config at {}", path.display());
            return Ok(None);
        };
        trusted(path, &meta)?;
        RunnerSideConfig::from_bytes(path, &bytes, meta.permissions().mode()).map(Some)
    }

    /// The config `bytes` say, as read from `path` with permission bits `mode`.
    pub fn from_bytes(path: &Path, bytes: &[u8], mode: u32) -> anyhow::Result<RunnerSideConfig> {
        let parsed: ConfigFile = serde_json::from_slice(bytes).map_err(|e| {
            anyhow!(
                "the runner config {} is not valid (line {}, column {}); expected \
                 {{\"registries\": {{\"harbor.example.net\": {{\"username\": …, \"password_file\": …}}}}}}",
                path.display(),
                e.line(),
                e.column()
            )
        })?;
        let mut registries = BTreeMap::new();
        let mut ignored = Vec::new();
        for (n, (key, entry)) in parsed.registries.0.into_iter().enumerate() {
            match Registry::parse(&key) {
                Ok(registry) => {
                    registries.insert(registry, (key, entry));
                }
                Err(e) => {
                    debug!(
                        "the runner config {} ignores entry {} of \"registries\": {e}",
                        path.display(),
                        n + 1
                    );
                    ignored.push((n + 1, e));
                }
            }
        }
        Ok(RunnerSideConfig {
            path: path.to_owned(),
            shared: mode & 0o044 != 0,
            registries,
            ignored,
        })
    }

    /// What a person should hear about entries that were ignored; the keys are not repeated.
    pub fn ignored_note(&self) -> Option<String> {
        let (n, why) = self.ignored.first()?;
        let more = match self.ignored.len() {
            1 => String::new(),
            k => format!(" (and {} more)", k - 1),
        };
        Some(format!(
            "the runner config {} ignores entry {n} of \"registries\"{more}: its key is not a registry address ({why}); \
             write keys as host[:port], for example \"harbor.example.net:8443\"",
            self.path.display()
        ))
    }

    /// Every configured registry with its user name (the password is not read).
    pub fn list(&self) -> anyhow::Result<BTreeMap<Registry, String>> {
        self.each_username()
            .map(|(r, username)| Ok((r.clone(), username?)))
            .collect()
    }

    /// Each configured registry with its user name, or why it has none.
    pub fn each_username(&self) -> impl Iterator<Item = (&Registry, anyhow::Result<String>)> {
        self.registries
            .iter()
            .map(|(r, (key, e))| (r, self.username(key, e)))
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
    let (bytes, _) = atomic_file::read_regular(path, Links::Follow, MAX_FILE)?
        .ok_or_else(|| anyhow!("there is no such file"))?;
    let text = std::str::from_utf8(&bytes).map_err(|_| anyhow!("the file is not UTF-8 text"))?;
    let trimmed = text.trim_end_matches(['\n', '\r']);
    if trimmed.is_empty() {
        bail!("the file is empty");
    }
    Ok(SecretString::from(trimmed))
}

/// A runner config must be its reader's or root's, and so must its directory: whoever can
/// change it chooses which host receives which secret.
fn trusted(path: &Path, meta: &fs::Metadata) -> anyhow::Result<()> {
    let refuse = |what: &Path, why: NotOwned| {
        anyhow!(
            "refusing the runner config {}: {} {why}; it must belong to root or to this user \
             and be writable by no one else (chown root, chmod go-w)",
            path.display(),
            if what == path {
                "the file:".to_owned()
            } else {
                format!("its directory {}:", what.display())
            }
        )
    };
    atomic_file::check_owner(meta, Owner::MeOrRoot).map_err(|why| refuse(path, why))?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && let Ok(dmeta) = fs::metadata(dir)
    {
        atomic_file::check_owner(&dmeta, Owner::MeOrRoot).map_err(|why| refuse(dir, why))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;
    use std::fs;

    fn write(path: &Path, text: &str, mode: u32) {
        fs::write(path, text).unwrap();
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn password_file_env_and_inline() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
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
        let c = RunnerSideConfig::load(&cfg).unwrap().unwrap();
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
    }

    #[test]
    fn inline_password_in_a_readable_file_is_refused_and_not_shown() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let cfg = dir.join("config.json");
        write(
            &cfg,
            r#"{"registries":{"c.example":{"username":"u","password":"TOPSECRET"}}}"#,
            0o644,
        );
        let c = RunnerSideConfig::load(&cfg).unwrap().unwrap();
        let err = c
            .get(&Registry::parse("c.example").unwrap(), &Env::empty())
            .unwrap_err();
        let text = format!("{err:#}");
        assert!(
            text.contains("chmod 600") && !text.contains("TOPSECRET"),
            "{text}"
        );
    }

    #[test]
    fn issue_9_an_invalid_key_is_ignored_by_position_and_never_echoed() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let cfg = dir.join("config.json");
        write(
            &cfg,
            r#"{"registries":{
                "z.example":{"username":"u","password":"ok"},
                "https://robot:TOPSECRET@har bor/":{"username":"u","password":"x"},
                "\u20ac\u0000":{"username":"u","password":"y"}}}"#,
            0o600,
        );
        let c = RunnerSideConfig::load(&cfg).unwrap().unwrap();
        assert_eq!(c.list().unwrap().len(), 1);
        let note = c.ignored_note().unwrap();
        assert!(
            note.contains("entry 2 of \"registries\" (and 1 more)"),
            "{note}"
        );
        assert!(
            !note.contains("TOPSECRET") && !note.contains("robot"),
            "{note}"
        );
    }

    #[test]
    fn issue_9_a_config_others_may_write_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let cfg = dir.join("config.json");
        write(
            &cfg,
            r#"{"registries":{"a.example":{"username":"u","password_file":"/etc/shadow"}}}"#,
            0o666,
        );
        let text = format!("{:#}", RunnerSideConfig::load(&cfg).err().unwrap());
        assert!(
            text.contains("other users may write") && text.contains("chmod go-w"),
            "{text}"
        );
        fs::set_permissions(&cfg, fs::Permissions::from_mode(0o644)).unwrap();
        fs::set_permissions(dir, fs::Permissions::from_mode(0o777)).unwrap();
        let text = format!("{:#}", RunnerSideConfig::load(&cfg).err().unwrap());
        assert!(text.contains("its directory"), "{text}");
        fs::set_permissions(dir, fs::Permissions::from_mode(0o755)).unwrap();
        assert!(RunnerSideConfig::load(&cfg).unwrap().is_some());
    }

    #[test]
    fn broken_entries_name_what_to_fix() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let cfg = dir.join("config.json");
        write(
            &cfg,
            r#"{"registries":{"a.example":{"username":"u","password_file":"missing.secret"},
                "b.example":{"username":"u","password_env":"NOPE"},
                "c.example":{"username":"u"},
                "d.example":{"username":"u","password_env":"X","password":"y"}}}"#,
            0o600,
        );
        let c = RunnerSideConfig::load(&cfg).unwrap().unwrap();
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
        let text = format!("{:#}", RunnerSideConfig::load(&cfg).err().unwrap());
        assert!(
            text.contains("not valid") && !text.contains("TOPSECRET"),
            "{text}"
        );
        assert!(
            RunnerSideConfig::load(&dir.join("none.json"))
                .unwrap()
                .is_none()
        );
    }
}
