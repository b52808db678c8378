//! Authentication (docs/harbor-api.md#authentication,
//! docs/harbor-api.md#expired-and-disabled-robots, docs/harbor-api.md#auth-modes): how Basic
//! credentials become a security context, trying Harbor's generators in order, the failed-login
//! lock, and the OIDC CLI secret's allow-list. Bad credentials are never rejected here: they run as
//! anonymous, as in Harbor.

use std::time::{Duration, Instant};

use super::{Model, Principal};
use crate::AuthMode;
use crate::util;

/// docs/harbor-api.md#failed-login-lock: how long a username stays locked after bad credentials
/// (`frozenTime`).
pub(crate) const FROZEN: Duration = Duration::from_millis(1500);

/// The outcome of authenticating Basic credentials.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Auth {
    As(Principal),
    /// `auth.Login` reported ErrAuth: the request runs anonymously, and with the failed-login
    /// delay on, the caller must sleep (the lock is already set).
    Failed,
}

impl Model {
    /// Turns Basic credentials into a security context, trying Harbor's generators in order
    /// (docs/harbor-api.md#authentication): OIDC CLI secret, robot, then `auth.Login`. Anything
    /// that does not match runs as anonymous: bad credentials are never rejected here.
    pub(crate) fn authenticate(
        &mut self,
        creds: Option<(&str, &str)>,
        method: &str,
        path: &str,
    ) -> Auth {
        let Some((login, secret)) = creds else {
            return Auth::As(Principal::Anonymous);
        };
        let prefix = self.config.robot_prefix.clone();
        let oidc = self.config.auth_mode == AuthMode::OidcAuth;

        // docs/harbor-api.md#oidc-cli-secrets: a robot-prefixed name is never tried as a CLI
        // secret; off the allow-list the CLI secret is simply not looked at.
        if oidc
            && !login.starts_with(&prefix)
            && oidc_cli_allowed(method, path)
            && let Some(u) = self
                .users
                .iter()
                .find(|u| u.name == login && u.cli_secret && u.password == secret)
        {
            return Auth::As(Principal::User(u.id));
        }

        // docs/harbor-api.md#expired-and-disabled-robots: prefix, name, secret, not disabled, not
        // expired; otherwise fall through.
        if let Some(stored) = login.strip_prefix(prefix.as_str()) {
            let now = util::now_unix();
            if let Some(r) = self.robots.iter().find(|r| {
                r.name == stored
                    && r.secret == secret
                    && !r.disabled
                    && (r.expires_at == -1 || r.expires_at > now)
            }) {
                return Auth::As(Principal::Robot(r.id));
            }
        }

        // auth.Login. User id 1 always authenticates against the database
        // (docs/harbor-api.md#auth-modes); other users in oidc_auth get ErrNotSupported, which is
        // not ErrAuth: anonymous, no delay, no lock.
        let superuser = self.user(1).is_some_and(|u| u.name == login);
        if oidc && !superuser {
            return Auth::As(Principal::Anonymous);
        }
        if self
            .locks
            .get(login)
            .is_some_and(|until| Instant::now() < *until)
        {
            // While locked even the right password runs as anonymous
            // (docs/harbor-api.md#failed-login-lock).
            return Auth::As(Principal::Anonymous);
        }
        let by_email = self.config.auth_mode == AuthMode::DbAuth;
        if let Some(u) = self.users.iter().find(|u| {
            !u.cli_secret
                && u.password == secret
                && (u.name == login || (by_email && u.email == login))
        }) {
            return Auth::As(Principal::User(u.id));
        }
        if self.config.failed_login_delay {
            self.locks.insert(login.to_owned(), Instant::now() + FROZEN);
        }
        Auth::Failed
    }

    /// Whether the principal still exists (a robot deleted mid-request stops counting at once).
    pub(crate) fn authenticated(&self, who: Principal) -> bool {
        match who {
            Principal::Anonymous => false,
            Principal::User(id) => self.user(id).is_some(),
            Principal::Robot(id) => self.robot(id).is_some(),
        }
    }

    /// The `sub` of tokens and the name in logs: the username, or the robot's full name.
    pub(crate) fn username(&self, who: Principal) -> Option<String> {
        match who {
            Principal::Anonymous => None,
            Principal::User(id) => self.user(id).map(|u| u.name.clone()),
            Principal::Robot(id) => self.robot_full_name(id),
        }
    }
}

/// docs/harbor-api.md#oidc-cli-secrets: the paths where an OIDC CLI secret counts (`oidc_cli.go`
/// `valid`).
pub(crate) fn oidc_cli_allowed(method: &str, path: &str) -> bool {
    let path = path.strip_suffix('/').unwrap_or(path);
    if path == "/service/token" || path.starts_with("/v2") {
        return true;
    }
    let projects = "/api/v2.0/projects";
    if method == "POST" && path == projects {
        return true;
    }
    let under_projects = path.strip_prefix("/api/v2.0/projects/");
    let repos = under_projects.is_some_and(|rest| rest.ends_with("/repositories"));
    let artifacts = under_projects
        .and_then(|rest| rest.find("/repositories/").map(|i| &rest[i..]))
        .is_some_and(|rest| rest.ends_with("/artifacts"));
    if method == "GET"
        && (path == projects
            || path == "/api/v2.0/systeminfo"
            || path == "/api/version"
            || path == "/api/v2.0/labels"
            || repos
            || artifacts)
    {
        return true;
    }
    let tags = under_projects
        .and_then(|rest| rest.find("/repositories/").map(|i| &rest[i..]))
        .and_then(|rest| rest.find("/artifacts/").map(|i| &rest[i..]))
        .is_some_and(|rest| rest.contains("/tags/"));
    method == "DELETE" && tags
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Config;
    use crate::model::PROJ_ID;

    fn model(config: Config) -> Model {
        Model::new(config)
    }

    #[test]
    fn the_oidc_cli_allow_list_is_harbors() {
        assert!(oidc_cli_allowed("GET", "/service/token"));
        assert!(oidc_cli_allowed("PUT", "/v2/proj/app/manifests/v1"));
        assert!(oidc_cli_allowed("GET", "/api/v2.0/projects"));
        assert!(oidc_cli_allowed("GET", "/api/v2.0/projects/"));
        assert!(oidc_cli_allowed("POST", "/api/v2.0/projects"));
        assert!(oidc_cli_allowed("GET", "/api/v2.0/systeminfo"));
        assert!(oidc_cli_allowed(
            "GET",
            "/api/v2.0/projects/proj/repositories"
        ));
        assert!(oidc_cli_allowed(
            "GET",
            "/api/v2.0/projects/proj/repositories/app/artifacts"
        ));
        assert!(oidc_cli_allowed(
            "DELETE",
            "/api/v2.0/projects/p/repositories/a/artifacts/d/tags/v1"
        ));
        assert!(!oidc_cli_allowed("HEAD", "/api/v2.0/projects"));
        assert!(!oidc_cli_allowed("GET", "/api/v2.0/projects/proj"));
        assert!(!oidc_cli_allowed("GET", "/api/v2.0/users/current"));
        assert!(!oidc_cli_allowed("POST", "/api/v2.0/robots"));
    }

    #[test]
    fn bad_credentials_run_as_anonymous_and_lock_only_with_the_delay_on() {
        let mut m = model(Config {
            failed_login_delay: true,
            ..Config::default()
        });
        let pw = m.user_by_name("alice").unwrap().password.clone();
        assert_eq!(
            m.authenticate(Some(("alice", "wrong")), "GET", "/"),
            Auth::Failed
        );
        // Locked: the right password runs as anonymous for the next 1.5 s.
        assert_eq!(
            m.authenticate(Some(("alice", &pw)), "GET", "/"),
            Auth::As(Principal::Anonymous)
        );
        let mut m = model(Config::default());
        let pw = m.user_by_name("alice").unwrap().password.clone();
        assert_eq!(
            m.authenticate(Some(("alice", "wrong")), "GET", "/"),
            Auth::Failed
        );
        assert_eq!(
            m.authenticate(Some(("alice", &pw)), "GET", "/"),
            Auth::As(Principal::User(3))
        );
        assert_eq!(
            m.authenticate(Some(("alice@harbor.test", &pw)), "GET", "/"),
            Auth::As(Principal::User(3))
        );
    }

    #[test]
    fn expired_and_disabled_robots_fall_through_to_anonymous() {
        let mut m = model(Config::default());
        let (id, secret) = m.add_robot(
            PROJ_ID,
            "ci",
            vec![("repository".into(), "push".into())],
            1,
            "",
            ("local", 1),
        );
        let creds = Some(("robot$proj+ci", secret.as_str()));
        assert_eq!(
            m.authenticate(creds, "GET", "/"),
            Auth::As(Principal::Robot(id))
        );
        m.robot_mut(id).unwrap().expires_at = util::now_unix() - 1;
        assert_eq!(m.authenticate(creds, "GET", "/"), Auth::Failed);
        m.robot_mut(id).unwrap().expires_at = -1;
        m.robot_mut(id).unwrap().disabled = true;
        assert_eq!(m.authenticate(creds, "GET", "/"), Auth::Failed);
    }

    #[test]
    fn oidc_users_authenticate_with_their_cli_secret_only_on_allowed_paths() {
        let mut m = model(Config {
            auth_mode: AuthMode::OidcAuth,
            ..Config::default()
        });
        let secret = m.user_by_name("carol").unwrap().password.clone();
        let carol = Some(("carol", secret.as_str()));
        assert_eq!(
            m.authenticate(carol, "GET", "/service/token"),
            Auth::As(Principal::User(8))
        );
        assert_eq!(
            m.authenticate(carol, "GET", "/api/v2.0/users/current"),
            Auth::As(Principal::Anonymous)
        );
        let admin_pw = m.user_by_name("admin").unwrap().password.clone();
        assert_eq!(
            m.authenticate(Some(("admin", &admin_pw)), "GET", "/api/v2.0/users/current"),
            Auth::As(Principal::User(1))
        );
    }
}
