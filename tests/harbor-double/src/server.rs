//! The listeners and the per-request pipeline, in Harbor's middleware order
//! (`src/server/middlewares.go`): log the request, apply an injected fault, then merge
//! slashes, request id, session cookie and CSRF (§0), security context (§0, §5, §6),
//! read-only (§5), and finally the route (`api`, `token`, `registry`). The plain-HTTP listener
//! is nginx's redirector (§0 Redirects). Nothing here may listen beyond 127.0.0.1.

use std::convert::Infallible;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_rustls::TlsAcceptor;

use crate::model::{Auth, FROZEN, Model, Principal};
use crate::pki::{TlsFiles, TokenKey};
use crate::respond::{self, Resp};
use crate::{Config, Fault, Logged, api, registry, token, util};

/// State shared by every connection of one double.
pub(crate) struct Shared {
    pub(crate) config: Config,
    model: Mutex<Model>,
    faults: Mutex<Faults>,
    log: Mutex<RequestLog>,
    pub(crate) https_port: u16,
    pub(crate) registry_port: Option<u16>,
    pub(crate) key: &'static TokenKey,
    /// Plain HTTP/1.1 to the registry on loopback; bodies stream through it both ways.
    pub(crate) client: Client<HttpConnector, Incoming>,
}

#[derive(Default)]
struct Faults {
    global: Fault,
    by_prefix: Vec<(String, Fault)>,
}

#[derive(Default)]
struct RequestLog {
    next: u64,
    entries: Vec<(u64, Logged)>,
}

/// A poisoned lock only means a handler panicked mid-update; the double's state is still
/// usable for the rest of the test, which will report that panic anyway.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Shared {
    pub(crate) fn new(
        config: Config,
        https_port: u16,
        registry_port: Option<u16>,
        key: &'static TokenKey,
    ) -> Shared {
        Shared {
            model: Mutex::new(Model::new(config.clone())),
            config,
            faults: Mutex::new(Faults::default()),
            log: Mutex::new(RequestLog::default()),
            https_port,
            registry_port,
            key,
            client: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    pub(crate) fn model(&self) -> MutexGuard<'_, Model> {
        lock(&self.model)
    }

    pub(crate) fn set_fault(&self, prefix: Option<&str>, fault: Fault) {
        let mut faults = lock(&self.faults);
        match prefix {
            None if fault == Fault::None => *faults = Faults::default(),
            None => faults.global = fault,
            Some(prefix) => {
                faults.by_prefix.retain(|(p, _)| p != prefix);
                if fault != Fault::None {
                    faults.by_prefix.push((prefix.to_owned(), fault));
                }
            }
        }
    }

    fn fault_for(&self, path: &str) -> Fault {
        let faults = lock(&self.faults);
        faults
            .by_prefix
            .iter()
            .filter(|(p, _)| path.starts_with(p.as_str()))
            .max_by_key(|(p, _)| p.len())
            .map_or_else(|| faults.global.clone(), |(_, f)| f.clone())
    }

    pub(crate) fn requests(&self) -> Vec<Logged> {
        lock(&self.log)
            .entries
            .iter()
            .map(|(_, l)| l.clone())
            .collect()
    }

    pub(crate) fn clear_requests(&self) {
        lock(&self.log).entries.clear();
    }

    fn log_request<B>(&self, req: &Request<B>) -> u64 {
        let headers = req
            .headers()
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let entry = Logged {
            method: req.method().as_str().to_owned(),
            path: req
                .uri()
                .path_and_query()
                .map_or_else(|| req.uri().path().to_owned(), |pq| pq.as_str().to_owned()),
            headers,
            status: 0,
            received_ms: util::now_millis(),
        };
        let mut log = lock(&self.log);
        let seq = log.next;
        log.next += 1;
        log.entries.push((seq, entry));
        seq
    }

    fn set_status(&self, seq: u64, status: u16) {
        if let Some((_, entry)) = lock(&self.log).entries.iter_mut().find(|(s, _)| *s == seq) {
            entry.status = status;
        }
    }
}

/// TLS 1.2 and 1.3 only, as Harbor's nginx (§0 TLS); HTTP/1.1 only; the ring provider is
/// passed explicitly so that no process-wide default provider is needed.
pub(crate) fn tls_acceptor(files: &TlsFiles) -> TlsAcceptor {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|b| {
            b.with_no_client_auth().with_single_cert(
                vec![CertificateDer::from(files.server_cert_der.clone())],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(files.server_key_der.clone())),
            )
        })
        .unwrap_or_else(|e| panic!("harbor-double: cannot configure TLS: {e}"));
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    TlsAcceptor::from(Arc::new(config))
}

/// Must be called inside the runtime.
pub(crate) fn spawn_https(shared: Arc<Shared>, listener: std::net::TcpListener, tls: TlsAcceptor) {
    let listener = TcpListener::from_std(listener)
        .unwrap_or_else(|e| panic!("harbor-double: cannot use the listener: {e}"));
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            };
            let (shared, tls) = (shared.clone(), tls.clone());
            // Harbor's nginx answers without Nagle delays; without this, a response split
            // over two TLS records can stall 40 ms on the client's delayed ACK.
            let _ = tcp.set_nodelay(true);
            tokio::spawn(async move {
                let fd = tcp.as_raw_fd();
                // A client that rejects the certificate ends here, before any HTTP request.
                if let Ok(Ok(stream)) =
                    tokio::time::timeout(Duration::from_secs(10), tls.accept(tcp)).await
                {
                    serve(TokioIo::new(stream), fd, shared, true).await;
                }
            });
        }
    });
}

/// Must be called inside the runtime.
pub(crate) fn spawn_plain(shared: Arc<Shared>, listener: std::net::TcpListener) {
    let listener = TcpListener::from_std(listener)
        .unwrap_or_else(|e| panic!("harbor-double: cannot use the listener: {e}"));
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            };
            let _ = tcp.set_nodelay(true);
            let fd = tcp.as_raw_fd();
            tokio::spawn(serve(TokioIo::new(tcp), fd, shared.clone(), false));
        }
    });
}

async fn serve<I>(io: I, fd: RawFd, shared: Arc<Shared>, https: bool)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let reset = Arc::new(Notify::new());
    let service_reset = reset.clone();
    let service = service_fn(move |req| {
        let (shared, reset) = (shared.clone(), service_reset.clone());
        async move {
            Ok::<_, Infallible>(if https {
                handle(shared, req, reset).await
            } else {
                redirect_to_https(&shared, &req)
            })
        }
    });
    // Go writes canonical header names (X-Request-Id, Www-Authenticate); so does the double.
    let conn = http1::Builder::new()
        .title_case_headers(true)
        .serve_connection(io, service);
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        () = reset.notified() => {
            // Fault::Reset: SO_LINGER 0 makes the close below a TCP RST, not a clean FIN.
            linger_zero(fd);
        }
    }
}

fn linger_zero(fd: RawFd) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: `fd` is the connection's socket, still open (the connection is dropped only
    // after this call returns); setsockopt reads exactly `size_of::<linger>()` bytes.
    unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            std::ptr::from_ref(&linger).cast(),
            libc::socklen_t::try_from(std::mem::size_of::<libc::linger>()).unwrap_or(8),
        );
    }
}

/// nginx's port-80 server: `return 308 https://…$request_uri;` for everything (§0 Redirects).
/// The double points at its HTTPS port, so that following the redirect reaches it.
fn redirect_to_https(shared: &Shared, req: &Request<Incoming>) -> Resp {
    let seq = shared.log_request(req);
    let target = req.uri().path_and_query().map_or("/", |pq| pq.as_str());
    let mut resp = respond::nginx_page(308);
    if let Ok(v) =
        HeaderValue::from_str(&format!("https://127.0.0.1:{}{target}", shared.https_port))
    {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    shared.set_status(seq, 308);
    resp
}

async fn handle(shared: Arc<Shared>, req: Request<Incoming>, reset: Arc<Notify>) -> Resp {
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

    // §0 CSRF: skipped for /api/, /v2/ and /service/ unless the request carries `sid`.
    let safe = matches!(method.as_str(), "GET" | "HEAD" | "OPTIONS" | "TRACE");
    if !safe && has_sid_cookie(req.headers()) && !req.headers().contains_key("x-harbor-csrf-token")
    {
        return finish(respond::error(403, "FORBIDDEN", "CSRF token invalid"), &rid);
    }
    // §1: ping skips the security middleware altogether (no auth, no failed-login delay).
    if path == "/api/v2.0/ping" {
        return finish(api::ping(shared, &method), &rid);
    }

    let creds = basic_credentials(req.headers());
    let who = authenticate(shared, creds.as_ref(), &method, &path).await;

    // §5 read-only: every modifying request is refused, API and /v2 alike.
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
/// request as Harbor does (§0).
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

/// What every core response carries (§0): the request id, and a fresh session cookie that
/// a well-behaved client must ignore.
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

/// The caller's X-Request-Id, or a new UUID (§0).
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

/// §0: Harbor merges duplicate slashes before routing.
fn merge_slashes(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for c in path.chars() {
        if !(c == '/' && out.ends_with('/')) {
            out.push(c);
        }
    }
    out
}

/// Streams a registry response back unchanged apart from hop-by-hop headers.
pub(crate) fn relay(resp: Response<Incoming>) -> Resp {
    let (mut parts, body) = resp.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    Response::from_parts(parts, body.map_err(respond::BoxError::from).boxed())
}

pub(crate) fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<String> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .collect();
    for name in named {
        headers.remove(name.as_str());
    }
    for name in [
        "connection",
        "keep-alive",
        "proxy-connection",
        "transfer-encoding",
        "te",
        "trailer",
        "upgrade",
    ] {
        headers.remove(name);
    }
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
