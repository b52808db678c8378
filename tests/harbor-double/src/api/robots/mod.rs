//! docs/harbor-api.md#robot-accounts: the robot v2 API (`/api/v2.0/robots`, Harbor 2.2 and later):
//! create, read, list, update, refresh the secret and delete. Request bodies are read and validated
//! in `spec`, the permission checks are in `access`; this file holds the handlers and the robot's
//! JSON. The secret must never appear in any answer but creation's and refresh's.

mod access;
mod spec;

use hyper::header::HeaderValue;
use serde_json::{Value, json};

use super::{ApiRequest, listing, paging};
use crate::HarborVersion;
use crate::model::{self, Model, Permission, Principal, RobotRec};
use crate::respond::{self, Resp};
use crate::server::Shared;
use crate::util;
use access::{RobotNs, find_robot, require_robot_access, within_creator_scope};
use spec::{parse_q, parse_robot_body, validate_robot};

/// docs/harbor-api.md#creating-a-robot `POST /api/v2.0/robots`: name, then body validation (400),
/// then `robot:create` on the project (401/403), then a robot creator's scope (403; from 2.15
/// before the project, in 2.12–2.14 after it and only for a creator of the new robot's own
/// project), then the project itself (404 for an admin), then uniqueness (409). 201 with
/// `Location` and the only copy of the secret.
pub(crate) fn create_robot(shared: &Shared, r: &ApiRequest<'_>) -> Resp {
    let spec = match parse_robot_body(r.body) {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    if !model::valid_robot_name(&spec.name) {
        return respond::bad_request(
            "robot name is not in lower case or contains illegal characters",
        );
    }
    let duration = spec.duration.unwrap_or(0);
    if let Err(resp) = validate_robot(duration, &spec.level, &spec.permissions) {
        return resp;
    }
    let mut model = shared.model();
    let namespace = spec.permissions[0].namespace.clone();
    if let Err(resp) = require_robot_access(
        &model,
        r.who,
        &spec.level,
        RobotNs::Name(&namespace),
        "create",
    ) {
        return resp;
    }
    let from_2_15 = shared.config.version == HarborVersion::V2_15;
    let creator = match r.who {
        Principal::User(id) => ("local", id),
        Principal::Robot(id) => {
            if from_2_15 && let Err(resp) = creator_scope(&model, id, &spec.permissions) {
                return resp;
            }
            ("robot", id)
        }
        Principal::Anonymous => return respond::unauthorized(),
    };
    let (project_id, stored) = if spec.level == "project" {
        match model.project_by_name(&namespace) {
            Some(p) => (p.id, format!("{}+{}", p.name, spec.name)),
            None => return respond::not_found(&format!("project {namespace} not found")),
        }
    } else {
        (0, spec.name.clone())
    };
    if let ("robot", id) = creator
        && !from_2_15
    {
        // 2.12–2.14 look the creator up by its name among the new robot's project's robots,
        // where a system robot (or another project's) never is (goharbor/harbor#21406).
        if model.robot(id).is_none_or(|me| me.project_id != project_id) {
            return respond::error(403, "DENIED", "denied");
        }
        if let Err(resp) = creator_scope(&model, id, &spec.permissions) {
            return resp;
        }
    }
    if model
        .robots
        .iter()
        .any(|x| x.project_id == project_id && x.name == stored)
    {
        return respond::error(
            409,
            "CONFLICT",
            &format!("robot account {project_id}:{stored} already exists"),
        );
    }
    let (id, secret) = model.insert_robot(
        project_id,
        &spec.level,
        &stored,
        spec.permissions,
        duration,
        &spec.description,
        creator,
    );
    let Some(rec) = model.robot(id) else {
        return respond::internal();
    };
    let body = json!({
        "id": id,
        "name": model.robot_full_name(id),
        "secret": secret,
        "creation_time": util::rfc3339_millis(rec.creation_ms),
        "expires_at": rec.expires_at,
    });
    let mut resp = respond::api_json(201, &body);
    if let Ok(v) = HeaderValue::from_str(&format!("/api/v2.0/robots/{id}")) {
        resp.headers_mut().insert("location", v);
    }
    resp
}

/// 2.12+: a robot creates only robots within its own permissions; Harbor's text names it.
fn creator_scope(model: &Model, id: i64, wanted: &[Permission]) -> Result<(), Resp> {
    let Some(me) = model.robot(id) else {
        return Err(respond::unauthorized());
    };
    if within_creator_scope(me, wanted) {
        return Ok(());
    }
    let name = model.robot_full_name(id).unwrap_or_default();
    Err(respond::error(
        403,
        "DENIED",
        &format!(
            "permission scope is invalid. It must be equal to or more restrictive than the creator robot's permissions: {name}"
        ),
    ))
}

/// Harbor's `models.Robot`: `description` is `omitempty` (docs/harbor-api.md#reading-updating-and-deleting).
fn robot_json(model: &Model, rec: &RobotRec) -> Value {
    let mut v = json!({
        "id": rec.id,
        "name": model.robot_full_name(rec.id),
        "description": rec.description,
        "level": rec.level,
        "duration": rec.duration,
        "editable": true,
        "disable": rec.disabled,
        "expires_at": rec.expires_at,
        "permissions": rec.permissions.iter().map(|p| json!({
            "kind": p.kind,
            "namespace": p.namespace,
            "access": p.access.iter().map(|(res, act)| json!({"resource": res, "action": act})).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "creator_type": rec.creator_type,
        "creator_ref": rec.creator_ref,
        "creation_time": util::rfc3339_millis(rec.creation_ms),
        "update_time": util::rfc3339_millis(rec.update_ms),
    });
    if rec.description.is_empty()
        && let Some(o) = v.as_object_mut()
    {
        o.remove("description");
    }
    v
}

/// docs/harbor-api.md#reading-updating-and-deleting `GET /api/v2.0/robots/{id}`: the robot without
/// its secret; needs `robot:read`.
pub(crate) fn get_robot(shared: &Shared, who: Principal, id: i64) -> Resp {
    let model = shared.model();
    match find_robot(&model, who, id, "read") {
        Ok(rec) => respond::api_json(200, &robot_json(&model, rec)),
        Err(resp) => resp,
    }
}

/// docs/harbor-api.md#reading-updating-and-deleting `DELETE /api/v2.0/robots/{id}`: 200 with an
/// empty body; the credentials stop working at once because authentication reads the same list.
pub(crate) fn delete_robot(shared: &Shared, who: Principal, id: i64) -> Resp {
    let mut model = shared.model();
    if let Err(resp) = find_robot(&model, who, id, "delete") {
        return resp;
    }
    model.robots.retain(|r| r.id != id);
    respond::empty(200)
}

/// docs/harbor-api.md#reading-updating-and-deleting `PUT /api/v2.0/robots/{id}` (`updateV2Robot`):
/// disable, duration, description and permissions may change; name, level and project may not.
pub(crate) fn update_robot(shared: &Shared, r: &ApiRequest<'_>, id: i64) -> Resp {
    let mut model = shared.model();
    if !model.authenticated(r.who) {
        return respond::unauthorized();
    }
    let Some(rec) = model.robot(id) else {
        return respond::not_found(&format!("robot {id} not found"));
    };
    let (old_level, old_project, old_duration) = (rec.level.clone(), rec.project_id, rec.duration);
    let old_name = model.robot_full_name(id).unwrap_or_default();
    let spec = match parse_robot_body(r.body) {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    let duration = spec.duration.unwrap_or(old_duration);
    if let Err(resp) = validate_robot(duration, &spec.level, &spec.permissions) {
        return resp;
    }
    let namespace = spec.permissions[0].namespace.clone();
    if old_level != "system" {
        let project = match namespace.parse::<i64>() {
            Ok(pid) => model.project_by_id(pid),
            Err(_) => model.project_by_name(&namespace),
        };
        let Some(project) = project else {
            return respond::not_found(&format!("project {namespace} not found"));
        };
        if project.id != old_project {
            return respond::bad_request("cannot update the project id of robot");
        }
    }
    if let Err(resp) = require_robot_access(
        &model,
        r.who,
        &old_level,
        RobotNs::Name(&namespace),
        "update",
    ) {
        return resp;
    }
    if spec.level != old_level || spec.name != old_name {
        return respond::bad_request("cannot update the level or name of robot");
    }
    let Some(rec) = model.robot_mut(id) else {
        return respond::not_found(&format!("robot {id} not found"));
    };
    if duration != rec.duration {
        rec.duration = duration;
        rec.expires_at = if duration == -1 {
            -1
        } else {
            rec.creation_ms / 1000 + duration * 86_400
        };
    }
    rec.description = spec.description;
    rec.disabled = spec.disable;
    rec.permissions = spec.permissions;
    rec.update_ms = util::now_millis();
    respond::empty(200)
}

/// docs/harbor-api.md#reading-updating-and-deleting `PATCH /api/v2.0/robots/{id}`: `{"secret":""}`
/// issues a new secret and returns it; a given secret must be 8–128 characters with upper case,
/// lower case and a digit.
pub(crate) fn refresh_secret(shared: &Shared, r: &ApiRequest<'_>, id: i64) -> Resp {
    let mut model = shared.model();
    if let Err(resp) = find_robot(&model, r.who, id, "update") {
        return resp;
    }
    let wanted = serde_json::from_slice::<Value>(r.body)
        .ok()
        .and_then(|v| v.get("secret").and_then(Value::as_str).map(str::to_owned))
        .unwrap_or_default();
    let Some(rec) = model.robot_mut(id) else {
        return respond::not_found(&format!("robot {id} not found"));
    };
    if wanted.is_empty() {
        rec.secret = model::robot_secret();
        let secret = rec.secret.clone();
        return respond::api_json(200, &json!({"secret": secret}));
    }
    let b = wanted.as_bytes();
    let valid = (8..=128).contains(&b.len())
        && b.iter().any(u8::is_ascii_uppercase)
        && b.iter().any(u8::is_ascii_lowercase)
        && b.iter().any(u8::is_ascii_digit);
    if !valid {
        return respond::bad_request(
            "the secret must be 8-128, inclusively, characters long with at least 1 uppercase letter, 1 lowercase letter and 1 number",
        );
    }
    rec.secret = wanted;
    respond::api_json(200, &json!({}))
}

/// docs/harbor-api.md#reading-updating-and-deleting
/// `GET /api/v2.0/robots?q=Level=project,ProjectID=<id>,name=~<stem>`: a project's robots
/// (needs `robot:list`), or without `Level` the system robots; `X-Total-Count` as usual. A bad
/// `page_size` is a 422 even for an anonymous caller.
pub(crate) fn list_robots(shared: &Shared, r: &ApiRequest<'_>) -> Resp {
    // go-swagger validates the parameters before the handler asks who is calling.
    let (page, page_size) = match paging(r.query) {
        Ok(p) => p,
        Err(resp) => return resp,
    };
    let model = shared.model();
    if !model.authenticated(r.who) {
        return respond::unauthorized();
    }
    let keywords = parse_q(util::query_get(r.query, "q").unwrap_or(""));
    let get = |k: &str| keywords.iter().find(|(key, _, _)| key == k);
    let (level, project_id) = match get("Level").map(|(_, v, _)| v.as_str()) {
        None | Some("system") => ("system", 0),
        Some("project") => {
            let Some((_, pid, _)) = get("ProjectID") else {
                return respond::bad_request("must with project ID when to query project robots");
            };
            match pid.parse::<i64>() {
                Ok(pid) if pid > 0 => ("project", pid),
                _ => return respond::bad_request("ProjectID must be a positive integer"),
            }
        }
        Some(_) => return respond::bad_request("bad request error level input"),
    };
    if let Err(resp) = require_robot_access(&model, r.who, level, RobotNs::Id(project_id), "list") {
        return resp;
    }
    let name = get("name");
    let mut found: Vec<&RobotRec> = model
        .robots
        .iter()
        .filter(|rec| rec.project_id == project_id && rec.level == level)
        .filter(|rec| match name {
            // `name__icontains`: case-insensitive, `%` and `_` literal.
            Some((_, v, true)) => rec.name.to_lowercase().contains(&v.to_lowercase()),
            Some((_, v, false)) => rec.name == *v,
            None => true,
        })
        .collect();
    // Harbor's default order: the stored name (`sort:"default"`), bytewise as in a `C` collation.
    found.sort_by(|a, b| a.name.cmp(&b.name));
    listing(r, found, (page, page_size), |rec| robot_json(&model, rec))
}
