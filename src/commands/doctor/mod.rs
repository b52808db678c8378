//! `docker-credential-harbor doctor`: checks, one line each, everything between this job and
//! a push to Harbor, and says exactly what to fix.
//!
//! The checks are steps (`steps`), run in order over one [`Checkup`] that carries what the
//! earlier ones found; each step passes, fails (with the problem's hint on the next line, as
//! the hooks print it), or is skipped because of what an earlier one found. The network is
//! checked layer by layer through `harbor_client::probe` (DNS, TCP, TLS), so a failure is named
//! where it happens; then one token request proves the credentials, the project, pull and push
//! (`harbor_client::verify`). Exit status 0 only when no check failed. Never prints a secret:
//! only user names, hosts, files and Harbor's request ids.

mod docker_env;
pub(crate) mod gitlab_runner;
mod network;
mod steps;

use std::fmt::Display;
use std::io::{self, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Instant;

use docker_credential_harbor_core::integration::Integration;
use docker_credential_harbor_core::problem::Problem;
use docker_credential_harbor_core::url::HarborUrl;
use harbor_client::HarborClient;
use harbor_client::account::Kind;
use harbor_client::tls::{Trust, TrustError};
use harbor_client::verify::SystemInfo;

use crate::settings::{HarborSettings, JobContext};

/// What one check found.
pub(crate) enum Finding {
    Pass(String),
    Warn(String),
    Info(String),
    Fail {
        message: String,
        hint: Option<String>,
    },
    /// Not checked, because of what an earlier check found.
    Skip(String),
}

impl Finding {
    fn fail(problem: &dyn Problem) -> Finding {
        Finding::Fail {
            message: problem.to_string(),
            hint: problem.hint(),
        }
    }

    fn pass(text: impl Display) -> Finding {
        Finding::Pass(text.to_string())
    }
}

/// A check's name and what it found.
type Line = (&'static str, Finding);

/// `checks`, each skipped for `why`. Here, beside [`Line`], so that the steps (`steps`) and the
/// network layers they run (`network`) share it without importing each other.
fn skip(checks: &[&'static str], why: &str) -> Vec<Line> {
    checks
        .iter()
        .map(|c| (*c, Finding::Skip(why.to_owned())))
        .collect()
}

/// What the steps found so far, for the steps after them.
pub(crate) struct Checkup<'a> {
    integration: &'a Integration,
    harbor: &'a HarborSettings,
    /// Only the job's `DOCKER_AUTH_CONFIG` and job-robot flag are read.
    context: &'a JobContext,
    url: Option<HarborUrl>,
    /// Why the checks that need the network are skipped, once one of them failed.
    blocked: Option<&'static str>,
    /// The proxy variable requests go through (then DNS, TCP and TLS are not checked directly).
    proxy: Option<&'static str>,
    trust: Option<Result<Trust, TrustError>>,
    addrs: Vec<SocketAddr>,
    stream: Option<TcpStream>,
    client: Option<HarborClient>,
    info: Option<SystemInfo>,
    /// Harbor accepted the credentials.
    accepted: bool,
    project_id: std::cell::OnceCell<Option<i64>>,
    /// What Harbor says the account is (`harbor_client::account`), asked at most once.
    kind: std::cell::OnceCell<Kind>,
}

/// Runs every check and writes the report; `Ok(true)` when none failed.
pub(crate) fn run(
    integration: &Integration,
    harbor: &HarborSettings,
    context: &JobContext,
    out: &mut dyn Write,
) -> io::Result<bool> {
    let start = Instant::now();
    let mut c = Checkup {
        integration,
        harbor,
        context,
        url: None,
        blocked: None,
        proxy: None,
        trust: None,
        addrs: Vec::new(),
        stream: None,
        client: None,
        info: None,
        accepted: false,
        project_id: std::cell::OnceCell::new(),
        kind: std::cell::OnceCell::new(),
    };
    let (mut passed, mut failed) = (0, 0);
    for step in steps::ALL {
        for (check, finding) in step(&mut c) {
            match &finding {
                Finding::Pass(_) => passed += 1,
                Finding::Fail { .. } => failed += 1,
                _ => {}
            }
            write_line(out, check, &finding)?;
        }
    }
    writeln!(
        out,
        "doctor: {passed} passed, {failed} failed, in {:.2} s",
        start.elapsed().as_secs_f64()
    )?;
    Ok(failed == 0)
}

fn write_line(out: &mut dyn Write, check: &str, finding: &Finding) -> io::Result<()> {
    let (label, text) = match finding {
        Finding::Pass(t) => ("ok  ", t),
        Finding::Warn(t) => ("warn", t),
        Finding::Info(t) => ("info", t),
        Finding::Fail { message, .. } => ("FAIL", message),
        Finding::Skip(t) => ("skip", t),
    };
    writeln!(out, "{label}  {check:<12} {text}")?;
    if let Finding::Fail { hint: Some(h), .. } = finding {
        writeln!(out, "      {:<12} hint: {h}", "")?;
    }
    Ok(())
}
