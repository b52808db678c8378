//! What the commands read from the environment besides GitLab's integration, split by who
//! reads it and resolved once at the start of a command: [`HarborSettings`], what the Harbor
//! client is built from, and [`JobContext`], what the runner hooks read about the job. Paths
//! only one command uses (the store, the helper's runner-side config) are resolved by that
//! command's dispatch (`commands::run`), not here. Nothing below a command driver reads a
//! variable.
//!
//! A value that cannot be used (a verify mode that is not `warn`, `strict` or `off`, a timeout
//! that is not a number of seconds) falls back to the default and leaves a note saying so;
//! settings never fail. Reading them touches no file beyond what the client-config rules test
//! for existence (kaniko's directory, the containers runtime auth file). `get` never builds
//! them: the core's sources read what they need, lazily.

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;

use docker_credential_harbor_core::address::Registry;
use docker_credential_harbor_core::docker_auth_config::DockerAuthConfig;
use docker_credential_harbor_core::env::{
    BROKER_VAR, CA_FILE_VAR, CI, CI_JOB_ID, CI_JOB_URL, CI_PROJECT_PATH, DOCKER_AUTH_CONFIG, Env,
    HOME, HTTP_PROXY, HTTPS_PROXY, ID_TOKEN_VAR, JOB_ROBOT_VAR, KEEP_AUTH_CONFIG_VAR, NO_PROXY,
    PATH, RUNNER_TEMP_PROJECT_DIR, SSL_CERT_DIR, SSL_CERT_FILE, TIMEOUT_VAR, VERIFY_VAR,
};
use docker_credential_harbor_core::problem::Problem;
use docker_credential_harbor_core::url::{HarborUrl, UrlProblem};
use docker_credential_harbor_core::vars::RegistryFrom;
use harbor_client::{Proxies, TrustFiles};

use crate::certs_d;
use crate::client_config::ClientFiles;

/// The directory `pre-build` owns inside `RUNNER_TEMP_PROJECT_DIR`.
pub(crate) const PER_JOB_DIR: &str = "docker-credential-harbor";

/// How long to wait for Harbor when `DOCKER_CREDENTIAL_HARBOR_TIMEOUT` says nothing usable.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// pre-build's verification (`DOCKER_CREDENTIAL_HARBOR_VERIFY`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum VerifyMode {
    /// A warning, and the job goes on (the default).
    Warn,
    /// The job fails before the build.
    Strict,
    /// No request at all.
    Off,
}

/// The job the runner is running, for names, descriptions and records.
#[derive(Clone, Debug, Default)]
pub(crate) struct CiJob {
    pub(crate) ci: bool,
    pub(crate) id: Option<String>,
    pub(crate) url: Option<String>,
    pub(crate) project_path: Option<String>,
}

/// What the Harbor client is built from besides the URL and account: read by the commands
/// that talk to Harbor (doctor, the hooks, `robots prune`, the keeper), and by nothing else.
#[derive(Clone, Debug)]
pub struct HarborSettings {
    pub(crate) timeout: Duration,
    pub(crate) trust: TrustFiles,
    pub(crate) proxies: Proxies,
    /// `HOME`, under which rootless clients read a registry's CA (`certs_d`): read for trust
    /// here, written by pre-build.
    pub(crate) home: Option<PathBuf>,
    /// Why `DOCKER_CREDENTIAL_HARBOR_TIMEOUT` could not be used, and what was used instead.
    pub(crate) timeout_note: Option<String>,
}

impl HarborSettings {
    /// What a Harbor client for `registry` is built from: the timeout, trust and proxies read
    /// here, and the `certs.d` directories clients read that registry's CAs from.
    pub fn harbor_options(&self, registry: &Registry) -> harbor_client::Options {
        harbor_client::Options {
            timeout: self.timeout,
            trust: self.trust.clone(),
            certs_d: certs_d::read_dirs(self.home.as_deref(), registry),
            proxies: self.proxies.clone(),
        }
    }

    /// What the harbor-broker client is built from: the same timeout, trust and proxies as
    /// Harbor's (the system store plus `DOCKER_CREDENTIAL_HARBOR_CA_FILE`), no `certs.d`
    /// directory, which names a registry's CAs, not the broker's.
    pub(crate) fn broker_options(&self) -> harbor_client::Options {
        harbor_client::Options {
            timeout: self.timeout,
            trust: self.trust.clone(),
            certs_d: Vec::new(),
            proxies: self.proxies.clone(),
        }
    }

    pub fn from_env(env: &Env) -> HarborSettings {
        let (timeout, timeout_note) = match env.var(TIMEOUT_VAR).map(|v| parse_timeout(&v).ok_or(v))
        {
            None => (DEFAULT_TIMEOUT, None),
            Some(Ok(t)) => (t, None),
            Some(Err(bad)) => (
                DEFAULT_TIMEOUT,
                Some(format!(
                    "{TIMEOUT_VAR}={bad:?} is not a number of seconds; using {} s",
                    DEFAULT_TIMEOUT.as_secs()
                )),
            ),
        };
        let first = |names: &[&'static str]| names.iter().copied().find(|v| env.var(v).is_some());
        HarborSettings {
            timeout,
            trust: TrustFiles {
                ssl_cert_file: env.var(SSL_CERT_FILE),
                ssl_cert_dir: env.var(SSL_CERT_DIR),
                ca_file: env.path(CA_FILE_VAR),
            },
            proxies: Proxies {
                https: first(HTTPS_PROXY),
                http: first(HTTP_PROXY),
                no_proxy: NO_PROXY.iter().find_map(|v| env.var(v)).unwrap_or_default(),
            },
            home: env.path(HOME),
            timeout_note,
        }
    }
}

/// What the runner hooks read about the job they run in (and doctor, about the job it may run
/// in); `configure` and `robots prune` never read it.
#[derive(Clone, Debug)]
pub(crate) struct JobContext {
    pub(crate) job: CiJob,
    /// `$RUNNER_TEMP_PROJECT_DIR/docker-credential-harbor`, pre-build's own directory.
    pub(crate) per_job_dir: Option<PathBuf>,
    /// The user's data directory for this tool (the store, job records, leases).
    pub(crate) data_dir: Option<PathBuf>,
    /// The file each client reads for this user.
    pub(crate) clients: ClientFiles,
    pub(crate) path: OsString,
    /// The job's `DOCKER_AUTH_CONFIG` as docker ≥ 28.3 reads it (keys and offsets, no secret).
    pub(crate) docker_auth_config: DockerAuthConfig,
    /// `DOCKER_CREDENTIAL_HARBOR_KEEP_DOCKER_AUTH_CONFIG=1`: pre-build leaves it as it is.
    pub(crate) keep_docker_auth_config: bool,
    pub(crate) verify: VerifyMode,
    /// Why `DOCKER_CREDENTIAL_HARBOR_VERIFY` could not be used, and what was used instead.
    pub(crate) verify_note: Option<String>,
    /// The job asks for a job robot (`DOCKER_CREDENTIAL_HARBOR_JOB_ROBOT`, or pre-build's
    /// `--job-robot`, which the dispatch folds in).
    pub(crate) job_robot: bool,
}

impl JobContext {
    pub(crate) fn from_env(env: &Env) -> JobContext {
        let (verify, verify_note) = match env
            .var(VERIFY_VAR)
            .map(|v| v.to_ascii_lowercase())
            .as_deref()
        {
            None | Some("warn") => (VerifyMode::Warn, None),
            Some("strict") => (VerifyMode::Strict, None),
            Some("off") => (VerifyMode::Off, None),
            Some(other) => (
                VerifyMode::Warn,
                Some(format!(
                    "{VERIFY_VAR}={other:?} is not warn, strict or off; using warn"
                )),
            ),
        };
        JobContext {
            job: CiJob {
                ci: env.var(CI).is_some(),
                id: env.var(CI_JOB_ID),
                url: env.var(CI_JOB_URL),
                project_path: env.var(CI_PROJECT_PATH),
            },
            per_job_dir: env
                .path(RUNNER_TEMP_PROJECT_DIR)
                .map(|d| d.join(PER_JOB_DIR)),
            data_dir: env.data_dir(),
            clients: ClientFiles::from_env(env),
            path: env.var_os(PATH).unwrap_or_default(),
            docker_auth_config: DockerAuthConfig::parse(
                env.var_os(DOCKER_AUTH_CONFIG)
                    .as_deref()
                    .map(OsStrExt::as_bytes),
            ),
            keep_docker_auth_config: env.yes(KEEP_AUTH_CONFIG_VAR),
            verify,
            verify_note,
            job_robot: env.yes(JOB_ROBOT_VAR),
        }
    }
}

/// What the runner hooks read to ask harbor-broker for the job's robot: read by pre-build and
/// post-build only, never by `get`, `doctor` or the keeper. The id_token is a `SecretString`
/// from the moment it is read.
#[derive(Debug)]
pub(crate) struct BrokerSettings {
    /// `DOCKER_CREDENTIAL_HARBOR_BROKER`, checked: https, or http to a loopback host only.
    pub(crate) url: Result<HarborUrl, BadBrokerUrl>,
    /// `HARBOR_ID_TOKEN`, when the job has one.
    pub(crate) token: Option<SecretString>,
}

/// Why `DOCKER_CREDENTIAL_HARBOR_BROKER` cannot be used. The value itself is not shown: a URL
/// can carry user information.
#[derive(Clone, Debug, thiserror::Error)]
#[error("{BROKER_VAR} cannot be used: {why}")]
pub(crate) struct BadBrokerUrl {
    why: String,
}

impl Problem for BadBrokerUrl {
    fn hint(&self) -> Option<String> {
        Some(format!(
            "set {BROKER_VAR} in the runner's environment (config.toml, [[runners]] environment) to \
             harbor-broker's https:// address, for example https://harbor-broker.example.com"
        ))
    }
}

impl BrokerSettings {
    /// `None` when `DOCKER_CREDENTIAL_HARBOR_BROKER` is not set: the hooks work without a broker.
    pub(crate) fn from_env(env: &Env) -> Option<BrokerSettings> {
        let value = env.var(BROKER_VAR)?;
        Some(BrokerSettings {
            url: broker_url(&value),
            token: env.var(ID_TOKEN_VAR).map(SecretString::from),
        })
    }
}

/// The broker's base URL. The id_token is a bearer credential: it never crosses a network in
/// clear, so plain HTTP is for a loopback broker only, as for Harbor.
fn broker_url(value: &str) -> Result<HarborUrl, BadBrokerUrl> {
    let why = match HarborUrl::parse(value, RegistryFrom::Url) {
        Ok(url) => return Ok(url),
        Err(UrlProblem::PlainHttp { host, .. }) => format!(
            "it uses http:// for {}, which is not a loopback host; the job's id_token would cross the \
             network in clear, so it is not sent",
            docker_credential_harbor_core::text::inline(&host)
        ),
        Err(UrlProblem::Scheme { scheme, .. }) => format!(
            "it uses the scheme {}://; harbor-broker is reached over https://",
            docker_credential_harbor_core::text::inline(&scheme)
        ),
        Err(UrlProblem::Address { problem, .. }) => format!("it is not a usable URL: {problem}"),
        Err(UrlProblem::Missing) => "it is empty".to_owned(),
    };
    Err(BadBrokerUrl { why })
}

/// Seconds, from 0 (excluded) to an hour, as a duration.
fn parse_timeout(v: &str) -> Option<Duration> {
    match v.trim().parse::<f64>() {
        Ok(s) if s > 0.0 && s.is_finite() && s <= 3600.0 => Some(Duration::from_secs_f64(s)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeout_variable() {
        let timeout = |v: &str| HarborSettings::from_env(&Env::from_pairs([(TIMEOUT_VAR, v)]));
        assert_eq!(timeout("2.5").timeout, Duration::from_millis(2500));
        assert_eq!(
            HarborSettings::from_env(&Env::empty()).timeout,
            DEFAULT_TIMEOUT
        );
        for bad in ["0", "soon"] {
            let s = timeout(bad);
            assert_eq!(s.timeout, DEFAULT_TIMEOUT);
            let note = s.timeout_note.unwrap();
            assert!(note.contains(&format!("{bad:?} is not a number")), "{note}");
        }
    }

    #[test]
    fn the_broker_url_is_https_or_loopback_http_and_a_bad_one_names_the_variable() {
        let url = |v: &str| broker_url(v).map(|u| u.base());
        assert_eq!(
            url("https://broker.example:8443/").unwrap(),
            "https://broker.example:8443"
        );
        assert_eq!(
            url("http://127.0.0.1:9000").unwrap(),
            "http://127.0.0.1:9000"
        );
        for (bad, why) in [
            ("http://broker.example", "not a loopback host"),
            ("ftp://broker.example", "the scheme ftp://"),
            ("https://bro ker", "not a usable URL"),
        ] {
            let e = broker_url(bad).unwrap_err().to_string();
            assert!(
                e.starts_with("DOCKER_CREDENTIAL_HARBOR_BROKER cannot be used: ")
                    && e.contains(why),
                "{bad}: {e}"
            );
        }
        let s = BrokerSettings::from_env(&Env::from_pairs([
            (BROKER_VAR, "https://b.example"),
            (ID_TOKEN_VAR, "eyJ.x.y"),
        ]))
        .unwrap();
        assert!(s.token.is_some() && !format!("{s:?}").contains("eyJ"));
        assert!(BrokerSettings::from_env(&Env::from_pairs([(ID_TOKEN_VAR, "eyJ")])).is_none());
    }

    #[test]
    fn an_unknown_verify_mode_is_warn_and_says_so() {
        let s = JobContext::from_env(&Env::from_pairs([(VERIFY_VAR, "Loud")]));
        assert_eq!(s.verify, VerifyMode::Warn);
        assert!(
            s.verify_note
                .unwrap()
                .contains("\"loud\" is not warn, strict or off")
        );
        let s = JobContext::from_env(&Env::from_pairs([(VERIFY_VAR, "STRICT")]));
        assert_eq!(s.verify, VerifyMode::Strict);
    }
}
