//! The client side of harbor-broker's contract (docs/broker.md): `POST /v1/credentials` trades
//! the job's GitLab id_token for a robot, `DELETE /v1/credentials` releases the job's robots,
//! `POST /v1/kubernetes/credentials` trades a pod's service-account token for a pull robot.
//! The runner hooks and the kubelet credential provider's federated mode use it; nothing on
//! `get`'s path does.
//!
//! It lives here, not in the binary, to go through this crate's one HTTP plumbing
//! (`client::http_client`: the trust of [`crate::tls::build`], our resolver, no redirect, no
//! cookie, no proxy for loopback, one deadline per call) and its TLS diagnosis. The id_token
//! leaves its `SecretString` only into the `Authorization` header, marked sensitive; it is in no
//! message, even when the broker echoes it. Every answer is read bounded, and a 201 is parsed
//! strictly: every field present, of its type, and a usable registry and project.

use std::io::Read;
use std::time::{Duration, Instant};

use reqwest::Method;
use reqwest::blocking::Client;
use reqwest::header::{AUTHORIZATION, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use docker_credential_harbor_core::address::Registry;
use docker_credential_harbor_core::env::{BROKER_VAR, CA_FILE_VAR, ID_TOKEN_VAR, TIMEOUT_VAR};
use docker_credential_harbor_core::problem::Problem;
use docker_credential_harbor_core::text;
use docker_credential_harbor_core::url::HarborUrl;

use crate::client::{http_client, root_cause};
use crate::tls::{self, CertProblem, TrustError};
use crate::{Options, is_project_name};

/// The broker's answers are a few hundred bytes; anything this large is not the broker.
pub const MAX_ANSWER: u64 = 64 * 1024;

/// What a job asks the broker for (`{"access": "pull" | "push"}`), and what a broker rule
/// allows: `Push` includes pull. One type for both sides of the contract: the broker
/// (crates/broker) reads and decides with it too.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    Pull,
    Push,
}

impl std::fmt::Display for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Access {
    pub fn as_str(self) -> &'static str {
        match self {
            Access::Pull => "pull",
            Access::Push => "push",
        }
    }
}

/// What the broker minted (its 201 answer).
#[derive(Debug)]
pub struct Granted {
    /// `host[:port]`, the registry the robots work on.
    pub registry: Registry,
    /// The robot for the job, or for the image's project.
    pub robot: ProjectRobot,
    /// `POST /v1/kubernetes/credentials` only: a pull robot, on the same registry, in each
    /// other project the service account's rules grant (none when the broker is older).
    pub others: Vec<ProjectRobot>,
}

/// One robot of a [`Granted`].
#[derive(Debug, Deserialize)]
pub struct ProjectRobot {
    pub project: String,
    /// The robot's name as Harbor returned it (`robot$proj+hb-…`).
    pub username: String,
    pub password: SecretString,
    /// Unix seconds.
    pub expires_at: i64,
}

/// The 201 body, as the broker sends it.
#[derive(Deserialize)]
struct Answer {
    registry: String,
    username: String,
    password: SecretString,
    expires_at: i64,
    project: String,
    #[serde(default)]
    other_projects: Vec<ProjectRobot>,
}

/// Why the broker gave no robot, or did not release them.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error("{BROKER_VAR}: {0}")]
    Trust(TrustError),
    #[error("cannot resolve harbor-broker's host {host}: {detail}")]
    Dns { host: String, detail: String },
    #[error("cannot connect to harbor-broker at {target}: {detail}")]
    Connect { target: String, detail: String },
    #[error("harbor-broker did not answer within {} s", after.as_secs_f32())]
    Timeout { after: Duration },
    #[error("TLS with harbor-broker: {}", problem.describe(host))]
    Tls { host: String, problem: CertProblem },
    #[error(
        "harbor-broker answered {status} redirecting to {}; redirects are not followed, because they would resend the id_token",
        location.as_deref().map(text::inline).unwrap_or("(no Location header)".into())
    )]
    Redirect {
        status: u16,
        location: Option<String>,
    },
    /// 401: the id_token failed verification.
    #[error(
        "harbor-broker refused the job's id_token ({ID_TOKEN_VAR}): {}",
        said(message)
    )]
    Unauthorized { message: String, broker: String },
    /// 403: the broker's policy refuses this job.
    #[error("harbor-broker's policy refuses this job: {}", said(message))]
    Forbidden { message: String },
    /// 429: the job holds as many robots as the broker allows.
    #[error("harbor-broker refused another robot for this job: {}", said(message))]
    TooMany { message: String },
    /// 502, 503, 504: Harbor failed the broker.
    #[error(
        "harbor-broker could not reach Harbor (HTTP {status}): {}",
        said(message)
    )]
    Harbor { status: u16, message: String },
    /// Any other answer: a proxy, another service, or a broker of another contract.
    #[error("unexpected answer from harbor-broker: HTTP {status}{}", message.as_deref().map(|m| format!(" ({})", said(m))).unwrap_or_default())]
    Unexpected {
        status: u16,
        message: Option<String>,
    },
    /// A 201 whose body is not the contract's.
    #[error("harbor-broker's answer (HTTP 201) cannot be used: {detail}")]
    BadAnswer { detail: String },
    #[error(
        "harbor-broker's answer (HTTP {status}) is larger than {} KiB; it was not read",
        MAX_ANSWER / 1024
    )]
    TooLarge { status: u16 },
    #[error("cannot send the request to harbor-broker: {detail}")]
    Request { detail: String },
}

/// The broker's own text, quoted, on one line.
fn said(message: &str) -> String {
    format!("\"{}\"", text::inline(message))
}

impl Problem for BrokerError {
    fn hint(&self) -> Option<String> {
        Some(match self {
            BrokerError::Trust(e) => return e.hint(),
            BrokerError::Dns { .. } | BrokerError::Connect { .. } => format!(
                "check {BROKER_VAR} in the runner's environment, that harbor-broker is running, and that no firewall blocks this runner"
            ),
            BrokerError::Timeout { .. } => format!(
                "check that harbor-broker is up and reachable from this runner; {TIMEOUT_VAR} sets the limit in seconds"
            ),
            BrokerError::Tls { problem, .. } => match problem {
                CertProblem::UnknownIssuer | CertProblem::Other(_) => format!(
                    "trust harbor-broker's CA: set {CA_FILE_VAR} to a PEM file that holds it (it is trusted for Harbor and the broker alike)"
                ),
                CertProblem::WrongName { .. } => format!(
                    "set {BROKER_VAR} to a name harbor-broker's certificate carries"
                ),
                CertProblem::Expired => "harbor-broker's certificate must be renewed".into(),
                CertProblem::NotYetValid => "fix this machine's clock".into(),
            },
            BrokerError::Redirect { .. } => format!(
                "set {BROKER_VAR} to harbor-broker's own https:// address, not one that redirects"
            ),
            BrokerError::Unauthorized { broker, .. } => id_token_snippet(broker),
            BrokerError::Forbidden { .. } => {
                "ask the broker's administrator for a [[rules]] entry for this project (docs/broker.md)".into()
            }
            BrokerError::TooMany { .. } => {
                "the job's earlier robots are released by post-build, or end at their expiry; retry the job later".into()
            }
            BrokerError::Harbor { .. } => {
                "retry later; harbor-broker's audit log and metrics say what Harbor answered".into()
            }
            BrokerError::Unexpected { .. }
            | BrokerError::BadAnswer { .. }
            | BrokerError::TooLarge { .. } => format!(
                "check that {BROKER_VAR} is harbor-broker itself and not a proxy or another service"
            ),
            BrokerError::Request { .. } => return None,
        })
    }
}

/// A [`BrokerError`] of [`BrokerClient::kubernetes`], told for the kubelet's provider: the
/// token is a pod's service-account token, and the fixes are in the kubelet's
/// CredentialProviderConfig and the broker's `[kubernetes]` settings, not in `.gitlab-ci.yml`.
pub struct ForServiceAccount<'a>(pub &'a BrokerError);

impl std::fmt::Display for ForServiceAccount<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            BrokerError::Unauthorized { message, .. } => write!(
                f,
                "harbor-broker refused the pod's service-account token: {}",
                said(message)
            ),
            BrokerError::Forbidden { message } => write!(
                f,
                "harbor-broker's policy refuses this service account: {}",
                said(message)
            ),
            BrokerError::TooMany { message } => write!(
                f,
                "harbor-broker refused another robot for this service account: {}",
                said(message)
            ),
            BrokerError::Request { detail } if detail.contains(ID_TOKEN_VAR) => f.write_str(
                "the request's serviceAccountToken holds characters no HTTP header may carry",
            ),
            other => other.fmt(f),
        }
    }
}

impl Problem for ForServiceAccount<'_> {
    fn hint(&self) -> Option<String> {
        let place = "this provider's env in the kubelet's CredentialProviderConfig";
        Some(match self.0 {
            BrokerError::Unauthorized { .. } => {
                "set tokenAttributes.serviceAccountTokenAudience in the kubelet's CredentialProviderConfig to the \
                 audience of harbor-broker's [kubernetes] section, whose issuer must be the cluster's \
                 (docs/kubernetes.md)"
                    .into()
            }
            BrokerError::Forbidden { .. } => {
                "ask the broker's administrator for a [[kubernetes_rules]] entry for this namespace, service account \
                 and Harbor project (docs/kubernetes.md)"
                    .into()
            }
            BrokerError::TooMany { .. } => {
                "the service account's robots end after harbor-broker's [robots] ttl_seconds; set \
                 tokenAttributes.cacheType: ServiceAccount so the kubelet reuses one (docs/kubernetes.md)"
                    .into()
            }
            BrokerError::Dns { .. } | BrokerError::Connect { .. } | BrokerError::Timeout { .. } => {
                format!(
                    "check {BROKER_VAR} in {place}, that harbor-broker is running, and that this node can reach it"
                )
            }
            BrokerError::Redirect { .. }
            | BrokerError::Unexpected { .. }
            | BrokerError::BadAnswer { .. }
            | BrokerError::TooLarge { .. } => format!(
                "set {BROKER_VAR} in {place} to harbor-broker's own https:// address, not a proxy, a redirect or another service"
            ),
            other => return other.hint(),
        })
    }
}

/// What to put in `.gitlab-ci.yml` so the job has an id_token for `broker`.
pub fn id_token_snippet(broker: &str) -> String {
    format!(
        "give the job an id_token for harbor-broker in .gitlab-ci.yml: `id_tokens: {{ {ID_TOKEN_VAR}: {{ aud: {broker} }} }}` \
         (aud must be the audience harbor-broker's config names, which is normally its URL)"
    )
}

const CREDENTIALS: &str = "/v1/credentials";
const KUBERNETES_CREDENTIALS: &str = "/v1/kubernetes/credentials";

/// A client for one harbor-broker, carrying one job's id_token or one pod's service-account
/// token.
pub struct BrokerClient {
    url: HarborUrl,
    http: Client,
    timeout: Duration,
    token: SecretString,
}

impl BrokerClient {
    /// A client for the broker at `url` (checked by the caller: https, or http to loopback),
    /// trusting what `options` names (its `certs_d` is for Harbor: leave it empty).
    pub fn new(
        url: &HarborUrl,
        options: &Options,
        token: SecretString,
    ) -> Result<BrokerClient, BrokerError> {
        let trust = tls::build(options).map_err(BrokerError::Trust)?;
        let http = http_client(&trust, options.timeout, url.is_loopback()).map_err(|e| {
            BrokerError::Request {
                detail: root_cause(&e),
            }
        })?;
        Ok(BrokerClient {
            url: url.clone(),
            http,
            timeout: options.timeout,
            token,
        })
    }

    /// `POST /v1/credentials {"access": …}`: a robot for the job.
    pub fn mint(&self, access: Access) -> Result<Granted, BrokerError> {
        let body = serde_json::json!({ "access": access.as_str() }).to_string();
        let (status, bytes) = self.send(Method::POST, CREDENTIALS, Some(body))?;
        if status != 201 {
            return Err(self.refusal(status, &bytes));
        }
        granted(&bytes)
    }

    /// `POST /v1/kubernetes/credentials {"image": …}`: a pull robot for the service account
    /// whose token this client carries, for `image`'s project (and, in [`Granted::others`],
    /// for each other project its rules grant).
    pub fn kubernetes(&self, image: &str) -> Result<Granted, BrokerError> {
        let body = serde_json::json!({ "image": image }).to_string();
        let (status, bytes) = self.send(Method::POST, KUBERNETES_CREDENTIALS, Some(body))?;
        if status != 201 {
            return Err(self.refusal(status, &bytes));
        }
        granted(&bytes)
    }

    /// `DELETE /v1/credentials`: releases every robot of the job; how many there were.
    pub fn release(&self) -> Result<u64, BrokerError> {
        let (status, bytes) = self.send(Method::DELETE, CREDENTIALS, None)?;
        if status != 200 {
            return Err(self.refusal(status, &bytes));
        }
        #[derive(Deserialize)]
        struct Deleted {
            deleted: u64,
        }
        serde_json::from_slice::<Deleted>(&bytes)
            .map(|d| d.deleted)
            .map_err(|_| BrokerError::Unexpected {
                status,
                message: Some("not the {\"deleted\": N} of the contract".into()),
            })
    }

    fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<String>,
    ) -> Result<(u16, Vec<u8>), BrokerError> {
        let deadline = Instant::now() + self.timeout;
        // Exposure point: the id_token goes only into this header, marked sensitive.
        let mut bearer = HeaderValue::from_str(&format!("Bearer {}", self.token.expose_secret()))
            .map_err(|_| BrokerError::Request {
            detail: format!("{ID_TOKEN_VAR} holds characters no HTTP header may carry"),
        })?;
        bearer.set_sensitive(true);
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.url.base()))
            .header("Accept", "application/json")
            .header(AUTHORIZATION, bearer)
            .timeout(self.timeout);
        if let Some(b) = body {
            request = request.header("Content-Type", "application/json").body(b);
        }
        let mut r = request.send().map_err(|e| self.classify(&e))?;
        let status = r.status().as_u16();
        if (300..400).contains(&status) {
            let location = r
                .headers()
                .get("location")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            return Err(BrokerError::Redirect { status, location });
        }
        let mut bytes = Vec::new();
        (&mut r)
            .take(MAX_ANSWER + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::TimedOut => BrokerError::Timeout {
                    after: self.timeout,
                },
                _ if Instant::now() >= deadline => BrokerError::Timeout {
                    after: self.timeout,
                },
                _ => BrokerError::Request {
                    detail: root_cause(&e),
                },
            })?;
        if bytes.len() as u64 > MAX_ANSWER {
            return Err(BrokerError::TooLarge { status });
        }
        Ok((status, bytes))
    }

    /// The typed error for a non-success answer, with the broker's `{"error"}` text (never the
    /// token, even if the broker echoed it).
    fn refusal(&self, status: u16, bytes: &[u8]) -> BrokerError {
        #[derive(Deserialize)]
        struct ErrorBody {
            error: String,
        }
        let token = self.token.expose_secret();
        let message = serde_json::from_slice::<ErrorBody>(bytes)
            .ok()
            .map(|b| redact(&b.error, token));
        let text = || {
            message
                .clone()
                .unwrap_or_else(|| "no {\"error\"} in its answer".into())
        };
        match status {
            401 => BrokerError::Unauthorized {
                message: text(),
                broker: self.url.base(),
            },
            403 => BrokerError::Forbidden { message: text() },
            429 => BrokerError::TooMany { message: text() },
            502..=504 => BrokerError::Harbor {
                status,
                message: text(),
            },
            _ => BrokerError::Unexpected { status, message },
        }
    }

    fn classify(&self, e: &reqwest::Error) -> BrokerError {
        if e.is_timeout() {
            return BrokerError::Timeout {
                after: self.timeout,
            };
        }
        if let Some(problem) = tls::cert_problem_in(e) {
            return BrokerError::Tls {
                host: self.url.bare_host().to_owned(),
                problem,
            };
        }
        if e.is_dns() {
            return BrokerError::Dns {
                host: self.url.bare_host().to_owned(),
                detail: root_cause(e),
            };
        }
        if e.is_connect() {
            return BrokerError::Connect {
                target: format!("{}:{}", self.url.host(), self.url.port()),
                detail: root_cause(e),
            };
        }
        BrokerError::Request {
            detail: root_cause(e),
        }
    }
}

/// `message` without `token` in it.
fn redact(message: &str, token: &str) -> String {
    if token.is_empty() {
        message.to_owned()
    } else {
        message.replace(token, "(the id_token)")
    }
}

/// The 201 body, checked field by field (public for the fuzz target).
pub fn granted(bytes: &[u8]) -> Result<Granted, BrokerError> {
    // The values are not shown: an answer that is not the contract's may hold anything.
    let bad = |detail: String| BrokerError::BadAnswer { detail };
    let a: Answer = serde_json::from_slice(bytes).map_err(|e| {
        // Where, and of which kind, only: serde's own text can quote a value.
        bad(format!(
            "not the contract's JSON (line {}, column {}: {})",
            e.line(),
            e.column(),
            match e.classify() {
                serde_json::error::Category::Data => "a field is missing or of the wrong type",
                _ => "not JSON",
            }
        ))
    })?;
    // `host[:port]` alone: a scheme, path or user information means another contract.
    let bare =
        !a.registry.contains(['/', '@', '?', '#']) && !a.registry.contains(char::is_whitespace);
    let registry = Registry::parse(&a.registry)
        .ok()
        .filter(|r| bare && !r.is_docker_hub())
        .ok_or_else(|| {
            bad("its registry is not a host[:port] (it has a scheme, a path, user information, or names Docker Hub)".into())
        })?;
    let robot = ProjectRobot {
        project: a.project,
        username: a.username,
        password: a.password,
        expires_at: a.expires_at,
    };
    let mut projects: Vec<&str> = Vec::new();
    for r in std::iter::once(&robot).chain(&a.other_projects) {
        if r.username.is_empty() || r.username.chars().any(char::is_control) {
            return Err(bad("a username is empty or holds control characters".into()));
        }
        if !is_project_name(&r.project) {
            return Err(bad("a project is not a Harbor project name".into()));
        }
        if r.password.expose_secret().is_empty() {
            return Err(bad("a password is empty".into()));
        }
        if projects.contains(&r.project.as_str()) {
            return Err(bad("it names a project twice".into()));
        }
        projects.push(&r.project);
    }
    Ok(Granted {
        registry,
        robot,
        others: a.other_projects,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_201_is_read_strictly_and_its_errors_never_show_the_password() {
        let ok = br#"{"registry":"harbor.example:8443","username":"robot$p+hb-1-2-abcdef01","password":"PW","expires_at":1900000000,"project":"p"}"#;
        let g = granted(ok).unwrap();
        assert_eq!(
            (
                g.registry.as_str(),
                g.robot.username.as_str(),
                g.robot.expires_at
            ),
            (
                "harbor.example:8443",
                "robot$p+hb-1-2-abcdef01",
                1_900_000_000
            )
        );
        assert_eq!(g.robot.password.expose_secret(), "PW");
        let upper = br#"{"registry":"Harbor.Example:443","username":"u","password":"PW","expires_at":1,"project":"p"}"#;
        assert_eq!(granted(upper).unwrap().registry.as_str(), "harbor.example");
        assert!(!format!("{g:?}").contains("PW"));
        assert!(g.others.is_empty());
        let two = br#"{"registry":"h","username":"u","password":"PW","expires_at":9,"project":"p","other_projects":[{"project":"q","username":"v","password":"PW2","expires_at":8}]}"#;
        let g = granted(two).unwrap();
        let other = &g.others[0];
        assert_eq!(
            (
                other.project.as_str(),
                other.username.as_str(),
                other.expires_at
            ),
            ("q", "v", 8)
        );
        assert_eq!(other.password.expose_secret(), "PW2");
        assert!(!format!("{g:?}").contains("PW2"));
        for bad in [
            &br#"{"registry":"h","username":"u","password":"PW","expires_at":"soon","project":"p"}"#[..],
            br#"{"registry":"h","username":"u","password":"PW","project":"p"}"#,
            br#"{"registry":"https://h/x","username":"u","password":"PW","expires_at":1,"project":"p"}"#,
            br#"{"registry":"docker.io","username":"u","password":"PW","expires_at":1,"project":"p"}"#,
            br#"{"registry":"u:PW@h","username":"u","password":"PW","expires_at":1,"project":"p"}"#,
            br#"{"registry":"h","username":"u","password":"PW","expires_at":1,"project":"../x"}"#,
            br#"{"registry":"h","username":"","password":"PW","expires_at":1,"project":"p"}"#,
            br#"{"registry":"h","username":"u","password":"PW","expires_at":1,"project":"p","other_projects":[{"project":"p","username":"v","password":"PW2","expires_at":1}]}"#,
            br#"{"registry":"h","username":"u","password":"PW","expires_at":1,"project":"p","other_projects":[{"project":"q","username":"v","password":"","expires_at":1}]}"#,
            br#"{"registry":"h","username":"u","password":"PW","expires_at":1,"project":"p","other_projects":[{"project":"q/r","username":"v","password":"PW2","expires_at":1}]}"#,
            br#"{"registry":"h","username":"u","password":"PW","expires_at":1,"project":"p","other_projects":[{"project":"q","username":"v","password":"PW2"}]}"#,
            br#"<html>PW</html>"#,
        ] {
            let e = granted(bad).unwrap_err().to_string();
            assert!(e.starts_with("harbor-broker's answer (HTTP 201)"), "{e}");
            assert!(!e.contains("PW"), "{e}");
        }
    }

    #[test]
    fn the_broker_echoing_the_token_does_not_put_it_in_a_message() {
        assert_eq!(
            redact("token eyJabc expired", "eyJabc"),
            "token (the id_token) expired"
        );
        assert_eq!(redact("x", ""), "x");
    }
}
