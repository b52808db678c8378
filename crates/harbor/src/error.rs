//! Everything that can go wrong between this tool and Harbor, each with what to do next.
//!
//! `Display` says what failed and why; [`HarborError::hint`] names the variable, file or Harbor
//! setting to change. Neither ever contains a password, a token or a response body that could
//! echo one; Harbor's `X-Request-Id` is always quoted so an admin can find the log line.

use std::fmt;
use std::time::Duration;

use crate::tls::{CertProblem, TrustError};
use crate::url::UrlProblem;
use docker_credential_harbor_core::address::Registry;

/// Harbor's `X-Request-Id`, formatted for a message.
pub fn request_id_note(id: &Option<String>) -> String {
    match id {
        Some(id) => format!(" (X-Request-Id {id})"),
        None => String::new(),
    }
}

#[derive(Debug)]
pub enum HarborError {
    Url(UrlProblem),
    Trust(TrustError),
    /// The host name does not resolve.
    Dns {
        host: String,
        detail: String,
    },
    /// Nothing accepted the connection.
    Connect {
        target: String,
        detail: String,
    },
    Timeout {
        after: Duration,
    },
    Tls {
        host: String,
        registry: Registry,
        problem: CertProblem,
        certs_d: Vec<std::path::PathBuf>,
    },
    /// Any 3xx: a configuration error, never followed (it would resend credentials).
    Redirect {
        status: u16,
        location: Option<String>,
    },
    /// 5xx: Harbor's JSON error or a proxy's HTML page.
    Server {
        status: u16,
        request_id: Option<String>,
        proxy_page: bool,
    },
    /// Harbor did not take the credentials (it cannot tell a wrong password from an expired
    /// robot or an LDAP outage: docs/harbor.md#verification-in-one-request).
    Unauthorized {
        user: String,
        oidc: bool,
    },
    /// Authenticated, but the project does not exist or the account cannot see it.
    ProjectMissing {
        project: String,
        user: String,
    },
    /// Authenticated and the project exists, but the account has no role in it.
    NotMember {
        project: String,
        user: String,
    },
    /// May pull, may not push (a guest).
    NoPush {
        project: String,
        user: String,
    },
    /// An answer that makes no sense for the call (not Harbor, or a proxy in the way).
    Unexpected {
        what: String,
        status: u16,
        request_id: Option<String>,
        message: Option<String>,
    },
    /// The request could not be sent for another reason.
    Request {
        detail: String,
    },
    /// The TLS handshake failed for another reason than the certificate (plain HTTP on the
    /// port, an unusable server name).
    Handshake {
        host: String,
        detail: String,
    },
    /// An answer longer than any Harbor API answer this tool asks for; not read past the limit.
    TooLarge {
        status: u16,
        request_id: Option<String>,
        limit: u64,
    },
    /// `HARBOR_PROJECT` is not a name Harbor allows, so it is not sent.
    BadProject {
        project: String,
    },
}

impl fmt::Display for HarborError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HarborError::Url(p) => write!(f, "{p}"),
            HarborError::Trust(e) => write!(f, "{e}"),
            HarborError::Dns { host, detail } => write!(f, "cannot resolve {host}: {detail}"),
            HarborError::Connect { target, detail } => {
                write!(f, "cannot connect to {target}: {detail}")
            }
            HarborError::Timeout { after } => {
                write!(f, "Harbor did not answer within {} s", after.as_secs_f32())
            }
            HarborError::Tls { host, problem, .. } => write!(f, "TLS: {}", problem.describe(host)),
            HarborError::Redirect { status, location } => write!(
                f,
                "Harbor answered {status} redirecting to {}; redirects are not followed, because they would resend the credentials",
                location.as_deref().unwrap_or("(no Location header)")
            ),
            HarborError::Server {
                status,
                request_id,
                proxy_page,
            } => {
                if *proxy_page {
                    write!(
                        f,
                        "a proxy in front of Harbor answered {status} with an HTML page: Harbor is down or restarting"
                    )
                } else {
                    write!(
                        f,
                        "Harbor failed with {status} (internal server error){}",
                        request_id_note(request_id)
                    )
                }
            }
            HarborError::Unauthorized { user, oidc } => {
                write!(f, "Harbor did not accept the credentials of {user}")?;
                if *oidc {
                    write!(
                        f,
                        "; Harbor uses OIDC, where only the user's CLI secret works as a password"
                    )
                } else {
                    write!(
                        f,
                        ": a wrong password, an expired or disabled robot account and an LDAP outage all look the same to Harbor"
                    )
                }
            }
            HarborError::ProjectMissing { project, user } => {
                write!(
                    f,
                    "project {project} does not exist in Harbor, or {user} cannot see it"
                )
            }
            HarborError::NotMember { project, user } => {
                write!(
                    f,
                    "project {project} exists, but {user} is not a member of it and may neither pull nor push"
                )
            }
            HarborError::NoPush { project, user } => {
                write!(
                    f,
                    "{user} may pull from project {project} but not push to it"
                )
            }
            HarborError::Unexpected {
                what,
                status,
                request_id,
                message,
            } => {
                write!(f, "unexpected answer to {what}: HTTP {status}")?;
                if let Some(m) = message {
                    write!(f, " ({m})")?;
                }
                write!(f, "{}", request_id_note(request_id))
            }
            HarborError::Request { detail } => write!(f, "cannot send the request: {detail}"),
            HarborError::Handshake { host, detail } => {
                write!(f, "the TLS handshake with {host} failed: {detail}")
            }
            HarborError::TooLarge {
                status,
                request_id,
                limit,
            } => write!(
                f,
                "the answer (HTTP {status}) is larger than {} KiB, more than any Harbor API answer; it was not read{}",
                limit / 1024,
                request_id_note(request_id)
            ),
            HarborError::BadProject { project } => write!(
                f,
                "HARBOR_PROJECT={} is not a Harbor project name (lower-case letters and digits, with single . _ or - between them)",
                docker_credential_harbor_core::text::inline(project)
            ),
        }
    }
}

impl std::error::Error for HarborError {}

impl HarborError {
    /// What to do next, naming the variable, file or Harbor setting.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            HarborError::Url(p) => p.hint(),
            HarborError::Trust(e) => e.hint(),
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
