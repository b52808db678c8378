//! The process environment, read in exactly one place, and the name of every variable the
//! tool reads.
//!
//! Everything else takes an [`Env`], or the typed values commands build from one once
//! (`integration::Integration`, the binary's `HarborSettings` and `JobContext`), so unit tests
//! build one from a map and nothing depends on process-global state. This module only reads; it
//! never sets or removes a variable, and it never interprets a value beyond "set and non-empty" and
//! the one rule for a yes/no variable ([`Env::yes`]). Every variable's name is a constant here and
//! nowhere else; [`VARIABLES`] describes the ones a user sets, and `--help` lists exactly those.

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::PathBuf;

// GitLab's Harbor integration (docs/gitlab-runner.md#what-the-hooks-do).
pub const HARBOR_URL: &str = "HARBOR_URL";
pub const HARBOR_HOST: &str = "HARBOR_HOST";
pub const HARBOR_OCI: &str = "HARBOR_OCI";
pub const HARBOR_PROJECT: &str = "HARBOR_PROJECT";
pub const HARBOR_USERNAME: &str = "HARBOR_USERNAME";
/// What GitLab 14.9 documented instead of `HARBOR_USERNAME`.
pub const HARBOR_USER: &str = "HARBOR_USER";
pub const HARBOR_PASSWORD: &str = "HARBOR_PASSWORD";
/// Set by pre-build: `host[:port]`, the prefix of image names.
pub const HARBOR_REGISTRY: &str = "HARBOR_REGISTRY";

// This tool's own settings.
/// Path of the helper's credential store file (default: the user's data directory).
pub const STORE_VAR: &str = "DOCKER_CREDENTIAL_HARBOR_STORE";
/// Path of the runner-side config file.
pub const CONFIG_VAR: &str = "DOCKER_CREDENTIAL_HARBOR_CONFIG";
/// Yes ([`Env::yes`]) turns on debug lines on stderr.
pub const DEBUG_VAR: &str = "DOCKER_CREDENTIAL_HARBOR_DEBUG";
/// A PEM bundle of extra CAs for Harbor.
pub const CA_FILE_VAR: &str = "DOCKER_CREDENTIAL_HARBOR_CA_FILE";
/// Seconds to wait for Harbor (connect, and each whole call).
pub const TIMEOUT_VAR: &str = "DOCKER_CREDENTIAL_HARBOR_TIMEOUT";
/// pre-build's verification: `warn`, `strict`, `off`.
pub const VERIFY_VAR: &str = "DOCKER_CREDENTIAL_HARBOR_VERIFY";
/// Yes ([`Env::yes`]): pre-build swaps the integration's credentials for a job robot.
pub const JOB_ROBOT_VAR: &str = "DOCKER_CREDENTIAL_HARBOR_JOB_ROBOT";
/// Yes ([`Env::yes`]): pre-build leaves the job's `DOCKER_AUTH_CONFIG` as it is.
pub const KEEP_AUTH_CONFIG_VAR: &str = "DOCKER_CREDENTIAL_HARBOR_KEEP_DOCKER_AUTH_CONFIG";
/// Where kaniko keeps its docker config (kaniko's image sets `DOCKER_CONFIG=/kaniko/.docker`).
pub const KANIKO_DIR_VAR: &str = "DOCKER_CREDENTIAL_HARBOR_KANIKO_DIR";
/// harbor-broker's base URL: set, the runner hooks ask it for the job's robot (docs/broker.md).
pub const BROKER_VAR: &str = "DOCKER_CREDENTIAL_HARBOR_BROKER";
/// The job's GitLab id_token for harbor-broker, as `.gitlab-ci.yml`'s `id_tokens:` names it.
pub const ID_TOKEN_VAR: &str = "HARBOR_ID_TOKEN";

// What the GitLab runner sets for a job.
pub const CI: &str = "CI";
pub const CI_JOB_ID: &str = "CI_JOB_ID";
pub const CI_JOB_URL: &str = "CI_JOB_URL";
pub const CI_PROJECT_PATH: &str = "CI_PROJECT_PATH";
pub const RUNNER_TEMP_PROJECT_DIR: &str = "RUNNER_TEMP_PROJECT_DIR";
pub const DOCKER_AUTH_CONFIG: &str = "DOCKER_AUTH_CONFIG";

// Where the clients and the system keep things.
pub const HOME: &str = "HOME";
pub const PATH: &str = "PATH";
pub const XDG_DATA_HOME: &str = "XDG_DATA_HOME";
pub const XDG_CONFIG_HOME: &str = "XDG_CONFIG_HOME";
pub const XDG_RUNTIME_DIR: &str = "XDG_RUNTIME_DIR";
pub const DOCKER_CONFIG: &str = "DOCKER_CONFIG";
pub const REGISTRY_AUTH_FILE: &str = "REGISTRY_AUTH_FILE";
pub const HELM_REGISTRY_CONFIG: &str = "HELM_REGISTRY_CONFIG";
pub const HELM_CONFIG_HOME: &str = "HELM_CONFIG_HOME";
pub const SSL_CERT_FILE: &str = "SSL_CERT_FILE";
pub const SSL_CERT_DIR: &str = "SSL_CERT_DIR";
pub const NO_PROXY: &[&str] = &["NO_PROXY", "no_proxy"];
pub const HTTPS_PROXY: &[&str] = &["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"];
pub const HTTP_PROXY: &[&str] = &["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"];

/// A variable a user sets, for `--help` and the README's table.
pub struct Variable {
    pub name: &'static str,
    pub meaning: &'static str,
}

/// Every variable a user sets for this tool, in the order `--help` lists them.
pub const VARIABLES: &[Variable] = &[
    Variable {
        name: "HARBOR_URL, HARBOR_HOST, HARBOR_USERNAME (or HARBOR_USER), HARBOR_PASSWORD",
        meaning: "as GitLab's Harbor integration sets them",
    },
    Variable {
        name: HARBOR_PROJECT,
        meaning: "the Harbor project (doctor and pre-build check pull and push on it)",
    },
    Variable {
        name: STORE_VAR,
        meaning: "store file (default: $XDG_DATA_HOME/docker-credential-harbor/credentials.json)",
    },
    Variable {
        name: CONFIG_VAR,
        meaning: "runner config (default: $XDG_CONFIG_HOME/docker-credential-harbor/config.json, \
                  then /etc/docker-credential-harbor/config.json)",
    },
    Variable {
        name: CA_FILE_VAR,
        meaning: "extra CA bundle for Harbor (doctor and hooks)",
    },
    Variable {
        name: TIMEOUT_VAR,
        meaning: "seconds to wait for Harbor (default 10)",
    },
    Variable {
        name: VERIFY_VAR,
        meaning: "pre-build: warn (default), strict (fail the job before the build), off",
    },
    Variable {
        name: JOB_ROBOT_VAR,
        meaning: "1: pre-build gives the job its own robot account",
    },
    Variable {
        name: BROKER_VAR,
        meaning: "harbor-broker's https:// URL: pre-build gets the job's robot from it with HARBOR_ID_TOKEN",
    },
    Variable {
        name: ID_TOKEN_VAR,
        meaning: "the job's GitLab id_token for harbor-broker (id_tokens: in .gitlab-ci.yml)",
    },
    Variable {
        name: KEEP_AUTH_CONFIG_VAR,
        meaning: "1: pre-build leaves DOCKER_AUTH_CONFIG as it is (docker >= 28.3 then uses its Harbor entry, not the helper)",
    },
    Variable {
        name: KANIKO_DIR_VAR,
        meaning: "where kaniko lives, for pre-build and configure (default /kaniko)",
    },
    Variable {
        name: DEBUG_VAR,
        meaning: "1: explain each answer on stderr (never a secret)",
    },
];

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

    /// Whether the yes/no variable `name` says yes: `1`, or `true` or `yes` in any case. Every
    /// yes/no variable goes through this one rule; it accepts all that either earlier rule did
    /// (`1/true/TRUE/yes` for debug, `1/true/yes` in any case for the others). Anything else,
    /// unset or empty, is no.
    pub fn yes(&self, name: &str) -> bool {
        self.var(name).is_some_and(|v| {
            v == "1" || v.eq_ignore_ascii_case("true") || v.eq_ignore_ascii_case("yes")
        })
    }

    /// `DOCKER_CREDENTIAL_HARBOR_DEBUG` says yes ([`Env::yes`]).
    pub fn debug_enabled(&self) -> bool {
        self.yes(DEBUG_VAR)
    }

    /// The user's data directory for this tool (`$XDG_DATA_HOME/docker-credential-harbor`,
    /// else `~/.local/share/docker-credential-harbor`). `None` when no home directory is known.
    pub fn data_dir(&self) -> Option<PathBuf> {
        self.app_dir(XDG_DATA_HOME, ".local/share", |d| d.data_dir().to_owned())
    }

    /// The user's config directory for this tool (`$XDG_CONFIG_HOME/docker-credential-harbor`,
    /// else `~/.config/docker-credential-harbor`).
    pub fn config_dir(&self) -> Option<PathBuf> {
        self.app_dir(XDG_CONFIG_HOME, ".config", |d| d.config_dir().to_owned())
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
                    .or_else(|| self.path(HOME).map(|h| h.join(fallback)))?;
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
    fn yes_is_1_or_true_or_yes_in_any_case_and_nothing_else() {
        for v in ["1", "true", "TRUE", "True", "tRuE", "yes", "YES", "Yes"] {
            let env = Env::from_pairs([(JOB_ROBOT_VAR, v), (DEBUG_VAR, v)]);
            assert!(env.yes(JOB_ROBOT_VAR), "{v:?}");
            assert!(env.debug_enabled(), "{v:?}");
        }
        for v in [
            "", "0", "false", "no", "on", "y", "2", "01", " 1", "true ", "yes\n", "truee",
        ] {
            let env = Env::from_pairs([(JOB_ROBOT_VAR, v), (DEBUG_VAR, v)]);
            assert!(!env.yes(JOB_ROBOT_VAR), "{v:?}");
            assert!(!env.debug_enabled(), "{v:?}");
        }
        assert!(!Env::empty().yes(JOB_ROBOT_VAR), "unset is no");
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
