//! The `/api/…` handlers, each following the harbor-api.md section named in its doc comment:
//! ping and systeminfo (§1), project existence and lookup (§2), the current user and its
//! permissions (§3), and robot accounts (§5). Checks run in Harbor's order (parameter
//! validation, then authentication, then lookup or permission), because clients see the first
//! failure only. Permission questions go to `model::Model::can`; never decide them here.

// The `Err` of these helpers is the HTTP answer itself, returned once per request; boxing it
// would only add noise to a test double.
#![allow(clippy::result_large_err)]

use hyper::HeaderMap;
use hyper::header::HeaderValue;
use serde_json::{Value, json};

use crate::model::{self, Model, Permission, Principal, Project, RobotRec};
use crate::rbac::{self, ROBOT_PROJECT_POLICIES, ROBOT_SYSTEM_POLICIES};
use crate::respond::{self, JSON, Resp};
use crate::server::Shared;
use crate::{AuthMode, HarborVersion, Role, util};

pub(crate) struct ApiRequest<'a> {
    pub(crate) method: &'a str,
    /// With duplicate slashes merged.
    pub(crate) path: &'a str,
    pub(crate) query: &'a [(String, String)],
    pub(crate) headers: &'a HeaderMap,
    pub(crate) body: &'a [u8],
    pub(crate) who: Principal,
}

/// §1 `GET /api/v2.0/ping`: `Pong` as text/plain, or the JSON string `"Pong"` in 2.0.
/// Never looks at credentials (the caller skips authentication for this path).
pub(crate) fn ping(shared: &Shared, method: &str) -> Resp {
    if method != "GET" {
        return method_not_allowed(method, &["GET"]);
    }
    if shared.config.version == HarborVersion::V2_0 {
        respond::with_body(200, JSON, "\"Pong\"")
    } else {
        respond::with_body(200, "text/plain", "Pong")
    }
}

pub(crate) fn handle(shared: &Shared, r: &ApiRequest<'_>) -> Resp {
    let legacy = shared.config.version == HarborVersion::V2_0;
    let path = r.path.strip_suffix('/').unwrap_or(r.path);
    if path == "/api/version" {
        return only_get(r, || respond::json(200, &json!({"version": "v2.0"})));
    }
    let Some(rest) = path.strip_prefix("/api/v2.0/") else {
        return path_not_found(path);
    };
    let segments: Vec<&str> = rest.split('/').collect();
    match (segments.as_slice(), r.method) {
        (["systeminfo"], _) => only_get(r, || systeminfo(shared, r.who)),
        (["systeminfo", "getcert"], _) => only_get(r, || respond::not_found("resource not found")),
        (["users", "current"], _) => only_get(r, || users_current(shared, r.who)),
        (["users", "current", "permissions"], _) => only_get(r, || permissions(shared, r)),
        (["projects"], "HEAD") => head_project(shared, r),
        (["projects"], "GET") => list_projects(shared, r),
        (["projects"], m) => method_not_allowed(m, &["GET", "HEAD", "POST"]),
        (["projects", ident], "GET") => get_project(shared, r, ident),
        (["projects", _], m) => method_not_allowed(m, &["GET", "PUT", "DELETE", "HEAD"]),
        // Robot v2 arrived in 2.2 (§5, §7): 2.0 has no such route.
        (["robots"], "POST") if !legacy => create_robot(shared, r),
        (["robots"], "GET") if !legacy => list_robots(shared, r),
        (["robots"], m) if !legacy => method_not_allowed(m, &["GET", "POST"]),
        (["robots", id], m) if !legacy => {
            let Ok(id) = id.parse::<i64>() else {
                return unprocessable(&format!("robot_id in path must be of type int64: \"{id}\""));
            };
            match m {
                "GET" => get_robot(shared, r.who, id),
                "DELETE" => delete_robot(shared, r.who, id),
                "PUT" => update_robot(shared, r, id),
                "PATCH" => refresh_secret(shared, r, id),
                m => method_not_allowed(m, &["GET", "PUT", "DELETE", "PATCH"]),
            }
        }
        _ => path_not_found(path),
    }
}

fn only_get(r: &ApiRequest<'_>, f: impl FnOnce() -> Resp) -> Resp {
    if r.method == "GET" {
        f()
    } else {
        method_not_allowed(r.method, &["GET"])
    }
}

/// go-swagger's router answers these itself, in Harbor's error shape (§0).
fn method_not_allowed(method: &str, allowed: &[&str]) -> Resp {
    let msg = format!(
        "method {method} is not allowed, but [{}] are",
        allowed.join(",")
    );
    respond::error(405, "METHOD_NOT_ALLOWED", &msg)
}

fn path_not_found(path: &str) -> Resp {
    respond::not_found(&format!("path {path} was not found"))
}

/// go-swagger's parameter validation failures (§0): 422 with a code from the status text.
fn unprocessable(msg: &str) -> Resp {
    respond::error(422, "UNPROCESSABLE_ENTITY", msg)
}

fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

fn version_string(version: HarborVersion) -> &'static str {
    match version {
        HarborVersion::V2_0 => "v2.0.0-1a2b3c4d",
        HarborVersion::V2_12 => "v2.12.0-1a2b3c4d",
        HarborVersion::V2_13 => "v2.13.0-1a2b3c4d",
    }
}

/// §1 `GET /api/v2.0/systeminfo`: five fields for anyone; the rest (harbor_version from 2.13,
/// registry_url and the like from 2.2) only for an authenticated user or robot.
fn systeminfo(shared: &Shared, who: Principal) -> Resp {
    let model = shared.model();
    let authenticated = model.authenticated(who);
    let config = &shared.config;
    let oidc = config.auth_mode == AuthMode::OidcAuth;
    let mode = match config.auth_mode {
        AuthMode::DbAuth => "db_auth",
        AuthMode::LdapAuth => "ldap_auth",
        AuthMode::OidcAuth => "oidc_auth",
    };
    let mut info = json!({
        "auth_mode": mode,
        "primary_auth_mode": false,
        "self_registration": false,
        "banner_message": "",
        "oidc_provider_name": if oidc { "OIDC" } else { "" },
    });
    let legacy = config.version == HarborVersion::V2_0;
    if authenticated || config.version != HarborVersion::V2_13 {
        info["harbor_version"] = json!(version_string(config.version));
    }
    if authenticated || legacy {
        info["registry_url"] = json!(format!("127.0.0.1:{}", shared.https_port));
        info["external_url"] = json!(format!("https://127.0.0.1:{}", shared.https_port));
        info["has_ca_root"] = json!(false);
        info["project_creation_restriction"] = json!("everyone");
        info["read_only"] = json!(config.read_only);
        info["notification_enable"] = json!(true);
        info["registry_storage_provider_name"] = json!("filesystem");
    }
    if authenticated {
        info["current_time"] = json!(util::rfc3339_millis(util::now_millis()));
    }
    respond::json(200, &info)
}

/// §3 `GET /api/v2.0/users/current`: the user, 401 for anonymous (bad credentials and OIDC
/// CLI secrets included), 412 for a robot (500 in 2.0–2.2).
fn users_current(shared: &Shared, who: Principal) -> Resp {
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
            Some(u) => respond::json(
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

/// §3 `GET /api/v2.0/users/current/permissions?scope=/project/<id>&relative=true`: every
/// project policy the caller can, `[]` for a scope that is not `/project/<numeric id>`.
fn permissions(shared: &Shared, r: &ApiRequest<'_>) -> Resp {
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
    respond::json(200, &Value::Array(out))
}

/// §2 `HEAD /api/v2.0/projects?project_name=P`: 422 without the parameter, 401 anonymous,
/// then 200 or 404 whatever the caller's membership.
fn head_project(shared: &Shared, r: &ApiRequest<'_>) -> Resp {
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

/// §2 `GET /api/v2.0/projects/{name_or_id}`: needs read on the project itself. A missing
/// project looks forbidden to everyone but a system admin, who gets 404.
fn get_project(shared: &Shared, r: &ApiRequest<'_>, ident: &str) -> Resp {
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
        Some(p) => respond::json(200, &project_json(&model, p, r.who)),
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

/// `page` and `page_size` as go-swagger validates them (page_size at most 100).
fn paging(query: &[(String, String)]) -> Result<(usize, usize), Resp> {
    let int = |key: &str, default: usize| -> Result<usize, Resp> {
        match util::query_get(query, key) {
            None | Some("") => Ok(default),
            Some(v) => v.parse::<usize>().map_err(|_| {
                unprocessable(&format!("{key} in query must be of type int64: \"{v}\""))
            }),
        }
    };
    let page = int("page", 1)?.max(1);
    let page_size = int("page_size", 10)?;
    if page_size > 100 {
        return Err(unprocessable(
            "page_size in query should be less than or equal to 100",
        ));
    }
    Ok((page, page_size))
}

/// Harbor's `X-Total-Count` and `Link` headers (`BaseAPI.Links`).
fn paged(mut resp: Resp, r: &ApiRequest<'_>, total: usize, page: usize, page_size: usize) -> Resp {
    if let Ok(v) = HeaderValue::from_str(&total.to_string()) {
        resp.headers_mut().insert("x-total-count", v);
    }
    let link = |p: usize, rel: &str| {
        let mut pairs: Vec<(String, String)> = r
            .query
            .iter()
            .filter(|(k, _)| k != "page" && k != "page_size")
            .cloned()
            .collect();
        pairs.push(("page".into(), p.to_string()));
        pairs.push(("page_size".into(), page_size.to_string()));
        pairs.sort();
        let q: Vec<String> = pairs
            .iter()
            .map(|(k, v)| format!("{}={}", util::percent_encode(k), util::percent_encode(v)))
            .collect();
        format!("<{}?{}>; rel=\"{rel}\"", r.path, q.join("&"))
    };
    let mut links = Vec::new();
    if page_size > 0 {
        if page > 1 && (page - 1) * page_size < total {
            links.push(link(page - 1, "prev"));
        }
        if page_size * page < total {
            links.push(link(page + 1, "next"));
        }
    }
    if !links.is_empty()
        && let Ok(v) = HeaderValue::from_str(&links.join(" , "))
    {
        resp.headers_mut().insert("link", v);
    }
    resp
}

fn page_of<T>(items: Vec<T>, page: usize, page_size: usize) -> Vec<T> {
    if page_size == 0 {
        return items;
    }
    items
        .into_iter()
        .skip((page - 1) * page_size)
        .take(page_size)
        .collect()
}

/// §2 `GET /api/v2.0/projects?name=P&page_size=N`: fuzzy name match over the projects the
/// caller can see, with `X-Total-Count`. The one project lookup an OIDC CLI secret may use.
fn list_projects(shared: &Shared, r: &ApiRequest<'_>) -> Resp {
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
    let total = found.len();
    let body: Vec<Value> = page_of(found, page, page_size)
        .into_iter()
        .map(|p| project_json(&model, p, r.who))
        .collect();
    paged(
        respond::json(200, &Value::Array(body)),
        r,
        total,
        page,
        page_size,
    )
}

/// A `RobotCreate`/`Robot` body, read as loosely as Go's JSON decoder reads it.
struct RobotSpec {
    name: String,
    description: String,
    level: String,
    duration: Option<i64>,
    disable: bool,
    permissions: Vec<Permission>,
}

fn parse_robot_body(body: &[u8]) -> Result<RobotSpec, Resp> {
    let parse_err = |why: String| {
        respond::bad_request(&format!(
            "parsing robot body from \"\" failed, because {why}"
        ))
    };
    let v: Value = serde_json::from_slice(body).map_err(|e| parse_err(e.to_string()))?;
    let text = |v: &Value, field: &str| -> Result<String, Resp> {
        match v.get(field) {
            None | Some(Value::Null) => Ok(String::new()),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(_) => Err(parse_err(format!(
                "json: cannot unmarshal into Go struct field .{field} of type string"
            ))),
        }
    };
    let duration = match v.get("duration") {
        None | Some(Value::Null) => None,
        Some(d) => Some(d.as_i64().ok_or_else(|| {
            parse_err("json: cannot unmarshal into Go struct field .duration of type int64".into())
        })?),
    };
    let mut permissions = Vec::new();
    if let Some(list) = v.get("permissions").and_then(Value::as_array) {
        for p in list {
            let access = p
                .get("access")
                .and_then(Value::as_array)
                .map(|items| {
                    items
                        .iter()
                        .map(|a| {
                            let s =
                                |k: &str| a.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
                            (s("resource"), s("action"))
                        })
                        .collect()
                })
                .unwrap_or_default();
            permissions.push(Permission {
                kind: text(p, "kind")?,
                namespace: text(p, "namespace")?,
                access,
            });
        }
    }
    Ok(RobotSpec {
        name: text(&v, "name")?,
        description: text(&v, "description")?,
        level: text(&v, "level")?,
        duration,
        disable: v.get("disable").and_then(Value::as_bool).unwrap_or(false),
        permissions,
    })
}

/// §5 `robotAPI.validate`, in Harbor's order and with Harbor's messages.
fn validate_robot(duration: i64, level: &str, permissions: &[Permission]) -> Result<(), Resp> {
    if !(duration == -1 || (duration > 0 && duration < i64::from(i32::MAX))) {
        return Err(respond::bad_request(&format!(
            "bad request error duration input: {duration}, duration must be either -1(Never) or a positive integer"
        )));
    }
    if level != "project" && level != "system" {
        return Err(respond::bad_request(&format!(
            "bad request error level input: {level}"
        )));
    }
    if permissions.is_empty() {
        return Err(respond::bad_request("bad request empty permission"));
    }
    if permissions.iter().any(|p| p.access.is_empty()) {
        return Err(respond::bad_request("bad request empty access"));
    }
    if level == "project" && permissions.len() > 1 {
        return Err(respond::bad_request("bad request permission"));
    }
    for p in permissions {
        let allowed = match p.kind.as_str() {
            "system" => ROBOT_SYSTEM_POLICIES,
            "project" => ROBOT_PROJECT_POLICIES,
            kind => {
                return Err(respond::bad_request(&format!(
                    "bad request permission level: {kind}"
                )));
            }
        };
        for (res, act) in &p.access {
            if !allowed.contains(&(res.as_str(), act.as_str())) {
                return Err(respond::bad_request(&format!(
                    "bad request permission: {res}:{act}"
                )));
            }
        }
    }
    Ok(())
}

/// Where a robot lives, for the permission check: the project named in a request body, or
/// the project id of an existing robot.
enum RobotNs<'a> {
    Name(&'a str),
    Id(i64),
}

/// `robotAPI.requireAccess`: `robot:<action>` on the project (falling back to system access,
/// as for system robots managing project robots), or system access for system robots.
/// Anonymous callers get 401, everyone else 403.
fn require_robot_access(
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
            model.can(who, project, "robot", action) || system_can(model, who, "robot", action)
        }
        "system" => system_can(model, who, "robot", action),
        _ => false,
    };
    match (allowed, model.authenticated(who)) {
        (true, _) => Ok(()),
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

/// 2.12+: a robot may only create robots whose access is a subset of its own (§5).
fn within_creator_scope(creator: &RobotRec, wanted: &[Permission]) -> bool {
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

/// §5 `POST /api/v2.0/robots`: name, then body validation (400), then `robot:create` on the
/// project (401/403), then the project itself (404 for an admin), then uniqueness (409).
/// 201 with `Location` and the only copy of the secret.
fn create_robot(shared: &Shared, r: &ApiRequest<'_>) -> Resp {
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
    let creator = match r.who {
        Principal::User(id) => ("local", id),
        Principal::Robot(id) => {
            let Some(me) = model.robot(id) else {
                return respond::unauthorized();
            };
            if !within_creator_scope(me, &spec.permissions) {
                let name = model.robot_full_name(id).unwrap_or_default();
                return respond::error(
                    403,
                    "DENIED",
                    &format!(
                        "permission scope is invalid. It must be equal to or more restrictive than the creator robot's permissions: {name}"
                    ),
                );
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
    let mut resp = respond::json(201, &body);
    if let Ok(v) = HeaderValue::from_str(&format!("/api/v2.0/robots/{id}")) {
        resp.headers_mut().insert("location", v);
    }
    resp
}

fn robot_json(model: &Model, rec: &RobotRec) -> Value {
    json!({
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
    })
}

/// Lookup before permission (§5): a missing id is 404 even for a caller without access.
fn find_robot<'m>(
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

/// §5 `GET /api/v2.0/robots/{id}`: the robot without its secret; needs `robot:read`.
fn get_robot(shared: &Shared, who: Principal, id: i64) -> Resp {
    let model = shared.model();
    match find_robot(&model, who, id, "read") {
        Ok(rec) => respond::json(200, &robot_json(&model, rec)),
        Err(resp) => resp,
    }
}

/// §5 `DELETE /api/v2.0/robots/{id}`: 200 with an empty body; the credentials stop working
/// at once because authentication reads the same list.
fn delete_robot(shared: &Shared, who: Principal, id: i64) -> Resp {
    let mut model = shared.model();
    if let Err(resp) = find_robot(&model, who, id, "delete") {
        return resp;
    }
    model.robots.retain(|r| r.id != id);
    respond::empty(200)
}

/// §5 `PUT /api/v2.0/robots/{id}` (`updateV2Robot`): disable, duration, description and
/// permissions may change; name, level and project may not.
fn update_robot(shared: &Shared, r: &ApiRequest<'_>, id: i64) -> Resp {
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

/// §5 `PATCH /api/v2.0/robots/{id}`: `{"secret":""}` issues a new secret and returns it;
/// a given secret must be 8–128 characters with upper case, lower case and a digit.
fn refresh_secret(shared: &Shared, r: &ApiRequest<'_>, id: i64) -> Resp {
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
        return respond::json(200, &json!({"secret": secret}));
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
    respond::json(200, &json!({}))
}

/// Harbor's `q` syntax, the parts the double needs: `k=v` (exact) and `k=~v` (fuzzy),
/// separated by commas.
fn parse_q(q: &str) -> Vec<(String, String, bool)> {
    q.split(',')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| {
            let (v, fuzzy) = match v.strip_prefix('~') {
                Some(v) => (v, true),
                None => (v, false),
            };
            let v = v.trim_matches(|c| c == '"' || c == '\'');
            (k.trim().to_owned(), v.to_owned(), fuzzy)
        })
        .collect()
}

/// §5 `GET /api/v2.0/robots?q=Level=project,ProjectID=<id>,name=~<stem>`: a project's robots
/// (needs `robot:list`), or without `Level` the system robots; `X-Total-Count` as usual.
fn list_robots(shared: &Shared, r: &ApiRequest<'_>) -> Resp {
    let model = shared.model();
    if !model.authenticated(r.who) {
        return respond::unauthorized();
    }
    let (page, page_size) = match paging(r.query) {
        Ok(p) => p,
        Err(resp) => return resp,
    };
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
    let found: Vec<&RobotRec> = model
        .robots
        .iter()
        .filter(|rec| rec.project_id == project_id && rec.level == level)
        .filter(|rec| match name {
            Some((_, v, true)) => rec.name.contains(v.as_str()),
            Some((_, v, false)) => rec.name == *v,
            None => true,
        })
        .collect();
    let total = found.len();
    let body: Vec<Value> = page_of(found, page, page_size)
        .into_iter()
        .map(|rec| robot_json(&model, rec))
        .collect();
    paged(
        respond::json(200, &Value::Array(body)),
        r,
        total,
        page,
        page_size,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_q_syntax_splits_exact_and_fuzzy_terms() {
        let q = parse_q("Level=project,ProjectID=5,name=~ci-");
        assert_eq!(q[0], ("Level".into(), "project".into(), false));
        assert_eq!(q[2], ("name".into(), "ci-".into(), true));
    }

    #[test]
    fn robot_validation_follows_harbors_order_and_messages() {
        let perm = |kind: &str, res: &str, act: &str| Permission {
            kind: kind.into(),
            namespace: "proj".into(),
            access: vec![(res.into(), act.into())],
        };
        let msg = |r: Result<(), Resp>| r.err().map(|resp| resp.status().as_u16());
        assert_eq!(
            msg(validate_robot(
                1,
                "project",
                &[perm("project", "repository", "push")]
            )),
            None
        );
        assert_eq!(
            msg(validate_robot(
                0,
                "project",
                &[perm("project", "repository", "push")]
            )),
            Some(400)
        );
        assert_eq!(
            msg(validate_robot(
                1,
                "project",
                &[perm("project", "user", "create")]
            )),
            Some(400)
        );
        assert_eq!(
            msg(validate_robot(
                1,
                "project",
                &[
                    perm("project", "repository", "push"),
                    perm("project", "repository", "pull")
                ]
            )),
            Some(400)
        );
        assert_eq!(msg(validate_robot(-1, "project", &[])), Some(400));
    }
}
