//! docs/harbor-api.md#robot-accounts `robotAPI.requireAccess` and its helpers: who may create,
//! read, list, update and delete which robots, and the 2.12 rule that a robot creates only robots
//! within its own scope. Project permissions come from `model::Model::can`; never re-implement them
//! here.

use crate::model::{Model, Permission, Principal, RobotRec};
use crate::respond::{self, Resp};

/// Where a robot lives, for the permission check: the project named in a request body, or
/// the project id of an existing robot.
pub(crate) enum RobotNs<'a> {
    Name(&'a str),
    Id(i64),
}

/// `robotAPI.requireAccess`: `robot:<action>` on the project for project robots, system access
/// for system robots. No fallback from one to the other: a system robot's `kind: system`
/// permissions never reach a project (docs/harbor-api.md#robots-that-create-robots).
/// Anonymous callers get 401, everyone else 403 (docs/harbor-api.md#errors).
pub(crate) fn require_robot_access(
    model: &Model,
    who: Principal,
    level: &str,
    ns: RobotNs<'_>,
    action: &str,
) -> Result<(), Resp> {
    let allowed = match level {
        "project" => {
            let project = match ns {
                RobotNs::Name(n) => model.project_by_name(n),
                RobotNs::Id(id) => model.project_by_id(id),
            };
            model.can(who, project, "robot", action)
        }
        "system" => system_can(model, who, "robot", action),
        _ => false,
    };
    match (allowed, model.authenticated(who)) {
        (true, _) => Ok(()),
        // `RequireSystemAccess` names the caller in its 403; `RequireProjectAccess` does not.
        (false, true) if level == "system" => Err(respond::error(
            403,
            "FORBIDDEN",
            &model.username(who).unwrap_or_default(),
        )),
        (false, true) => Err(respond::forbidden()),
        (false, false) => Err(respond::unauthorized()),
    }
}

/// System-level permission: a system admin, or a system robot holding it.
fn system_can(model: &Model, who: Principal, resource: &str, action: &str) -> bool {
    if model.is_sysadmin(who) {
        return true;
    }
    let Principal::Robot(id) = who else {
        return false;
    };
    model.robot(id).is_some_and(|r| {
        r.level == "system"
            && r.permissions.iter().any(|p| {
                p.kind == "system"
                    && p.access
                        .iter()
                        .any(|(res, act)| res == resource && act == action)
            })
    })
}

/// 2.12+: a robot may only create robots whose access is a subset of its own
/// (docs/harbor-api.md#creating-a-robot).
pub(crate) fn within_creator_scope(creator: &RobotRec, wanted: &[Permission]) -> bool {
    wanted.iter().all(|w| {
        let own = creator
            .permissions
            .iter()
            .find(|c| c.kind == w.kind && c.namespace == w.namespace)
            .or_else(|| {
                creator
                    .permissions
                    .iter()
                    .find(|c| c.kind == w.kind && c.namespace == "*")
            });
        own.is_some_and(|c| w.access.iter().all(|a| c.access.contains(a)))
    })
}

/// Lookup before permission (docs/harbor-api.md#reading-updating-and-deleting): a missing id is 404
/// even for a caller without access.
pub(crate) fn find_robot<'m>(
    model: &'m Model,
    who: Principal,
    id: i64,
    action: &str,
) -> Result<&'m RobotRec, Resp> {
    if !model.authenticated(who) {
        return Err(respond::unauthorized());
    }
    let rec = model
        .robot(id)
        .ok_or_else(|| respond::not_found(&format!("robot {id} not found")))?;
    require_robot_access(model, who, &rec.level, RobotNs::Id(rec.project_id), action)?;
    Ok(rec)
}
