//! The listeners, both served by one accept loop: HTTPS (TLS 1.2 and 1.3, HTTP/1.1, as Harbor's
//! nginx, docs/harbor-api.md#redirects-and-tls) and, when configured, plain HTTP, which is nginx's
//! redirector and answers everything with 308 (docs/harbor-api.md#redirects-and-tls). Each
//! connection is served by hyper; a request on HTTPS goes to `pipeline`. Nothing here may listen
//! beyond 127.0.0.1 (the caller binds).

use std::convert::Infallible;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;
use std::time::Duration;

use hyper::Request;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_rustls::TlsAcceptor;

use super::Shared;
use super::pipeline::handle;
use crate::pki::TlsFiles;
use crate::respond::{self, Resp};

/// TLS 1.2 and 1.3 only, as Harbor's nginx (docs/harbor-api.md#redirects-and-tls); HTTP/1.1 only;
/// the ring provider is passed explicitly so that no process-wide default provider is needed.
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

/// The accept loop of both listeners: with `tls`, the HTTPS one (the handshake comes first);
/// without, the plain-HTTP redirector. Must be called inside the runtime.
pub(crate) fn spawn_listener(
    shared: Arc<Shared>,
    listener: std::net::TcpListener,
    tls: Option<TlsAcceptor>,
) {
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
                let Some(tls) = tls else {
                    return serve(TokioIo::new(tcp), fd, shared, false).await;
                };
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

/// nginx's port-80 server: `return 308 https://…$request_uri;` for everything
/// (docs/harbor-api.md#redirects-and-tls).
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
