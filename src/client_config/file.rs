//! One client config file in memory: read whatever it holds, merge this helper's
//! `credHelpers` entries in, take them out again, and write it back.
//!
//! Edits merge into what exists and never clobber it: unknown keys and their order are kept,
//! the file's mode is kept, a UTF-8 BOM is dropped (Go's JSON decoder rejects it), and every
//! write is atomic. A file that is not a JSON object is reported and left untouched. A copy
//! made for a job never holds a login. No secret of ours is ever written here: an entry only
//! names the helper.

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use secrecy::zeroize::Zeroizing;
use serde_json::{Map, Value};

use docker_credential_harbor_core::address::Registry;
use docker_credential_harbor_core::atomic_file::{self, Links};
use docker_credential_harbor_core::problem::Problem;

/// The helper's name as docker, the runner and `credHelpers` call it: clients run
/// `docker-credential-harbor`.
pub(crate) const HELPER: &str = "harbor";

/// A client config larger than this is not one (it may hold `auths` logins: wiped after use).
const MAX_CONFIG: u64 = 4 << 20;

/// The fields of an `auths` entry that hold a secret (docker's `AuthConfig`, containers'
/// auth.json).
pub(crate) const LOGIN_FIELDS: [&str; 5] = [
    "auth",
    "password",
    "identitytoken",
    "registrytoken",
    "identityToken",
];

/// Why a config file cannot be edited.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConfigError {
    #[error("cannot read {}: {error}", path.display())]
    Read { path: PathBuf, error: io::Error },
    /// Not JSON, or JSON but not an object; the file is left as it is.
    #[error("{} is not a JSON object ({detail}); it was left untouched", path.display())]
    Invalid { path: PathBuf, detail: String },
    #[error("cannot write {}: {error}", path.display())]
    Write { path: PathBuf, error: io::Error },
}

impl Problem for ConfigError {}

/// What happened to one registry's entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum EntryChange {
    Added,
    AlreadySet,
    /// Another helper was named and was replaced (only in files this tool owns).
    Replaced(String),
    /// Another helper is named and was kept (the user's own file).
    KeptOther(String),
}

/// A client config file in memory.
pub(crate) struct ConfigFile {
    pub(crate) path: PathBuf,
    root: Map<String, Value>,
    mode: u32,
    pub(crate) existed: bool,
    changed: bool,
}

impl ConfigFile {
    /// A new, empty file at `path` (mode 0600), to be written.
    pub(crate) fn empty(path: &Path) -> ConfigFile {
        ConfigFile {
            path: path.to_owned(),
            root: Map::new(),
            mode: 0o600,
            existed: false,
            changed: true,
        }
    }

    /// Reads `path`; a missing or empty file is an empty object.
    pub(crate) fn load(path: &Path) -> Result<ConfigFile, ConfigError> {
        let (bytes, mode, existed) =
            match atomic_file::read_regular(path, Links::Follow, MAX_CONFIG) {
                Ok(Some((b, meta))) => (b, meta.permissions().mode() & 0o7777, true),
                Ok(None) => (Zeroizing::new(Vec::new()), 0o600, false),
                Err(error) => {
                    return Err(ConfigError::Read {
                        path: path.to_owned(),
                        error,
                    });
                }
            };
        ConfigFile::from_bytes(path, &bytes, mode, existed)
    }

    /// The config `bytes` say, as read from `path` (mode `mode`; `existed`: it was a file).
    pub(crate) fn from_bytes(
        path: &Path,
        bytes: &[u8],
        mode: u32,
        existed: bool,
    ) -> Result<ConfigFile, ConfigError> {
        let text = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        let root = if text.iter().all(u8::is_ascii_whitespace) {
            Map::new()
        } else {
            match serde_json::from_slice::<Value>(text) {
                Ok(Value::Object(m)) => m,
                // serde_json's message can quote a value (an `auths` secret): position only.
                Ok(_) => {
                    return Err(ConfigError::Invalid {
                        path: path.to_owned(),
                        detail: "the top level is not an object".into(),
                    });
                }
                Err(e) => {
                    return Err(ConfigError::Invalid {
                        path: path.to_owned(),
                        detail: format!("invalid at line {}, column {}", e.line(), e.column()),
                    });
                }
            }
        };
        Ok(ConfigFile {
            path: path.to_owned(),
            root,
            mode,
            existed,
            changed: text.len() != bytes.len(),
        })
    }

    /// The same content without any password, token or `auth` of an `auths` login, to be
    /// written to another path (a per-job copy), mode 0600; with the registries whose logins
    /// were left out, by their canonical names (a key may carry `user:password@`).
    pub(crate) fn copy_without_logins(&self, path: &Path) -> (ConfigFile, Vec<String>) {
        let mut root = self.root.clone();
        let mut left_out = Vec::new();
        if let Some(auths) = root.get_mut("auths").and_then(Value::as_object_mut) {
            auths.retain(|key, entry| {
                let secret = entry
                    .as_object()
                    .is_some_and(|e| LOGIN_FIELDS.iter().any(|f| e.contains_key(*f)));
                if secret {
                    left_out.push(match Registry::parse(key) {
                        Ok(r) => r.to_string(),
                        Err(_) => "an entry that is not a registry address".to_owned(),
                    });
                }
                !secret
            });
        }
        let copy = ConfigFile {
            path: path.to_owned(),
            root,
            mode: 0o600,
            existed: false,
            changed: true,
        };
        (copy, left_out)
    }

    /// The helper named for `registry` in `credHelpers`, if any (for the tests: the commands
    /// only ever set it).
    #[cfg(test)]
    fn helper_for(&self, registry: &Registry) -> Option<&str> {
        self.root
            .get("credHelpers")?
            .as_object()?
            .get(registry.as_str())?
            .as_str()
    }

    /// Points `registry` at this helper. `replace` says whether another helper named for it
    /// may be replaced (yes in our own per-job copies, no in a user's file).
    pub(crate) fn set_helper(&mut self, registry: &Registry, replace: bool) -> EntryChange {
        self.set_helper_key(registry.as_str(), replace)
    }

    /// As [`ConfigFile::set_helper`], for a key as the client spells it (docker keys Docker Hub
    /// as `https://index.docker.io/v1/`).
    pub(crate) fn set_helper_key(&mut self, key: &str, replace: bool) -> EntryChange {
        let helpers = self
            .root
            .entry("credHelpers")
            .or_insert_with(|| Value::Object(Map::new()));
        if !helpers.is_object() {
            *helpers = Value::Object(Map::new());
        }
        let map = helpers.as_object_mut().expect("made an object above");
        let outcome = match map.get(key).and_then(Value::as_str) {
            Some(HELPER) => return EntryChange::AlreadySet,
            Some(other) if !replace => return EntryChange::KeptOther(other.to_owned()),
            Some(other) => EntryChange::Replaced(other.to_owned()),
            None => EntryChange::Added,
        };
        map.insert(key.to_owned(), Value::String(HELPER.to_owned()));
        self.changed = true;
        outcome
    }

    /// Whether the file has a `credHelpers` object (before an entry is added: so that taking
    /// the entry out again can leave the file as it was).
    pub(crate) fn has_helpers(&self) -> bool {
        self.root.get("credHelpers").is_some_and(Value::is_object)
    }

    /// Removes `registry`'s entry if it still names this helper; `credHelpers` goes too when
    /// it is left empty and `drop_empty` says it was not there before.
    pub(crate) fn remove_helper(&mut self, registry: &Registry, drop_empty: bool) -> bool {
        let Some(map) = self
            .root
            .get_mut("credHelpers")
            .and_then(Value::as_object_mut)
        else {
            return false;
        };
        if map.get(registry.as_str()).and_then(Value::as_str) != Some(HELPER) {
            return false;
        }
        map.shift_remove(registry.as_str());
        if map.is_empty() && drop_empty {
            self.root.shift_remove("credHelpers");
        }
        self.changed = true;
        true
    }

    /// Nothing left in the file.
    pub(crate) fn is_empty(&self) -> bool {
        self.root.is_empty()
    }

    /// The `auths` object, for migration.
    pub(crate) fn auths_mut(&mut self) -> Option<&mut Map<String, Value>> {
        self.root.get_mut("auths").and_then(Value::as_object_mut)
    }

    pub(crate) fn mark_changed(&mut self) {
        self.changed = true;
    }

    /// The file's bytes: tab-indented like docker's own writes, a final newline, no BOM.
    pub(crate) fn render(&self) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        let formatter = serde_json::ser::PrettyFormatter::with_indent(b"\t");
        let mut ser = serde_json::Serializer::with_formatter(&mut out, formatter);
        serde::Serialize::serialize(&self.root, &mut ser).map_err(io::Error::other)?;
        out.push(b'\n');
        Ok(out)
    }

    /// Writes the file if anything changed: atomic, the original mode kept (0600 for a new
    /// file), tab-indented like docker's own writes, no BOM.
    pub(crate) fn save(&mut self) -> Result<bool, ConfigError> {
        if !self.changed {
            return Ok(false);
        }
        let write_err = |error| ConfigError::Write {
            path: self.path.clone(),
            error,
        };
        if let Some(dir) = self.path.parent() {
            atomic_file::create_private_dir_all(dir).map_err(write_err)?;
        }
        let out = self.render().map_err(write_err)?;
        atomic_file::write_with_mode(&self.path, &out, self.mode).map_err(write_err)?;
        self.changed = false;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn merging_keeps_unknown_keys_order_and_mode_and_drops_the_bom() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let path = dir.join("config.json");
        let original = "\u{feff}{\"zeta\":1,\"auths\":{\"other.example\":{\"auth\":\"eDp5\"}},\"credHelpers\":{\"gcr.io\":\"gcloud\"},\"alpha\":{\"x\":[1,2]}}";
        fs::write(&path, original).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let reg = Registry::parse("harbor.example.net:8443").unwrap();
        let mut f = ConfigFile::load(&path).unwrap();
        assert_eq!(f.set_helper(&reg, false), EntryChange::Added);
        assert_eq!(f.set_helper(&reg, false), EntryChange::AlreadySet);
        f.save().unwrap();
        let text = fs::read_to_string(&path).unwrap();
        assert!(!text.starts_with('\u{feff}'));
        let keys: Vec<String> = serde_json::from_str::<Map<String, Value>>(&text)
            .unwrap()
            .keys()
            .cloned()
            .collect();
        assert_eq!(keys, ["zeta", "auths", "credHelpers", "alpha"]);
        assert!(
            text.contains("\"gcr.io\": \"gcloud\"")
                && text.contains("\"harbor.example.net:8443\": \"harbor\"")
        );
        assert!(text.contains("\"other.example\""));
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o644
        );

        let mut f = ConfigFile::load(&path).unwrap();
        assert!(f.remove_helper(&reg, true));
        assert!(
            !f.remove_helper(&Registry::parse("gcr.io").unwrap(), true),
            "another helper's entry is not ours to remove"
        );
        f.save().unwrap();
        let v: Value = serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(v["credHelpers"], serde_json::json!({"gcr.io": "gcloud"}));
    }

    #[test]
    fn issue_9_a_copy_holds_no_login() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let path = dir.join("config.json");
        fs::write(
            &path,
            r#"{"auths":{"a.example":{"auth":"dTpTRUNSRVQ="},"https://u:pw@b.example/":{"password":"SECRET","username":"u"},
               "c.example":{},"d.example":{"identitytoken":"TOKEN"}},"credsStore":"pass"}"#,
        )
        .unwrap();
        let f = ConfigFile::load(&path).unwrap();
        let (mut copy, left_out) = f.copy_without_logins(&dir.join("copy.json"));
        assert_eq!(left_out, ["a.example", "b.example", "d.example"]);
        copy.save().unwrap();
        let text = fs::read_to_string(dir.join("copy.json")).unwrap();
        for secret in ["dTpTRUNSRVQ=", "SECRET", "TOKEN", "pw@"] {
            assert!(!text.contains(secret), "{text}");
        }
        assert!(
            text.contains("c.example") && text.contains("\"credsStore\": \"pass\""),
            "{text}"
        );
    }

    #[test]
    fn other_helpers_are_kept_in_user_files_and_replaced_in_ours() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let path = dir.join("c.json");
        fs::write(&path, r#"{"credHelpers":{"h.example":"desktop"}}"#).unwrap();
        let reg = Registry::parse("h.example").unwrap();
        let mut f = ConfigFile::load(&path).unwrap();
        assert_eq!(
            f.set_helper(&reg, false),
            EntryChange::KeptOther("desktop".into())
        );
        assert_eq!(
            f.set_helper(&reg, true),
            EntryChange::Replaced("desktop".into())
        );
        assert_eq!(f.helper_for(&reg), Some(HELPER));
    }

    #[test]
    fn a_broken_file_is_reported_without_its_content_and_not_touched() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let path = dir.join("c.json");
        fs::write(&path, r#"{"auths":{"h":{"auth":"U0VDUkVU"}}"#).unwrap();
        let err = ConfigFile::load(&path).err().unwrap().to_string();
        assert!(
            err.contains("left untouched") && !err.contains("U0VDUkVU"),
            "{err}"
        );
        fs::write(&path, "[]").unwrap();
        assert!(ConfigFile::load(&path).is_err());
        assert!(
            ConfigFile::load(&dir.join("missing.json"))
                .unwrap()
                .helper_for(&Registry::parse("h").unwrap())
                .is_none()
        );
    }
}
