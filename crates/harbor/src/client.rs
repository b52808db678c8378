//! The HTTP client for one Harbor: blocking reqwest over rustls.
//!
//! It keeps no cookies (Harbor's `sid` would turn every later non-GET call into a CSRF
//! failure), follows no redirect (a 3xx is reported with its `Location`, and credentials are
//! never re-sent), bounds every call with one deadline (name resolution, connection, TLS,
//! headers, body and any retry; a server that trickles bytes must not hold a job) and every
//! answer with [`MAX_BODY`], and retries only idempotent calls on 502/503/504 or a dropped
//! connection, with jitter, never after a 401 (Harbor locks the user for 1.5 s). Credentials
//! leave their `SecretString` only into reqwest's Basic auth header, which reqwest marks
//! sensitive. A loopback Harbor is never reached through a proxy (the proxy would see the
//! Basic header of a plain-HTTP request).

use std::io::Read;
use std::time::{Duration, Instant};

use reqwest::Method;
use reqwest::blocking::{Client, RequestBuilder};
use secrecy::ExposeSecret;

use docker_credential_harbor_core::integration::Account;
use docker_credential_harbor_core::url::HarborUrl;

use super::tls::{self, Trust};
use super::{HarborError, Options, Reply, dns};

const USER_AGENT: &str = concat!("docker-credential-harbor/", env!("CARGO_PKG_VERSION"));
/// Attempts for an idempotent call that met a 502/503/504 or a dropped connection.
pub const ATTEMPTS: u32 = 3;
/// The largest answer read. Harbor's API answers are a few KiB (a page of 100 robots is about
/// 50 KiB); GitLab's own Harbor client caps bodies at 1 MB.
pub const MAX_BODY: u64 = 1 << 20;
/// The first pause before a retry; each later one is three times longer, each with jitter.
const FIRST_PAUSE: Duration = Duration::from_millis(250);

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
        let http =
            http_client(trust, timeout, url.is_loopback()).map_err(|e| HarborError::Request {
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

    /// A client with the trust and timeout the options ask for (what `pre-build`, `robots
    /// prune` and the job robot's keeper share; `doctor` builds its own, because it reports
    /// on each step).
    pub fn with_options(
        options: &Options,
        url: &HarborUrl,
        account: Account,
    ) -> Result<HarborClient, HarborError> {
        let trust = tls::build(options).map_err(HarborError::Trust)?;
        HarborClient::new(url.clone(), &trust, options.timeout, Some(account))
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
        let deadline = Instant::now() + self.timeout;
        let mut pause = FIRST_PAUSE;
        let mut attempt = 1;
        loop {
            // reqwest's blocking client-wide timeout bounds each wait (the headers, then each
            // read of the body), so a trickled answer never ends; a request's own timeout runs
            // from name resolution to the body's last byte, which is the deadline we promise.
            let outcome = self
                .request(&method, path, authenticated, body, headers)
                .timeout(deadline.saturating_duration_since(Instant::now()))
                .send();
            let retry = match &outcome {
                Ok(r) => matches!(r.status().as_u16(), 502..=504),
                Err(e) => dropped_connection(e),
            };
            // Jitter keeps a fleet of jobs that met the same outage from retrying in step.
            let wait = jittered(pause, random_unit());
            let budget_left = Instant::now() + wait < deadline;
            if !(retry && idempotent && attempt < ATTEMPTS && budget_left) {
                return match outcome {
                    Ok(r) => self.reply(r),
                    Err(e) => Err(self.classify(e)),
                };
            }
            drop(outcome);
            std::thread::sleep(wait);
            pause *= 3;
            attempt += 1;
        }
    }

    fn reply(&self, mut r: reqwest::blocking::Response) -> Result<Reply, HarborError> {
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
        let mut body = Vec::new();
        (&mut r)
            .take(MAX_BODY + 1)
            .read_to_end(&mut body)
            .map_err(|e| self.classify_body(e))?;
        if body.len() as u64 > MAX_BODY {
            return Err(HarborError::TooLarge {
                status,
                request_id,
                limit: MAX_BODY,
            });
        }
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

    /// A failure while reading a body: reqwest hands its own error inside an `io::Error`.
    fn classify_body(&self, e: std::io::Error) -> HarborError {
        if e.kind() == std::io::ErrorKind::TimedOut {
            return HarborError::Timeout {
                after: self.timeout,
            };
        }
        match e
            .into_inner()
            .map(|inner| inner.downcast::<reqwest::Error>())
        {
            Some(Ok(re)) => self.classify(*re),
            Some(Err(other)) => HarborError::Request {
                detail: root_cause(other.as_ref()),
            },
            None => HarborError::Request {
                detail: "the connection failed while reading Harbor's answer".into(),
            },
        }
    }

    fn classify(&self, e: reqwest::Error) -> HarborError {
        let target = format!("{}:{}", self.url.host(), self.url.port());
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

/// The HTTP client every call of this crate goes through (Harbor's and harbor-broker's): this
/// trust, no redirect, no cookie, `timeout` as the ceiling of each wait, our resolver, and no
/// proxy for a `loopback` server (a proxy is another host: it would receive what was meant for
/// this machine).
pub(crate) fn http_client(
    trust: &Trust,
    timeout: Duration,
    loopback: bool,
) -> Result<Client, reqwest::Error> {
    let mut builder = Client::builder()
        .use_preconfigured_tls(trust.config.as_ref().clone())
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(timeout)
        // Only a ceiling on each wait: the call's deadline is the request's own timeout.
        .timeout(timeout)
        .user_agent(USER_AGENT)
        .dns_resolver(std::sync::Arc::new(dns::SystemResolver::default()));
    if loopback {
        builder = builder.no_proxy();
    }
    builder.build()
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
pub(crate) fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

/// `pause` scaled by a factor from 0.5 to 1.5 (`unit` in [0, 1)).
fn jittered(pause: Duration, unit: f64) -> Duration {
    pause.mul_f64(0.5 + unit.clamp(0.0, 1.0))
}

/// A number in [0, 1) that differs between processes and calls: std seeds each `RandomState`
/// from the OS once per thread and steps it per call, which is enough for jitter.
fn random_unit() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let bits = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_are_spaced_with_jitter() {
        let base = Duration::from_millis(200);
        assert_eq!(jittered(base, 0.0), Duration::from_millis(100));
        assert_eq!(jittered(base, 0.5), Duration::from_millis(200));
        let draws: std::collections::BTreeSet<u64> =
            (0..50).map(|_| (random_unit() * 1e6) as u64).collect();
        assert!(draws.len() > 40, "{draws:?}");
        assert!(draws.iter().all(|d| *d < 1_000_000));
    }
}
