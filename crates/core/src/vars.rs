//! GitLab's Harbor integration variables, resolved the way every GitLab version sets them.
//!
//! As GitLab sets them (docs/gitlab-runner.md#what-the-hooks-do): `HARBOR_URL` is the URL as the
//! admin typed it (maybe with a port, a trailing slash or a path); `HARBOR_HOST` drops the port, so
//! it is only a fallback for setups that have no URL; GitLab 14.9's docs named `HARBOR_USER`, which
//! its code never set (it set `HARBOR_USERNAME`), so it is read for pipelines written to those
//! docs; robot names are sent as `robot$$…` and reach a job unexpanded when the variable is raw.
//! Pure over [`Env`]: nothing here reads a file or the network, and the password never leaves its
//! `SecretString`.

use secrecy::SecretString;

use crate::address::Registry;
use crate::env::Env;

use crate::env::{
    HARBOR_HOST, HARBOR_PASSWORD, HARBOR_PROJECT, HARBOR_URL, HARBOR_USER, HARBOR_USERNAME,
};

/// Where the registry key came from, for messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegistryFrom {
    Url,
    Host,
}

impl RegistryFrom {
    pub fn var(self) -> &'static str {
        match self {
            RegistryFrom::Url => HARBOR_URL,
            RegistryFrom::Host => HARBOR_HOST,
        }
    }
}

/// The registry the integration names: `host[:port]` of `HARBOR_URL`, else of `HARBOR_HOST`.
/// `HARBOR_HOST` is never used when a URL is set, because GitLab drops the port there. A value
/// that has no canonical form, or names Docker Hub, names no Harbor.
pub fn registry(env: &Env) -> Option<(Registry, RegistryFrom)> {
    let (value, from) = url_or_host(env)?;
    let registry = Registry::parse(&value).ok()?;
    (!registry.is_docker_hub()).then_some((registry, from))
}

/// `HARBOR_USERNAME`, else GitLab 14.9's documented `HARBOR_USER`, with an unexpanded `$$`
/// collapsed to `$` (`robot$$proj+ci` becomes `robot$proj+ci`).
///
/// Collapsing every `$$` is safe: Harbor forbids `$` in user names, so `$` can only come from
/// the robot prefix, and GitLab escapes exactly that one.
pub fn username(env: &Env) -> Option<String> {
    let raw = env.var(HARBOR_USERNAME).or_else(|| env.var(HARBOR_USER))?;
    Some(raw.replace("$$", "$"))
}

/// `HARBOR_PROJECT`, the Harbor project the integration names.
pub fn project(env: &Env) -> Option<String> {
    env.var(HARBOR_PROJECT)
}

/// The raw `HARBOR_URL`, else `HARBOR_HOST`, with the variable it came from.
pub fn url_or_host(env: &Env) -> Option<(String, RegistryFrom)> {
    match env.var(HARBOR_URL) {
        Some(url) => Some((url, RegistryFrom::Url)),
        None => env.var(HARBOR_HOST).map(|h| (h, RegistryFrom::Host)),
    }
}

/// `HARBOR_PASSWORD`, verbatim.
pub fn password(env: &Env) -> Option<SecretString> {
    env.var(HARBOR_PASSWORD).map(SecretString::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    fn env(pairs: &[(&str, &str)]) -> Env {
        Env::from_pairs(pairs.iter().copied())
    }

    #[test]
    fn url_wins_over_host_and_keeps_its_port() {
        let e = env(&[
            (HARBOR_URL, "https://Harbor.example.net:8443/"),
            (HARBOR_HOST, "harbor.example.net"),
        ]);
        let (r, from) = registry(&e).unwrap();
        assert_eq!(r.as_str(), "harbor.example.net:8443");
        assert_eq!(from, RegistryFrom::Url);
    }

    #[test]
    fn host_is_the_fallback_for_old_setups_without_a_url() {
        let (r, from) = registry(&env(&[(HARBOR_HOST, "harbor.example.net")])).unwrap();
        assert_eq!(r.as_str(), "harbor.example.net");
        assert_eq!(from, RegistryFrom::Host);
        assert_eq!(
            registry(&env(&[(HARBOR_URL, ""), (HARBOR_HOST, "h.example")]))
                .unwrap()
                .1,
            RegistryFrom::Host
        );
    }

    #[test]
    fn a_url_that_cannot_be_parsed_or_names_docker_hub_is_no_registry() {
        assert_eq!(registry(&env(&[(HARBOR_URL, "https://")])), None);
        assert_eq!(
            registry(&env(&[(HARBOR_URL, "https://index.docker.io/v1/")])),
            None
        );
        // A broken URL does not fall back to HOST: the URL is what the admin meant.
        assert_eq!(
            registry(&env(&[(HARBOR_URL, "https://"), (HARBOR_HOST, "h")])),
            None
        );
        assert_eq!(registry(&env(&[])), None);
    }

    #[test]
    fn username_falls_back_to_harbor_user_and_collapses_dollars() {
        assert_eq!(
            username(&env(&[(HARBOR_USER, "alice")])).as_deref(),
            Some("alice")
        );
        assert_eq!(
            username(&env(&[
                (HARBOR_USERNAME, "robot$$proj+ci"),
                (HARBOR_USER, "x")
            ]))
            .as_deref(),
            Some("robot$proj+ci")
        );
        assert_eq!(
            username(&env(&[(HARBOR_USERNAME, "robot$proj+ci")])).as_deref(),
            Some("robot$proj+ci")
        );
        assert_eq!(username(&env(&[])), None);
    }

    #[test]
    fn password_is_verbatim() {
        let p = password(&env(&[(HARBOR_PASSWORD, " p$$w \"d ")])).unwrap();
        assert_eq!(p.expose_secret(), " p$$w \"d ");
    }
}
