//! The credential sources behind the protocol, asked in order; the first match wins.
//!
//! 1. the caller's environment (GitLab's `HARBOR_*` variables): no file is read;
//! 2. the helper's own store: read only when the environment does not match;
//! 3. the runner-side config: read only when neither matched.
//!
//! The runner-side config is passed over, with a note on stderr, when it cannot answer (a
//! broken file, an unreadable password): the GitLab runner drops every credential of a docker
//! config whose helper fails, so one broken entry must not take other registries down
//! (docs/gitlab-runner.md#job-images-from-harbor-image-and-services).
//!
//! Nothing here may reach the network: `get` must stay an offline, spawn-free lookup.

pub mod environment;
pub mod runner_side;
pub mod store;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::address::Registry;
use crate::debug;
use crate::env::{Env, STORE_VAR};
use crate::protocol::{Credentials, Helper};
use runner_side::RunnerSideConfig;
use store::Store;

/// Why the helper has no store: neither its variable nor a home directory says where.
#[derive(Clone, Debug, thiserror::Error)]
#[error(
    "cannot locate a data directory for the credential store: HOME is not set; set HOME or {STORE_VAR}"
)]
pub struct NoStorePath;

/// The path of the helper's store: `$DOCKER_CREDENTIAL_HARBOR_STORE`, else
/// `credentials.json` in the user's data directory.
pub fn store_path(env: &Env) -> Result<PathBuf, NoStorePath> {
    if let Some(p) = env.path(STORE_VAR) {
        return Ok(p);
    }
    env.data_dir()
        .map(|d| d.join(store::FILE_NAME))
        .ok_or(NoStorePath)
}

/// The three sources in their order.
pub struct Chain<'a> {
    env: &'a Env,
    /// Why the runner config was passed over, for stderr.
    notes: RefCell<Vec<String>>,
}

impl<'a> Chain<'a> {
    pub fn new(env: &'a Env) -> Chain<'a> {
        Chain {
            env,
            notes: RefCell::new(Vec::new()),
        }
    }

    fn store(&self) -> anyhow::Result<Store> {
        Ok(Store::at(store_path(self.env)?))
    }

    fn runner_side_config(&self) -> anyhow::Result<Option<RunnerSideConfig>> {
        RunnerSideConfig::load(&runner_side::locate(self.env))
    }

    /// The runner config's answer for `server`; one it cannot give is noted and is a miss.
    fn runner_side_get(&self, server: &Registry) -> Option<Credentials> {
        let outcome = || format!("{server} is answered as not found");
        let config = self.pass_over(self.runner_side_config(), outcome)??;
        self.pass_over(config.get(server, self.env), outcome)?
    }

    /// `result`'s value; an error is noted with what was done instead (`outcome`), and is `None`.
    fn pass_over<T>(&self, result: anyhow::Result<T>, outcome: impl Fn() -> String) -> Option<T> {
        result
            .map_err(|e| {
                self.notes.borrow_mut().push(format!(
                    "{e:#}; {}, so that a client asking for several registries (the GitLab \
                     runner) keeps the others' credentials",
                    outcome()
                ))
            })
            .ok()
    }
}

impl Helper for Chain<'_> {
    fn get(&self, server: &Registry) -> anyhow::Result<Option<Credentials>> {
        // One rule for Docker Hub, whatever fails: Harbor's variables and the runner config
        // name Harbors, so only the store (a `docker login` to Hub) answers for it.
        let hub = server.is_docker_hub();
        if !hub && let Some(found) = environment::get(self.env, server) {
            return Ok(Some(found));
        }
        let store_result = match self.store() {
            Ok(store) => store.get(server),
            Err(e) => {
                debug!("{server}: no store: {e:#}");
                Ok(None)
            }
        };
        if hub {
            return store_result;
        }
        match store_result {
            Ok(Some(found)) => Ok(Some(found)),
            Ok(None) => Ok(self.runner_side_get(server)),
            // A store that cannot be read must not hide the runner config's answer, but when
            // nothing else answers, its error is the truth the user needs.
            Err(store_error) => self.runner_side_get(server).map(Some).ok_or(store_error),
        }
    }

    fn store(&self, server: &Registry, credentials: Credentials) -> anyhow::Result<()> {
        self.store()?.upsert(server, credentials)
    }

    fn erase(&self, server: &Registry) -> anyhow::Result<()> {
        self.store()?.remove(server)
    }

    fn list(&self) -> anyhow::Result<BTreeMap<Registry, String>> {
        // Later sources first, so earlier ones overwrite: the listed user is the one `get` serves.
        let mut all = BTreeMap::new();
        let config = self.pass_over(self.runner_side_config(), || {
            "its registries are left out of the list".to_owned()
        });
        for (registry, username) in config
            .iter()
            .flatten()
            .flat_map(RunnerSideConfig::each_username)
        {
            if let Some(username) =
                self.pass_over(username, || format!("{registry} is left out of the list"))
            {
                all.insert(registry.clone(), username);
            }
        }
        all.retain(|r, _| !r.is_docker_hub());
        if let Ok(store) = self.store() {
            all.extend(store.list()?);
        }
        if let Some((registry, username)) = environment::entry(self.env) {
            all.insert(registry, username);
        }
        Ok(all)
    }

    fn notes(&self) -> Vec<String> {
        self.notes.take()
    }
}
