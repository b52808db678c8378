//! The Harbor client: blocking reqwest over rustls, for `doctor` and the runner hooks.
//!
//! Never reachable from the protocol path (`protocol`, `sources`): `get` must not build an
//! HTTP client. It keeps no cookies (Harbor's `sid` would turn every later non-GET call into a
//! CSRF failure), follows no redirect (a 3xx is reported with its `Location`, and credentials
//! are never re-sent), bounds every call with a timeout, and retries only idempotent calls on
//! 502/503/504 or a dropped connection, never after a 401 (Harbor locks the user for 1.5 s).
//! Credentials leave their `SecretString` only into reqwest's Basic auth header, which reqwest
//! marks sensitive.

pub mod error;
pub mod robots;
pub mod tls;
pub mod token;
pub mod url;
pub mod verify;

use std::time::{Duration, Instant};

use reqwest::Method;
use reqwest::blocking::{Client, RequestBuilder};
use secrecy::{ExposeSecret, SecretString};

pub use error::HarborError;
use tls::Trust;
use url::HarborUrl;

use crate::env::Env;

/// Seconds to wait for Harbor (connect, and each whole call).
pub const TIMEOUT_VAR: &str = "DOCKER_CREDENTIAL_HARBOR_TIMEOUT";
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
const USER_AGENT: &str = concat!("docker-credential-harbor/", env!("CARGO_PKG_VERSION"));
/// Attempts for an idempotent call that met a 502/503/504 or a dropped connection.
const ATTEMPTS: u32 = 3;

/// `DOCKER_CREDENTIAL_HARBOR_TIMEOUT` in seconds; `Err` holds the value that is not a
/// positive number, so the caller can say so.
pub fn timeout(env: &Env) -> Result<Duration, String> {
    match env.var(TIMEOUT_VAR) {
        None => Ok(DEFAULT_TIMEOUT),
        Some(v) => match v.trim().parse::<f64>() {
            Ok(s) if s > 0.0 && s.is_finite() && s <= 3600.0 => Ok(Duration::from_secs_f64(s)),
            _ => Err(v),
        },
    }
}

/// A user name and password for Basic auth.
#[derive(Clone, Debug)]
pub struct Account {
    pub username: String,
    pub password: SecretString,
}

/// One HTTP answer, read whole (Harbor's API answers are small).
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub request_id: Option<String>,
    pub content_type: String,
    pub total_count: Option<u64>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn is_json(&self) -> bool {
        self.content_type.starts_with("application/json")
    }

    /// The first `errors[].message` of Harbor's error body; never the raw body.
    pub fn error_message(&self) -> Option<String> {
        if !self.is_json() {
            return None;
        }
        #[derive(serde::Deserialize)]
        struct Errors {
            errors: Vec<Item>,
        }
        #[derive(serde::Deserialize)]
        struct Item {
            #[serde(default)]
            code: String,
            #[serde(default)]
            message: String,
        }
        let e: Errors = serde_json::from_slice(&self.body).ok()?;
        let first = e.errors.into_iter().next()?;
        Some(format!("{}: {}", first.code, first.message))
    }

    /// An `Unexpected` error for this reply.
    pub fn unexpected(&self, what: &str) -> HarborError {
        HarborError::Unexpected {
            what: what.to_owned(),
            status: self.status,
            request_id: self.request_id.clone(),
            message: self.error_message(),
        }
    }
}

/// A client for one Harbor, with or without an account.
pub struct HarborClient {
    url: HarborUrl,
    http: Client,
    timeout: Duration,
    account: Option<Account>,
    certs_d: Vec<std::path::PathBuf>,
}

impl HarborClient {
    pub fn new(
        url: HarborUrl,
        trust: &Trust,
        timeout: Duration,
        account: Option<Account>,
    ) -> Result<HarborClient, HarborError> {
        let http = Client::builder()
            .use_preconfigured_tls(trust.config.as_ref().clone())
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(timeout)
            .timeout(timeout)
            .user_agent(USER_AGENT)
            .build()
            .map_err(|e| HarborError::Request {
                detail: root_cause(&e),
            })?;
        Ok(HarborClient {
            url,
            http,
            timeout,
            account,
            certs_d: trust.certs_d.clone(),
        })
    }

    /// A client with the trust and timeout the environment asks for (the setup `pre-build`,
    /// `robots prune` and the job robot's keeper share; `doctor` builds its own, because it
    /// reports on each step).
    pub fn from_env(
        env: &Env,
        url: &HarborUrl,
        account: Account,
    ) -> Result<HarborClient, HarborError> {
        let trust = tls::load(env, &url.registry).map_err(HarborError::Trust)?;
        HarborClient::new(
            url.clone(),
            &trust,
            timeout(env).unwrap_or(DEFAULT_TIMEOUT),
            Some(account),
        )
    }

    pub fn url(&self) -> &HarborUrl {
        &self.url
    }

    /// The account's user name, or `anonymous`.
    pub fn user(&self) -> &str {
        self.account
            .as_ref()
            .map_or("anonymous", |a| a.username.as_str())
    }

    pub fn has_account(&self) -> bool {
        self.account.is_some()
    }

    /// `GET path` (retried when it is safe to).
    pub fn get(&self, path_and_query: &str, authenticated: bool) -> Result<Reply, HarborError> {
        self.send(Method::GET, path_and_query, authenticated, None, &[])
    }

    /// `GET path` with extra headers.
    pub fn get_with(
        &self,
        path_and_query: &str,
        headers: &[(&str, &str)],
    ) -> Result<Reply, HarborError> {
        self.send(Method::GET, path_and_query, true, None, headers)
    }

    pub fn head(&self, path_and_query: &str) -> Result<Reply, HarborError> {
        self.send(Method::HEAD, path_and_query, true, None, &[])
    }

    /// `POST` a JSON body; never retried (it is not idempotent).
    pub fn post_json(&self, path: &str, body: &serde_json::Value) -> Result<Reply, HarborError> {
        self.send(Method::POST, path, true, Some(body), &[])
    }

    pub fn delete(&self, path: &str) -> Result<Reply, HarborError> {
        self.send(Method::DELETE, path, true, None, &[])
    }

    fn request(
        &self,
        method: &Method,
        path: &str,
        authenticated: bool,
        body: Option<&serde_json::Value>,
        headers: &[(&str, &str)],
    ) -> RequestBuilder {
        let mut r = self
            .http
            .request(method.clone(), format!("{}{path}", self.url.base()))
            .header("Accept", "application/json");
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        if let (true, Some(a)) = (authenticated, &self.account) {
            // Exposure point: the password goes only into the (sensitive) Authorization header.
            r = r.basic_auth(&a.username, Some(a.password.expose_secret()));
        }
        if let Some(b) = body {
            r = r
                .header("Content-Type", "application/json")
                .body(b.to_string());
        }
        r
    }

    fn send(
        &self,
        method: Method,
        path: &str,
        authenticated: bool,
        body: Option<&serde_json::Value>,
        headers: &[(&str, &str)],
    ) -> Result<Reply, HarborError> {
        let idempotent = method != Method::POST;
        let start = Instant::now();
        let mut pause = Duration::from_millis(250);
        for attempt in 1..=ATTEMPTS {
            let outcome = self
                .request(&method, path, authenticated, body, headers)
                .send();
            let retry = match &outcome {
                Ok(r) => matches!(r.status().as_u16(), 502..=504),
                Err(e) => dropped_connection(e),
            };
            let budget_left = start.elapsed() + pause < self.timeout;
            if !(retry && idempotent && attempt < ATTEMPTS && budget_left) {
                return match outcome {
                    Ok(r) => self.reply(r),
                    Err(e) => Err(self.classify(e)),
                };
            }
            std::thread::sleep(pause);
            pause *= 3;
        }
        unreachable!("the last attempt always returns")
    }

    fn reply(&self, r: reqwest::blocking::Response) -> Result<Reply, HarborError> {
        let header = |name: &str| {
            r.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let status = r.status().as_u16();
        let request_id = header("x-request-id");
        let content_type = header("content-type").unwrap_or_default();
        let total_count = header("x-total-count").and_then(|v| v.parse().ok());
        if (300..400).contains(&status) {
            let location = header("location");
            return Err(HarborError::Redirect { status, location });
        }
        let body = r.bytes().map_err(|e| self.classify(e))?.to_vec();
        let reply = Reply {
            status,
            request_id,
            content_type,
            total_count,
            body,
        };
        if status >= 500 {
            return Err(HarborError::Server {
                status,
                proxy_page: !reply.is_json(),
                request_id: reply.request_id,
            });
        }
        Ok(reply)
    }

    fn classify(&self, e: reqwest::Error) -> HarborError {
        let target = format!("{}:{}", self.url.host, self.url.port);
        if e.is_timeout() {
            return HarborError::Timeout {
                after: self.timeout,
            };
        }
        if let Some(problem) = tls::cert_problem_in(&e) {
            return HarborError::Tls {
                host: self.url.bare_host().to_owned(),
                registry: self.url.registry.clone(),
                problem,
                certs_d: self.certs_d.clone(),
            };
        }
        if e.is_dns() {
            return HarborError::Dns {
                host: self.url.bare_host().to_owned(),
                detail: root_cause(&e),
            };
        }
        if e.is_connect() {
            return HarborError::Connect {
                target,
                detail: root_cause(&e),
            };
        }
        HarborError::Request {
            detail: root_cause(&e),
        }
    }
}

/// A connection that was made and then dropped (reset, closed early): worth one more try.
fn dropped_connection(e: &reqwest::Error) -> bool {
    !e.is_timeout()
        && !e.is_connect()
        && !e.is_builder()
        && !e.is_redirect()
        && tls::cert_problem_in(e).is_none()
}

/// The innermost cause, which says what happened ("Connection refused (os error 111)").
/// reqwest's outer message quotes the URL; ours never carries credentials, but the cause is
/// what a user needs.
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

/// Percent-encodes a query value (project names are plain, but HARBOR_PROJECT may not be).
pub fn query_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        match b {
            b'A'..=b'Z'
            | b'a'..=b'z'
            | b'0'..=b'9'
            | b'-'
            | b'.'
            | b'_'
            | b'~'
            | b'/'
            | b':'
            | b',' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeout_variable() {
        assert_eq!(
            timeout(&Env::from_pairs([(TIMEOUT_VAR, "2.5")])),
            Ok(Duration::from_millis(2500))
        );
        assert_eq!(
            timeout(&Env::empty()).unwrap_or(DEFAULT_TIMEOUT),
            DEFAULT_TIMEOUT
        );
        assert_eq!(
            timeout(&Env::from_pairs([(TIMEOUT_VAR, "0")])),
            Err("0".into())
        );
        assert_eq!(
            timeout(&Env::from_pairs([(TIMEOUT_VAR, "soon")])),
            Err("soon".into())
        );
    }

    #[test]
    fn query_values_are_encoded() {
        assert_eq!(
            query_value("repository:proj/x:pull,push"),
            "repository:proj/x:pull,push"
        );
        assert_eq!(query_value("a b&c"), "a%20b%26c");
    }
}
