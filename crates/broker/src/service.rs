//! The running service, wired from a loaded [`Config`] and the [`Robots`] Harbor side: the
//! metrics, the JWKS fetcher and its cache, the broker, a multi-thread runtime, the listener
//! (over `[tls]` when set) and the sweeper, until SIGTERM or SIGINT.
//!
//! What it must never do: start serving with a `[tls]` it cannot load (it fails instead, naming
//! the key), or fail to start because GitLab is down for a moment (`/readyz` says so, and the
//! first token fetches again).

use std::sync::Arc;

use anyhow::Context;
use docker_credential_harbor_core::problem::Problem;
use tokio::net::TcpListener;

use crate::audit::Audit;
use crate::config::Config;
use crate::http;
use crate::issuer::HttpsJwks;
use crate::keys::{Jwks, KeyError, KeyStore, SystemClock};
use crate::metrics::{CountedFetch, Metrics};
use crate::robots::Robots;
use crate::server::{self, Broker};

/// A problem's text and hint as one error.
fn with_hint(e: &dyn Problem) -> anyhow::Error {
    match e.hint() {
        Some(hint) => anyhow::anyhow!("{e}\n  hint: {hint}"),
        None => anyhow::anyhow!("{e}"),
    }
}

/// Serves `config` with `robots` until SIGTERM or SIGINT, then lets requests under way finish.
pub fn run(config: &Config, robots: Arc<dyn Robots>) -> anyhow::Result<()> {
    let tls = match &config.tls {
        Some(tls) => {
            Some(http::tls_acceptor(&tls.cert_file, &tls.key_file).map_err(|e| with_hint(&e))?)
        }
        None => None,
    };
    let metrics = Arc::new(Metrics::new());
    // reqwest's blocking client runs its own runtime: built here, before the server's.
    let cached = |fetcher: HttpsJwks| -> Arc<dyn KeyStore + Send + Sync> {
        let keys = Arc::new(Jwks::new(
            CountedFetch {
                inner: fetcher,
                metrics: metrics.clone(),
            },
            SystemClock,
        ));
        // Loaded now so the first request does not wait for it; a failure is /readyz's to
        // report.
        let _ = keys.ready();
        keys
    };
    let gitlab_keys = match &config.gitlab {
        Some(gitlab) => cached(HttpsJwks::new(gitlab).map_err(|e| with_hint(&e))?),
        None => Arc::new(NoGitlab),
    };
    let kubernetes_keys = match &config.kubernetes {
        Some(kubernetes) => Some(cached(
            HttpsJwks::kubernetes(kubernetes).map_err(|e| with_hint(&e))?,
        )),
        None => None,
    };
    let mut broker = Broker::new(
        config,
        gitlab_keys,
        robots,
        metrics.clone(),
        Audit::stdout(),
    )
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    if let Some(keys) = kubernetes_keys {
        broker = broker.with_kubernetes_keys(keys);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("harbor-broker")
        .build()
        .context("cannot start the async runtime")?;
    let served = runtime.block_on(async {
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|e| http::bind_error(config.listen, &e))?;
        server::serve(Arc::new(broker), listener, tls, http::shutdown_signal()).await;
        Ok(())
    });
    // A sweep or Harbor call still running on the blocking pool has its own deadline; the
    // process does not wait for it past this one.
    runtime.shutdown_timeout(LEFTOVER_GRACE);
    served
}

/// The GitLab key store of a broker without `[gitlab]`: its door answers 404 before any
/// token is checked, so this is never asked; if it were, it holds no key.
struct NoGitlab;

impl KeyStore for NoGitlab {
    fn key(&self, _kid: &str) -> Result<jsonwebtoken::DecodingKey, KeyError> {
        Err(KeyError::Fetch("[gitlab] is not configured".into()))
    }
}

/// How long blocking work left after the server stopped may hold the process.
const LEFTOVER_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Grant;
    use crate::robots::Holder;
    use crate::robots::{Minted, RobotError, Swept};

    /// Never reached: the start fails before any robot call.
    struct NoHarbor;

    impl Robots for NoHarbor {
        fn mint(&self, _: &Grant, _: Holder<'_>, _: i64) -> Result<Minted, RobotError> {
            unreachable!()
        }
        fn release(&self, _: &[String], _: &str) -> Result<usize, RobotError> {
            unreachable!()
        }
        fn sweep(&self, _: &[String], _: i64) -> Result<Swept, RobotError> {
            unreachable!()
        }
        fn ready(&self) -> Result<(), RobotError> {
            unreachable!()
        }
    }

    fn config(extra: &str, ca: &str) -> Config {
        crate::config::parse(&format!(
            r#"listen = "127.0.0.1:0"
{extra}
[gitlab]
issuer = "https://127.0.0.1:1"
audience = "a"
{ca}
[harbor]
url = "https://harbor.example.com"
username = "admin"
password_file = "/nonexistent"
[robots]
ttl_seconds = 3600
sweep_interval_seconds = 60
[[rules]]
project_id = "1"
harbor_project = "p"
access = ["pull"]
"#
        ))
        .unwrap()
    }

    #[test]
    fn a_tls_or_ca_file_that_does_not_load_stops_the_start_naming_its_key() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let tls = format!(
            "[tls]\ncert_file = \"{0}\"\nkey_file = \"{0}\"\n",
            missing.display()
        );
        let err = run(&config(&tls, ""), Arc::new(NoHarbor)).unwrap_err();
        let shown = format!("{err:#}");
        assert!(
            shown.contains("[tls] cert_file") && shown.contains("missing.pem"),
            "{shown}"
        );
        let ca = format!("ca_file = \"{}\"", missing.display());
        let err = run(&config("", &ca), Arc::new(NoHarbor)).unwrap_err();
        let shown = format!("{err:#}");
        assert!(
            shown.contains("[gitlab] ca_file") && shown.contains("hint:"),
            "{shown}"
        );
    }

    #[test]
    fn a_kubernetes_only_broker_with_a_ca_file_that_does_not_load_names_its_key() {
        let config = crate::config::parse(
            r#"listen = "127.0.0.1:0"
[harbor]
url = "https://harbor.example.com"
username = "admin"
password_file = "/nonexistent"
[robots]
ttl_seconds = 3600
sweep_interval_seconds = 60
[kubernetes]
issuer = "https://127.0.0.1:1"
audience = "harbor-broker"
ca_file = "/nonexistent/kubernetes-ca.crt"
"#,
        )
        .unwrap();
        let err = run(&config, Arc::new(NoHarbor)).unwrap_err();
        let shown = format!("{err:#}");
        assert!(
            shown.contains("[kubernetes] ca_file") && shown.contains("kubernetes-ca.crt"),
            "{shown}"
        );
    }

    #[test]
    fn a_listen_address_already_taken_stops_the_start_naming_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        std::fs::write(&ca, params.self_signed(&key).unwrap().pem()).unwrap();
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut config = config("", &format!("ca_file = \"{}\"", ca.display()));
        config.listen = taken.local_addr().unwrap();
        let err = run(&config, Arc::new(NoHarbor)).unwrap_err();
        let shown = format!("{err:#}");
        assert!(
            shown.contains(&config.listen.to_string()) && shown.contains("listen in the config"),
            "{shown}"
        );
    }
}
