//! The `/api/…` handlers, each following the docs/harbor-api.md section its doc comment names: ping
//! and systeminfo (docs/harbor-api.md#ping-and-systeminfo, `system`), project existence and lookup
//! (docs/harbor-api.md#projects, `projects`), the current user and its permissions
//! (docs/harbor-api.md#the-current-user-and-its-permissions, `users`), and robot accounts
//! (docs/harbor-api.md#robot-accounts, `robots`). This file routes a request to its handler and
//! holds what several resources share: go-swagger's own answers (405, 404, 422), its boolean
//! parsing, and paging. Checks run in Harbor's order (parameter validation, then authentication,
//! then lookup or permission), because clients see the first failure only. Permission questions go
//! to `model::Model::can`; never decide them in a handler.

// The `Err` of these helpers is the HTTP answer itself, returned once per request; boxing it
// would only add noise to a test double.
#![allow(clippy::result_large_err)]

mod projects;
mod robots;
mod system;
mod users;

use hyper::HeaderMap;
use hyper::header::HeaderValue;
use serde_json::{Value, json};

use crate::model::Principal;
use crate::respond::{self, JSON, Resp};
use crate::server::Shared;
use crate::{HarborVersion, util};

use projects::{get_project, head_project, list_projects};
use robots::{create_robot, delete_robot, get_robot, list_robots, refresh_secret, update_robot};
use system::systeminfo;
use users::{permissions, users_current};

pub(crate) struct ApiRequest<'a> {
    pub(crate) method: &'a str,
    /// With duplicate slashes merged.
    pub(crate) path: &'a str,
    pub(crate) query: &'a [(String, String)],
    pub(crate) headers: &'a HeaderMap,
    pub(crate) body: &'a [u8],
    pub(crate) who: Principal,
}

/// docs/harbor-api.md#ping-and-systeminfo `GET /api/v2.0/ping`: `Pong` as text/plain, or the JSON
/// string `"Pong"` in 2.0. Never looks at credentials (the caller skips authentication for this
/// path).
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
        // Robot v2 arrived in 2.2 (docs/harbor-api.md#releases): 2.0 has no such route.
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

/// go-swagger's router answers these itself, in Harbor's error shape (docs/harbor-api.md#errors).
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

/// go-swagger's parameter validation failures (docs/harbor-api.md#errors): 422 with a code from the
/// status text.
pub(crate) fn unprocessable(msg: &str) -> Resp {
    respond::error(422, "UNPROCESSABLE_ENTITY", msg)
}

pub(crate) fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// `page` and `page_size` as go-swagger validates them (page_size at most 100).
pub(crate) fn paging(query: &[(String, String)]) -> Result<(usize, usize), Resp> {
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
            "validation failure list:\npage_size in query should be less than or equal to 100",
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

/// One page of a listing as Harbor answers it: the page's items as JSON, with the total and
/// the links of the whole list in the headers.
pub(crate) fn listing<T>(
    r: &ApiRequest<'_>,
    items: Vec<T>,
    (page, page_size): (usize, usize),
    to_json: impl FnMut(T) -> Value,
) -> Resp {
    let total = items.len();
    let body: Vec<Value> = page_of(items, page, page_size)
        .into_iter()
        .map(to_json)
        .collect();
    paged(
        respond::api_json(200, &Value::Array(body)),
        r,
        total,
        page,
        page_size,
    )
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
