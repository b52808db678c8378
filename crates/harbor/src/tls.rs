//! Which certificate authorities the Harbor client trusts, and why a handshake failed.
//!
//! Trust is the union of: the system store (or `SSL_CERT_FILE` / `SSL_CERT_DIR`, which
//! replace it, as in OpenSSL), `DOCKER_CREDENTIAL_HARBOR_CA_FILE`, and the `certs.d`
//! directories docker and podman users already keep for their registry (the caller names them
//! in [`Options::certs_d`]). Nothing here ever disables verification.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use rustls::{CertificateError, ClientConfig, RootCertStore};

use docker_credential_harbor_core::address::Registry;
use docker_credential_harbor_core::atomic_file::{self, Links};
use docker_credential_harbor_core::env::CA_FILE_VAR;
use docker_credential_harbor_core::problem::Problem;

use crate::{Options, Proxies, TrustFiles};

/// One place CAs were loaded from.
#[derive(Clone, Debug)]
pub struct TrustSource {
    /// `system store`, `SSL_CERT_FILE=…`, `DOCKER_CREDENTIAL_HARBOR_CA_FILE=…`, or a path.
    pub what: String,
    pub certificates: usize,
}

/// The client's TLS configuration and what it was built from.
pub struct Trust {
    pub config: Arc<ClientConfig>,
    pub sources: Vec<TrustSource>,
    /// The `certs.d` paths that would be read for this registry (for hints).
    pub certs_d: Vec<PathBuf>,
}

/// Why no TLS configuration could be built.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    /// The CA file named by the variable is unreadable or holds no certificate.
    #[error("cannot use {CA_FILE_VAR}={}: {detail}", path.display())]
    CaFile { path: PathBuf, detail: PemError },
    /// Not a single CA from any source.
    #[error(
        "no CA certificates to verify Harbor with: no system store was found, and neither SSL_CERT_FILE, \
         SSL_CERT_DIR, {CA_FILE_VAR} nor a certs.d directory for this registry holds one"
    )]
    NoRoots { certs_d: Vec<PathBuf> },
    #[error("cannot set up TLS: {0}")]
    Rustls(rustls::Error),
}

impl Problem for TrustError {
    fn hint(&self) -> Option<String> {
        Some(match self {
            TrustError::CaFile { .. } => format!(
                "point {CA_FILE_VAR} at a readable PEM file holding Harbor's CA certificate"
            ),
            TrustError::NoRoots { certs_d } => format!(
                "set {CA_FILE_VAR} (or SSL_CERT_FILE) to a PEM bundle that includes Harbor's CA, or install it as {}",
                certs_d
                    .first()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default()
            ),
            TrustError::Rustls(_) => "report this as a bug".into(),
        })
    }
}

/// The system store plus `ca_file`, and no `certs.d` directory: the trust of a service
/// configured with one CA file (harbor-broker's `[harbor]` and `[gitlab]`).
pub fn with_ca_file(ca_file: Option<PathBuf>) -> Result<Trust, TrustError> {
    build(&Options {
        // Trust reads no timeout or proxy; these only complete the value.
        timeout: std::time::Duration::ZERO,
        trust: TrustFiles {
            ca_file,
            ..TrustFiles::default()
        },
        certs_d: Vec::new(),
        proxies: Proxies::default(),
    })
}

/// Builds the trust the options describe.
pub fn build(options: &Options) -> Result<Trust, TrustError> {
    let files = &options.trust;
    let mut roots = RootCertStore::empty();
    let mut sources = Vec::new();

    // rustls-native-certs reads SSL_CERT_FILE and SSL_CERT_DIR itself; say which it used.
    let native = rustls_native_certs::load_native_certs();
    let what = match (&files.ssl_cert_file, &files.ssl_cert_dir) {
        (Some(f), _) => format!("SSL_CERT_FILE={f}"),
        (None, Some(d)) => format!("SSL_CERT_DIR={d}"),
        (None, None) => "system store".to_owned(),
    };
    let (added, _) = roots.add_parsable_certificates(native.certs);
    if added > 0 {
        sources.push(TrustSource {
            what,
            certificates: added,
        });
    }

    if let Some(path) = files.ca_file.clone() {
        let certs = read_pem_certs(&path).map_err(|detail| TrustError::CaFile {
            path: path.clone(),
            detail,
        })?;
        let (added, _) = roots.add_parsable_certificates(certs);
        if added == 0 {
            return Err(TrustError::CaFile {
                path,
                detail: PemError::NoUsableCa,
            });
        }
        sources.push(TrustSource {
            what: format!("{CA_FILE_VAR}={}", path.display()),
            certificates: added,
        });
    }

    let dirs = options.certs_d.clone();
    for dir in &dirs {
        for file in crt_files(dir) {
            if let Ok(certs) = read_pem_certs(&file) {
                let (added, _) = roots.add_parsable_certificates(certs);
                if added > 0 {
                    sources.push(TrustSource {
                        what: file.display().to_string(),
                        certificates: added,
                    });
                }
            }
        }
    }

    if roots.is_empty() {
        return Err(TrustError::NoRoots { certs_d: dirs });
    }
    Trust::with_roots(roots, sources, dirs)
}

impl Trust {
    /// No CA at all: for plain-HTTP loopback URLs, where no certificate is ever checked.
    pub fn none() -> Result<Trust, TrustError> {
        Trust::with_roots(RootCertStore::empty(), Vec::new(), Vec::new())
    }

    fn with_roots(
        roots: RootCertStore,
        sources: Vec<TrustSource>,
        certs_d: Vec<PathBuf>,
    ) -> Result<Trust, TrustError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(TrustError::Rustls)?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Trust {
            config: Arc::new(config),
            sources,
            certs_d,
        })
    }
}

/// `*.crt` in a certs.d directory, as docker reads them (sorted for stable reports).
fn crt_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "crt"))
        .collect();
    files.sort();
    files
}

/// A CA bundle larger than this is not one (Mozilla's whole store is about 220 KiB).
const MAX_PEM: u64 = 4 << 20;

/// Why a file gave no certificate; the message that shows it names the file.
#[derive(Debug, thiserror::Error)]
pub enum PemError {
    #[error("{0}")]
    Read(std::io::Error),
    #[error("there is no such file")]
    Missing,
    #[error("it is not a PEM certificate file ({0})")]
    NotPem(rustls::pki_types::pem::Error),
    #[error("it holds no PEM certificate")]
    Empty,
    /// Certificates, but none rustls takes as a trust anchor.
    #[error("it holds no usable CA certificate")]
    NoUsableCa,
    /// Certificates, but none that can serve as a CA.
    #[error("it holds no CA certificate")]
    NoCa,
}

fn read_pem_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, PemError> {
    let (bytes, _) = atomic_file::read_regular(path, Links::Follow, MAX_PEM)
        .map_err(PemError::Read)?
        .ok_or(PemError::Missing)?;
    pem_certs(&bytes)
}

fn pem_certs(bytes: &[u8]) -> Result<Vec<CertificateDer<'static>>, PemError> {
    let certs: Result<Vec<_>, _> = CertificateDer::pem_slice_iter(bytes).collect();
    let certs = certs.map_err(PemError::NotPem)?;
    if certs.is_empty() {
        return Err(PemError::Empty);
    }
    Ok(certs)
}

/// The CA certificates of the bundle at `path`, and only them, re-encoded as PEM: what may be
/// placed where every user can read it. A private key or anything else in the bundle is left out
/// (docs/security.md#what-holds-and-how-it-is-checked), and so is a certificate that cannot serve
/// as a CA.
pub fn ca_bundle(path: &Path) -> Result<(Vec<u8>, usize), TrustError> {
    use base64::Engine;
    let ca_file = |detail: PemError| TrustError::CaFile {
        path: path.to_owned(),
        detail,
    };
    let certs = read_pem_certs(path).map_err(ca_file)?;
    let mut pem = Vec::new();
    let mut count = 0;
    for cert in certs {
        if RootCertStore::empty().add(cert.clone()).is_err() {
            continue;
        }
        let b64 = base64::engine::general_purpose::STANDARD.encode(cert.as_ref());
        pem.extend_from_slice(b"-----BEGIN CERTIFICATE-----\n");
        for line in b64.as_bytes().chunks(64) {
            pem.extend_from_slice(line);
            pem.push(b'\n');
        }
        pem.extend_from_slice(b"-----END CERTIFICATE-----\n");
        count += 1;
    }
    if count == 0 {
        return Err(ca_file(PemError::NoCa));
    }
    Ok((pem, count))
}

/// A certificate problem in words a user can act on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CertProblem {
    UnknownIssuer,
    /// The certificate does not name the host; `presented` lists the names it does carry.
    WrongName {
        presented: Vec<String>,
    },
    Expired,
    NotYetValid,
    Other(String),
}

impl CertProblem {
    pub fn from_rustls(e: &CertificateError) -> CertProblem {
        match e {
            CertificateError::UnknownIssuer | CertificateError::BadSignature => {
                CertProblem::UnknownIssuer
            }
            CertificateError::NotValidForName => CertProblem::WrongName {
                presented: Vec::new(),
            },
            CertificateError::NotValidForNameContext { presented, .. } => CertProblem::WrongName {
                presented: presented.clone(),
            },
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                CertProblem::Expired
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                CertProblem::NotYetValid
            }
            other => CertProblem::Other(format!("{other:?}")),
        }
    }

    pub fn describe(&self, host: &str) -> String {
        match self {
            CertProblem::UnknownIssuer => {
                format!("the certificate of {host} is signed by a CA this client does not trust")
            }
            CertProblem::WrongName { presented } if presented.is_empty() => {
                format!("the certificate of {host} is not valid for the name {host}")
            }
            CertProblem::WrongName { presented } => format!(
                "the certificate of {host} is not valid for the name {host} (it names {})",
                presented.join(", ")
            ),
            CertProblem::Expired => format!("the certificate of {host} has expired"),
            CertProblem::NotYetValid => {
                format!("the certificate of {host} is not valid yet (check this machine's clock)")
            }
            CertProblem::Other(d) => format!("the certificate of {host} was refused: {d}"),
        }
    }

    pub fn hint(&self, registry: &Registry, certs_d: &[PathBuf]) -> String {
        match self {
            CertProblem::UnknownIssuer => format!(
                "trust Harbor's CA: set {CA_FILE_VAR} to its PEM file, or install it as {} (docker) and {} (podman, buildah, skopeo)",
                certs_d
                    .first()
                    .map(|d| d.join("ca.crt").display().to_string())
                    .unwrap_or_else(|| format!("/etc/docker/certs.d/{registry}/ca.crt")),
                certs_d
                    .get(1)
                    .map(|d| d.join("ca.crt").display().to_string())
                    .unwrap_or_else(|| format!("/etc/containers/certs.d/{registry}/ca.crt")),
            ),
            CertProblem::WrongName { .. } => {
                "set HARBOR_URL to a name the certificate carries, or have Harbor's certificate reissued with this name".into()
            }
            CertProblem::Expired => "Harbor's certificate must be renewed by its administrator".into(),
            CertProblem::NotYetValid => "fix this machine's clock (or wait until the certificate becomes valid)".into(),
            CertProblem::Other(_) => format!("check Harbor's certificate chain; {CA_FILE_VAR} adds a CA"),
        }
    }
}

/// Finds a rustls certificate error in an error's source chain. An `io::Error` wrapping
/// another error does not report it as its `source()` (std returns the inner error's source),
/// so wrapped errors are opened with `get_ref` (hyper-util nests two of them).
pub fn cert_problem_in(e: &(dyn std::error::Error + 'static)) -> Option<CertProblem> {
    if let Some(rustls::Error::InvalidCertificate(c)) = e.downcast_ref::<rustls::Error>() {
        return Some(CertProblem::from_rustls(c));
    }
    if let Some(inner) = e
        .downcast_ref::<std::io::Error>()
        .and_then(|io| io.get_ref())
    {
        let inner: &(dyn std::error::Error + 'static) = inner;
        if let Some(p) = cert_problem_in(inner) {
            return Some(p);
        }
    }
    e.source().and_then(cert_problem_in)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A self-signed CA made once with `openssl req -x509` (P-256, 100 years): a root is
    /// loaded whatever its dates, so the test does not age.
    const TEST_CA: &str = "-----BEGIN CERTIFICATE-----\n\
MIIBlzCCAT2gAwIBAgIUXCCjygmdPfiibkdJ0nWuGz1lZEAwCgYIKoZIzj0EAwIw\n\
IDEeMBwGA1UEAwwVaGFyYm9yLWNsaWVudCB0ZXN0IENBMCAXDTI2MTIwMzE1MjI1\n\
MVoYDzIxMjYxMTA5MTUyMjUxWjAgMR4wHAYDVQQDDBVoYXJib3ItY2xpZW50IHRl\n\
c3QgQ0EwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAASdkoOEhSMvYaEqOXf91CxZ\n\
ccNclKmlO86AUpSAQcfJQ2ud9YgPQe3x822v4URCq9plfxmF0XF1mhY4hGj3qfL/\n\
o1MwUTAdBgNVHQ4EFgQUnpE7dunRTFVDr/SCo8lnMyYP3qkwHwYDVR0jBBgwFoAU\n\
npE7dunRTFVDr/SCo8lnMyYP3qkwDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQD\n\
AgNIADBFAiEAkPoUOjPcpMIVMVOVufPv4SQ6W14Mu/QYkR6+DnBYzFICIBOxfCQU\n\
zlTJBRZqt5NtKD8PQeW41BiduV8bWcxU8He4\n\
-----END CERTIFICATE-----";

    #[test]
    fn the_certs_d_directories_in_the_options_are_trusted_and_named() {
        let base = std::env::temp_dir().join(format!("dch-tls-certs-d-{}", std::process::id()));
        let _ = fs::remove_dir_all(&base);
        let (with_ca, empty) = (base.join("with-ca"), base.join("empty"));
        fs::create_dir_all(&with_ca).unwrap();
        fs::create_dir_all(&empty).unwrap();
        fs::write(with_ca.join("ca.crt"), TEST_CA).unwrap();
        // docker reads only *.crt: the same CA under another name is not trusted.
        fs::write(empty.join("ca.pem"), TEST_CA).unwrap();
        let options = Options {
            timeout: std::time::Duration::from_secs(1),
            trust: crate::TrustFiles::default(),
            certs_d: vec![empty.clone(), with_ca.clone()],
            proxies: crate::Proxies::default(),
        };
        let trust = build(&options).unwrap();
        let file = with_ca.join("ca.crt").display().to_string();
        let from_certs_d: Vec<_> = trust
            .sources
            .iter()
            .filter(|s| s.what.starts_with(base.to_str().unwrap()))
            .map(|s| (s.what.as_str(), s.certificates))
            .collect();
        assert_eq!(from_certs_d, [(file.as_str(), 1)]);
        assert_eq!(trust.certs_d, [empty, with_ca]);
        fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn issue_9_a_bundle_gives_up_its_certificates_and_nothing_else() {
        let dir = std::env::temp_dir().join(format!("dch-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let key = "-----BEGIN PRIVATE KEY-----\nTUlJRXZRSUJBREFOQmdrcWhraUc5dzBCQVFFRkFBU0NCS2N3Z2dTakFnRUFBb0lCQVFD\n-----END PRIVATE KEY-----\n";
        let nothing = dir.join("nothing.pem");
        std::fs::write(&nothing, key).unwrap();
        assert!(
            ca_bundle(&nothing)
                .unwrap_err()
                .to_string()
                .ends_with("it holds no PEM certificate")
        );
        std::fs::write(&nothing, "not pem at all").unwrap();
        assert!(ca_bundle(&nothing).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_certificate_error_is_found_inside_nested_io_errors() {
        let rustls_error = rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer);
        let nested = std::io::Error::other(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls_error,
        ));
        assert_eq!(cert_problem_in(&nested), Some(CertProblem::UnknownIssuer));
        assert_eq!(cert_problem_in(&std::io::Error::other("plain")), None);
    }
}
