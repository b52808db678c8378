//! Credentials from the caller's environment, as GitLab's Harbor integration sets it.
//!
//! The first and cheapest source: a few `getenv` calls and one string comparison. It answers
//! only for the one registry `HARBOR_URL` (or `HARBOR_HOST`) names, and only when a user and a
//! password are both set; everything else falls through to the next source. It reads no file.

use secrecy::SecretString;

use crate::address::Registry;
use crate::debug;
use crate::env::{self, Env};
use crate::protocol::Credentials;
use crate::vars;

/// The registry the environment serves and its user name, when it serves one.
pub fn entry(env: &Env) -> Option<(Registry, String)> {
    let (registry, from) = vars::registry(env)?;
    let (username, _) = account(env, &registry, from)?;
    Some((registry, username))
}

/// The environment's credentials for `server`, if it is the integration's registry. Each
/// variable is read once, and the account only for that registry.
pub fn get(env: &Env, server: &Registry) -> Option<Credentials> {
    let (registry, from) = vars::registry(env)?;
    if registry != *server {
        return None;
    }
    let (username, secret) = account(env, &registry, from)?;
    debug!("{server}: answered from the environment ({})", from.var());
    Some(Credentials { username, secret })
}

/// The user and password for `registry`, which `from` named; `None`, with a debug line naming
/// the variable to set, unless both are there.
fn account(
    env: &Env,
    registry: &Registry,
    from: vars::RegistryFrom,
) -> Option<(String, SecretString)> {
    let Some(username) = vars::username(env) else {
        debug!(
            "{} names {registry}, but neither {} nor {} is set",
            from.var(),
            env::HARBOR_USERNAME,
            env::HARBOR_USER
        );
        return None;
    };
    let Some(secret) = vars::password(env) else {
        debug!(
            "{} names {registry}, but {} is not set",
            from.var(),
            env::HARBOR_PASSWORD
        );
        return None;
    };
    Some((username, secret))
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn answers_only_its_registry_and_only_with_user_and_password() {
        let env = Env::from_pairs([
            ("HARBOR_URL", "https://harbor.example.net:8443/"),
            ("HARBOR_HOST", "harbor.example.net"),
            ("HARBOR_USERNAME", "robot$$proj+ci"),
            ("HARBOR_PASSWORD", "pw"),
        ]);
        let hit = get(&env, &Registry::parse("harbor.example.net:8443").unwrap()).unwrap();
        assert_eq!(hit.username, "robot$proj+ci");
        assert_eq!(hit.secret.expose_secret(), "pw");
        // HARBOR_HOST lost the port; it must not make the port-less host match.
        assert!(get(&env, &Registry::parse("harbor.example.net").unwrap()).is_none());

        let no_password = Env::from_pairs([("HARBOR_URL", "h.example"), ("HARBOR_USER", "u")]);
        assert!(get(&no_password, &Registry::parse("h.example").unwrap()).is_none());
        assert!(entry(&no_password).is_none());
    }
}
