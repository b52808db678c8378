//! The per-request pipeline, in Harbor's middleware order (`src/server/middlewares.go`): log the
//! request, apply an injected fault (docs/harbor-api.md#faults-and-tls-modes), then merge slashes,
//! request id, session cookie and CSRF (docs/harbor-api.md#every-call), security context
//! (docs/harbor-api.md#authentication), read-only, and finally the route (`api`, `token`,
//! `registry`). It must never answer a faulted request normally.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::Request;
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderValue};
use tokio::sync::Notify;

use super::Shared;
use crate::model::{Auth, FROZEN, Principal};
use crate::respond::{self, Resp};
use crate::{Fault, api, registry, token, util};

pub(crate) async fn handle(
    shared: Arc<Shared>,
    req: Request<Incoming>,
    reset: Arc<Notify>,
) -> Resp {
    let seq = shared.log_request(&req);
    let raw_path = req.uri().path().to_owned();
    let resp = match shared.fault_for(&raw_path) {
        Fault::None => core(&shared, req).await,
        Fault::Status500 => finish(respond::internal(), &request_id(req.headers())),
        Fault::Html502 => respond::nginx_page(502),
        Fault::Html503 => respond::nginx_page(503),
        Fault::Html504 => respond::nginx_page(504),
        Fault::Slow(d) => {
            tokio::time::sleep(d).await;
            core(&shared, req).await
        }
        Fault::Redirect(location) => {
            let mut resp = respond::empty(302);
            if let Ok(v) = HeaderValue::from_str(&location) {
                resp.headers_mut().insert(header::LOCATION, v);
            }
            resp
        }
        Fault::Reset => {
            let _ = req.into_body().collect().await;
            reset.notify_one();
            // The connection is dropped before this ever resolves.
            std::future::pending::<Resp>().await
        }
        Fault::ErrorMessage { status, message } => finish(
            respond::error(status.min(499), "FORBIDDEN", &message),
            &request_id(req.headers()),
        ),
        Fault::Huge(n) => respond::with_body(200, respond::JSON, vec![b' '; n]),
        Fault::Flaky {
            percent_503,
            percent_slow,
            slow,
        } => {
            let roll = |percent: u8| util::random_bytes(1)[0] % 100 < percent;
            if roll(percent_503) {
                respond::nginx_page(503)
            } else {
                if roll(percent_slow) {
                    tokio::time::sleep(slow).await;
                }
                core(&shared, req).await
            }
        }
        Fault::Panic => panic!("harbor-double: Fault::Panic injected on {raw_path}"),
    };
    shared.set_status(seq, resp.status().as_u16());
    resp
}

/// Harbor core proper: everything after nginx.
async fn core(shared: &Arc<Shared>, req: Request<Incoming>) -> Resp {
    let rid = request_id(req.headers());
    let method = req.method().as_str().to_owned();
    let path = merge_slashes(req.uri().path());
    let query = util::parse_query(req.uri().query().unwrap_or(""));

    // docs/harbor-api.md#session-cookie-and-csrf: skipped for /api/, /v2/ and /service/ unless the
    // request carries `sid`.
    let safe = matches!(method.as_str(), "GET" | "HEAD" | "OPTIONS" | "TRACE");
    if !safe && has_sid_cookie(req.headers()) && !req.headers().contains_key("x-harbor-csrf-token")
    {
        return finish(respond::error(403, "FORBIDDEN", "CSRF token invalid"), &rid);
    }
    // docs/harbor-api.md#ping-and-systeminfo: ping skips the security middleware altogether (no
    // auth, no failed-login delay).
    if path == "/api/v2.0/ping" {
        return finish(api::ping(shared, &method), &rid);
    }

    let creds = basic_credentials(req.headers());
    let who = authenticate(shared, creds.as_ref(), &method, &path).await;

    // docs/harbor-api.md#read-only-mode: every modifying request is refused, API and /v2 alike.
    if shared.config.read_only && matches!(method.as_str(), "POST" | "PUT" | "PATCH" | "DELETE") {
        let msg = "The system is in read only mode. Any modification is prohibited.";
        return finish(respond::error(403, "DENIED", msg), &rid);
    }

    let resp = if path == "/v2" || path.starts_with("/v2/") {
        registry::handle(shared, req, &path, who, creds.is_some()).await
    } else if path == "/service/token" {
        token::handle(shared, &method, &query, who)
    } else if path.starts_with("/api/") {
        let headers = req.headers().clone();
        let body = match Limited::new(req.into_body(), 1 << 20).collect().await {
            Ok(b) => b.to_bytes(),
            Err(_) => Bytes::new(),
        };
        let request = api::ApiRequest {
            method: &method,
            path: &path,
            query: &query,
            headers: &headers,
            body: &body,
            who,
        };
        api::handle(shared, &request)
    } else {
        respond::not_found("resource not found")
    };
    finish(resp, &rid)
}

/// Runs Harbor's security generators; on ErrAuth with the delay on, sleeps 1.5 s in the
/// request as Harbor does (docs/harbor-api.md#authentication).
async fn authenticate(
    shared: &Shared,
    creds: Option<&(String, String)>,
    method: &str,
    path: &str,
) -> Principal {
    let outcome =
        shared
            .model()
            .authenticate(creds.map(|(u, p)| (u.as_str(), p.as_str())), method, path);
    match outcome {
        Auth::As(who) => who,
        Auth::Failed => {
            if shared.config.failed_login_delay {
                tokio::time::sleep(FROZEN).await;
            }
            Principal::Anonymous
        }
    }
}

/// What every core response carries (docs/harbor-api.md#every-call): the request id, and a fresh
/// session cookie that a well-behaved client must ignore.
fn finish(mut resp: Resp, rid: &str) -> Resp {
    let headers = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(rid) {
        headers.insert("x-request-id", v);
    }
    let sid = format!(
        "sid={}; Path=/; HttpOnly",
        util::hex(&util::random_bytes(16))
    );
    if let Ok(v) = HeaderValue::from_str(&sid) {
        headers.append(header::SET_COOKIE, v);
    }
    headers
        .entry(header::SERVER)
        .or_insert(HeaderValue::from_static("nginx"));
    resp
}

/// The caller's X-Request-Id, or a new UUID (docs/harbor-api.md#request-id).
fn request_id(headers: &HeaderMap) -> String {
    headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
        .map_or_else(util::uuid_v4, str::to_owned)
}

fn has_sid_cookie(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .any(|c| c.trim().starts_with("sid="))
}

/// Go's `Request.BasicAuth`: scheme `Basic` in any case, standard base64, split at the
/// first colon.
pub(crate) fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(util::b64_decode(rest)?).ok()?;
    let (user, pass) = decoded.split_once(':')?;
    Some((user.to_owned(), pass.to_owned()))
}

/// docs/harbor-api.md#duplicate-slashes: Harbor merges duplicate slashes before routing.
fn merge_slashes(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for c in path.chars() {
        if !(c == '/' && out.ends_with('/')) {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_slashes_are_merged() {
        assert_eq!(merge_slashes("//api//v2.0///ping"), "/api/v2.0/ping");
        assert_eq!(merge_slashes("/v2/"), "/v2/");
    }

    #[test]
    fn basic_credentials_split_at_the_first_colon() {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("basic {}", util::b64(b"robot$p+x:a:b"))).unwrap(),
        );
        assert_eq!(
            basic_credentials(&h),
            Some(("robot$p+x".into(), "a:b".into()))
        );
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer abc"),
        );
        assert_eq!(basic_credentials(&h), None);
    }
}
