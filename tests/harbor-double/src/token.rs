//! The registry token service, `GET /service/token` (docs/harbor-api.md#the-token-service, Harbor's
//! `src/core/service/token/`): scope parsing, the grant rules (requested actions are ignored;
//! the caller gets what it may do, in random order), anonymous tokens, and the RS256 JWT the
//! real registry verifies. It must never grant more than `model::Model::can` allows.

use serde::Serialize;

use crate::model::{Model, Principal, Project};
use crate::respond::{self, Resp};
use crate::server::Shared;
use crate::util;
use crate::{Config, HarborVersion};

/// `token_expiration` (30 minutes) in seconds (docs/harbor-api.md#the-token-service).
const EXPIRES_IN: i64 = 1800;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub(crate) struct Access {
    #[serde(rename = "type")]
    pub(crate) kind: String,
    pub(crate) name: String,
    pub(crate) actions: Vec<String>,
}

/// Claims in golang-jwt's field order (docs/harbor-api.md#the-token-service). `sub` is left out for
/// anonymous callers from 2.2 and is `""` in 2.0; `aud` is a string, not an array; `access` is
/// `null` without a scope.
#[derive(Serialize)]
struct Claims {
    iss: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    sub: Option<String>,
    aud: &'static str,
    exp: i64,
    nbf: i64,
    iat: i64,
    jti: String,
    access: Option<Vec<Access>>,
}

#[derive(Serialize)]
struct TokenBody {
    token: String,
    access_token: &'static str,
    expires_in: i64,
    issued_at: String,
}

/// docs/harbor-api.md#the-token-service `GET /service/token`: only GET, only
/// `service=harbor-registry`, 401 with an empty body for an anonymous caller without a scope,
/// otherwise 200 with a token, anonymous or not.
pub(crate) fn handle(
    shared: &Shared,
    method: &str,
    query: &[(String, String)],
    who: Principal,
) -> Resp {
    if method != "GET" {
        // Only GET is routed; beego answers anything else itself, in plain text.
        return respond::text(405, "Method Not Allowed");
    }
    let service = util::query_get(query, "service").unwrap_or("");
    if service != "harbor-registry" {
        return respond::text(400, &format!("Unable to handle service: {service}"));
    }
    // parseScopes: every `scope` value, split on single spaces (empty pieces kept, as in Go).
    let scopes: Vec<String> = query
        .iter()
        .filter(|(k, _)| k == "scope")
        .flat_map(|(_, v)| v.split(' ').map(str::to_owned).collect::<Vec<_>>())
        .collect();
    let model = shared.model();
    let authenticated = model.authenticated(who);
    if !authenticated && scopes.is_empty() {
        // The docker-login probe: "Unauthorized" carries no body and no challenge.
        return respond::empty(401);
    }
    let access = grant(&model, who, &scopes);
    let sub = model.username(who);
    let config = model.config.clone();
    drop(model);
    let now = util::now_unix();
    let token = make_token(shared, &config, sub, access, now);
    let body = TokenBody {
        token,
        access_token: "",
        expires_in: EXPIRES_IN,
        issued_at: util::rfc3339(now),
    };
    respond::with_body(
        200,
        respond::JSON,
        serde_json::to_string(&body).unwrap_or_default(),
    )
}

/// `GetResourceActions` followed by `filterAccess`: one entry per non-empty scope, in request
/// order, with the actions replaced by what the caller may do. `None` when no entry results,
/// which Go serializes as `null`.
pub(crate) fn grant(model: &Model, who: Principal, scopes: &[String]) -> Option<Vec<Access>> {
    let mut out = Vec::new();
    for scope in scopes.iter().filter(|s| !s.is_empty()) {
        let items: Vec<&str> = scope.split(':').collect();
        let (kind, name, requested) = match items.len() {
            1 => (items[0], String::new(), Vec::new()),
            2 => (items[0], items[1].to_owned(), Vec::new()),
            n => {
                let last = items[n - 1];
                let requested = if last.is_empty() {
                    Vec::new()
                } else {
                    last.split(',').map(str::to_owned).collect()
                };
                (items[0], items[1..n - 1].join(":"), requested)
            }
        };
        let actions = match kind {
            "repository" => name
                .split_once('/')
                .and_then(|(namespace, _)| model.project_by_name(namespace))
                .map(|p| repository_actions(model, who, p))
                .unwrap_or_default(),
            // registry:catalog:* keeps what was asked, for system admins only.
            "registry" if name == "catalog" && model.is_sysadmin(who) => requested,
            _ => Vec::new(),
        };
        out.push(Access {
            kind: kind.to_owned(),
            name,
            actions,
        });
    }
    (!out.is_empty()).then_some(out)
}

/// The actions on `/project/<id>/repository` the caller may do (`resourceScopes`), in the
/// form of the configured Harbor release.
fn repository_actions(model: &Model, who: Principal, p: &Project) -> Vec<String> {
    let can = |a: &str| model.can(who, Some(p), "repository", a);
    if model.config.version == HarborVersion::V2_0 {
        // 2.0's RWM letters (`permToActions`): fixed order, no delete.
        let list: &[&str] = if can("push") && can("pull") {
            &["push", "*", "pull"]
        } else if can("push") {
            &["push", "pull"]
        } else if can("scanner-pull") {
            &["scanner-pull", "pull"]
        } else if can("pull") {
            &["pull"]
        } else {
            &[]
        };
        return list.iter().map(|s| (*s).to_owned()).collect();
    }
    let sysadmin = model.is_sysadmin(who);
    let mut actions: Vec<String> = ["pull", "push", "delete", "scanner-pull"]
        .into_iter()
        .filter(|a| can(a) && !(sysadmin && *a == "scanner-pull"))
        .map(str::to_owned)
        .collect();
    let has = |a: &str| actions.iter().any(|x| x == a);
    if model.config.star_action && has("pull") && has("push") && has("delete") {
        actions.push("*".to_owned());
    }
    util::shuffle(&mut actions);
    actions
}

/// Signs a token (`MakeToken`).
pub(crate) fn make_token(
    shared: &Shared,
    config: &Config,
    sub: Option<String>,
    access: Option<Vec<Access>>,
    now: i64,
) -> String {
    let sub = match (sub, config.version) {
        (None, HarborVersion::V2_0) => Some(String::new()),
        (sub, _) => sub,
    };
    let claims = Claims {
        iss: "harbor-token-issuer",
        sub,
        aud: "harbor-registry",
        exp: now + EXPIRES_IN,
        nbf: now,
        iat: now,
        jti: util::random_string(util::ALNUM, 16),
        access,
    };
    shared.key.sign(&claims)
}

/// A token for one scope, as if the caller had asked the token service (used where Harbor
/// core itself authorises `/v2/…` requests that carry Basic credentials).
pub(crate) fn bearer_for(shared: &Shared, who: Principal, scope: &str) -> String {
    let model = shared.model();
    let access = grant(&model, who, &[scope.to_owned()]);
    let sub = model.username(who);
    let config = model.config.clone();
    drop(model);
    make_token(shared, &config, sub, access, util::now_unix())
}
