//! GitLab's Harbor integration, resolved once: the URL and registry, the account and the
//! project, each with the variable it came from. The commands (`doctor`, the hooks, `robots
//! prune`) build one [`Integration`] at the start and pass it down; nothing below them reads
//! a `HARBOR_*` variable again.
//!
//! `get` does not build one: it asks [`crate::vars`] for the two or three values it needs,
//! lazily, and only when they can answer. Pure over [`Env`]: no file, no network.

use secrecy::SecretString;

use crate::address::Registry;
use crate::env::{Env, HARBOR_PASSWORD, HARBOR_PROJECT, HARBOR_USER, HARBOR_USERNAME};
use crate::url::{HarborUrl, UrlProblem};
use crate::vars::{self, RegistryFrom};

/// A user name and password for Basic auth.
#[derive(Clone, Debug)]
pub struct Account {
    pub username: String,
    pub password: SecretString,
}

/// Everything the integration's variables say.
#[derive(Clone, Debug)]
pub struct Integration {
    /// Harbor's URL, or why the one given cannot be used; `None` when neither `HARBOR_URL` nor
    /// `HARBOR_HOST` is set (the job has no Harbor integration).
    pub url: Option<Result<HarborUrl, UrlProblem>>,
    /// The registry the helper serves from these variables (`vars::registry`: what `get`
    /// answers for), and the variable it came from; Docker Hub never. Not taken from `url`:
    /// `get` answers for it even when the URL cannot be used (`oci://`, plain HTTP to
    /// another host), and `configure` points clients at it then too.
    pub registry: Option<(Registry, RegistryFrom)>,
    /// The user name, and the variable it came from (`HARBOR_USERNAME`, or 14.9's `HARBOR_USER`).
    pub username: Option<(String, &'static str)>,
    pub password: Option<SecretString>,
    pub project: Option<String>,
}

impl Integration {
    /// Reads the integration's variables from `env`.
    pub fn resolve(env: &Env) -> Integration {
        let url = vars::url_or_host(env).map(|(value, from)| HarborUrl::parse(&value, from));
        let username = vars::username(env).map(|u| {
            let from = if env.var(HARBOR_USERNAME).is_some() {
                HARBOR_USERNAME
            } else {
                HARBOR_USER
            };
            (u, from)
        });
        Integration {
            url,
            registry: vars::registry(env),
            username,
            password: vars::password(env),
            project: vars::project(env),
        }
    }

    /// Whether the job has Harbor variables at all.
    pub fn present(&self) -> bool {
        self.url.is_some()
    }

    /// The usable URL, or why there is none.
    pub fn harbor_url(&self) -> Result<&HarborUrl, UrlProblem> {
        match &self.url {
            Some(Ok(u)) => Ok(u),
            Some(Err(p)) => Err(p.clone()),
            None => Err(UrlProblem::Missing),
        }
    }

    /// The registry the helper serves from these variables.
    pub fn registry(&self) -> Option<&Registry> {
        self.registry.as_ref().map(|(r, _)| r)
    }

    pub fn user(&self) -> Option<&str> {
        self.username.as_ref().map(|(u, _)| u.as_str())
    }

    /// The account, when both a user name and a password are set.
    pub fn account(&self) -> Option<Account> {
        Some(Account {
            username: self.user()?.to_owned(),
            password: self.password.clone()?,
        })
    }

    /// Which of `HARBOR_USERNAME` (or `HARBOR_USER`), `HARBOR_PASSWORD` and `HARBOR_PROJECT`
    /// are not set, named as a user would set them.
    pub fn missing(&self) -> Vec<&'static str> {
        [
            (self.username.is_none(), HARBOR_USERNAME),
            (self.password.is_none(), HARBOR_PASSWORD),
            (self.project.is_none(), HARBOR_PROJECT),
        ]
        .into_iter()
        .filter_map(|(missing, var)| missing.then_some(var))
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::{HARBOR_HOST, HARBOR_URL};

    fn env(pairs: &[(&str, &str)]) -> Env {
        Env::from_pairs(pairs.iter().copied())
    }

    #[test]
    fn missing_names_the_variables_to_set() {
        assert_eq!(
            Integration::resolve(&env(&[])).missing(),
            [HARBOR_USERNAME, HARBOR_PASSWORD, HARBOR_PROJECT]
        );
        assert_eq!(
            Integration::resolve(&env(&[(HARBOR_USER, "u"), (HARBOR_PROJECT, "p")])).missing(),
            [HARBOR_PASSWORD]
        );
        assert!(
            Integration::resolve(&env(&[
                (HARBOR_USERNAME, "u"),
                (HARBOR_PASSWORD, "x"),
                (HARBOR_PROJECT, "p")
            ]))
            .missing()
            .is_empty()
        );
    }

    #[test]
    fn each_value_with_where_it_came_from() {
        let i = Integration::resolve(&Env::from_pairs([
            (HARBOR_HOST, "harbor.example.net"),
            (HARBOR_USER, "robot$$proj+ci"),
            (HARBOR_PROJECT, "proj"),
        ]));
        let url = i.harbor_url().unwrap();
        assert_eq!(
            (url.registry.as_str(), url.from),
            ("harbor.example.net", RegistryFrom::Host)
        );
        assert_eq!(i.username, Some(("robot$proj+ci".into(), HARBOR_USER)));
        assert!(i.account().is_none());
        assert_eq!(i.missing(), [HARBOR_PASSWORD]);

        let none = Integration::resolve(&Env::empty());
        assert!(!none.present() && none.registry().is_none());
        let bad = Integration::resolve(&Env::from_pairs([(HARBOR_URL, "ftp://x")]));
        assert!(bad.present() && bad.harbor_url().is_err());
    }
}
