//! Harbor's robot-account API (docs/gitlab-runner.md#job-scoped-robot-accounts): create a
//! job-scoped project robot, delete it, list a project's robots, and ask whether an account may
//! create them. The helper's job robots and harbor-broker's robots both call these, one
//! function per Harbor call.
//!
//! A job robot gets the repository actions its caller chose ([`RepositoryAccess`]: the
//! helper's are pull and push) and nothing else, the shortest lifetime Harbor allows (1 day)
//! as a backstop, and a name and description that trace it to the job. The name Harbor returns is used as is: it carries Harbor's current
//! `robot_name_prefix` (default `robot$`, configurable since 2.2), so nothing here assumes one;
//! a job robot is recognised by the part after the last `+`, which no prefix, project or
//! robot name can hold. The secret Harbor returns goes straight into a `SecretString`.

use secrecy::SecretString;
use serde::Deserialize;

use docker_credential_harbor_core::problem::Problem;

use crate::account::{self, Kind};
use crate::verify::check_project;
use crate::{HarborClient, HarborError, Reply, encode};

/// Every job robot's name starts with this, then the job id and a random suffix.
pub const JOB_ROBOT_STEM: &str = "ci-job-";
/// Written into every job robot's description, so `robots prune` never touches others.
pub const MARK: &str = "docker-credential-harbor";

/// A robot Harbor just created; the secret is shown only this once.
#[derive(Debug)]
pub struct Created {
    pub id: i64,
    pub name: String,
    pub secret: SecretString,
    pub expires_at: i64,
}

/// A robot as listed (never with a secret).
#[derive(Clone, Debug, Deserialize)]
pub struct Listed {
    pub id: i64,
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub expires_at: i64,
    #[serde(default)]
    pub creation_time: String,
}

/// The repository actions a created robot gets, and nothing else.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RepositoryAccess {
    /// `repository:pull` only.
    Pull,
    /// `repository:pull` and `repository:push` (what the helper's job robots get).
    PullPush,
}

impl RepositoryAccess {
    /// The actions, in the order they are sent.
    pub fn actions(self) -> &'static [&'static str] {
        match self {
            RepositoryAccess::Pull => &["pull"],
            RepositoryAccess::PullPush => &["pull", "push"],
        }
    }
}

/// Why a robot could not be created.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    /// The account lacks `robot:create` on the project (only project admins have it by
    /// default; OIDC CLI secrets cannot call this API at all). `kind` is what Harbor says the
    /// account is, asked after a 403 because the advice differs for a robot.
    #[error(
        "{user} may not create robot accounts in project {project}{}",
        not_allowed_note(*oidc_hint, kind.as_ref())
    )]
    NotAllowed {
        user: String,
        project: String,
        oidc_hint: bool,
        kind: Option<Kind>,
        /// Harbor's own words (`errors[0].message`), unescaped, for a caller that quotes them
        /// (a robot creator's scope refusal says what is missing); not in `Display`.
        message: Option<String>,
    },
    /// Harbor refused the request as malformed (its message quoted).
    #[error("Harbor refused the robot account ({status}: {message})")]
    Rejected { status: u16, message: String },
    /// The name exists already.
    #[error("a robot account of that name exists already")]
    Duplicate,
    #[error(transparent)]
    Harbor(#[from] HarborError),
}

impl Problem for CreateError {
    fn hint(&self) -> Option<String> {
        match self {
            CreateError::Harbor(e) => e.hint(),
            _ => None,
        }
    }
}

/// Why the account may not: which of Harbor's rules it meets.
fn not_allowed_note(oidc_hint: bool, kind: Option<&Kind>) -> String {
    match kind {
        _ if oidc_hint => " (an OIDC CLI secret cannot call Harbor's robot API)".to_owned(),
        Some(k) if k.is_robot() => format!(
            " (a robot may create robots from Harbor 2.12 on, with robot:create in its own permissions){}",
            k.guess_note()
        ),
        _ => " (by default only project admins may)".to_owned(),
    }
}

/// `POST /api/v2.0/robots` for a project robot with exactly `access` on the repositories.
pub fn create(
    client: &HarborClient,
    project: &str,
    name: &str,
    description: &str,
    access: RepositoryAccess,
) -> Result<Created, CreateError> {
    check_project(project)?;
    let access: Vec<serde_json::Value> = access
        .actions()
        .iter()
        .map(|action| serde_json::json!({"resource": "repository", "action": action}))
        .collect();
    let body = serde_json::json!({
        "name": name,
        "description": description,
        "level": "project",
        // Days; 1 is the shortest finite lifetime (0 is refused from Harbor 2.11 on).
        "duration": 1,
        "permissions": [{
            "kind": "project",
            "namespace": project,
            "access": access,
        }],
    });
    let reply = client.post_json("/api/v2.0/robots", &body)?;
    match reply.status {
        201 => parse_created(&reply.body).ok_or_else(|| {
            CreateError::Harbor(HarborError::Unexpected {
                what: "POST /api/v2.0/robots: the answer is not a created robot".into(),
                status: 201,
                request_id: reply.request_id.clone(),
                message: None,
            })
        }),
        401 | 403 => Err(CreateError::NotAllowed {
            user: client.user().to_owned(),
            project: project.to_owned(),
            oidc_hint: reply.status == 401,
            // One more request, on this failure only: whether to advise a project admin or a
            // robot's own permissions. A failed request leaves the name to decide.
            kind: (reply.status == 403).then(|| account::of(client)),
            message: reply.error_message(),
        }),
        409 => Err(CreateError::Duplicate),
        400 | 404 | 422 => Err(CreateError::Rejected {
            status: reply.status,
            message: reply.error_message().unwrap_or_else(|| "no detail".into()),
        }),
        _ => Err(CreateError::Harbor(
            reply.unexpected("POST /api/v2.0/robots"),
        )),
    }
}

/// The robot in a `POST /robots` 201 body (`RobotCreated`); the secret goes straight into a
/// `SecretString`.
pub fn parse_created(body: &[u8]) -> Option<Created> {
    #[derive(Deserialize)]
    struct Body {
        id: i64,
        name: String,
        secret: SecretString,
        #[serde(default)]
        expires_at: i64,
    }
    let b: Body = serde_json::from_slice(body).ok()?;
    Some(Created {
        id: b.id,
        name: b.name,
        secret: b.secret,
        expires_at: b.expires_at,
    })
}

/// The project's id in a `GET /projects/{name}` 200 body.
pub fn parse_project_id(body: &[u8]) -> Option<i64> {
    #[derive(Deserialize)]
    struct P {
        project_id: i64,
    }
    serde_json::from_slice::<P>(body).ok().map(|p| p.project_id)
}

/// Whether a `GET /users/current/permissions` 200 body grants `robot:create`.
pub fn parse_may_create(body: &[u8]) -> bool {
    #[derive(Deserialize)]
    struct Perm {
        resource: String,
        action: String,
    }
    let perms: Vec<Perm> = serde_json::from_slice(body).unwrap_or_default();
    perms
        .iter()
        .any(|p| p.resource == "robot" && p.action == "create")
}

/// One page of `GET /robots` (never with secrets); `None` for junk, which is not an empty page.
pub fn parse_listed(body: &[u8]) -> Option<Vec<Listed>> {
    serde_json::from_slice(body).ok()
}

/// A 200 whose body is not what the call answers: a proxy or another service, never "none".
fn not_harbor(reply: &Reply, what: &str) -> HarborError {
    HarborError::Unexpected {
        what: format!("{what}: the answer is not Harbor's JSON"),
        status: reply.status,
        request_id: reply.request_id.clone(),
        message: None,
    }
}

/// `DELETE /api/v2.0/robots/{id}`; `Ok(false)` when it was gone already.
pub fn delete(client: &HarborClient, id: i64) -> Result<bool, HarborError> {
    let reply = client.delete(&format!("/api/v2.0/robots/{id}"))?;
    match reply.status {
        200 => Ok(true),
        404 => Ok(false),
        _ => Err(reply.unexpected(&format!("DELETE /api/v2.0/robots/{id}"))),
    }
}

/// The numeric id of `project`, when the account may read it (`None`: it may not, or there is
/// no such project); a 200 that is not a project is an error.
pub fn project_id(client: &HarborClient, project: &str) -> Result<Option<i64>, HarborError> {
    check_project(project)?;
    let reply = client.get_with(
        &format!("/api/v2.0/projects/{}", encode(project)),
        &[("X-Is-Resource-Name", "true")],
    )?;
    if reply.status != 200 {
        return Ok(None);
    }
    parse_project_id(&reply.body)
        .map(Some)
        .ok_or_else(|| not_harbor(&reply, "GET /api/v2.0/projects/{name}"))
}

/// Whether the account holds `robot:create` on the project (`GET users/current/permissions`).
pub fn may_create(client: &HarborClient, project_id: i64) -> Result<Option<bool>, HarborError> {
    let reply = client.get(
        &format!("/api/v2.0/users/current/permissions?scope=/project/{project_id}&relative=true"),
        true,
    )?;
    if reply.status != 200 {
        return Ok(None);
    }
    Ok(Some(parse_may_create(&reply.body)))
}

/// Every robot of a project (paged), `None` when the account may not list them; a 200 that is
/// not a list of robots is an error, never an empty list.
///
/// Harbor pages by offset: a robot deleted from an earlier page while a later one is read
/// moves another onto the page already read, so a listing of many pages that others change
/// meanwhile can miss robots. To find given robots, use [`list_matching`].
pub fn list(client: &HarborClient, project_id: i64) -> Result<Option<Vec<Listed>>, HarborError> {
    list_query(client, project_id, "")
}

/// The robots of a project whose stored name (`<project>+<name>`) contains `fragment`, as
/// [`list`]: Harbor filters them (`name=~`, case-insensitive), so a few robots fit one page
/// whatever else comes and goes. `fragment` is ASCII letters, digits and `-` only (Harbor
/// decodes `q` twice; these need no escaping either time); anything else lists every robot.
pub fn list_matching(
    client: &HarborClient,
    project_id: i64,
    fragment: &str,
) -> Result<Option<Vec<Listed>>, HarborError> {
    let plain = fragment
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if plain && !fragment.is_empty() {
        list_query(client, project_id, &format!("%2Cname%3D~{fragment}"))
    } else {
        list(client, project_id)
    }
}

/// [`list`] with `more` (already encoded) appended to its `q`.
fn list_query(
    client: &HarborClient,
    project_id: i64,
    more: &str,
) -> Result<Option<Vec<Listed>>, HarborError> {
    let mut all = Vec::new();
    for page in 1..=100 {
        let reply = client.get(
            &format!("/api/v2.0/robots?q=Level%3Dproject%2CProjectID%3D{project_id}{more}&page_size=100&page={page}"),
            true,
        )?;
        if reply.status != 200 {
            return Ok(None);
        }
        let batch =
            parse_listed(&reply.body).ok_or_else(|| not_harbor(&reply, "GET /api/v2.0/robots"))?;
        let done = batch.len() < 100
            || reply
                .total_count
                .is_some_and(|t| (all.len() + batch.len()) as u64 >= t);
        all.extend(batch);
        if done {
            break;
        }
    }
    Ok(Some(all))
}

/// The robot's own name: what follows the last `+` of `<prefix><project>+<name>`, whatever
/// the prefix. `None` for a system robot (no `+`), which pre-build never makes: without the
/// `+`, a prefix such as `ci-` could make another robot's login start with the stem.
pub fn short_name(robot: &Listed) -> Option<&str> {
    robot.name.rsplit_once('+').map(|(_, short)| short)
}

/// Whether a listed robot is one `pre-build` made: the name stem and our mark.
pub fn is_job_robot(robot: &Listed) -> bool {
    short_name(robot).is_some_and(|s| s.starts_with(JOB_ROBOT_STEM))
        && robot.description.contains(MARK)
}

/// The job id in a job robot's name (`…+ci-job-<id>-<suffix>`).
pub fn job_id_of(robot: &Listed) -> Option<&str> {
    let rest = short_name(robot)?.strip_prefix(JOB_ROBOT_STEM)?;
    rest.rsplit_once('-').map(|(id, _)| id)
}

/// Now, in Unix seconds, the unit of Harbor's `expires_at`.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// A robot name for this job: `ci-job-<id>-<8 hex>`, lower case as Harbor requires.
pub fn job_robot_name(job_id: Option<&str>) -> String {
    let id: String = job_id
        .unwrap_or("local")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    let id = if id.is_empty() {
        "local".to_owned()
    } else {
        id
    };
    format!("{JOB_ROBOT_STEM}{id}-{}", random_hex(4))
}

/// `bytes` random bytes in lower-case hex (a robot name's suffix).
pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    // The getrandom(2) system call needs no /dev, so an empty root has it too.
    if getrandom::getrandom(&mut buf).is_err() {
        // A kernel or seccomp policy without it: the clock still separates two jobs.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos() ^ std::process::id())
            .unwrap_or(0);
        buf = nanos.to_be_bytes()[..bytes.min(4)].to_vec();
    }
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pull_access_is_pull_alone_and_the_helper_s_is_pull_then_push() {
        assert_eq!(RepositoryAccess::Pull.actions(), ["pull"]);
        assert_eq!(RepositoryAccess::PullPush.actions(), ["pull", "push"]);
    }

    #[test]
    fn job_robot_names_are_valid_harbor_names_and_recognisable() {
        let re_ok = |n: &str| {
            n.split(['.', '_', '-']).all(|g| {
                !g.is_empty()
                    && g.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            })
        };
        for id in [Some("4242"), Some("Job#7"), Some(""), None] {
            let n = job_robot_name(id);
            assert!(re_ok(&n), "{n}");
            assert!(n.starts_with(JOB_ROBOT_STEM));
        }
        assert_ne!(job_robot_name(Some("1")), job_robot_name(Some("1")));
        let listed = Listed {
            id: 1,
            name: "robot$proj+ci-job-4242-0a1b2c3d".into(),
            description: format!("GitLab job 4242; {MARK}"),
            expires_at: 0,
            creation_time: String::new(),
        };
        assert!(is_job_robot(&listed));
        assert_eq!(job_id_of(&listed), Some("4242"));
        let human = Listed {
            description: "made by hand".into(),
            ..listed.clone()
        };
        assert!(!is_job_robot(&human));
        // Any prefix, `$` or not, and a prefix that holds a `+` itself.
        for name in [
            "svc-proj+ci-job-4242-0a1b2c3d",
            "ci+proj+ci-job-4242-0a1b2c3d",
        ] {
            let other = Listed {
                name: name.into(),
                ..listed.clone()
            };
            assert!(is_job_robot(&other), "{name}");
            assert_eq!(job_id_of(&other), Some("4242"), "{name}");
        }
        for name in ["svc-ci-job-proj+deployer", "ci-job-4242-0a1b2c3d"] {
            let not_ours = Listed {
                name: name.into(),
                ..listed.clone()
            };
            assert!(!is_job_robot(&not_ours), "{name}");
        }
    }
}
