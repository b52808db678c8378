//! docs/harbor-api.md#projects: does project P exist (`HEAD /projects?project_name=P`), look it up
//! by name or id (`GET /projects/{name_or_id}`) and list the projects a caller can see
//! (`GET /projects`). A missing project must look forbidden to everyone but a system admin.

use serde_json::{Value, json};

use super::{ApiRequest, listing, paging, parse_bool, unprocessable};
use crate::model::{Model, Principal, Project};
use crate::respond::{self, Resp};
use crate::server::Shared;
use crate::{HarborVersion, Role, util};

/// docs/harbor-api.md#projects `HEAD /api/v2.0/projects?project_name=P`: 422 without the parameter,
/// 401 anonymous, then 200 or 404 whatever the caller's membership.
pub(crate) fn head_project(shared: &Shared, r: &ApiRequest<'_>) -> Resp {
    let Some(name) = util::query_get(r.query, "project_name") else {
        return unprocessable("validation failure list:\nproject_name in query is required");
    };
    let model = shared.model();
    if !model.authenticated(r.who) {
        return respond::unauthorized();
    }
    if model.project_by_name(name).is_some() {
        respond::empty(200)
    } else {
        respond::not_found(&format!("project {name} not found"))
    }
}

/// docs/harbor-api.md#projects `GET /api/v2.0/projects/{name_or_id}`: needs read on the project
/// itself. A missing project looks forbidden to everyone but a system admin, who gets 404.
pub(crate) fn get_project(shared: &Shared, r: &ApiRequest<'_>, ident: &str) -> Resp {
    let model = shared.model();
    let numeric = ident.parse::<i64>().ok();
    let project = if shared.config.version == HarborVersion::V2_0 {
        // 2.0 routed numeric ids only.
        let Some(id) = numeric else {
            return unprocessable(&format!(
                "project_id in path must be of type int64: \"{ident}\""
            ));
        };
        model.project_by_id(id)
    } else {
        let by_name = r
            .headers
            .get("x-is-resource-name")
            .and_then(|v| v.to_str().ok())
            .and_then(parse_bool)
            .unwrap_or(false);
        match numeric {
            Some(id) if !by_name => model.project_by_id(id),
            _ => model.project_by_name(ident),
        }
    };
    if !model.can(r.who, project, "", "read") {
        return if model.authenticated(r.who) {
            respond::forbidden()
        } else {
            respond::unauthorized()
        };
    }
    match project {
        Some(p) => respond::api_json(200, &project_json(&model, p, r.who)),
        None => respond::not_found(&format!("project {ident} not found")),
    }
}

fn project_json(model: &Model, p: &Project, who: Principal) -> Value {
    let role = model.role_of(who, p.id);
    let owner = model
        .user(p.owner_id)
        .map(|u| u.name.clone())
        .unwrap_or_default();
    let time = util::rfc3339_millis(p.creation_ms);
    json!({
        "project_id": p.id,
        "owner_id": p.owner_id,
        "owner_name": owner,
        "name": p.name,
        "creation_time": time,
        "update_time": time,
        "deleted": false,
        "repo_count": 0,
        "togglable": role == Some(Role::ProjectAdmin) || model.is_sysadmin(who),
        "current_user_role_id": role.map_or(0, Role::id),
        "current_user_role_ids": role.map(|r| vec![r.id()]),
        "metadata": {"public": if p.public { "true" } else { "false" }},
        "cve_allowlist": {"id": p.id, "project_id": p.id, "items": [], "creation_time": time, "update_time": time},
    })
}

/// docs/harbor-api.md#projects `GET /api/v2.0/projects?name=P&page_size=N`: fuzzy name match over
/// the projects the caller can see, with `X-Total-Count`. The one project lookup an OIDC CLI secret
/// may use.
pub(crate) fn list_projects(shared: &Shared, r: &ApiRequest<'_>) -> Resp {
    let (page, page_size) = match paging(r.query) {
        Ok(p) => p,
        Err(resp) => return resp,
    };
    let name = util::query_get(r.query, "name").unwrap_or("");
    let public = util::query_get(r.query, "public").and_then(parse_bool);
    let owner = util::query_get(r.query, "owner");
    let model = shared.model();
    let mut found: Vec<&Project> = model
        .projects
        .iter()
        .filter(|p| model.visible(r.who, p))
        .filter(|p| p.name.contains(name))
        .filter(|p| public.is_none_or(|b| p.public == b))
        .filter(|p| owner.is_none_or(|o| model.user(p.owner_id).is_some_and(|u| u.name == o)))
        .collect();
    found.sort_by(|a, b| a.name.cmp(&b.name));
    listing(r, found, (page, page_size), |p| {
        project_json(&model, p, r.who)
    })
}
