//! `docker-credential-harbor robots prune`: deletes the job robots that `pre-build
//! --job-robot` left in the project (a job killed with its container, a Harbor that was down
//! at the end of a job), for a scheduled cleanup pipeline.
//!
//! Only robots that carry both marks of a job robot (the `ci-job-` name after the last `+`,
//! under any robot prefix, and this tool's name in the description) are considered, and only
//! once expired or older than the given age. When Harbor refuses, whether the account is a
//! robot (asked at most once, `harbor_client::account`) decides the advice. Reports one line per
//! robot on stdout; never prints a secret.

use std::io::{self, Write};

use docker_credential_harbor_core::integration::Integration;
use docker_credential_harbor_core::problem::Problem;
use harbor_client::account;
use harbor_client::robots::{self, Listed};
use harbor_client::{HarborClient, HarborError};

use crate::report::{self, Message};
use crate::settings::HarborSettings;

pub(crate) fn prune(
    integration: &Integration,
    harbor: &HarborSettings,
    older_than_hours: u64,
    dry_run: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> io::Result<bool> {
    let fail = |err: &mut dyn Write, problem: &dyn Problem| -> io::Result<bool> {
        report::error(
            err,
            &Message(&format!("robots prune: {problem}"), problem.hint()),
        )?;
        Ok(false)
    };
    let url = match integration.harbor_url() {
        Ok(u) => u,
        Err(p) => return fail(err, &p),
    };
    let (Some(account), Some(project)) = (integration.account(), integration.project.clone())
    else {
        return fail(
            err,
            &Message(
                "HARBOR_USERNAME, HARBOR_PASSWORD and HARBOR_PROJECT must be set",
                None,
            ),
        );
    };
    let client =
        match HarborClient::with_options(&harbor.harbor_options(&url.registry), url, account) {
            Ok(c) => c,
            Err(e) => return fail(err, &e),
        };
    let user = client.user().to_owned();
    // Asked only once Harbor refused something, and then once.
    let asked = std::cell::OnceCell::new();
    let kind = || *asked.get_or_init(|| account::of(&client));
    let listed = robots::project_id(&client, &project).and_then(|id| match id {
        Some(id) => robots::list(&client, id),
        None => Ok(None),
    });
    let all = match listed {
        Ok(Some(all)) => all,
        Ok(None) => {
            let what = format!("{user} may not read project {project} or list its robot accounts");
            let k = kind();
            let hint = if k.is_robot() {
                format!(
                    "{user} is a robot{}: it needs project read and robot list and delete on {project} in its own permissions; or run it with a project admin of {project}",
                    k.guess_note()
                )
            } else {
                format!("run it with a project admin of {project} (robot list and delete rights)")
            };
            return fail(err, &Message(&what, Some(hint)));
        }
        Err(e) => return fail(err, &e),
    };
    let now = robots::unix_now();
    let (mut deleted, mut kept, mut ok) = (0, 0, true);
    for robot in all.iter().filter(|r| robots::is_job_robot(r)) {
        let age_hours = age_hours(robot, now);
        let expired = robot.expires_at > 0 && robot.expires_at <= now;
        let job = robots::job_id_of(robot).unwrap_or("?");
        if !(expired || age_hours >= older_than_hours) {
            kept += 1;
            writeln!(
                out,
                "kept     {} (job {job}, {age_hours} h old: its job may still run)",
                robot.name
            )?;
            continue;
        }
        let why = if expired {
            "expired".to_owned()
        } else {
            format!("{age_hours} h old")
        };
        if dry_run {
            writeln!(out, "would delete {} (job {job}, {why})", robot.name)?;
            continue;
        }
        match robots::delete(&client, robot.id) {
            Ok(_) => {
                deleted += 1;
                writeln!(out, "deleted  {} (job {job}, {why})", robot.name)?;
            }
            Err(HarborError::Unexpected { status: 403, .. }) => {
                ok = false;
                let k = kind();
                let grant = if k.is_robot() {
                    format!(
                        "give {user} robot delete on {project} in its own permissions{}, or ",
                        k.guess_note()
                    )
                } else {
                    String::new()
                };
                let what = format!(
                    "{user} may not delete robot accounts in {project}, so {} stays; \
                     {grant}run prune with a project admin of {project}",
                    robot.name
                );
                report::error(err, &Message(&what, None))?;
            }
            Err(e) => {
                ok = false;
                let what = format!("cannot delete {}: {e}", robot.name);
                report::error(err, &Message(&what, e.hint()))?;
            }
        }
    }
    writeln!(
        out,
        "robots prune: {deleted} deleted, {kept} kept, in project {project}"
    )?;
    Ok(ok)
}

/// Job robots live one day: their creation is a day before their expiry.
fn age_hours(robot: &Listed, now: i64) -> u64 {
    let created = robot.expires_at - 86_400;
    u64::try_from((now - created).max(0) / 3600).unwrap_or(0)
}
