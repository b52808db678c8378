//! The real [`FetchJwks`]: GitLab's JWKS (`[gitlab] jwks_url`) over HTTPS, with blocking reqwest
//! over rustls. Trust is the system store plus `[gitlab] ca_file`, built by the helper's own
//! trust code (`harbor_client::tls`), so there is one way to load CAs in this workspace.
//!
//! What it must never do: follow a redirect (the keys must come from the URL the config names),
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

use crate::config::Gitlab;
use crate::keys::{FetchJwks, JwksResponse, MAX_JWKS_BYTES};

/// The deadline of one fetch: connection, TLS, headers and body.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

const USER_AGENT: &str = concat!("harbor-broker/", env!("CARGO_PKG_VERSION"));

/// Why no fetcher could be built: the trust `[gitlab] ca_file` asks for is not usable.
#[derive(Debug, thiserror::Error)]
pub enum IssuerError {
    #[error("cannot use [gitlab] ca_file {path}: {detail}")]
    CaFile { path: String, detail: String },
    #[error(
        "no CA certificates to verify [gitlab] jwks_url with: no system store was found and \
         [gitlab] ca_file is not set"
    )]
    NoRoots,
    #[error("cannot set up the JWKS fetcher: {0}")]
    Client(String),
}

impl Problem for IssuerError {
    fn hint(&self) -> Option<String> {
        Some(match self {
            IssuerError::CaFile { .. } | IssuerError::NoRoots => {
                "point [gitlab] ca_file at a readable PEM file holding the CA that signed \
                 GitLab's certificate"
                    .into()
            }
            IssuerError::Client(_) => "report this as a bug".into(),
        })
    }
}

/// Fetches the JWKS at one URL.
#[derive(Debug)]
pub struct HttpsJwks {
    url: String,
    http: Client,
}

impl HttpsJwks {
    /// A fetcher for `gitlab.jwks_url`, trusting the system store and `gitlab.ca_file`.
    pub fn new(gitlab: &Gitlab) -> Result<HttpsJwks, IssuerError> {
        let trust = tls::with_ca_file(gitlab.ca_file.clone()).map_err(|e| match e {
            TrustError::CaFile { path, detail } => IssuerError::CaFile {
                path: text::inline(&path.display().to_string()).into_owned(),
                detail: detail.to_string(),
            },
            TrustError::NoRoots { .. } => IssuerError::NoRoots,
            TrustError::Rustls(e) => IssuerError::Client(e.to_string()),
        })?;
        let mut builder = Client::builder()
            .use_preconfigured_tls(trust.config.as_ref().clone())
            .https_only(true)
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(FETCH_TIMEOUT)
            .timeout(FETCH_TIMEOUT)
            .user_agent(USER_AGENT);
        if is_loopback(&gitlab.jwks_url) {
            // A proxy is another host: it would answer for this machine.
            builder = builder.no_proxy();
        }
        let http = builder
            .build()
            .map_err(|e| IssuerError::Client(format!("{e:#}")))?;
        Ok(HttpsJwks {
            url: gitlab.jwks_url.clone(),
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

impl FetchJwks for HttpsJwks {
    fn fetch(&self) -> anyhow::Result<JwksResponse> {
        let url = text::inline(&self.url);
        let mut response = self
            .http
            .get(&self.url)
            .header(ACCEPT, "application/json")
            .send()
            .with_context(|| format!("GET {url} failed"))?;
        let status = response.status();
        if status.is_redirection() {
            let to = response
                .headers()
                .get(LOCATION)
                .and_then(|v| v.to_str().ok())
                .map(|v| text::inline(v).into_owned())
                .unwrap_or_default();
            bail!(
                "{url} answered {status}, a redirect to {to:?}, which the broker does not \
                 follow; set [gitlab] jwks_url to the URL that serves the keys"
            );
        }
        if !status.is_success() {
            bail!(
                "{url} answered {status}; check [gitlab] jwks_url (GitLab serves /oauth/discovery/keys)"
            );
        }
        let cache_control = response
            .headers()
            .get(CACHE_CONTROL)
            .and_then(|v| v.to_str().ok())
            .map(String::from);
        // One byte past the bound, so parse_jwks sees an oversized body and says so.
        let mut body = Vec::new();
        (&mut response)
            .take(MAX_JWKS_BYTES as u64 + 1)
            .read_to_end(&mut body)
            .with_context(|| format!("reading the answer of {url} failed"))?;
        Ok(JwksResponse {
            body,
            cache_control,
        })
    }
}
