//! What the token issuer doubles ([`crate::GitlabIssuer`], [`crate::KubernetesIssuer`]) share:
//! serving over TLS on 127.0.0.1 with a fresh CA ([`serve`], stopped when its [`Served`] is
//! dropped), RS256 signing with the broker's test keys (`crates/broker/tests/keys/`, public,
//! never trusted anywhere), their public halves as JWKs, and reading a script's JSON body.
//!
//! It must never listen on anything but 127.0.0.1, outlive its [`Served`], or sign with a key
//! that is not a test key.

use std::convert::Infallible;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::Request;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use ring::rand::SystemRandom;
use ring::signature::{KeyPair, RSA_PKCS1_SHA256, RsaKeyPair, RsaPublicKeyComponents};
use serde_json::{Map, Value, json};

use crate::respond::Resp;
use crate::{TlsMode, pki, server, util};

/// A test key: an issuer publishes it and signs with it.
pub(crate) const KEY_A: &[u8] = include_bytes!("../../../crates/broker/tests/keys/a.pk8");
/// The other test key: a GitLab rotation brings it in; for the Kubernetes issuer, the key of
/// tokens no JWKS vouches for.
pub(crate) const KEY_B: &[u8] = include_bytes!("../../../crates/broker/tests/keys/b.pk8");

/// The largest body a `POST /-/double/…` reads.
const MAX_BODY: usize = 64 * 1024;

/// A running issuer: the CA of its certificate, and the runtime serving it (shut down on drop).
pub(crate) struct Served {
    pub(crate) ca_file: PathBuf,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// Serves `handle` over TLS on a free port of 127.0.0.1, its CA certificate written to
/// `DIR/<who>-ca.crt`; `state` gets the issuer's URL (`https://127.0.0.1:PORT`). Panics with a
/// message naming `who` when it cannot start.
pub(crate) fn serve<S, H, F>(
    who: &str,
    dir: &Path,
    state: impl FnOnce(&str) -> S,
    handle: H,
) -> (Served, Arc<S>)
where
    S: Send + Sync + 'static,
    H: Fn(Arc<S>, Request<Incoming>) -> F + Copy + Send + Sync + 'static,
    F: Future<Output = Resp> + Send + 'static,
{
    std::fs::create_dir_all(dir)
        .unwrap_or_else(|e| panic!("{who} double: cannot create {}: {e}", dir.display()));
    let certs = pki::TlsFiles::generate(TlsMode::Valid);
    let ca_file = dir.join(format!("{who}-ca.crt"));
    std::fs::write(&ca_file, certs.ca_pem.as_bytes())
        .unwrap_or_else(|e| panic!("{who} double: cannot write {}: {e}", ca_file.display()));
    let listener = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.set_nonblocking(true).map(|()| l))
        .unwrap_or_else(|e| panic!("{who} double: cannot listen on 127.0.0.1: {e}"));
    let port = listener.local_addr().map(|a| a.port()).unwrap_or_default();
    let url = format!("https://127.0.0.1:{port}");
    let state = Arc::new(state(&url));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name(format!("{who}-double"))
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{who} double: cannot start a tokio runtime: {e}"));
    let tls = server::tls_acceptor(&certs);
    let served = state.clone();
    runtime.spawn(async move {
        let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
            return;
        };
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let (tls, state) = (tls.clone(), served.clone());
            tokio::spawn(async move {
                let Ok(stream) = tls.accept(tcp).await else {
                    return;
                };
                let service = service_fn(move |req| {
                    let state = state.clone();
                    async move { Ok::<_, Infallible>(handle(state, req).await) }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    let served = Served {
        ca_file,
        runtime: Some(runtime),
    };
    (served, state)
}

/// The body of a script's request as a JSON object, `None` when it is not one (or too long).
pub(crate) async fn json_object(req: Request<Incoming>) -> Option<Map<String, Value>> {
    let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => Bytes::new(),
    };
    match serde_json::from_slice(&body) {
        Ok(Value::Object(map)) => Some(map),
        _ => None,
    }
}

fn pair(pk8: &[u8]) -> RsaKeyPair {
    RsaKeyPair::from_pkcs8(pk8).unwrap_or_else(|e| panic!("issuer double: bad test key: {e}"))
}

/// `pk8`'s public half as a JWK (`use: sig`, `alg: RS256`) named `kid`.
pub(crate) fn jwk(pk8: &[u8], kid: &str) -> Value {
    let public = RsaPublicKeyComponents::<Vec<u8>>::from(pair(pk8).public());
    json!({
        "use": "sig", "kty": "RSA", "kid": kid, "alg": "RS256",
        "n": util::b64url(&public.n), "e": util::b64url(&public.e),
    })
}

/// A JWT of `header` (its `alg` is RS256) and `claims`, signed with `pk8`.
pub(crate) fn sign(pk8: &[u8], header: &Value, claims: &Value) -> String {
    let input = format!(
        "{}.{}",
        util::b64url(header.to_string().as_bytes()),
        util::b64url(claims.to_string().as_bytes())
    );
    let pair = pair(pk8);
    let mut sig = vec![0; pair.public().modulus_len()];
    pair.sign(
        &RSA_PKCS1_SHA256,
        &SystemRandom::new(),
        input.as_bytes(),
        &mut sig,
    )
    .unwrap_or_else(|e| panic!("issuer double: cannot sign: {e}"));
    format!("{input}.{}", util::b64url(&sig))
}

/// The DER of `pk8`'s public half as an X.509 SubjectPublicKeyInfo (what Go's
/// `x509.MarshalPKIXPublicKey` writes): `SEQUENCE { SEQUENCE { rsaEncryption, NULL },
/// BIT STRING { RSAPublicKey } }`.
pub(crate) fn subject_public_key_info(pk8: &[u8]) -> Vec<u8> {
    // rsaEncryption (1.2.840.113549.1.1.1) and its NULL parameters.
    const ALGORITHM: &[u8] = &[
        0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
    ];
    let rsa_public_key = pair(pk8).public_key().as_ref().to_vec();
    let mut bits = vec![0];
    bits.extend(rsa_public_key);
    let mut body = ALGORITHM.to_vec();
    body.extend(der(0x03, &bits));
    der(0x30, &body)
}

/// One DER element: tag, definite length, content.
fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}
