//! doctor's checks, in the order they run: each takes what the earlier ones found (the
//! [`Checkup`]) and returns its lines, passed, failed or skipped because of an earlier finding.
//! The layers come from `harbor_client::probe`, the verification from `harbor_client::verify`.

use docker_credential_harbor_core::env::{HARBOR_PASSWORD, HARBOR_PROJECT, HARBOR_USERNAME};
use docker_credential_harbor_core::url::Scheme;
use harbor_client::account::{self, Kind};
use harbor_client::verify;
use harbor_client::{HarborClient, HarborError, probe, robots};

use super::{Checkup, Finding, Line, docker_env, network, skip};
use crate::report::Message;

/// A step: one or more checks.
type Step = fn(&mut Checkup) -> Vec<Line>;

pub(super) const ALL: &[Step] = &[
    url,
    variables,
    timeout,
    docker_env::docker_auth,
    network::trust,
    network::dns,
    network::tcp,
    network::handshake,
    network::harbor,
    access,
    robot,
    job_robots,
];

const ACCESS: [&str; 4] = ["credentials", "project", "pull", "push"];

fn url(c: &mut Checkup) -> Vec<Line> {
    let url = match c.integration.harbor_url() {
        Ok(u) => u.clone(),
        Err(p) => {
            c.blocked = Some("no Harbor URL");
            return vec![("url", Finding::fail(&p))];
        }
    };
    let from = url.from.var();
    let line = if url.scheme == Scheme::Http {
        Finding::Warn(format!(
            "{} from {from}: plain HTTP, accepted only because the host is loopback",
            url.base()
        ))
    } else {
        Finding::pass(format!(
            "{} from {from}; registry {}",
            url.base(),
            url.registry
        ))
    };
    c.proxy = probe::proxy_for(&c.harbor.proxies, &url);
    c.url = Some(url);
    vec![("url", line)]
}

fn variables(c: &mut Checkup) -> Vec<Line> {
    let missing = c.integration.missing();
    let line = if missing.is_empty() {
        Finding::pass(format!(
            "{HARBOR_USERNAME}, {HARBOR_PASSWORD} and {HARBOR_PROJECT} are set"
        ))
    } else {
        Finding::fail(&Message(
            &format!("{} not set", missing.join(", ")),
            Some("GitLab's Harbor integration sets them for every job; check the integration's settings, or set them as CI/CD variables".into()),
        ))
    };
    vec![("variables", line)]
}

fn timeout(c: &mut Checkup) -> Vec<Line> {
    match &c.harbor.timeout_note {
        Some(note) => vec![("timeout", Finding::Warn(note.to_owned()))],
        None => Vec::new(),
    }
}

fn is_oidc(c: &Checkup) -> bool {
    c.info.as_ref().and_then(|i| i.auth_mode.as_deref()) == Some("oidc_auth")
}

/// Credentials, project, pull, push: one token request on the happy path.
fn access(c: &mut Checkup) -> Vec<Line> {
    if let Some(why) = c.blocked {
        return skip(&ACCESS, why);
    }
    let Some(client) = &c.client else {
        return Vec::new();
    };
    let Some(user) = c.integration.account().map(|a| a.username) else {
        return skip(&ACCESS, "no credentials in the variables");
    };
    let Some(project) = c.integration.project.clone() else {
        let line = match verify::token(client, None) {
            Ok((200, _)) => Finding::pass(format!("accepted for {user}")),
            Ok(_) => Finding::fail(&HarborError::Unauthorized {
                user,
                oidc: is_oidc(c),
            }),
            Err(e) => Finding::fail(&e),
        };
        let mut lines = vec![("credentials", line)];
        lines.extend(skip(
            &["project", "pull", "push"],
            "HARBOR_PROJECT is not set",
        ));
        return lines;
    };
    let accepted = || ("credentials", Finding::pass(format!("accepted for {user}")));
    let exists = || ("project", Finding::pass(format!("{project} exists")));
    let lines = match verify::verify_push(client, &project) {
        Ok(v) => vec![
            (
                "credentials",
                Finding::pass(format!("accepted as {}", v.subject)),
            ),
            (
                "project",
                Finding::pass(format!(
                    "{project} exists and {} has a role in it",
                    v.subject
                )),
            ),
            (
                "pull",
                Finding::pass(format!("{} may pull from {project}", v.subject)),
            ),
            (
                "push",
                Finding::pass(format!("{} may push to {project}", v.subject)),
            ),
        ],
        Err(e @ HarborError::Unauthorized { .. }) => {
            let mut lines = vec![("credentials", Finding::fail(&e))];
            lines.extend(skip(
                &["project", "pull", "push"],
                "credentials not accepted",
            ));
            return lines;
        }
        Err(e @ HarborError::ProjectMissing { .. }) => {
            let mut lines = vec![accepted(), ("project", Finding::fail(&e))];
            lines.extend(skip(&["pull", "push"], "no such project"));
            lines
        }
        Err(e @ HarborError::NotMember { .. }) => vec![
            accepted(),
            exists(),
            ("pull", Finding::fail(&e)),
            (
                "push",
                Finding::fail(&Message(&format!("{user} may not push to {project}"), None)),
            ),
        ],
        Err(e @ HarborError::NoPush { .. }) => vec![
            accepted(),
            exists(),
            (
                "pull",
                Finding::pass(format!("{user} may pull from {project}")),
            ),
            ("push", Finding::fail(&e)),
        ],
        Err(e) => {
            let mut lines = vec![("credentials", Finding::fail(&e))];
            lines.extend(skip(
                &["project", "pull", "push"],
                "the check did not complete",
            ));
            return lines;
        }
    };
    c.accepted = true;
    lines
}

/// The project's id, asked once for the checks that need it.
fn project_id(c: &Checkup) -> Option<i64> {
    *c.project_id.get_or_init(|| {
        let (client, project) = (c.client.as_ref()?, c.integration.project.as_ref()?);
        robots::project_id(client, project).ok().flatten()
    })
}

/// What the account is, by the one rule (`harbor_client::account::of`: a user's doctor run costs no
/// extra request), asked once, and only once Harbor accepted the credentials.
fn kind(c: &Checkup) -> Kind {
    *c.kind.get_or_init(|| match &c.client {
        Some(client) if c.accepted => account::of(client),
        _ => Kind::User,
    })
}

/// The client, user and project, once Harbor accepted the credentials: what the checks about
/// the account itself need.
fn accepted<'c>(c: &'c Checkup) -> Option<(&'c HarborClient, &'c str, &'c str)> {
    match (&c.client, c.integration.user(), &c.integration.project) {
        (Some(client), Some(user), Some(project)) if c.accepted => Some((client, user, project)),
        _ => None,
    }
}

/// A robot's expiry, when Harbor lets the robot read it (robots usually lack project read and
/// robot list: docs/harbor.md#doctor); informational unless it is about to expire. Only for a
/// robot as Harbor says (whatever its prefix); when the name decided, the line says so.
fn robot(c: &mut Checkup) -> Vec<Line> {
    let Some((client, user, project)) = accepted(c) else {
        return Vec::new();
    };
    let kind = kind(c);
    if !kind.is_robot() {
        return Vec::new();
    }
    let note = kind.guess_note();
    let unreadable = format!(
        "{user}'s expiry is not readable with its own permissions; Harbor shows it under Projects > {project} > Robot Accounts{note}"
    );
    let listed = project_id(c).and_then(|id| robots::list(client, id).ok().flatten());
    let Some(robot) = listed.and_then(|all| all.into_iter().find(|x| x.name == user)) else {
        return vec![("robot", Finding::Info(unreadable))];
    };
    let now = robots::unix_now();
    let days = (robot.expires_at - now) / 86_400;
    let line = if robot.expires_at < 0 {
        Finding::Warn(format!(
            "{user} never expires; a rotation policy needs an expiry"
        ))
    } else if robot.expires_at <= now {
        Finding::fail(&Message(
            &format!("{user} has expired"),
            Some(format!(
                "refresh it under Projects > {project} > Robot Accounts and update HARBOR_PASSWORD"
            )),
        ))
    } else if days < 7 {
        Finding::Warn(format!(
            "{user} expires in {days} days; refresh it and update HARBOR_PASSWORD"
        ))
    } else {
        Finding::pass(format!("{user} expires in {days} days"))
    };
    vec![("robot", line)]
}

/// Whether the account may mint job robots (`pre-build --job-robot`): `robot:create` on the
/// project, which OIDC CLI secrets can never use. A warning only when job robots are enabled.
fn job_robots(c: &mut Checkup) -> Vec<Line> {
    let Some((client, user, project)) = accepted(c) else {
        return Vec::new();
    };
    let fallback = "pre-build --job-robot would keep the integration's credentials";
    let cannot = |text: String| {
        if c.context.job_robot {
            Finding::Warn(text)
        } else {
            Finding::Info(text)
        }
    };
    if is_oidc(c) {
        return vec![(
            "job robots",
            cannot(format!(
                "OIDC CLI secrets cannot call Harbor's robot API; {fallback}"
            )),
        )];
    }
    let line = match project_id(c).map(|id| robots::may_create(client, id)) {
        Some(Ok(Some(true))) => Finding::pass(format!(
            "{user} may create robot accounts in {project}, so pre-build --job-robot can give each job its own"
        )),
        Some(Ok(Some(false))) if kind(c).is_robot() => cannot(format!(
            "{user} may not create robot accounts in {project}{}: a robot may create robots from Harbor 2.12 on, with robot:create in its own permissions and no wider access than its own; {fallback}",
            kind(c).guess_note()
        )),
        Some(Ok(Some(false))) => cannot(format!(
            "{user} may not create robot accounts in {project} (by default only project admins may); {fallback}"
        )),
        _ => cannot(format!(
            "cannot tell whether {user} may create robot accounts in {project} (it may not read the project); {fallback}"
        )),
    };
    vec![("job robots", line)]
}
