//! What a security context may do on a project (docs/harbor-api.md#roles): Harbor's `Can` for users
//! (role tables in `rbac`), robots (their own permissions) and anonymous
//! callers (public projects), and which projects a principal sees in a listing
//! (docs/harbor-api.md#projects). The one place permission rules live: handlers and the token
//! service ask here.

use super::{Model, Permission, Principal, Project, RobotRec};
use crate::Role;
use crate::rbac::{self, PUBLIC_PROJECT};

impl Model {
    pub(crate) fn is_sysadmin(&self, who: Principal) -> bool {
        matches!(who, Principal::User(id) if self.user(id).is_some_and(|u| u.sysadmin))
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
    /// project 0: only a system admin may do anything there (docs/harbor-api.md#projects).
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

    /// The projects a principal sees in `GET /projects` (docs/harbor-api.md#projects): everything
    /// for a system admin, otherwise public ones plus those it is a member of (a robot: those in
    /// its permissions).
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

/// A robot's own policies on a project (H: `src/common/security/robot/context.go` `Can`):
/// only those of its namespace. Robots name the project itself `project`. Only a project robot
/// goes through `filterRobotPolicies`, where push brings pull; a system robot's `project:<act>`
/// on `*` becomes the policy `/project/*`, which Harbor's `keyMatch2` reads as a wildcard over
/// every sub-resource (docs/harbor-api.md#roles).
fn robot_can(r: &RobotRec, p: &Project, resource: &str, action: &str) -> bool {
    let project_robot = r.level == "project";
    r.permissions
        .iter()
        .filter(|perm| perm_applies(r, perm, p))
        .any(|perm| {
            let wildcard = !project_robot && perm.namespace == "*";
            perm.access.iter().any(|(res, act)| {
                let res = if res == "project" { "" } else { res.as_str() };
                let covers = res == resource || (wildcard && res.is_empty());
                covers && (act == action || (project_robot && act == "push" && action == "pull"))
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Config;

    fn model(config: Config) -> Model {
        Model::new(config)
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
}
