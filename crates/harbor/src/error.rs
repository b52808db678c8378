//! Everything that can go wrong between this tool and Harbor, each with what to do next.
//!
//! `Display` says what failed and why; its [`Problem::hint`] names the variable, file or Harbor
//! setting to change. Neither ever contains a password, a token or a response body that could
//! echo one; Harbor's `X-Request-Id` is always quoted so an admin can find the log line.

use std::time::Duration;

use docker_credential_harbor_core::address::Registry;
use docker_credential_harbor_core::problem::Problem;
use docker_credential_harbor_core::url::UrlProblem;

use crate::tls::{CertProblem, TrustError};

/// Harbor's `X-Request-Id`, formatted for a message.
pub(crate) fn request_id_note(id: &Option<String>) -> String {
    match id {
        Some(id) => format!(" (X-Request-Id {id})"),
        None => String::new(),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HarborError {
    #[error(transparent)]
    Url(UrlProblem),
    #[error(transparent)]
    Trust(TrustError),
    /// The host name does not resolve.
    #[error("cannot resolve {host}: {detail}")]
    Dns { host: String, detail: String },
    /// Nothing accepted the connection.
    #[error("cannot connect to {target}: {detail}")]
    Connect { target: String, detail: String },
    #[error("Harbor did not answer within {} s", after.as_secs_f32())]
    Timeout { after: Duration },
    #[error("TLS: {}", problem.describe(host))]
    Tls {
        host: String,
        registry: Registry,
        problem: CertProblem,
        certs_d: Vec<std::path::PathBuf>,
    },
    /// Any 3xx: a configuration error, never followed (it would resend credentials).
    #[error(
        "Harbor answered {status} redirecting to {}; redirects are not followed, because they would resend the credentials",
        location.as_deref().unwrap_or("(no Location header)")
    )]
    Redirect {
        status: u16,
        location: Option<String>,
    },
    /// 5xx: Harbor's JSON error or a proxy's HTML page.
    #[error("{}", server(*status, request_id, *proxy_page))]
    Server {
        status: u16,
        request_id: Option<String>,
        proxy_page: bool,
    },
    /// Harbor did not take the credentials (it cannot tell a wrong password from an expired
    /// robot or an LDAP outage: docs/harbor.md#verification-in-one-request).
    #[error(
        "Harbor did not accept the credentials of {user}{}",
        if *oidc {
            "; Harbor uses OIDC, where only the user's CLI secret works as a password"
        } else {
            ": a wrong password, an expired or disabled robot account and an LDAP outage all look the same to Harbor"
        }
    )]
    Unauthorized { user: String, oidc: bool },
    /// Authenticated, but the project does not exist or the account cannot see it.
    #[error("project {project} does not exist in Harbor, or {user} cannot see it")]
    ProjectMissing { project: String, user: String },
    /// Authenticated and the project exists, but the account has no role in it.
    #[error(
        "project {project} exists, but {user} is not a member of it and may neither pull nor push"
    )]
    NotMember { project: String, user: String },
    /// May pull, may not push (a guest).
    #[error("{user} may pull from project {project} but not push to it")]
    NoPush { project: String, user: String },
    /// An answer that makes no sense for the call (not Harbor, or a proxy in the way).
    #[error(
        "unexpected answer to {what}: HTTP {status}{}{}",
        message.as_deref().map(|m| format!(" ({m})")).unwrap_or_default(),
        request_id_note(request_id)
    )]
    Unexpected {
        what: String,
        status: u16,
        request_id: Option<String>,
        message: Option<String>,
    },
    /// The request could not be sent for another reason.
    #[error("cannot send the request: {detail}")]
    Request { detail: String },
    /// The TLS handshake failed for another reason than the certificate (plain HTTP on the
    /// port, an unusable server name).
    #[error("the TLS handshake with {host} failed: {detail}")]
    Handshake { host: String, detail: String },
    /// An answer longer than any Harbor API answer this tool asks for; not read past the limit.
    #[error(
        "the answer (HTTP {status}) is larger than {} KiB, more than any Harbor API answer; it was not read{}",
        limit / 1024,
        request_id_note(request_id)
    )]
    TooLarge {
        status: u16,
        request_id: Option<String>,
        limit: u64,
    },
    /// `HARBOR_PROJECT` is not a name Harbor allows, so it is not sent.
    #[error(
        "HARBOR_PROJECT={} is not a Harbor project name (lower-case letters and digits, with single . _ or - between them)",
        docker_credential_harbor_core::text::inline(project)
    )]
    BadProject { project: String },
}

/// A 5xx in words: a proxy's HTML page means Harbor itself is not there.
fn server(status: u16, request_id: &Option<String>, proxy_page: bool) -> String {
    if proxy_page {
        format!(
            "a proxy in front of Harbor answered {status} with an HTML page: Harbor is down or restarting"
        )
    } else {
        format!(
            "Harbor failed with {status} (internal server error){}",
            request_id_note(request_id)
        )
    }
}

impl Problem for HarborError {
    /// What to do next, naming the variable, file or Harbor setting.
    fn hint(&self) -> Option<String> {
        Some(match self {
            HarborError::Url(p) => return p.hint(),
            HarborError::Trust(e) => return e.hint(),
            HarborError::Dns { .. } => {
                "check the host name in HARBOR_URL (GitLab's Harbor integration settings) and this machine's DNS".into()
            }
            HarborError::Connect { .. } => {
                "check the port in HARBOR_URL, that Harbor is running, and that no firewall blocks this runner".into()
            }
            HarborError::Timeout { .. } => {
                "check that Harbor is up and reachable from this runner; DOCKER_CREDENTIAL_HARBOR_TIMEOUT sets the limit in seconds".into()
            }
            HarborError::Tls {
                registry,
                problem,
                certs_d,
                ..
            } => problem.hint(registry, certs_d),
            HarborError::Redirect { location, .. } => match location.as_deref() {
                Some(l) if l.starts_with("https://") => {
                    let base = l.split("/api/").next().unwrap_or(l).split("/service/").next().unwrap_or(l);
                    format!("set HARBOR_URL to {base} (in GitLab's Harbor integration settings)")
                }
                _ => "set HARBOR_URL to Harbor's https:// address itself, not an address that redirects".into(),
            },
            HarborError::Server { request_id, .. } => format!(
                "retry later; if it persists, a Harbor administrator can find the failure in Harbor's core log{}",
                match request_id {
                    Some(id) => format!(" by the request id {id}"),
                    None => String::new(),
                }
            ),
            HarborError::Unauthorized { user, oidc: true } => format!(
                "set HARBOR_PASSWORD (GitLab's Harbor integration password) to {user}'s CLI secret from Harbor's User Profile; \
                 a CLI secret also stops working when the OIDC session expires: log in to Harbor's web UI again"
            ),
            HarborError::Unauthorized { .. } => "check HARBOR_USERNAME and HARBOR_PASSWORD in GitLab's Harbor integration settings; \
                 for a robot account, check in Harbor (Projects > Robot Accounts) that it is enabled and not expired"
                .into(),
            HarborError::ProjectMissing { project, user } => format!(
                "create project {project} in Harbor, or set HARBOR_PROJECT (the integration's project name) to a project {user} belongs to"
            ),
            HarborError::NotMember { project, user } => format!(
                "add {user} to project {project} in Harbor (Projects > {project} > Members) with the Developer role or higher"
            ),
            HarborError::NoPush { project, user } => format!(
                "give {user} the Developer role (or higher) in project {project}, or use a robot account with push permission"
            ),
            HarborError::Handshake { .. } => {
                "check that HARBOR_URL's port serves HTTPS (not plain HTTP)".into()
            }
            HarborError::TooLarge { .. } => {
                "check that HARBOR_URL is Harbor itself and not a proxy or another service".into()
            }
            HarborError::BadProject { .. } => {
                "set HARBOR_PROJECT (the integration's project name) to the project's name as Harbor shows it".into()
            }
            HarborError::Unexpected { .. } | HarborError::Request { .. } => return None,
        })
    }
}
