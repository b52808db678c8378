//! Serving an axum router over TCP, in plain HTTP/1.1 or over rustls, with the bounds a
//! service on a network needs: a connection limit, a TLS handshake deadline, a header-read
//! timeout and a header size bound (hyper's), and a graceful shutdown that lets the requests
//! under way finish within a grace period. The broker's server runs on it; so does the test
//! issuer of its tests.
//!
//! What it must never do: wait on a client without a deadline, grow a buffer past its bound,
//! or hold a process open past the grace period on shutdown. The bounds on a request's body
//! and its total time are the router's (they need to answer in its words).

use std::future::Future;
use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use docker_credential_harbor_core::atomic_file::{self, Links};
use docker_credential_harbor_core::problem::Problem;
use docker_credential_harbor_core::text;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use hyper_util::service::TowerToHyperService;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;

/// The bounds of one server.
#[derive(Clone, Debug)]
pub struct Limits {
    /// From a connection's start (or the end of the previous request) to the end of a
    /// request's headers; the TLS handshake gets as long.
    pub header_read_timeout: Duration,
    /// A request's headers, in bytes (hyper answers 431 past it; at least 8 KiB).
    pub max_header_bytes: usize,
    /// A request's body, in bytes (the router answers 413 past it).
    pub max_body_bytes: usize,
    /// From a request's headers to its answer, body included (the router answers 408 or
    /// 504).
    pub request_timeout: Duration,
    /// Connections open at once; the next waits in the listen queue.
    pub max_connections: usize,
    /// How long requests under way may take to finish once shutdown starts.
    pub shutdown_grace: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            header_read_timeout: Duration::from_secs(10),
            // An id_token is about 1.5 KiB; the verifier refuses one over 16 KiB with a
            // clear 401, so the headers may hold that and the rest.
            max_header_bytes: 32 * 1024,
            max_body_bytes: 1024,
            // Longer than a Harbor call with its retries, shorter than a job's patience.
            request_timeout: Duration::from_secs(60),
            max_connections: 1024,
            // Kubernetes sends SIGKILL 30 s after SIGTERM by default.
            shutdown_grace: Duration::from_secs(25),
        }
    }
}

/// Why the TLS files could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot use [tls] {key} {path}: {reason}")]
    File {
        key: &'static str,
        path: String,
        reason: String,
    },
    #[error("[tls] cert_file and key_file do not make a TLS server: {0}")]
    Rustls(rustls::Error),
}

impl Problem for TlsError {
    fn hint(&self) -> Option<String> {
        Some(
            "point [tls] cert_file at the PEM certificate chain (the server's first) and \
             key_file at its PEM private key (PKCS#8, PKCS#1 or SEC1)"
                .into(),
        )
    }
}

/// The largest certificate chain or key file read.
const MAX_PEM_BYTES: u64 = 1 << 20;

/// The file's bytes, wiped when dropped (the key file is a secret).
fn read_pem(
    key: &'static str,
    path: &Path,
) -> Result<impl std::ops::Deref<Target = Vec<u8>>, TlsError> {
    let file_error = |reason: String| TlsError::File {
        key,
        path: text::inline(&path.display().to_string()).into_owned(),
        reason,
    };
    match atomic_file::read_regular(path, Links::Follow, MAX_PEM_BYTES) {
        Ok(Some((bytes, _))) => Ok(bytes),
        Ok(None) => Err(file_error("there is no such file".into())),
        Err(e) => Err(file_error(e.to_string())),
    }
}

/// A TLS acceptor from `[tls] cert_file` and `key_file` (PEM), on the ring provider, TLS 1.2
/// and 1.3, HTTP/1.1 announced over ALPN.
pub fn tls_acceptor(cert_file: &Path, key_file: &Path) -> Result<TlsAcceptor, TlsError> {
    let chain_pem = read_pem("cert_file", cert_file)?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&chain_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::File {
            key: "cert_file",
            path: text::inline(&cert_file.display().to_string()).into_owned(),
            reason: format!("it is not a PEM certificate chain ({e})"),
        })?;
    let no_key = |reason: &str| TlsError::File {
        key: "key_file",
        path: text::inline(&key_file.display().to_string()).into_owned(),
        reason: reason.to_owned(),
    };
    if chain.is_empty() {
        return Err(TlsError::File {
            key: "cert_file",
            path: text::inline(&cert_file.display().to_string()).into_owned(),
            reason: "it holds no PEM certificate".into(),
        });
    }
    let key_pem = read_pem("key_file", key_file)?;
    // rustls' PEM errors never quote the key's bytes.
    let key = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|_| no_key("it holds no PEM private key"))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Rustls)?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(TlsError::Rustls)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Serves `router` on `listener` until `shutdown` resolves, then lets the requests under way
/// finish for at most `limits.shutdown_grace`. An accept error (out of file descriptors) is
/// waited out, not returned: the server lives on.
pub async fn serve(
    router: Router,
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    let mut shutdown = std::pin::pin!(shutdown);
    let connections = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    loop {
        let permit = tokio::select! {
            biased;
            () = &mut shutdown => break,
            permit = connections.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                // Never closed: a closed semaphore would end serving.
                Err(_) => break,
            },
        };
        let tcp = tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => tcp,
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let _ = tcp.set_nodelay(true);
        let watcher = graceful.watcher();
        let router = router.clone();
        let tls = tls.clone();
        let limits = limits.clone();
        tokio::spawn(async move {
            match tls {
                None => connection(tcp, router, &limits, watcher).await,
                Some(tls) => {
                    let handshake =
                        tokio::time::timeout(limits.header_read_timeout, tls.accept(tcp)).await;
                    if let Ok(Ok(stream)) = handshake {
                        connection(stream, router, &limits, watcher).await;
                    }
                }
            }
            drop(permit);
        });
    }
    drop(listener);
    let _ = tokio::time::timeout(limits.shutdown_grace, graceful.shutdown()).await;
}

async fn connection<I>(io: I, router: Router, limits: &Limits, watcher: Watcher)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(limits.max_header_bytes.max(8192));
    let conn = builder.serve_connection(TokioIo::new(io), TowerToHyperService::new(router));
    // A connection that fails (a reset, a timeout, a malformed request) ends alone.
    let _ = watcher.watch(conn).await;
}

/// Resolves on SIGTERM or SIGINT (the service's shutdown); never, if the handlers cannot be
/// installed (then only SIGKILL ends the process, as before).
pub async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}

/// The error of a listener that cannot be bound: the address, the config key and what to do.
pub fn bind_error(addr: std::net::SocketAddr, e: &io::Error) -> anyhow::Error {
    anyhow::anyhow!(
        "cannot listen on {addr} (listen in the config): {e}; choose a free address and port, \
         or stop what holds it"
    )
}
