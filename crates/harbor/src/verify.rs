//! Proves the credentials, the project and the push right in one request, and spends more
//! only to name what is wrong.
//!
//! The happy path is a single `GET /service/token` with a pull,push scope on the project: a
//! non-empty `sub` proves the credentials (Harbor answers bad ones with an anonymous token), and
//! the granted actions, compared as a set, prove pull and push
//! (docs/harbor.md#verification-in-one-request). Only when that falls short: the no-scope token
//! call (401 confirms rejected credentials), systeminfo (OIDC mode changes the advice), and
//! `HEAD /projects?project_name=` (200/404) or, for OIDC CLI secrets that may not call it,
//! `GET /projects?name=`.

use crate::token::{Grant, grant_from_body};
use crate::{HarborClient, HarborError, encode, is_project_name};

/// The repository named in the probe scope. Harbor grants per project, and a token request
/// creates nothing, so any name does.
pub const PROBE_REPOSITORY: &str = "docker-credential-harbor-probe";

/// A successful verification.
#[derive(Clone, Debug)]
pub struct Verified {
    /// The account Harbor authenticated (`sub`), which may differ from the login typed.
    pub subject: String,
    pub grant: Grant,
}

/// `GET /service/token` for `scope` (or none), authenticated when the client has an account.
pub fn token(
    client: &HarborClient,
    scope: Option<&str>,
) -> Result<(u16, Option<Grant>), HarborError> {
    let mut path = String::from("/service/token?service=harbor-registry");
    if let Some(scope) = scope {
        path.push_str("&scope=");
        path.push_str(&encode(scope));
    }
    let reply = client.get(&path, true)?;
    match reply.status {
        200 => match grant_from_body(&reply.body) {
            Some(g) => Ok((200, Some(g))),
            None => Err(HarborError::Unexpected {
                what: "the token request (GET /service/token): the answer holds no token; is HARBOR_URL Harbor itself?".into(),
                status: 200,
                request_id: reply.request_id,
                message: None,
            }),
        },
        401 => Ok((401, None)),
        _ => Err(reply.unexpected("the token request (GET /service/token)")),
    }
}

/// `Err` for a project name Harbor could not have: it is never put into a request.
pub fn check_project(project: &str) -> Result<(), HarborError> {
    if is_project_name(project) {
        Ok(())
    } else {
        Err(HarborError::BadProject {
            project: project.to_owned(),
        })
    }
}

/// Verifies that the client's account may pull from and push to `project`.
pub fn verify_push(client: &HarborClient, project: &str) -> Result<Verified, HarborError> {
    check_project(project)?;
    let scope = format!("repository:{project}/{PROBE_REPOSITORY}:pull,push");
    let grant = match token(client, Some(&scope))? {
        (_, Some(g)) => g,
        // Harbor gives an anonymous token rather than a 401 when a scope is asked; a 401 here
        // still means the same thing.
        (_, None) => return Err(unauthorized(client)),
    };
    let user = client.user().to_owned();
    let Some(subject) = grant.subject.clone().filter(|_| grant.authenticated()) else {
        // Confirm with the no-scope call: 401 means rejected credentials.
        return match token(client, None)? {
            (401, _) => Err(unauthorized(client)),
            (status, _) => Err(HarborError::Unexpected {
                what: "the token request: an anonymous token for a project scope, but the credentials were accepted without a scope".into(),
                status,
                request_id: None,
                message: None,
            }),
        };
    };
    if grant.may_push() && grant.may_pull() {
        return Ok(Verified { subject, grant });
    }
    if grant.may_pull() {
        return Err(HarborError::NoPush {
            project: project.to_owned(),
            user: subject,
        });
    }
    // No action at all: the project is missing, hidden, or the account has no role in it.
    match project_exists(client, project)? {
        Some(true) => Err(HarborError::NotMember {
            project: project.to_owned(),
            user,
        }),
        _ => Err(HarborError::ProjectMissing {
            project: project.to_owned(),
            user,
        }),
    }
}

/// Whether `project` exists: `Some(bool)` when Harbor says, `None` when the account may not ask.
pub fn project_exists(client: &HarborClient, project: &str) -> Result<Option<bool>, HarborError> {
    check_project(project)?;
    let head = client.head(&format!(
        "/api/v2.0/projects?project_name={}",
        encode(project)
    ))?;
    match head.status {
        200 => Ok(Some(true)),
        404 => Ok(Some(false)),
        // OIDC CLI secrets may not call HEAD, but may list
        // (docs/harbor.md#verification-in-one-request).
        401 | 403 => {
            let list = client.get(
                &format!("/api/v2.0/projects?name={}&page_size=100", encode(project)),
                true,
            )?;
            if list.status != 200 {
                return Ok(None);
            }
            #[derive(serde::Deserialize)]
            struct P {
                name: String,
            }
            let names: Vec<P> = serde_json::from_slice(&list.body).unwrap_or_default();
            Ok(Some(names.iter().any(|p| p.name == project)))
        }
        _ => Err(head.unexpected("the project check (HEAD /api/v2.0/projects)")),
    }
}

/// What Harbor says about itself (`GET /api/v2.0/systeminfo`).
#[derive(Clone, Debug, Default, serde::Deserialize)]
pub struct SystemInfo {
    #[serde(default)]
    pub auth_mode: Option<String>,
    #[serde(default)]
    pub harbor_version: Option<String>,
    #[serde(default)]
    pub read_only: Option<bool>,
}

pub fn system_info(client: &HarborClient, authenticated: bool) -> Result<SystemInfo, HarborError> {
    let reply = client.get("/api/v2.0/systeminfo", authenticated)?;
    if reply.status != 200 {
        return Err(reply.unexpected("GET /api/v2.0/systeminfo"));
    }
    serde_json::from_slice(&reply.body).map_err(|_| HarborError::Unexpected {
        what: "GET /api/v2.0/systeminfo: the answer is not Harbor's JSON; is HARBOR_URL Harbor itself?".into(),
        status: 200,
        request_id: reply.request_id,
        message: None,
    })
}

/// The rejected-credentials error, with OIDC advice when Harbor says it uses OIDC.
fn unauthorized(client: &HarborClient) -> HarborError {
    let oidc = system_info(client, false)
        .ok()
        .and_then(|i| i.auth_mode)
        .is_some_and(|m| m == "oidc_auth");
    HarborError::Unauthorized {
        user: client.user().to_owned(),
        oidc,
    }
}
