//! What a Harbor client is built from, besides the URL and the account: the timeout, where
//! trust comes from, and the proxy variables. The caller resolves them once (the helper from
//! its settings) and hands them over as plain data.
//!
//! Never reads the environment or a file: the caller knows where its configuration lives, so the
//! same options serve the helper's commands and a service configured some other way. The resolver
//! is not an option: each client builds its own on first use, inside its own runtime (`dns`), and
//! no public one is ever asked.

use std::path::PathBuf;
use std::time::Duration;

/// Where the client finds CAs besides the `certs.d` directories ([`crate::tls::build`]).
#[derive(Clone, Debug, Default)]
pub struct TrustFiles {
    pub ssl_cert_file: Option<String>,
    pub ssl_cert_dir: Option<String>,
    pub ca_file: Option<PathBuf>,
}

/// Proxy variables, for `doctor` (reqwest reads the same ones itself).
#[derive(Clone, Debug, Default)]
pub struct Proxies {
    /// The first of `HTTPS_PROXY`, `https_proxy`, `ALL_PROXY`, `all_proxy` that is set.
    pub https: Option<&'static str>,
    /// The first of `HTTP_PROXY`, `http_proxy`, `ALL_PROXY`, `all_proxy` that is set.
    pub http: Option<&'static str>,
    pub no_proxy: String,
}

/// Everything a client for one Harbor is built from, besides its URL and account.
#[derive(Clone, Debug)]
pub struct Options {
    /// The deadline of each call, retries included, and of each probe step.
    pub timeout: Duration,
    pub trust: TrustFiles,
    /// The `certs.d/<registry>/` directories clients read this registry's CAs from, docker's
    /// first: trusted, and named in hints. Where they are is the caller's knowledge.
    pub certs_d: Vec<PathBuf>,
    pub proxies: Proxies,
}
