//! The process environment, read in exactly one place.
//!
//! Everything else takes an [`Env`], so unit tests build one from a map and nothing depends on
//! process-global state. This module only reads; it never sets or removes a variable, and it
//! never interprets a value beyond "set and non-empty".

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::PathBuf;

/// Path of the helper's credential store file (default: the user's data directory).
pub const STORE_VAR: &str = "DOCKER_CREDENTIAL_HARBOR_STORE";
/// Path of the runner-side config file.
pub const CONFIG_VAR: &str = "DOCKER_CREDENTIAL_HARBOR_CONFIG";
/// `1` or `true` turns on debug lines on stderr.
pub const DEBUG_VAR: &str = "DOCKER_CREDENTIAL_HARBOR_DEBUG";

/// The directory name used under the XDG data and config directories.
pub const APP_DIR: &str = "docker-credential-harbor";

/// A view of environment variables: the real process environment or a fixed map.
#[derive(Clone, Debug)]
pub struct Env {
    /// `None` reads the process environment.
    map: Option<HashMap<String, OsString>>,
}

impl Env {
    /// The environment of this process.
    pub fn process() -> Env {
        Env { map: None }
    }

    /// An environment with no variables at all.
    pub fn empty() -> Env {
        Env {
            map: Some(HashMap::new()),
        }
    }

    /// A fixed environment, for tests and for commands that compute one.
    pub fn from_pairs<K: Into<String>, V: Into<OsString>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Env {
        Env {
            map: Some(
                pairs
                    .into_iter()
                    .map(|(k, v)| (k.into(), v.into()))
                    .collect(),
            ),
        }
    }

    /// The raw value, set or not, empty or not.
    #[allow(clippy::disallowed_methods)]
    pub fn var_os(&self, name: &str) -> Option<OsString> {
        match &self.map {
            None => std::env::var_os(name),
            Some(m) => m.get(name).cloned(),
        }
    }

    /// The value when it is set, non-empty and valid UTF-8; anything else counts as unset.
    pub fn var(&self, name: &str) -> Option<String> {
        self.var_os(name)
            .and_then(|v| v.into_string().ok())
            .filter(|v| !v.is_empty())
    }

    /// A non-empty value taken as a path.
    pub fn path(&self, name: &str) -> Option<PathBuf> {
        self.var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    }

    /// `DOCKER_CREDENTIAL_HARBOR_DEBUG` is `1` or `true`.
    pub fn debug_enabled(&self) -> bool {
        matches!(
            self.var(DEBUG_VAR).as_deref(),
            Some("1" | "true" | "TRUE" | "yes")
        )
    }

    /// The user's data directory for this tool (`$XDG_DATA_HOME/docker-credential-harbor`,
    /// else `~/.local/share/docker-credential-harbor`). `None` when no home directory is known.
    pub fn data_dir(&self) -> Option<PathBuf> {
        self.app_dir("XDG_DATA_HOME", ".local/share", |d| d.data_dir().to_owned())
    }

    /// The user's config directory for this tool (`$XDG_CONFIG_HOME/docker-credential-harbor`,
    /// else `~/.config/docker-credential-harbor`).
    pub fn config_dir(&self) -> Option<PathBuf> {
        self.app_dir("XDG_CONFIG_HOME", ".config", |d| d.config_dir().to_owned())
    }

    fn app_dir(
        &self,
        xdg: &str,
        fallback: &str,
        pick: impl Fn(&directories::ProjectDirs) -> PathBuf,
    ) -> Option<PathBuf> {
        match &self.map {
            // The directories crate follows XDG and falls back to the passwd entry for HOME.
            None => directories::ProjectDirs::from("", "", APP_DIR).map(|d| pick(&d)),
            // A fixed map follows the same XDG rules, without the passwd fallback.
            Some(_) => {
                let base = self
                    .path(xdg)
                    .filter(|p| p.is_absolute())
                    .or_else(|| self.path("HOME").map(|h| h.join(fallback)))?;
                Some(base.join(APP_DIR))
            }
        }
    }

    /// The command-line arguments of this process, program name excluded.
    #[allow(clippy::disallowed_methods)]
    pub fn args() -> Vec<OsString> {
        std::env::args_os().skip(1).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_and_non_utf8_values_count_as_unset() {
        use std::os::unix::ffi::OsStringExt;
        let env = Env::from_pairs([
            ("EMPTY", OsString::new()),
            ("BAD", OsString::from_vec(vec![0xff, 0xfe])),
            ("OK", OsString::from("x")),
        ]);
        assert_eq!(env.var("EMPTY"), None);
        assert_eq!(env.var("BAD"), None);
        assert_eq!(env.var("MISSING"), None);
        assert_eq!(env.var("OK").as_deref(), Some("x"));
    }

    #[test]
    fn data_dir_follows_xdg_then_home() {
        let env = Env::from_pairs([("HOME", "/home/u"), ("XDG_DATA_HOME", "/xdg")]);
        assert_eq!(
            env.data_dir(),
            Some(PathBuf::from("/xdg/docker-credential-harbor"))
        );
        let env = Env::from_pairs([("HOME", "/home/u"), ("XDG_DATA_HOME", "relative")]);
        assert_eq!(
            env.data_dir(),
            Some(PathBuf::from(
                "/home/u/.local/share/docker-credential-harbor"
            ))
        );
        assert_eq!(Env::from_pairs::<&str, &str>([]).data_dir(), None);
    }
}
