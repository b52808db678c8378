//! The real [`FetchJwks`]: an issuer's JWKS over HTTPS, with blocking reqwest over rustls:
//! GitLab's (`[gitlab] jwks_url`) or the Kubernetes API server's (`[kubernetes] jwks_url`, or,
//! without it, the `jwks_uri` of the issuer's OIDC discovery document, read again at each
//! fetch so a broker starts while the API server is away). Trust is the system store plus the
//! table's `ca_file`, built by the helper's own trust code (`harbor_client::tls`), so there is
//! one way to load CAs in this workspace.
//!
//! What it must never do: follow a redirect (the keys must come from the URL the config names,
//! or the discovery document of the configured issuer), take a discovery document whose
//! `issuer` is not the configured one or whose `jwks_uri` is not https,
//! wait without a bound, read an unbounded answer, go through a proxy to a loopback issuer, or
//! be called on an async thread (reqwest's blocking client runs its own runtime: build and call
//! it off the server's threads, as the key cache is).

use std::io::Read;
use std::time::Duration;

use anyhow::{Context, bail};
use docker_credential_harbor_core::problem::Problem;
use docker_credential_harbor_core::text;
use harbor_client::tls::{self, TrustError};
use reqwest::blocking::Client;
use reqwest::header::{ACCEPT, CACHE_CONTROL, LOCATION};

use crate::config::{Gitlab, Kubernetes};
use crate::keys::{FetchJwks, JwksResponse, MAX_JWKS_BYTES};

/// The deadline of one fetch: connection, TLS, headers and body.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

const USER_AGENT: &str = concat!("harbor-broker/", env!("CARGO_PKG_VERSION"));

/// Why no fetcher could be built: the trust the table's `ca_file` asks for is not usable.
/// `table` is `[gitlab]` or `[kubernetes]`.
#[derive(Debug, thiserror::Error)]
pub enum IssuerError {
    #[error("cannot use {table} ca_file {path}: {detail}")]
    CaFile {
        table: &'static str,
        path: String,
        detail: String,
    },
    #[error(
        "no CA certificates to verify {table} jwks_url with: no system store was found and \
         {table} ca_file is not set"
    )]
    NoRoots { table: &'static str },
    #[error("cannot set up the JWKS fetcher: {0}")]
    Client(String),
}

impl Problem for IssuerError {
    fn hint(&self) -> Option<String> {
        Some(match self {
            IssuerError::CaFile { table, .. } | IssuerError::NoRoots { table } => format!(
                "point {table} ca_file at a readable PEM file holding the CA that signed the \
                 issuer's certificate"
            ),
            IssuerError::Client(_) => "report this as a bug".into(),
        })
    }
}

/// Where the keys are.
#[derive(Debug)]
enum Target {
    /// The JWKS at this URL.
    Jwks(String),
    /// The `jwks_uri` of this issuer's OIDC discovery document.
    Discovery { issuer: String },
}

/// Fetches one issuer's JWKS.
#[derive(Debug)]
pub struct HttpsJwks {
    target: Target,
    /// `[gitlab]` or `[kubernetes]`: the table a message names.
    table: &'static str,
    http: Client,
}

/// The discovery document's members the broker reads.
#[derive(serde::Deserialize)]
struct Discovery {
    issuer: String,
    jwks_uri: String,
}

impl HttpsJwks {
    /// A fetcher for `gitlab.jwks_url`, trusting the system store and `gitlab.ca_file`.
    pub fn new(gitlab: &Gitlab) -> Result<HttpsJwks, IssuerError> {
        HttpsJwks::build(
            "[gitlab]",
            Target::Jwks(gitlab.jwks_url.clone()),
            gitlab.ca_file.clone(),
        )
    }

    /// A fetcher for the cluster's keys: `kubernetes.jwks_url`, or by OIDC discovery from
    /// `kubernetes.issuer`; trusting the system store and `kubernetes.ca_file`.
    pub fn kubernetes(kubernetes: &Kubernetes) -> Result<HttpsJwks, IssuerError> {
        let target = match &kubernetes.jwks_url {
            Some(url) => Target::Jwks(url.clone()),
            None => Target::Discovery {
                issuer: kubernetes.issuer.clone(),
            },
        };
        HttpsJwks::build("[kubernetes]", target, kubernetes.ca_file.clone())
    }

    fn build(
        table: &'static str,
        target: Target,
        ca_file: Option<std::path::PathBuf>,
    ) -> Result<HttpsJwks, IssuerError> {
        let trust = tls::with_ca_file(ca_file).map_err(|e| match e {
            TrustError::CaFile { path, detail } => IssuerError::CaFile {
                table,
                path: text::inline(&path.display().to_string()).into_owned(),
                detail: detail.to_string(),
            },
            TrustError::NoRoots { .. } => IssuerError::NoRoots { table },
            TrustError::Rustls(e) => IssuerError::Client(e.to_string()),
        })?;
        let mut builder = Client::builder()
            .use_preconfigured_tls(trust.config.as_ref().clone())
            .https_only(true)
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(FETCH_TIMEOUT)
            .timeout(FETCH_TIMEOUT)
            .user_agent(USER_AGENT);
        let first_url = match &target {
            Target::Jwks(url) => url,
            Target::Discovery { issuer } => issuer,
        };
        if is_loopback(first_url) {
            // A proxy is another host: it would answer for this machine.
            builder = builder.no_proxy();
        }
        let http = builder
            .build()
            .map_err(|e| IssuerError::Client(format!("{e:#}")))?;
        Ok(HttpsJwks {
            target,
            table,
            http,
        })
    }
}

fn is_loopback(url: &str) -> bool {
    let Ok(url) = reqwest::Url::parse(url) else {
        return false;
    };
    let host = url.host_str().unwrap_or_default();
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

impl HttpsJwks {
    /// GETs `url`: no redirect followed, a success status, at most [`MAX_JWKS_BYTES`] + 1
    /// bytes read (the caller refuses more). `what` names the key to check in messages.
    fn get(&self, url: &str, what: &str) -> anyhow::Result<JwksResponse> {
        let shown = text::inline(url);
        let mut response = self
            .http
            .get(url)
            .header(ACCEPT, "application/json")
            .send()
            .with_context(|| format!("GET {shown} failed"))?;
        let status = response.status();
        if status.is_redirection() {
            let to = response
                .headers()
                .get(LOCATION)
                .and_then(|v| v.to_str().ok())
                .map(|v| text::inline(v).into_owned())
                .unwrap_or_default();
            bail!(
                "{shown} answered {status}, a redirect to {to:?}, which the broker does not \
                 follow; set {} jwks_url to the URL that serves the keys",
                self.table
            );
        }
        if !status.is_success() {
            bail!("{shown} answered {status}; check {what}");
        }
        let cache_control = response
            .headers()
            .get(CACHE_CONTROL)
            .and_then(|v| v.to_str().ok())
            .map(String::from);
        // One byte past the bound, so the caller sees an oversized body and says so.
        let mut body = Vec::new();
        (&mut response)
            .take(MAX_JWKS_BYTES as u64 + 1)
            .read_to_end(&mut body)
            .with_context(|| format!("reading the answer of {shown} failed"))?;
        Ok(JwksResponse {
            body,
            cache_control,
        })
    }

    /// The `jwks_uri` of `issuer`'s discovery document, checked.
    fn discover(&self, issuer: &str) -> anyhow::Result<String> {
        let url = format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        );
        let fix = "[kubernetes] issuer (the API server's --service-account-issuer), or set \
                   [kubernetes] jwks_url";
        let answer = self.get(&url, fix)?;
        let shown = text::inline(&url);
        if answer.body.len() > MAX_JWKS_BYTES {
            bail!("{shown} answered more than {MAX_JWKS_BYTES} bytes; set [kubernetes] jwks_url");
        }
        let document: Discovery = serde_json::from_slice(&answer.body).map_err(|e| {
            anyhow::anyhow!(
                "{shown} is not an OIDC discovery document ({}); check {fix}",
                text::inline(&e.to_string())
                    .chars()
                    .take(160)
                    .collect::<String>()
            )
        })?;
        if document.issuer != issuer {
            bail!(
                "{shown} names the issuer {:?}, not [kubernetes] issuer {:?}; write the tokens' \
                 iss exactly in [kubernetes] issuer",
                text::inline(&document.issuer),
                text::inline(issuer)
            );
        }
        if !document.jwks_uri.starts_with("https://") {
            bail!(
                "{shown} gives the jwks_uri {:?}, which is not https; set [kubernetes] jwks_url \
                 to an https URL that serves the cluster's keys",
                text::inline(&document.jwks_uri)
            );
        }
        Ok(document.jwks_uri)
    }
}

impl FetchJwks for HttpsJwks {
    fn fetch(&self) -> anyhow::Result<JwksResponse> {
        match &self.target {
            Target::Jwks(url) => self.get(
                url,
                &format!(
                    "{} jwks_url (GitLab serves /oauth/discovery/keys)",
                    self.table
                ),
            ),
            Target::Discovery { issuer } => {
                let jwks_uri = self.discover(issuer)?;
                self.get(
                    &jwks_uri,
                    "the jwks_uri of the issuer's discovery document, or set [kubernetes] jwks_url",
                )
            }
        }
    }
}
