//! What pre-build tells the job log (stderr): a short summary, folded into a collapsible
//! section when `CI` is set, then the warnings, each with its hint. Every value in it may
//! come from a variable or from Harbor, so the text is escaped; only the section markers
//! written here carry control characters.

use std::fmt::Write as _;
use std::io::{self, Write};

use docker_credential_harbor_core::env::VERIFY_VAR;
use docker_credential_harbor_core::integration::Integration;
use docker_credential_harbor_core::problem::Problem;
use docker_credential_harbor_core::text;

use crate::report;
use crate::settings::{HarborSettings, JobContext, VerifyMode};

/// Everything the run decided, for the summary and the exit status.
#[derive(Default)]
pub(super) struct Report {
    /// `export` lines for the job's shell (machine output, never escaped).
    pub(crate) exports: Vec<Vec<u8>>,
    pub(crate) warnings: Vec<String>,
    pub(crate) configured: Vec<String>,
    pub(crate) verified: Option<String>,
    /// Strict mode and something went wrong: the job fails before the build.
    pub(crate) failed: bool,
    /// The first line, when the run decided it (the broker's robot); else it follows from the
    /// verification.
    pub(crate) headline: Option<String>,
}

impl Report {
    pub(super) fn warn(&mut self, problem: &dyn Problem) {
        self.warnings.push(report::with_hint(problem));
    }

    pub(super) fn note(&mut self, text: impl Into<String>) {
        self.warnings.push(text.into());
    }
}

pub(super) fn write(
    integration: &Integration,
    context: &JobContext,
    harbor: &HarborSettings,
    o: &Report,
    err: &mut dyn Write,
) -> io::Result<()> {
    let url = integration.harbor_url().ok();
    let mode = context.verify;
    let headline =
        o.headline
            .clone()
            .unwrap_or_else(|| match (url, &o.verified, o.warnings.is_empty()) {
                (Some(u), Some(_), true) => format!("Harbor {}: credentials verified", u.registry),
                (Some(u), None, true) if mode == VerifyMode::Off => {
                    format!("Harbor {}: clients configured (not verified)", u.registry)
                }
                (Some(u), _, _) => format!("Harbor {}: see the warnings below", u.registry),
                (None, _, _) => "Harbor: the variables cannot be used".to_owned(),
            });
    let mut body = String::new();
    let _ = writeln!(body, "{}", report::line(headline));
    if let Some(u) = url {
        let _ = writeln!(
            body,
            "  registry   {} (HARBOR_REGISTRY; image names start {}/…)",
            u.registry, u.registry
        );
    }
    if let Some(p) = &integration.project {
        let _ = writeln!(body, "  project    {p}");
    }
    if let Some(user) = integration.user() {
        let _ = writeln!(body, "  user       {user}");
    }
    let verification = match (&o.verified, mode) {
        (Some(v), _) => v.clone(),
        (None, VerifyMode::Off) => format!("off ({VERIFY_VAR}=off)"),
        (None, _) => "failed (see below)".to_owned(),
    };
    let _ = writeln!(body, "  verified   {verification}");
    for c in &o.configured {
        let _ = writeln!(body, "  configured {c}");
    }
    if let Some(u) = url
        && harbor.trust.ca_file.is_some()
    {
        let _ = writeln!(
            body,
            "  docker:dind: the daemon verifies Harbor itself; mount the CA into the service with \
             volumes = [\"<ca.crt>:/etc/docker/certs.d/{}/ca.crt:ro\"] in config.toml",
            u.registry
        );
    }
    let mut tail = String::new();
    let level = if o.failed { "error" } else { "warning" };
    for w in &o.warnings {
        let _ = writeln!(tail, "{}", report::line(format_args!("{level}: {w}")));
    }
    if o.failed {
        let _ = writeln!(
            tail,
            "{}",
            report::line(format_args!(
                "{VERIFY_VAR}=strict: failing the job before the build"
            ))
        );
    }
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let mut all = String::new();
    if context.job.ci {
        let _ = write!(
            all,
            "\x1b[0Ksection_start:{stamp}:docker_credential_harbor[collapsed=true]\r\x1b[0K"
        );
    }
    all.push_str(&text::escape(&body));
    if context.job.ci {
        let _ = write!(
            all,
            "\x1b[0Ksection_end:{stamp}:docker_credential_harbor\r\x1b[0K\n"
        );
    }
    all.push_str(&text::escape(&tail));
    err.write_all(all.as_bytes())
}
