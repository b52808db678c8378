//! Harbor's state and rules, without HTTP: the fixture users and projects (§8), robot
//! accounts (§5), how Basic credentials become a security context (§0, §5, §6) and what a
//! security context may do on a project (§3, with the tables in `rbac`). Handlers ask this
//! module; they never re-implement a permission rule themselves.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::rbac::{self, PUBLIC_PROJECT};
use crate::util::{self, ALNUM, MASKABLE};
use crate::{AuthMode, Config, RobotInfo, Role};

/// §0: how long a username stays locked after bad credentials (`frozenTime`).
pub(crate) const FROZEN: Duration = Duration::from_millis(1500);

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

pub(crate) struct Project {
    pub(crate) id: i64,
    pub(crate) name: String,
    pub(crate) public: bool,
    pub(crate) owner_id: i64,
    pub(crate) creation_ms: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Permission {
    pub(crate) kind: String,
    pub(crate) namespace: String,
    pub(crate) access: Vec<(String, String)>,
}

pub(crate) struct RobotRec {
    pub(crate) id: i64,
    /// 0 for a system robot.
    pub(crate) project_id: i64,
    pub(crate) level: String,
    /// As Harbor stores it: `<project>+<name>` for a project robot, `<name>` for a system one.
    /// The prefix is not stored; it is added whenever the name is shown (§5).
    pub(crate) name: String,
    pub(crate) secret: String,
    pub(crate) description: String,
    pub(crate) duration: i64,
    pub(crate) expires_at: i64,
    pub(crate) disabled: bool,
    pub(crate) permissions: Vec<Permission>,
    pub(crate) creation_ms: i64,
    pub(crate) update_ms: i64,
    pub(crate) creator_type: String,
    pub(crate) creator_ref: i64,
}

/// Who a request runs as (Harbor's security context).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Principal {
    Anonymous,
    User(i64),
    Robot(i64),
}

/// The outcome of authenticating Basic credentials.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Auth {
    As(Principal),
    /// `auth.Login` reported ErrAuth: the request runs anonymously, and with the failed-login
    /// delay on, the caller must sleep (the lock is already set).
    Failed,
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

/// The fixtures of harbor-api.md §8 (user ids follow §8 item 5: alice is 3).
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

    fn insert_user(
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
            // §6: in oidc_auth only user id 1 still authenticates against the database.
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

    pub(crate) fn add_project(&mut self, name: &str, public: bool) -> i64 {
        if let Some(p) = self.project_by_name(name) {
            return p.id;
        }
        let id = self.next_project_id;
        self.next_project_id += 1;
        self.projects.push(Project {
            id,
            name: name.to_owned(),
            public,
            owner_id: 1,
            creation_ms: util::now_millis(),
        });
        id
    }

    /// Adds a project robot; returns its id and secret.
    pub(crate) fn add_robot(
        &mut self,
        project_id: i64,
        name: &str,
        access: Vec<(String, String)>,
        duration_days: i64,
        description: &str,
        creator: (&str, i64),
    ) -> (i64, String) {
        let project = self
            .project_by_id(project_id)
            .map(|p| p.name.clone())
            .unwrap_or_default();
        let permissions = vec![Permission {
            kind: "project".into(),
            namespace: project.clone(),
            access,
        }];
        self.insert_robot(
            project_id,
            "project",
            &format!("{project}+{name}"),
            permissions,
            duration_days,
            description,
            creator,
        )
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn insert_robot(
        &mut self,
        project_id: i64,
        level: &str,
        stored_name: &str,
        permissions: Vec<Permission>,
        duration_days: i64,
        description: &str,
        creator: (&str, i64),
    ) -> (i64, String) {
        let id = self.next_robot_id;
        self.next_robot_id += 1;
        let secret = robot_secret();
        let now = util::now_millis();
        let expires_at = if duration_days == -1 {
            -1
        } else {
            now / 1000 + duration_days * 86_400
        };
        self.robots.push(RobotRec {
            id,
            project_id,
            level: level.to_owned(),
            name: stored_name.to_owned(),
            secret: secret.clone(),
            description: description.to_owned(),
            duration: duration_days,
            expires_at,
            disabled: false,
            permissions,
            creation_ms: now,
            update_ms: now,
            creator_type: creator.0.to_owned(),
            creator_ref: creator.1,
        });
        (id, secret)
    }

    pub(crate) fn user_by_name(&self, name: &str) -> Option<&User> {
        self.users.iter().find(|u| u.name == name)
    }

    pub(crate) fn user(&self, id: i64) -> Option<&User> {
        self.users.iter().find(|u| u.id == id)
    }

    pub(crate) fn project_by_name(&self, name: &str) -> Option<&Project> {
        self.projects.iter().find(|p| p.name == name)
    }

    pub(crate) fn project_by_id(&self, id: i64) -> Option<&Project> {
        self.projects.iter().find(|p| p.id == id)
    }

    pub(crate) fn robot(&self, id: i64) -> Option<&RobotRec> {
        self.robots.iter().find(|r| r.id == id)
    }

    pub(crate) fn robot_mut(&mut self, id: i64) -> Option<&mut RobotRec> {
        self.robots.iter_mut().find(|r| r.id == id)
    }

    /// The name as the API shows it: the *current* prefix plus the stored name (§5).
    pub(crate) fn robot_full_name(&self, id: i64) -> Option<String> {
        self.robot(id)
            .map(|r| format!("{}{}", self.config.robot_prefix, r.name))
    }

    pub(crate) fn robot_info(&self, id: i64) -> Option<RobotInfo> {
        let r = self.robot(id)?;
        Some(RobotInfo {
            id: r.id,
            name: self.robot_full_name(id)?,
            expires_at: r.expires_at,
            disabled: r.disabled,
            permissions: r
                .permissions
                .iter()
                .map(|p| (p.namespace.clone(), p.access.clone()))
                .collect(),
            description: r.description.clone(),
            duration: r.duration,
        })
    }

    /// Turns Basic credentials into a security context, trying Harbor's generators in order
    /// (§0): OIDC CLI secret (§6), robot (§5), then `auth.Login`. Anything that does not match
    /// runs as anonymous: bad credentials are never rejected here.
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

        // §6: a robot-prefixed name is never tried as a CLI secret; off the allow-list the CLI
        // secret is simply not looked at.
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

        // §5: prefix, name, secret, not disabled, not expired; otherwise fall through.
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

        // auth.Login. User id 1 always authenticates against the database (§6); other users in
        // oidc_auth get ErrNotSupported, which is not ErrAuth: anonymous, no delay, no lock.
        let superuser = self.user(1).is_some_and(|u| u.name == login);
        if oidc && !superuser {
            return Auth::As(Principal::Anonymous);
        }
        if self
            .locks
            .get(login)
            .is_some_and(|until| Instant::now() < *until)
        {
            // While locked even the right password runs as anonymous (§0).
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

    pub(crate) fn is_sysadmin(&self, who: Principal) -> bool {
        matches!(who, Principal::User(id) if self.user(id).is_some_and(|u| u.sysadmin))
    }

    /// The `sub` of tokens and the name in logs: the username, or the robot's full name.
    pub(crate) fn username(&self, who: Principal) -> Option<String> {
        match who {
            Principal::Anonymous => None,
            Principal::User(id) => self.user(id).map(|u| u.name.clone()),
            Principal::Robot(id) => self.robot_full_name(id),
        }
    }

    pub(crate) fn role_of(&self, who: Principal, project_id: i64) -> Option<Role> {
        match who {
            Principal::User(id) => self
                .user(id)?
                .memberships
                .iter()
                .find(|(p, _)| *p == project_id)
                .map(|(_, r)| *r),
            _ => None,
        }
    }

    /// Harbor's `Can(action, /project/<id>/<resource>)`, with `""` for the project itself.
    /// `project` is `None` for a project that does not exist, which Harbor evaluates as
    /// project 0: only a system admin may do anything there (§2).
    pub(crate) fn can(
        &self,
        who: Principal,
        project: Option<&Project>,
        resource: &str,
        action: &str,
    ) -> bool {
        if self.is_sysadmin(who) {
            return true;
        }
        let Some(p) = project else {
            return false;
        };
        // Public projects add their policies to every evaluator, robots' and anonymous' too.
        if p.public && PUBLIC_PROJECT.contains(&(resource, action)) {
            return true;
        }
        match who {
            Principal::Anonymous => false,
            Principal::User(_) => self
                .role_of(who, p.id)
                .is_some_and(|r| rbac::role_policies(r).contains(&(resource, action))),
            Principal::Robot(id) => self
                .robot(id)
                .is_some_and(|r| robot_can(r, p, resource, action)),
        }
    }

    /// The projects a principal sees in `GET /projects` (§2): everything for a system admin,
    /// otherwise public ones plus those it is a member of (a robot: those in its permissions).
    pub(crate) fn visible(&self, who: Principal, p: &Project) -> bool {
        if p.public || self.is_sysadmin(who) {
            return true;
        }
        match who {
            Principal::Anonymous => false,
            Principal::User(_) => self.role_of(who, p.id).is_some(),
            Principal::Robot(id) => self
                .robot(id)
                .is_some_and(|r| r.permissions.iter().any(|perm| perm_applies(r, perm, p))),
        }
    }
}

fn perm_applies(r: &RobotRec, perm: &Permission, p: &Project) -> bool {
    if r.level == "project" {
        r.project_id == p.id
    } else {
        perm.kind == "project" && (perm.namespace == p.name || perm.namespace == "*")
    }
}

/// A robot's own policies on a project (`filterRobotPolicies`): only those of its namespace,
/// and push brings pull with it (§3). Robots name the project itself `project`.
fn robot_can(r: &RobotRec, p: &Project, resource: &str, action: &str) -> bool {
    r.permissions
        .iter()
        .filter(|perm| perm_applies(r, perm, p))
        .any(|perm| {
            perm.access.iter().any(|(res, act)| {
                let res = if res == "project" { "" } else { res.as_str() };
                res == resource && (act == action || (act == "push" && action == "pull"))
            })
        })
}

/// §6: the paths where an OIDC CLI secret counts (`oidc_cli.go` `valid`).
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

/// 24 characters of GitLab's maskable alphabet.
fn fixture_password() -> String {
    util::random_string(MASKABLE, 24)
}

/// What Harbor's `CreateSec` makes: 32 characters with an upper-case letter, a lower-case
/// letter and a digit (§5).
pub(crate) fn robot_secret() -> String {
    loop {
        let s = util::random_string(ALNUM, 32);
        let b = s.as_bytes();
        if b.iter().any(u8::is_ascii_uppercase)
            && b.iter().any(u8::is_ascii_lowercase)
            && b.iter().any(u8::is_ascii_digit)
        {
            return s;
        }
    }
}

/// `^[a-z0-9]+(?:[._-][a-z0-9]+)*$` (§5), without a regex engine.
pub(crate) fn valid_robot_name(name: &str) -> bool {
    !name.is_empty()
        && name.split(['.', '_', '-']).all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(config: Config) -> Model {
        Model::new(config)
    }

    #[test]
    fn robot_names_follow_harbors_pattern() {
        for ok in ["ci", "ci-1234-ab", "a.b_c-d", "0"] {
            assert!(valid_robot_name(ok), "{ok}");
        }
        for bad in ["", "CI", "a+b", "a$b", "-a", "a-", "a--b", "a b"] {
            assert!(!valid_robot_name(bad), "{bad}");
        }
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
    fn roles_grant_what_harbors_tables_say() {
        let m = model(Config::default());
        let proj = m.project_by_name("proj");
        let can = |u: i64, a: &str| m.can(Principal::User(u), proj, "repository", a);
        assert!(can(3, "push") && can(3, "pull") && !can(3, "delete"));
        assert!(can(4, "pull") && !can(4, "push"));
        assert!(can(5, "delete") && can(6, "delete"));
        assert!(!can(7, "pull"));
        assert!(can(1, "delete"));
        assert!(m.can(
            Principal::Anonymous,
            m.project_by_name("pub"),
            "repository",
            "pull"
        ));
        assert!(!m.can(
            Principal::Anonymous,
            m.project_by_name("pub"),
            "repository",
            "push"
        ));
        assert!(!m.can(Principal::User(5), None, "", "read"));
        assert!(m.can(Principal::User(1), None, "", "read"));
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
