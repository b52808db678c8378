//! The helper's own credential store: what `docker login`, `podman login` and `helm registry
//! login` hand to `store`, for any registry.
//!
//! One JSON file (docs/store.md), mode 0600 in a 0700 directory, replaced atomically under an
//! exclusive lock, so parallel logins lose nothing and a killed process never leaves a torn
//! file. Readers take no lock: a rename is atomic, so they see the old or the new file. A store
//! that cannot be parsed is reported and never overwritten. Secrets stay in `SecretString`
//! except in the one serialiser that writes the file. A store, or a store directory, that
//! belongs to another user or that others may write is refused, never served: someone else
//! could plant the credentials a client sends (docs/store.md#guarantees).

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use secrecy::zeroize::Zeroizing;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize, Serializer};

use crate::address::Registry;
use crate::atomic_file::{self, Links, Lock, LockError, Owner};
use crate::debug;
use crate::env::STORE_VAR;
use crate::protocol::Credentials;

/// The format this version reads and writes.
pub const FORMAT_VERSION: u32 = 1;
/// The store's file name inside the data directory.
pub const FILE_NAME: &str = "credentials.json";
/// How long a writer waits for another writer (each holds the lock for milliseconds).
const LOCK_TIMEOUT: Duration = Duration::from_secs(10);
/// A store larger than this is not one this tool wrote (5 000 logins take about 600 KiB).
pub const MAX_STORE: u64 = 16 << 20;

#[derive(Serialize, Deserialize)]
struct StoredLogin {
    username: String,
    #[serde(serialize_with = "expose")]
    secret: SecretString,
}

/// Exposure point: the secret leaves its wrapper only into the store file's bytes.
fn expose<S: Serializer>(secret: &SecretString, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(secret.expose_secret())
}

#[derive(Serialize, Deserialize)]
struct Contents {
    version: u32,
    #[serde(default)]
    registries: BTreeMap<String, StoredLogin>,
}

/// Every entry whose key is a registry address, with its user name.
fn listed(contents: Contents) -> BTreeMap<Registry, String> {
    contents
        .registries
        .into_iter()
        .filter_map(|(k, e)| Some((Registry::parse(&k).ok()?, e.username)))
        .collect()
}

/// What [`Store::insert_new`] found for the registry.
#[derive(Debug, PartialEq, Eq)]
pub enum Inserted {
    /// No entry: the login was written.
    Added,
    /// The same user name and secret: nothing was written.
    Same,
    /// Another login, for this user name: it was kept and nothing was written.
    Kept(String),
}

/// The store file at one path.
pub struct Store {
    path: PathBuf,
}

impl Store {
    pub fn at(path: PathBuf) -> Store {
        Store { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn get(&self, server: &Registry) -> anyhow::Result<Option<Credentials>> {
        let Some(mut contents) = self.read()? else {
            debug!("{server}: no store at {}", self.path.display());
            return Ok(None);
        };
        let found = contents
            .registries
            .remove(server.as_str())
            .map(|e| Credentials {
                username: e.username,
                secret: e.secret,
            });
        if found.is_some() {
            debug!("{server}: answered from the store {}", self.path.display());
        }
        Ok(found)
    }

    pub fn list(&self) -> anyhow::Result<BTreeMap<Registry, String>> {
        Ok(match self.read()? {
            Some(contents) => listed(contents),
            None => BTreeMap::new(),
        })
    }

    /// What `list` would answer for a store file holding `bytes` (for the fuzzer only: the
    /// `fuzzing` feature).
    #[cfg(feature = "fuzzing")]
    pub fn list_bytes(&self, bytes: &[u8]) -> anyhow::Result<BTreeMap<Registry, String>> {
        self.decode(bytes).map(listed)
    }

    /// Adds or replaces the entry for `server`.
    pub fn upsert(&self, server: &Registry, credentials: Credentials) -> anyhow::Result<()> {
        let entry = StoredLogin {
            username: credentials.username,
            secret: credentials.secret,
        };
        self.modify(true, |c| {
            c.registries.insert(server.as_str().to_owned(), entry);
            true
        })
    }

    /// Adds the entry for `server` unless the store has one: an existing login is never
    /// replaced, so a migration cannot lose one (docs/store.md#migrating-docker-logins).
    pub fn insert_new(
        &self,
        server: &Registry,
        credentials: Credentials,
    ) -> anyhow::Result<Inserted> {
        let mut found = Inserted::Added;
        self.modify(true, |c| match c.registries.get(server.as_str()) {
            Some(e) => {
                found = if e.username == credentials.username
                    && e.secret.expose_secret() == credentials.secret.expose_secret()
                {
                    Inserted::Same
                } else {
                    Inserted::Kept(e.username.clone())
                };
                false
            }
            None => {
                let entry = StoredLogin {
                    username: credentials.username,
                    secret: credentials.secret,
                };
                c.registries.insert(server.as_str().to_owned(), entry);
                true
            }
        })?;
        Ok(found)
    }

    /// Removes the entry for `server`; a missing entry or a missing store is not an error.
    pub fn remove(&self, server: &Registry) -> anyhow::Result<()> {
        self.modify(false, |c| c.registries.remove(server.as_str()).is_some())
    }

    /// Read-modify-write under the lock. Without `create`, a missing store stays missing.
    fn modify(
        &self,
        create: bool,
        change: impl FnOnce(&mut Contents) -> bool,
    ) -> anyhow::Result<()> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        if !create && !self.path.exists() {
            return Ok(());
        }
        atomic_file::create_private_dir_all(dir).map_err(|e| {
            anyhow!(
                "cannot create the credential store directory {}: {e}; set {STORE_VAR} to a file in a writable directory",
                dir.display()
            )
        })?;
        self.check_dir()?;
        let lock_path = self.lock_path();
        let _lock = Lock::acquire(&lock_path, LOCK_TIMEOUT).map_err(|e| match e {
            LockError::Busy(t) => anyhow!(
                "another docker-credential-harbor process held the lock {} for {} s; retry, or look for a hung process",
                lock_path.display(),
                t.as_secs()
            ),
            LockError::Io(e) => anyhow!(
                "cannot open the lock file {}: {e}; set {STORE_VAR} to a file in a writable directory",
                lock_path.display()
            ),
        })?;
        let mut contents = self.read()?.unwrap_or(Contents {
            version: FORMAT_VERSION,
            registries: BTreeMap::new(),
        });
        if !change(&mut contents) {
            return Ok(());
        }
        contents.version = FORMAT_VERSION;
        let mut bytes = Zeroizing::new(Vec::with_capacity(512));
        serde_json::to_writer_pretty(&mut *bytes, &contents)
            .context("cannot encode the credential store")?;
        bytes.push(b'\n');
        atomic_file::write_private(&self.path, &bytes).map_err(|e| {
            anyhow!(
                "cannot write the credential store {}: {e}; its previous contents are unchanged",
                self.path.display()
            )
        })?;
        atomic_file::remove_stale_temps(&self.path);
        Ok(())
    }

    fn lock_path(&self) -> PathBuf {
        let mut name = self.path.file_name().unwrap_or_default().to_os_string();
        name.push(".lock");
        self.path.with_file_name(name)
    }

    /// The directory the store lives in, which must be this user's alone: whoever can write
    /// it can replace the store.
    fn check_dir(&self) -> anyhow::Result<()> {
        let dir = match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let meta = match fs::metadata(dir) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => bail!(
                "cannot check the credential store directory {}: {e}",
                dir.display()
            ),
        };
        atomic_file::check_owner(&meta, Owner::Me).map_err(|why| {
            anyhow!(
                "refusing the credential store in {}: {why}; make it this user's alone (chmod 700), \
                 or set {STORE_VAR} to a file in a private directory",
                dir.display()
            )
        })
    }

    /// The parsed store; `None` when the file does not exist.
    fn read(&self) -> anyhow::Result<Option<Contents>> {
        let found =
            atomic_file::read_regular(&self.path, Links::Refuse, MAX_STORE).map_err(|e| {
                anyhow!(
                    "cannot read the credential store {}: {e}",
                    self.path.display()
                )
            })?;
        let Some((bytes, meta)) = found else {
            return Ok(None);
        };
        self.check_dir()?;
        atomic_file::check_owner(&meta, Owner::Me).map_err(|why| {
            anyhow!(
                "refusing the credential store {}: {why}; only a store this user alone can write is used \
                 (docker-credential-harbor writes it 0600); remove it and log in again, or set {STORE_VAR}",
                self.path.display()
            )
        })?;
        self.decode(&bytes).map(Some)
    }

    /// The store file's bytes as the store, or why they are not one; never quotes them.
    fn decode(&self, bytes: &[u8]) -> anyhow::Result<Contents> {
        let contents: Contents = serde_json::from_slice(bytes).map_err(|e| {
            // serde_json's message can quote a secret; give only where it broke.
            anyhow!(
                "the credential store {} is corrupt (not valid at line {}, column {}); it was left untouched: \
                 move it aside or repair it, then log in again",
                self.path.display(),
                e.line(),
                e.column()
            )
        })?;
        if contents.version > FORMAT_VERSION {
            bail!(
                "the credential store {} has format version {}, newer than this docker-credential-harbor reads ({FORMAT_VERSION}); \
                 upgrade docker-credential-harbor",
                self.path.display(),
                contents.version
            );
        }
        Ok(contents)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn creds(u: &str, s: &str) -> Credentials {
        Credentials {
            username: u.into(),
            secret: SecretString::from(s),
        }
    }

    #[test]
    fn upsert_get_list_remove() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("store");
        let store = Store::at(dir.join("sub/credentials.json"));
        let h = Registry::parse("h.example:5000").unwrap();
        assert!(store.get(&h).unwrap().is_none());
        store.remove(&h).unwrap();
        assert!(!dir.exists(), "erase of nothing must not create the store");
        store.upsert(&h, creds("u", "one")).unwrap();
        store.upsert(&h, creds("u2", "two")).unwrap();
        let got = store.get(&h).unwrap().unwrap();
        assert_eq!(
            (got.username.as_str(), got.secret.expose_secret()),
            ("u2", "two")
        );
        assert_eq!(
            store.list().unwrap().get(&h).map(String::as_str),
            Some("u2")
        );
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(store.path()), 0o600);
        assert_eq!(mode(&dir.join("sub")), 0o700);
        store.remove(&h).unwrap();
        assert!(store.get(&h).unwrap().is_none());
    }

    #[test]
    fn insert_new_never_replaces_a_login() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let store = Store::at(dir.join("credentials.json"));
        let h = Registry::parse("h.example").unwrap();
        assert_eq!(
            store.insert_new(&h, creds("u", "one")).unwrap(),
            Inserted::Added
        );
        assert_eq!(
            store.insert_new(&h, creds("u", "one")).unwrap(),
            Inserted::Same
        );
        for other in [creds("u", "two"), creds("v", "one")] {
            assert_eq!(
                store.insert_new(&h, other).unwrap(),
                Inserted::Kept("u".into())
            );
        }
        let got = store.get(&h).unwrap().unwrap();
        assert_eq!(
            (got.username.as_str(), got.secret.expose_secret()),
            ("u", "one")
        );
    }

    #[test]
    fn a_corrupt_store_is_reported_without_its_contents_and_kept() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let path = dir.join("credentials.json");
        let junk = r#"{"version":1,"registries":{"h":{"username":"u","secret":TOPSECRET"#;
        fs::write(&path, junk).unwrap();
        let store = Store::at(path.clone());
        let h = Registry::parse("h").unwrap();
        for err in [
            store.upsert(&h, creds("u", "p")).unwrap_err(),
            store.remove(&h).unwrap_err(),
            store.get(&h).unwrap_err(),
        ] {
            let text = format!("{err:#}");
            assert!(
                text.contains("is corrupt") && text.contains("left untouched"),
                "{text}"
            );
            assert!(!text.contains("TOPSECRET"), "{text}");
        }
        assert_eq!(fs::read_to_string(&path).unwrap(), junk);
    }

    #[test]
    fn issue_9_a_store_others_can_write_or_own_is_refused_and_kept() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let path = dir.join("credentials.json");
        let planted = r#"{"version":1,"registries":{"h":{"username":"evil","secret":"planted"}}}"#;
        fs::write(&path, planted).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        let store = Store::at(path.clone());
        let h = Registry::parse("h").unwrap();
        assert!(store.get(&h).unwrap().is_some());
        fs::set_permissions(dir, fs::Permissions::from_mode(0o777)).unwrap();
        for err in [
            store.get(&h).unwrap_err(),
            store.upsert(&h, creds("u", "p")).unwrap_err(),
        ] {
            let text = format!("{err:#}");
            assert!(
                text.contains("other users may write") && text.contains("chmod 700"),
                "{text}"
            );
        }
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o622)).unwrap();
        assert!(format!("{:#}", store.get(&h).unwrap_err()).contains("mode 0622"));
        if atomic_file::euid() == 0 {
            fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
            std::os::unix::fs::chown(&path, Some(65534), Some(65534)).unwrap();
            assert!(format!("{:#}", store.get(&h).unwrap_err()).contains("belongs to uid 65534"));
        }
        assert_eq!(fs::read_to_string(&path).unwrap(), planted);
    }

    #[test]
    fn issue_9_a_store_linked_to_a_device_is_refused_at_once() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let path = dir.join("credentials.json");
        std::os::unix::fs::symlink("/dev/zero", &path).unwrap();
        let err = Store::at(path)
            .get(&Registry::parse("h").unwrap())
            .unwrap_err();
        assert!(format!("{err:#}").contains("symbolic link"), "{err:#}");
    }

    #[test]
    fn a_newer_format_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let path = dir.join("credentials.json");
        fs::write(&path, r#"{"version":2,"registries":{}}"#).unwrap();
        let err = Store::at(path)
            .get(&Registry::parse("h").unwrap())
            .unwrap_err();
        assert!(format!("{err:#}").contains("upgrade"));
    }
}
