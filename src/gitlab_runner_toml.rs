//! The GitLab runner's own `config.toml`: the hook lines this helper needs there (what
//! `install-hooks` writes, what the docs show and what doctor looks for), and, for `doctor
//! --runner-config` on a runner host, per `[[runners]]` table, whether the hooks call this
//! helper, whether its `environment` hands jobs a `DOCKER_AUTH_CONFIG` docker ≥ 28.3 rejects,
//! and whether a credential-helper allowlist of runners ≥ 19.4 (also 19.3.2, 19.2.4, 19.1.3)
//! names this helper for a registry. The edit that adds the lines is [`edit`].
//!
//! The allowlist's exact shape is not confirmed by any source we could read
//! (docs/gitlab-runner.md#runners--194-the-credential-helper-allowlist), so nothing here writes
//! it or calls it working: this reader accepts `allowed_docker_credential_helpers` in the
//! `[[runners]]` table, `[runners.docker]`, `[runners.kubernetes]` or the global section, as a
//! table of registry to helper name (or names) or as a list of helper names, and reports it as
//! present with its shape unverified. Read-only: it never writes the runner's file.

pub(crate) mod edit;

use std::io;
use std::path::{Path, PathBuf};

use docker_credential_harbor_core::address::Registry;
use docker_credential_harbor_core::atomic_file::{self, Links};
use docker_credential_harbor_core::docker_auth_config::DockerAuthConfig;
use docker_credential_harbor_core::problem::Problem;

use crate::client_config::HELPER;

/// The setting's name (runner MR !7320).
pub(crate) const ALLOWLIST_KEY: &str = "allowed_docker_credential_helpers";
const MAX_FILE: u64 = 1 << 20;

/// What the `pre_build_script` line adds after `pre-build`, so that a binary that is missing
/// or does not finish (pre-build exits 0 whenever it wrote its output) is said in the job log,
/// and fails the job under `DOCKER_CREDENTIAL_HARBOR_VERIFY=strict` through an evaluated
/// `false`, as pre-build's own verdict does. POSIX sh (dash, bash, busybox); nothing in it is
/// secret, so xtrace shows nothing; no `'`, so it fits a TOML literal string.
pub(crate) const PRE_BUILD_CHECK: &str = r#" || { echo "docker-credential-harbor pre-build failed (exit $?): this job has no Harbor login from it" >&2; [ "${DOCKER_CREDENTIAL_HARBOR_VERIFY-}" != strict ] || echo false; }"#;

/// The `pre_build_script` for the binary at `binary` (a path, or a name on the job's PATH).
pub(crate) fn pre_build_script(binary: &str) -> String {
    format!("eval \"$({binary} pre-build{PRE_BUILD_CHECK})\"")
}

/// The `post_build_script` for the binary at `binary`.
pub(crate) fn post_build_script(binary: &str) -> String {
    format!("{binary} post-build")
}

/// Whether `path` can stand unquoted in the hook lines: in the shell (no expansion, no
/// assignment, no option) and in a TOML literal string (no `'`).
pub(crate) fn is_plain_path(path: &str) -> bool {
    !path.is_empty()
        && !path.starts_with('-')
        && path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._/+@:,%-".contains(&b))
}

/// What a runner's `pre_build_script` does with this helper.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PreBuild {
    /// None, or one that does not call this helper's pre-build.
    Missing,
    /// `eval "$(… pre-build)"` without [`PRE_BUILD_CHECK`]: a job without the binary goes
    /// on silently.
    Unchecked,
    /// The line [`pre_build_script`] writes (or one that contains it).
    Checked,
}

impl PreBuild {
    pub(crate) fn of(script: &str) -> PreBuild {
        if !calls(script, "pre-build") {
            PreBuild::Missing
        } else if script.contains(PRE_BUILD_CHECK) {
            PreBuild::Checked
        } else {
            PreBuild::Unchecked
        }
    }
}

/// Whether a hook script runs this helper's `verb`.
pub(crate) fn calls(script: &str, verb: &str) -> bool {
    script.contains("docker-credential-harbor") && script.contains(verb)
}

/// The binary an existing pre-build line runs, for the line that replaces it.
pub(crate) fn binary_in(script: &str) -> Option<&str> {
    let (before, _) = script.split_once(" pre-build")?;
    let word = before.rsplit([' ', '\t', '(']).next()?;
    (word.ends_with("docker-credential-harbor") && is_plain_path(word)).then_some(word)
}

/// One `[[runners]]` table.
pub(crate) struct Runner {
    /// `name`, or its position when it has none.
    pub(crate) name: String,
    pub(crate) executor: Option<String>,
    pub(crate) pre_build: PreBuild,
    pub(crate) post_build_hook: bool,
    pub(crate) allowlist: Allowlist,
    /// What the table's `environment` sets `DOCKER_AUTH_CONFIG` to, for every job.
    pub(crate) environment_auth: Option<DockerAuthConfig>,
}

/// What an allowlist says about this helper for one registry, as far as we can read it: its
/// shape is unconfirmed, so "lists" never means the runner lets the helper run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Allowlist {
    /// No `allowed_docker_credential_helpers` for this runner: patched runners run no
    /// helper a job's `DOCKER_AUTH_CONFIG` names.
    Absent,
    /// It names the helper for the registry in a shape we accept; the text says where.
    Lists(String),
    /// It exists and does not name the helper for the registry; the text says where.
    Lacks(String),
}

/// Why the file could not be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReadError {
    #[error("cannot read {}: {error}", path.display())]
    Io { path: PathBuf, error: io::Error },
    #[error("{} does not exist", path.display())]
    Missing { path: PathBuf },
    #[error("{} is not UTF-8, so not TOML", path.display())]
    NotUtf8 { path: PathBuf },
    #[error("{} is not valid TOML; `gitlab-runner verify` shows where", path.display())]
    NotToml { path: PathBuf },
}

impl Problem for ReadError {}

/// Reads the GitLab runner's config.toml and judges each `[[runners]]` table for `registry`.
pub(crate) fn read(path: &Path, registry: &Registry) -> Result<Vec<Runner>, ReadError> {
    let path_buf = || path.to_owned();
    let (bytes, _) = atomic_file::read_regular(path, Links::Follow, MAX_FILE)
        .map_err(|error| ReadError::Io {
            path: path_buf(),
            error,
        })?
        .ok_or_else(|| ReadError::Missing { path: path_buf() })?;
    let text = std::str::from_utf8(&bytes).map_err(|_| ReadError::NotUtf8 { path: path_buf() })?;
    let doc: toml::Table = text
        .parse()
        .map_err(|_| ReadError::NotToml { path: path_buf() })?;
    Ok(judge(&doc, registry))
}

fn judge(doc: &toml::Table, registry: &Registry) -> Vec<Runner> {
    let global = allowlist_in(doc, "the global section", registry);
    let runners = doc.get("runners").and_then(|r| r.as_array());
    let runners = runners.map(|v| v.as_slice()).unwrap_or_default();
    runners
        .iter()
        .enumerate()
        .filter_map(|(i, r)| r.as_table().map(|t| (i, t)))
        .map(|(i, t)| {
            let name = t.get("name").and_then(|n| n.as_str()).map_or_else(
                || format!("#{}", i + 1),
                |n| docker_credential_harbor_core::text::inline(n).into_owned(),
            );
            let script = |key: &str| t.get(key).and_then(|v| v.as_str());
            let sub = |key: &str| t.get(key).and_then(|v| v.as_table());
            let allowlist = [
                allowlist_in(t, "[[runners]]", registry),
                sub("docker").map_or(Allowlist::Absent, |d| {
                    allowlist_in(d, "[runners.docker]", registry)
                }),
                sub("kubernetes").map_or(Allowlist::Absent, |k| {
                    allowlist_in(k, "[runners.kubernetes]", registry)
                }),
            ]
            .into_iter()
            .reduce(most_permissive)
            .unwrap_or(Allowlist::Absent);
            Runner {
                name,
                executor: t
                    .get("executor")
                    .and_then(|e| e.as_str())
                    .map(str::to_owned),
                pre_build: script("pre_build_script").map_or(PreBuild::Missing, PreBuild::of),
                post_build_hook: script("post_build_script")
                    .is_some_and(|s| calls(s, "post-build")),
                allowlist: match allowlist {
                    Allowlist::Absent => global.clone(),
                    other => other,
                },
                environment_auth: environment_auth(t),
            }
        })
        .collect()
}

/// A runner's tables, taken together: one that lists the helper wins.
fn most_permissive(a: Allowlist, b: Allowlist) -> Allowlist {
    match (a, b) {
        (a @ Allowlist::Lists(_), _) | (_, a @ Allowlist::Lists(_)) => a,
        (a @ Allowlist::Lacks(_), _) | (_, a @ Allowlist::Lacks(_)) => a,
        _ => Allowlist::Absent,
    }
}

/// The allowlist in one table, judged for this helper and `registry`.
fn allowlist_in(table: &toml::Table, place: &str, registry: &Registry) -> Allowlist {
    let Some(value) = table.get(ALLOWLIST_KEY) else {
        return Allowlist::Absent;
    };
    let names_helper = |v: &toml::Value| match v {
        toml::Value::String(s) => s == HELPER,
        toml::Value::Array(a) => a.iter().any(|x| x.as_str() == Some(HELPER)),
        _ => false,
    };
    let listed = match value {
        // registry → helper(s), the shape the MR's wording suggests.
        toml::Value::Table(map) => map
            .iter()
            .any(|(k, v)| Registry::parse(k).is_ok_and(|r| &r == registry) && names_helper(v)),
        // A plain list of helper names, for every registry.
        toml::Value::Array(_) => names_helper(value),
        _ => false,
    };
    let at = format!("{ALLOWLIST_KEY} in {place}");
    if listed {
        Allowlist::Lists(at)
    } else {
        Allowlist::Lacks(at)
    }
}

/// `environment = ["DOCKER_AUTH_CONFIG=…"]`: what every job of this runner gets.
fn environment_auth(t: &toml::Table) -> Option<DockerAuthConfig> {
    let env = t.get("environment")?.as_array()?;
    env.iter()
        .filter_map(|e| e.as_str()?.strip_prefix("DOCKER_AUTH_CONFIG="))
        .next_back()
        .map(|v| DockerAuthConfig::parse(Some(v.as_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runners(toml: &str) -> Vec<Runner> {
        let reg = Registry::parse("harbor.example.com").unwrap();
        judge(&toml.parse().unwrap(), &reg)
    }

    #[test]
    fn the_allowlist_in_every_place_and_shape_we_accept() {
        let allows = [
            "[[runners]]\nallowed_docker_credential_helpers = { \"harbor.example.com\" = \"harbor\" }",
            "[[runners]]\nallowed_docker_credential_helpers = { \"https://harbor.example.com/\" = [\"harbor\"] }",
            "[[runners]]\n[runners.docker]\nallowed_docker_credential_helpers = [\"ecr-login\", \"harbor\"]",
            "allowed_docker_credential_helpers = [\"harbor\"]\n[[runners]]\nname = \"a\"",
        ];
        for t in allows {
            assert!(
                matches!(runners(t)[0].allowlist, Allowlist::Lists(_)),
                "{t}"
            );
        }
        let lacks = [
            "[[runners]]\nallowed_docker_credential_helpers = { \"harbor.example.com:8443\" = \"harbor\" }",
            "[[runners]]\nallowed_docker_credential_helpers = { \"harbor.example.com\" = \"ecr-login\" }",
            "[[runners]]\n[runners.kubernetes]\nallowed_docker_credential_helpers = []",
        ];
        for t in lacks {
            assert!(
                matches!(runners(t)[0].allowlist, Allowlist::Lacks(_)),
                "{t}"
            );
        }
        assert_eq!(
            runners("[[runners]]\nname = \"x\"")[0].allowlist,
            Allowlist::Absent
        );
    }

    #[test]
    fn hooks_names_and_the_environment() {
        let r = runners(
            "[[runners]]\nname = \"docker\"\nexecutor = \"docker\"\n\
             pre_build_script = 'eval \"$(/usr/local/bin/docker-credential-harbor pre-build)\"'\n\
             environment = ['DOCKER_AUTH_CONFIG={\"credHelpers\":{\"harbor.example.com\":\"harbor\"}}']\n\
             [[runners]]\npost_build_script = 'docker-credential-harbor post-build'\n",
        );
        assert_eq!(r.len(), 2);
        assert_eq!(
            (r[0].name.as_str(), r[0].executor.as_deref()),
            ("docker", Some("docker"))
        );
        assert_eq!(r[0].pre_build, PreBuild::Unchecked);
        assert!(!r[0].post_build_hook);
        assert!(matches!(
            r[0].environment_auth,
            Some(DockerAuthConfig::Invalid(_))
        ));
        assert_eq!(r[1].name, "#2");
        assert_eq!(r[1].pre_build, PreBuild::Missing);
        assert!(r[1].post_build_hook);
        assert!(r[1].environment_auth.is_none());
    }

    #[test]
    fn the_hook_lines_are_recognised_and_their_binary_found() {
        let line = pre_build_script("/opt/dch/docker-credential-harbor");
        assert!(!line.contains('\''), "{line}");
        assert_eq!(PreBuild::of(&line), PreBuild::Checked);
        assert_eq!(binary_in(&line), Some("/opt/dch/docker-credential-harbor"));
        let bare = "eval \"$(docker-credential-harbor pre-build)\"";
        assert_eq!(PreBuild::of(bare), PreBuild::Unchecked);
        assert_eq!(binary_in(bare), Some("docker-credential-harbor"));
        assert_eq!(PreBuild::of("echo pre-build"), PreBuild::Missing);
        assert_eq!(binary_in("eval \"$(/x/y pre-build)\""), None);
        for bad in [
            "", "-x", "a b", "/x'y", "~/bin/x", "a=b", "$(x)", "x;y", "x\ny",
        ] {
            assert!(!is_plain_path(bad), "{bad:?}");
        }
        assert!(is_plain_path(
            "/opt/docker-credential-harbor/bin/docker-credential-harbor"
        ));
    }
}
