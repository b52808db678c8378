//! `doctor --runner-config FILE`: what a runner admin checks on the runner host, per
//! `[[runners]]` table of the GitLab runner's config.toml (read by `gitlab_runner_toml`): the
//! hooks, the `DOCKER_AUTH_CONFIG` its `environment` gives every job, and the credential-helper
//! allowlist of runners ≥ 19.4, whose shape is unconfirmed: it is reported present, never as
//! letting the helper run. No network, no secret: the file holds the runner's token, and
//! nothing of it but table names and keys is printed.

use std::io::{self, Write};
use std::path::Path;

use docker_credential_harbor_core::address::Registry;
use docker_credential_harbor_core::integration::Integration;

use super::{Finding, Line, write_line};
use crate::client_config::HELPER;
use crate::docker_auth_verdict::{Reader, Verdict};
use crate::gitlab_runner_toml::{self, ALLOWLIST_KEY, Allowlist, PreBuild, Runner};
use crate::report::Message;

pub(crate) fn run(
    config: &Path,
    registry: Option<&str>,
    integration: &Integration,
    out: &mut dyn Write,
) -> io::Result<bool> {
    let lines = match checks(config, registry, integration) {
        Ok(lines) => lines,
        Err(line) => vec![line],
    };
    let (mut passed, mut failed) = (0, 0);
    for (check, finding) in &lines {
        match finding {
            Finding::Pass(_) => passed += 1,
            Finding::Fail { .. } => failed += 1,
            _ => {}
        }
        write_line(out, check, finding)?;
    }
    writeln!(out, "doctor: {passed} passed, {failed} failed")?;
    Ok(failed == 0)
}

fn checks(
    config: &Path,
    registry: Option<&str>,
    integration: &Integration,
) -> Result<Vec<Line>, Line> {
    let registry = match registry {
        Some(r) => Registry::parse(r).map_err(|e| {
            (
                "registry",
                Finding::fail(&Message(&format!("--registry: {e}"), None)),
            )
        })?,
        None => match integration.harbor_url() {
            Ok(u) => u.registry.clone(),
            Err(_) => {
                return Err((
                    "registry",
                    Finding::fail(&Message(
                        "no registry to check for",
                        Some(
                            "give --registry HOST[:PORT], Harbor's registry as in image names"
                                .into(),
                        ),
                    )),
                ));
            }
        },
    };
    let runners =
        gitlab_runner_toml::read(config, &registry).map_err(|e| ("config", Finding::fail(&e)))?;
    if runners.is_empty() {
        return Err((
            "config",
            Finding::fail(&Message(
                &format!("{} has no [[runners]] table", config.display()),
                Some("register a runner first (gitlab-runner register)".into()),
            )),
        ));
    }
    let mut lines = Vec::new();
    for r in &runners {
        lines.push(("hooks", hooks(r, config)));
        lines.push(("allowlist", allowlist(r, &registry, config)));
        if let Some(line) = environment(r, &registry) {
            lines.push(("environment", line));
        }
    }
    Ok(lines)
}

fn hooks(r: &Runner, config: &Path) -> Finding {
    let name = &r.name;
    let install = format!("scripts/install --runner-config {}", config.display());
    match (r.pre_build, r.post_build_hook) {
        (PreBuild::Checked, true) => Finding::pass(format!(
            "runner {name}: pre_build_script and post_build_script call docker-credential-harbor"
        )),
        (PreBuild::Unchecked, _) => Finding::Warn(format!(
            "runner {name}: pre_build_script runs docker-credential-harbor pre-build without the \
             check that reports a missing binary, so a job whose image lacks it goes on silently \
             (and strict cannot fail it); {install} prints the line to replace it with"
        )),
        (pre, _) => Finding::Warn(format!(
            "runner {name}: no {} calling docker-credential-harbor; {install} adds it",
            if pre == PreBuild::Checked {
                "post_build_script"
            } else {
                "pre_build_script"
            },
        )),
    }
}

fn allowlist(r: &Runner, registry: &Registry, config: &Path) -> Finding {
    let name = &r.name;
    let refused = "runners >= 19.4 (and 19.3.2, 19.2.4, 19.1.3) refuse a job's DOCKER_AUTH_CONFIG \
                   whose credHelpers or credsStore name the helper; this matters only if jobs or \
                   CI/CD variables use that route (the hooks and the runner user's \
                   ~/.docker/config.json do not)";
    let lint = format!(
        "`gitlab-runner lint --config {}` lists the keys a runner that has the command does not know",
        config.display()
    );
    if let Some(e @ ("shell" | "ssh")) = r.executor.as_deref() {
        return Finding::Info(format!(
            "runner {name}: the {e} executor pulls no images, so {ALLOWLIST_KEY} does not apply"
        ));
    }
    match &r.allowlist {
        // No source confirms the shape: present is all that can be said.
        Allowlist::Lists(at) => Finding::Info(format!(
            "runner {name}: {at} names docker-credential-{HELPER} for {registry}: present, shape \
             unverified (no GitLab source we could read confirms it); {lint}"
        )),
        Allowlist::Lacks(at) => Finding::Warn(format!(
            "runner {name}: {at} does not name \"{registry}\" = \"{HELPER}\": {refused}; add it \
             there (shape unverified); {lint}"
        )),
        Allowlist::Absent => Finding::Warn(format!(
            "runner {name}: no {ALLOWLIST_KEY}: {refused}; scripts/install --runner-config {} \
             --registry {registry} prints the line to add (its shape is unconfirmed)",
            config.display()
        )),
    }
}

fn environment(r: &Runner, registry: &Registry) -> Option<Finding> {
    let config = r.environment_auth.as_ref()?;
    let said =
        Verdict::of(config, std::slice::from_ref(registry))?.said(Reader::Runner(&r.name))?;
    Some(Finding::Warn(said))
}
