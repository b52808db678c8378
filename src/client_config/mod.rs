//! The configuration files container clients read, and the `credHelpers` entries that point
//! them at this helper: docker's `config.json` (also read by crane, ko and kaniko), the
//! containers tools' `auth.json` (podman, buildah, skopeo), helm's registry `config.json`,
//! and kaniko's `/kaniko/.docker/config.json`.
//!
//! Where each client looks ([`Client::user_file`], resolved once into [`ClientFiles`]),
//! pointing a client at the helper ([`point`], the one loop `pre-build` and `configure`
//! share) and its undo ([`unpoint`]) live here; [`ConfigFile`] is one file in memory.

mod file;

use std::ffi::OsStr;
use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::Context;

pub(crate) use file::{ConfigError, ConfigFile, EntryChange, HELPER};
// What the fuzz target checks a config file keeps.
#[cfg(feature = "fuzzing")]
pub(crate) use file::LOGIN_FIELDS;

use docker_credential_harbor_core::address::Registry;
use docker_credential_harbor_core::env::{
    DOCKER_CONFIG, Env, HELM_CONFIG_HOME, HELM_REGISTRY_CONFIG, HOME, KANIKO_DIR_VAR,
    REGISTRY_AUTH_FILE, XDG_CONFIG_HOME, XDG_RUNTIME_DIR,
};

const KANIKO_DIR: &str = "/kaniko";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Client {
    Docker,
    Containers,
    Helm,
    Kaniko,
}

impl Client {
    pub(crate) const ALL: [Client; 4] = [
        Client::Docker,
        Client::Containers,
        Client::Helm,
        Client::Kaniko,
    ];

    /// Who reads the file, for reports.
    pub(crate) fn readers(self) -> &'static str {
        match self {
            Client::Docker => "docker, crane",
            Client::Containers => "podman, buildah, skopeo",
            Client::Helm => "helm",
            Client::Kaniko => "kaniko",
        }
    }

    /// The variable that points the client at a config, when there is one.
    pub(crate) fn env_var(self) -> Option<&'static str> {
        match self {
            Client::Docker => Some(DOCKER_CONFIG),
            Client::Containers => Some(REGISTRY_AUTH_FILE),
            Client::Helm => Some(HELM_REGISTRY_CONFIG),
            Client::Kaniko => None,
        }
    }

    /// The file this client reads for a user, by its own rules
    /// (docs/protocol.md#which-file-each-client-reads); `None` for kaniko when there is no
    /// kaniko here.
    pub(crate) fn user_file(self, env: &Env) -> Option<PathBuf> {
        let home = env.path(HOME);
        match self {
            Client::Docker => match env.path(DOCKER_CONFIG) {
                Some(d) => Some(d.join("config.json")),
                None => home.map(|h| h.join(".docker/config.json")),
            },
            Client::Containers => {
                if let Some(f) = env.path(REGISTRY_AUTH_FILE) {
                    return Some(f);
                }
                // The runtime file is searched first; edit it when it exists, so our entry is seen.
                if let Some(run) = env
                    .path(XDG_RUNTIME_DIR)
                    .map(|d| d.join("containers/auth.json"))
                    && run.exists()
                {
                    return Some(run);
                }
                xdg_config(env).map(|c| c.join("containers/auth.json"))
            }
            Client::Helm => {
                if let Some(f) = env.path(HELM_REGISTRY_CONFIG) {
                    return Some(f);
                }
                match env.path(HELM_CONFIG_HOME) {
                    Some(h) => Some(h.join("registry/config.json")),
                    None => xdg_config(env).map(|c| c.join("helm/registry/config.json")),
                }
            }
            Client::Kaniko => {
                let dir = env
                    .path(KANIKO_DIR_VAR)
                    .unwrap_or_else(|| PathBuf::from(KANIKO_DIR));
                dir.is_dir().then(|| dir.join(".docker/config.json"))
            }
        }
    }

    /// The file's path inside a per-job directory.
    pub(crate) fn per_job_file(self, dir: &Path) -> PathBuf {
        match self {
            Client::Docker => dir.join("docker/config.json"),
            Client::Containers => dir.join("containers/auth.json"),
            Client::Helm => dir.join("helm/registry/config.json"),
            Client::Kaniko => dir.join("kaniko/config.json"),
        }
    }

    /// What the per-job variable points at: the docker config *directory*, the others' files.
    pub(crate) fn per_job_export(self, dir: &Path) -> Option<(&'static str, PathBuf)> {
        let file = self.per_job_file(dir);
        match self {
            Client::Docker => Some((DOCKER_CONFIG, file.parent()?.to_owned())),
            Client::Containers | Client::Helm => Some((self.env_var()?, file)),
            Client::Kaniko => None,
        }
    }
}

impl fmt::Display for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Client::Docker => "docker",
            Client::Containers => "containers",
            Client::Helm => "helm",
            Client::Kaniko => "kaniko",
        })
    }
}

/// Whether clients will find `docker-credential-harbor` on this `PATH`.
pub(crate) fn helper_on_path(path: &OsStr) -> bool {
    std::env::split_paths(path).any(|d| d.join("docker-credential-harbor").is_file())
}

fn xdg_config(env: &Env) -> Option<PathBuf> {
    env.path(XDG_CONFIG_HOME)
        .filter(|p| p.is_absolute())
        .or_else(|| env.path(HOME).map(|h| h.join(".config")))
}

/// The file each client reads for this user, worked out once.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ClientFiles([Option<PathBuf>; 4]);

impl ClientFiles {
    pub(crate) fn from_env(env: &Env) -> ClientFiles {
        ClientFiles(Client::ALL.map(|c| c.user_file(env)))
    }

    /// `client`'s file; `None` for kaniko when there is no kaniko here, or without a HOME.
    pub(crate) fn get(&self, client: Client) -> Option<&Path> {
        let i = Client::ALL.iter().position(|c| *c == client)?;
        self.0[i].as_deref()
    }
}

/// docker looks for CLI plugins (buildx, compose) under `$DOCKER_CONFIG/cli-plugins`: keep the
/// user's visible from a per-job docker config.
pub(crate) fn link_cli_plugins(user_file: Option<&Path>, per_job_file: &Path) {
    let (Some(user_dir), Some(job_dir)) = (user_file.and_then(Path::parent), per_job_file.parent())
    else {
        return;
    };
    let plugins = user_dir.join("cli-plugins");
    if plugins.is_dir() {
        let _ = std::os::unix::fs::symlink(&plugins, job_dir.join("cli-plugins"));
    }
}

/// Where a client's pointed file goes.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Target<'a> {
    /// Into the user's own file: another helper named for a registry is kept.
    InPlace(&'a Path),
    /// Into a per-job copy under `dir` of the user's file `from`, without the user's logins:
    /// another helper is replaced (the job's copy is ours).
    CopyInto {
        dir: &'a Path,
        from: Option<&'a Path>,
    },
}

/// A client's file with the entries merged in, not yet saved.
pub(crate) struct Pointed {
    pub(crate) file: ConfigFile,
    /// What happened to each registry's entry.
    pub(crate) entries: Vec<(Registry, EntryChange)>,
    /// The file had no `credHelpers` object before (so taking the entries out removes it).
    pub(crate) created_helpers: bool,
    /// For a copy: the registries whose logins the copy leaves out.
    pub(crate) left_out: Vec<String>,
    /// For a copy: why the user's file could not be read (the copy starts empty).
    pub(crate) unreadable_source: Option<ConfigError>,
}

/// Points `registries` at the helper in `client`'s file, in place or in a per-job copy. The
/// caller saves `Pointed::file`.
pub(crate) fn point(
    client: Client,
    registries: &[Registry],
    target: Target<'_>,
) -> Result<Pointed, ConfigError> {
    let (mut file, replace, left_out, unreadable_source) = match target {
        Target::InPlace(path) => (ConfigFile::load(path)?, false, Vec::new(), None),
        Target::CopyInto { dir, from } => {
            let copy_path = client.per_job_file(dir);
            match from.map(ConfigFile::load) {
                Some(Ok(source)) => {
                    let (copy, left_out) = source.copy_without_logins(&copy_path);
                    (copy, true, left_out, None)
                }
                Some(Err(e)) => (ConfigFile::empty(&copy_path), true, Vec::new(), Some(e)),
                None => (ConfigFile::empty(&copy_path), true, Vec::new(), None),
            }
        }
    };
    let created_helpers = !file.has_helpers();
    let entries = registries
        .iter()
        .map(|r| (r.clone(), file.set_helper(r, replace)))
        .collect();
    Ok(Pointed {
        file,
        entries,
        created_helpers,
        left_out,
        unreadable_source,
    })
}

/// Undoes [`point`] for one entry of a user's file: takes it out if it still names the
/// helper, and the file too when pre-build created it and nothing else is left. Returns
/// whether something was removed.
pub(crate) fn unpoint(
    path: &Path,
    registry: &Registry,
    created_file: bool,
    created_helpers: bool,
) -> anyhow::Result<bool> {
    let mut f = ConfigFile::load(path)?;
    if !f.remove_helper(registry, created_helpers) {
        return Ok(false);
    }
    if created_file && f.is_empty() {
        std::fs::remove_file(path).with_context(|| format!("cannot remove {}", path.display()))?;
    } else {
        f.save()?;
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_files_follow_each_clients_rules() {
        let env = Env::from_pairs([("HOME", "/home/u")]);
        assert_eq!(
            Client::Docker.user_file(&env),
            Some(PathBuf::from("/home/u/.docker/config.json"))
        );
        assert_eq!(
            Client::Containers.user_file(&env),
            Some(PathBuf::from("/home/u/.config/containers/auth.json"))
        );
        assert_eq!(
            Client::Helm.user_file(&env),
            Some(PathBuf::from("/home/u/.config/helm/registry/config.json"))
        );
        let env = Env::from_pairs([
            ("HOME", "/home/u"),
            ("DOCKER_CONFIG", "/d"),
            ("REGISTRY_AUTH_FILE", "/a.json"),
            ("HELM_REGISTRY_CONFIG", "/h.json"),
            (KANIKO_DIR_VAR, "/nonexistent-kaniko"),
        ]);
        assert_eq!(
            Client::Docker.user_file(&env),
            Some(PathBuf::from("/d/config.json"))
        );
        assert_eq!(
            Client::Containers.user_file(&env),
            Some(PathBuf::from("/a.json"))
        );
        assert_eq!(Client::Helm.user_file(&env), Some(PathBuf::from("/h.json")));
        assert_eq!(Client::Kaniko.user_file(&env), None);
    }
}
