//! Users (docs/harbor-api.md#fixtures, and those a test adds): their records, passwords and project
//! roles. In `oidc_auth` every user but admin (id 1) holds a CLI secret instead of a password
//! (docs/harbor-api.md#auth-modes).

use super::Model;
use crate::util::{self, MASKABLE};
use crate::{AuthMode, Role};

pub(crate) struct User {
    pub(crate) id: i64,
    pub(crate) name: String,
    /// The database password, or in `OidcAuth` mode (every user but admin) the CLI secret.
    pub(crate) password: String,
    pub(crate) email: String,
    pub(crate) realname: String,
    pub(crate) sysadmin: bool,
    /// True when `password` is an OIDC CLI secret rather than a database password.
    pub(crate) cli_secret: bool,
    pub(crate) memberships: Vec<(i64, Role)>,
    pub(crate) creation_ms: i64,
}

impl Model {
    pub(crate) fn insert_user(
        &mut self,
        id: i64,
        name: &str,
        password: &str,
        role: Option<(i64, Role)>,
        sysadmin: bool,
    ) {
        self.users.push(User {
            id,
            name: name.to_owned(),
            password: password.to_owned(),
            email: format!("{name}@harbor.test"),
            realname: format!("{name} (harbor-double)"),
            sysadmin,
            // docs/harbor-api.md#auth-modes: in oidc_auth only user id 1 still authenticates
            // against the database.
            cli_secret: self.config.auth_mode == AuthMode::OidcAuth && id != 1,
            memberships: role.into_iter().collect(),
            creation_ms: util::now_millis(),
        });
    }

    pub(crate) fn add_user(
        &mut self,
        name: &str,
        password: &str,
        role: Option<(i64, Role)>,
        sysadmin: bool,
    ) {
        if let Some(u) = self.users.iter_mut().find(|u| u.name == name) {
            u.password = password.to_owned();
            u.sysadmin = sysadmin;
            if let Some((pid, role)) = role {
                u.memberships.retain(|(p, _)| *p != pid);
                u.memberships.push((pid, role));
            }
            return;
        }
        let id = self.next_user_id;
        self.next_user_id += 1;
        self.insert_user(id, name, password, role, sysadmin);
    }

    pub(crate) fn user_by_name(&self, name: &str) -> Option<&User> {
        self.users.iter().find(|u| u.name == name)
    }

    pub(crate) fn user(&self, id: i64) -> Option<&User> {
        self.users.iter().find(|u| u.id == id)
    }
}

/// 24 characters of GitLab's maskable alphabet.
pub(crate) fn fixture_password() -> String {
    util::random_string(MASKABLE, 24)
}
