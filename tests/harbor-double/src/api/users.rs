//! docs/harbor-api.md#the-current-user-and-its-permissions: `GET /api/v2.0/users/current` and
//! `/users/current/permissions`, the two questions a client asks about itself. The permission list
//! is computed with `model::Model::can` over `rbac`'s policy list; nothing here decides a
//! permission by itself.

use serde_json::{Value, json};

use super::{ApiRequest, parse_bool};
use crate::model::Principal;
use crate::rbac;
use crate::respond::{self, Resp};
use crate::server::Shared;
use crate::{HarborVersion, util};

/// docs/harbor-api.md#the-current-user-and-its-permissions `GET /api/v2.0/users/current`: the user,
/// 401 for anonymous (bad credentials and OIDC CLI secrets included), 412 for a robot (500 in
/// 2.0–2.2).
pub(crate) fn users_current(shared: &Shared, who: Principal) -> Resp {
    let model = shared.model();
    if !model.authenticated(who) {
        return respond::unauthorized();
    }
    match who {
        Principal::Robot(_) if shared.config.version == HarborVersion::V2_0 => respond::internal(),
        Principal::Robot(_) => respond::error(
            412,
            "PRECONDITION",
            "get current user not available for security context: robot",
        ),
        Principal::User(id) => match model.user(id) {
            Some(u) => respond::api_json(
                200,
                &json!({
                    "user_id": u.id,
                    "username": u.name,
                    "email": u.email,
                    "realname": u.realname,
                    "comment": "",
                    "sysadmin_flag": u.sysadmin,
                    "admin_role_in_auth": false,
                    "creation_time": util::rfc3339_millis(u.creation_ms),
                    "update_time": util::rfc3339_millis(u.creation_ms),
                }),
            ),
            None => respond::unauthorized(),
        },
        Principal::Anonymous => respond::unauthorized(),
    }
}

/// docs/harbor-api.md#the-current-user-and-its-permissions
/// `GET /api/v2.0/users/current/permissions?scope=/project/<id>&relative=true`: every
/// project policy the caller can, `[]` for a scope that is not `/project/<numeric id>`.
pub(crate) fn permissions(shared: &Shared, r: &ApiRequest<'_>) -> Resp {
    let model = shared.model();
    if !model.authenticated(r.who) {
        return respond::unauthorized();
    }
    if matches!(r.who, Principal::Robot(_)) && shared.config.version == HarborVersion::V2_0 {
        return respond::internal();
    }
    let scope = util::query_get(r.query, "scope").unwrap_or("");
    let relative = util::query_get(r.query, "relative")
        .and_then(parse_bool)
        .unwrap_or(false);
    let mut out = Vec::new();
    let id = scope
        .strip_prefix("/project/")
        .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|s| s.parse::<i64>().ok());
    if let Some(id) = id {
        let project = model.project_by_id(id);
        for (resource, action) in rbac::all_project_policies() {
            if model.can(r.who, project, resource, action) {
                let resource = match (relative, resource) {
                    (true, "") => ".".to_owned(),
                    (true, res) => res.to_owned(),
                    (false, "") => format!("/project/{id}"),
                    (false, res) => format!("/project/{id}/{res}"),
                };
                out.push(json!({"resource": resource, "action": action}));
            }
        }
    }
    respond::api_json(200, &Value::Array(out))
}
