//! The GitLab runner's own `config.toml`, read for `doctor --runner-config` on a runner host:
//! per `[[runners]]` table, whether the hooks call this helper, whether its `environment`
//! hands jobs a `DOCKER_AUTH_CONFIG` docker ≥ 28.3 rejects, and whether the credential-helper
//! allowlist of runners ≥ 19.4 (also 19.3.2, 19.2.4, 19.1.3) lets a job-supplied
//! `DOCKER_AUTH_CONFIG` run this helper for a registry.
//!
//! The allowlist's exact shape is not confirmed by any source we could read
//! (field-2026.md §2; docs/gitlab-runner.md): `scripts/install` writes
//! `allowed_docker_credential_helpers = { "<registry>" = "harbor" }` in the `[[runners]]`
//! table, and this reader accepts that key there or in `[runners.docker]`,
//! `[runners.kubernetes]` or the global section, as a table of registry to helper name (or
//! names) or as a list of helper names. Read-only: it never writes the runner's file.

use std::path::Path;

use crate::address::Registry;
use crate::atomic_file::{self, Links};
use crate::docker_auth_config::DockerAuthConfig;

/// The setting's name (runner MR !7320).
pub const ALLOWLIST_KEY: &str = "allowed_docker_credential_helpers";
/// The helper's name as docker and the runner call it (`docker-credential-<name>`).
pub const HELPER: &str = "harbor";
const MAX_FILE: u64 = 1 << 20;

/// One `[[runners]]` table.
pub struct Runner {
    /// `name`, or its position when it has none.
    pub name: String,
    pub executor: Option<String>,
    pub pre_build_hook: bool,
    pub post_build_hook: bool,
    pub allowlist: Allowlist,
    /// What the table's `environment` sets `DOCKER_AUTH_CONFIG` to, for every job.
    pub environment_auth: Option<DockerAuthConfig>,
}

/// What the allowlist says about this helper for one registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Allowlist {
    /// No `allowed_docker_credential_helpers` for this runner: patched runners run no
    /// helper a job's `DOCKER_AUTH_CONFIG` names.
    Absent,
    /// It lets the helper run for the registry; the text says where.
    Allows(String),
    /// It exists and does not list the helper for the registry; the text says where.
    Lacks(String),
}

/// Why the file could not be read.
#[derive(Debug)]
pub struct ReadError(pub String);

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Reads the runner config and judges each `[[runners]]` table for `registry`.
pub fn read(path: &Path, registry: &Registry) -> Result<Vec<Runner>, ReadError> {
    let shown = path.display();
    let (bytes, _) = atomic_file::read_regular(path, Links::Follow, MAX_FILE)
        .map_err(|e| ReadError(format!("cannot read {shown}: {e}")))?
        .ok_or_else(|| ReadError(format!("{shown} does not exist")))?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| ReadError(format!("{shown} is not UTF-8, so not TOML")))?;
    let doc: toml::Table = text.parse().map_err(|_| {
        ReadError(format!(
            "{shown} is not valid TOML; `gitlab-runner verify` shows where"
        ))
    })?;
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
                |n| crate::text::inline(n).into_owned(),
            );
            let hook = |key: &str, verb: &str| {
                t.get(key)
                    .and_then(|v| v.as_str())
                    .is_some_and(|s| s.contains("docker-credential-harbor") && s.contains(verb))
            };
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
                pre_build_hook: hook("pre_build_script", "pre-build"),
                post_build_hook: hook("post_build_script", "post-build"),
                allowlist: match allowlist {
                    Allowlist::Absent => global.clone(),
                    other => other,
                },
                environment_auth: environment_auth(t),
            }
        })
        .collect()
}

/// A runner's tables, taken together: one that allows wins.
fn most_permissive(a: Allowlist, b: Allowlist) -> Allowlist {
    match (a, b) {
        (a @ Allowlist::Allows(_), _) | (_, a @ Allowlist::Allows(_)) => a,
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
    let allowed = match value {
        // registry → helper(s), the shape the MR's wording suggests.
        toml::Value::Table(map) => map
            .iter()
            .any(|(k, v)| Registry::parse(k).is_ok_and(|r| &r == registry) && names_helper(v)),
        // A plain list of helper names, for every registry.
        toml::Value::Array(_) => names_helper(value),
        _ => false,
    };
    let at = format!("{ALLOWLIST_KEY} in {place}");
    if allowed {
        Allowlist::Allows(at)
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
                matches!(runners(t)[0].allowlist, Allowlist::Allows(_)),
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
        assert!(r[0].pre_build_hook && !r[0].post_build_hook);
        assert!(matches!(
            r[0].environment_auth,
            Some(DockerAuthConfig::Invalid(_))
        ));
        assert_eq!(r[1].name, "#2");
        assert!(!r[1].pre_build_hook && r[1].post_build_hook);
        assert!(r[1].environment_auth.is_none());
    }
}
