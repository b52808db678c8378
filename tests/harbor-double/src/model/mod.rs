//! Harbor's state and rules, without HTTP: the fixture users and projects
//! (docs/harbor-api.md#fixtures, `users`, `projects`), robot accounts
//! (docs/harbor-api.md#robot-accounts, `robots`), how Basic credentials become a security context
//! (docs/harbor-api.md#authentication, `auth`) and what a security context may do on a project
//! (docs/harbor-api.md#roles, `permissions`, with the tables in `rbac`). This file holds the
//! [`Model`] itself and its fixtures. Handlers ask this module; they never re-implement a
//! permission rule themselves.

mod auth;
mod permissions;
mod projects;
mod robots;
mod users;

use std::collections::HashMap;
use std::time::Instant;

use crate::{AuthMode, Config, Role, util};

pub(crate) use auth::{Auth, FROZEN};
pub(crate) use projects::Project;
pub(crate) use robots::{Permission, RobotRec, robot_secret, valid_robot_name};
pub(crate) use users::User;
use users::fixture_password;

/// Who a request runs as (Harbor's security context).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Principal {
    Anonymous,
    User(i64),
    Robot(i64),
}

pub(crate) struct Model {
    pub(crate) config: Config,
    pub(crate) users: Vec<User>,
    pub(crate) projects: Vec<Project>,
    pub(crate) robots: Vec<RobotRec>,
    next_user_id: i64,
    next_project_id: i64,
    next_robot_id: i64,
    locks: HashMap<String, Instant>,
}

/// The fixtures of docs/harbor-api.md#fixtures, with the user ids listed there.
const FIXTURE_USERS: &[(&str, i64, Option<Role>, bool)] = &[
    ("admin", 1, None, true),
    ("alice", 3, Some(Role::Developer), false),
    ("gary", 4, Some(Role::Guest), false),
    ("pam", 5, Some(Role::ProjectAdmin), false),
    ("mary", 6, Some(Role::Maintainer), false),
    ("dave", 7, None, false),
];

pub(crate) const PROJ_ID: i64 = 5;
pub(crate) const PUB_ID: i64 = 6;

impl Model {
    pub(crate) fn new(config: Config) -> Model {
        let now = util::now_millis();
        let mut model = Model {
            config,
            users: Vec::new(),
            projects: vec![
                Project {
                    id: PROJ_ID,
                    name: "proj".into(),
                    public: false,
                    owner_id: 1,
                    creation_ms: now,
                },
                Project {
                    id: PUB_ID,
                    name: "pub".into(),
                    public: true,
                    owner_id: 1,
                    creation_ms: now,
                },
            ],
            robots: Vec::new(),
            next_user_id: 9,
            next_project_id: 7,
            next_robot_id: 1,
            locks: HashMap::new(),
        };
        for &(name, id, role, sysadmin) in FIXTURE_USERS {
            model.insert_user(
                id,
                name,
                &fixture_password(),
                role.map(|r| (PROJ_ID, r)),
                sysadmin,
            );
        }
        if model.config.auth_mode == AuthMode::OidcAuth {
            model.insert_user(
                8,
                "carol",
                &fixture_password(),
                Some((PROJ_ID, Role::Developer)),
                false,
            );
        }
        model
    }
}
