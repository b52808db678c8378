//! The real side of [`Robots`]: the broker's robots on Harbor, through `harbor-client`'s robot
//! API (one of its functions per Harbor call; nothing here builds a request or reads an
//! answer itself). [`connect`] builds the client from `[harbor]`; [`HarborRobots`] mints,
//! releases, sweeps and checks readiness, and turns each [`HarborError`] into the
//! [`RobotError`] the server answers with, naming the config key to fix.
//!
//! A broker robot is a project robot (Harbor stores `<prefix><project>+<short name>`) whose
//! description starts with [`MARK`], with one of two short names: a job's
//! `hb-<job id>-<intended expiry>-<8 hex>`, a Kubernetes service account's
//! `hk-<16 hex>-<intended expiry>-<8 hex>` (the hex: the first 8 bytes of the SHA-256 of
//! `<namespace>/<name>`, as Harbor's names admit neither `/` nor upper case). The name carries
//! all a replica needs to release or sweep it, so nothing is kept here. A robot is ours only
//! with both the name and the mark. The per-holder limit (per job; per service account and
//! project) is counted in Harbor before each mint, so it holds across replicas except for
//! mints of one holder that race each other. A service account's robot is always pull-only
//! and nothing releases it: the sweep ends it.
//!
//! What it must never do: put the robot's secret or the broker's password anywhere but the
//! [`Minted`] it returns and the client's Basic header (never in a reason, a log line or
//! `Debug`); delete a robot whose name or description is not ours; follow a redirect (the
//! client refuses them); show Harbor's text unescaped.

use std::collections::BTreeSet;
use std::time::Duration;

use docker_credential_harbor_core::integration::Account;
use docker_credential_harbor_core::problem::Problem;
use docker_credential_harbor_core::text;
use docker_credential_harbor_core::url::{HarborUrl, UrlProblem};
use docker_credential_harbor_core::vars::RegistryFrom;
use harbor_client::account::{self, Kind};
use harbor_client::robots::{self, CreateError, Listed, RepositoryAccess};
use harbor_client::tls::{self, TrustError};
use harbor_client::{HarborClient, HarborError};

use crate::claims::Claims;
use crate::config::{self, PasswordFileError};
use harbor_client::broker::Access;

use crate::kubernetes::{Bound, Qualified, ServiceAccountClaims};
use crate::policy::{Grant, Table};
use crate::robots::{
    Holder, JOB_FIX, MAX_LIVE_PER_JOB, MAX_LIVE_PER_SERVICE_ACCOUNT, Minted, RobotError, Robots,
    SERVICE_ACCOUNT_FIX, Swept,
};

/// Every job robot's short name starts with this.
pub const STEM: &str = "hb-";
/// Every Kubernetes service account robot's short name starts with this.
pub const SERVICE_ACCOUNT_STEM: &str = "hk-";
/// The hex digits of a service account's hash in its robots' names (8 bytes of SHA-256).
const HASH_HEX: usize = 16;
/// Every broker robot's description starts with this.
pub const MARK: &str = "harbor-broker";
/// The deadline of each Harbor call, retries included: well under a job's patience and a
/// probe's period, long enough for a loaded Harbor.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// Harbor's description column is a varchar(1024) (its migration 0004); ours stays below it.
const MAX_DESCRIPTION: usize = 1000;

/// Why the broker cannot talk to Harbor at all: a `[harbor]` key to fix.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error(transparent)]
    Password(#[from] PasswordFileError),
    #[error("[harbor] url {url} is not usable: {reason}")]
    Url { url: String, reason: String },
    #[error("[harbor] ca_file {path}: {reason}")]
    CaFile { path: String, reason: String },
    #[error(
        "no CA certificate to verify Harbor with: this system has no CA store and [harbor] \
         ca_file is not set"
    )]
    NoRoots,
    #[error("cannot set up the client for [harbor] url: {reason}")]
    Client { reason: String },
}

impl Problem for ConnectError {
    fn hint(&self) -> Option<String> {
        match self {
            ConnectError::Password(e) => e.hint(),
            ConnectError::Url { .. } => Some("write [harbor] url as https://HOST[:PORT]".into()),
            ConnectError::CaFile { .. } | ConnectError::NoRoots => Some(
                "point [harbor] ca_file at the PEM file of the CA that signs Harbor's certificate"
                    .into(),
            ),
            ConnectError::Client { .. } => None,
        }
    }
}

/// The broker's robots on one Harbor.
pub struct HarborRobots {
    client: HarborClient,
    ttl_seconds: u64,
}

/// A client for `[harbor]` (system store plus `ca_file`, [`TIMEOUT`] per call), minting robots
/// that end `ttl_seconds` after their mint. Blocking, like every call of [`HarborRobots`]:
/// reqwest's blocking client must be built, called and dropped off the async threads (in
/// `spawn_blocking`, or before the runtime starts).
pub fn connect(harbor: &config::Harbor, ttl_seconds: u64) -> Result<HarborRobots, ConnectError> {
    connect_with(harbor, ttl_seconds, TIMEOUT)
}

/// [`connect`] with another deadline per call (tests of a Harbor that does not answer).
pub fn connect_with(
    harbor: &config::Harbor,
    ttl_seconds: u64,
    timeout: Duration,
) -> Result<HarborRobots, ConnectError> {
    let password = config::read_password(&harbor.password_file)?;
    let url = HarborUrl::parse(&harbor.url, RegistryFrom::Url).map_err(|e| ConnectError::Url {
        url: text::inline(&harbor.url).into_owned(),
        reason: match e {
            UrlProblem::Address { problem, .. } => problem.to_string(),
            // The config admits https:// URLs only; the others cannot reach here.
            _ => "it is not an https:// URL of a host".to_owned(),
        },
    })?;
    let trust = tls::with_ca_file(harbor.ca_file.clone()).map_err(|e| match e {
        TrustError::CaFile { path, detail } => ConnectError::CaFile {
            path: text::inline(&path.display().to_string()).into_owned(),
            reason: detail.to_string(),
        },
        TrustError::NoRoots { .. } => ConnectError::NoRoots,
        TrustError::Rustls(e) => ConnectError::Client {
            reason: e.to_string(),
        },
    })?;
    let account = Account {
        username: harbor.username.clone(),
        password,
    };
    let client = HarborClient::new(url, &trust, timeout, Some(account)).map_err(|e| {
        ConnectError::Client {
            reason: e.to_string(),
        }
    })?;
    Ok(HarborRobots {
        client,
        ttl_seconds,
    })
}

/// Whose a broker robot is, as its name says.
#[derive(Debug, PartialEq, Eq)]
enum Owner<'a> {
    /// A GitLab job: its id.
    Job(&'a str),
    /// A Kubernetes service account: the [`HASH_HEX`] hex digits of [`service_account_hash`].
    ServiceAccount(&'a str),
}

/// What a broker robot's name says.
#[derive(Debug, PartialEq, Eq)]
struct Ours<'a> {
    owner: Owner<'a>,
    /// The intended expiry, Unix seconds.
    expiry: i64,
}

/// Decimal digits, at most as many as a `u64` has.
fn digits(s: &str) -> bool {
    !s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit())
}

/// Lower-case hex digits only (Harbor's names have no upper case; ours never do).
fn lower_hex(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// `Some` for a robot this broker minted: a stem, its holder (a job id, or a service
/// account's hash), an expiry and 8 hex digits in the short name, and the mark at the start
/// of the description.
fn ours(robot: &Listed) -> Option<Ours<'_>> {
    if !robot.description.starts_with(MARK) {
        return None;
    }
    let short = robots::short_name(robot)?;
    let (rest, job) = match short.strip_prefix(STEM) {
        Some(rest) => (rest, true),
        None => (short.strip_prefix(SERVICE_ACCOUNT_STEM)?, false),
    };
    let mut parts = rest.split('-');
    let (holder, expiry, suffix) = (parts.next()?, parts.next()?, parts.next()?);
    let owner = if job {
        digits(holder).then_some(Owner::Job(holder))?
    } else {
        (holder.len() == HASH_HEX && lower_hex(holder)).then_some(Owner::ServiceAccount(holder))?
    };
    if parts.next().is_some() || !digits(expiry) || suffix.len() != 8 || !lower_hex(suffix) {
        return None;
    }
    Some(Ours {
        owner,
        expiry: expiry.parse().ok()?,
    })
}

impl Owner<'_> {
    /// What every robot name of this owner starts with: `hb-<job id>-`, `hk-<hash>-`.
    fn stem(&self) -> String {
        match self {
            Owner::Job(id) => format!("{STEM}{id}-"),
            Owner::ServiceAccount(hash) => format!("{SERVICE_ACCOUNT_STEM}{hash}-"),
        }
    }
}

/// The short name of a new robot of `owner`, ending at `expiry`.
fn robot_name(owner: &Owner<'_>, expiry: i64) -> String {
    format!("{}{expiry}-{}", owner.stem(), robots::random_hex(4))
}

/// What a service account's robots' names carry: the first 8 bytes of the SHA-256 of
/// `<namespace>/<name>`, in lower-case hex (unique enough to count one account's robots,
/// and a name Harbor takes whatever the account is called).
fn service_account_hash(claims: &ServiceAccountClaims) -> String {
    let digest = ring::digest::digest(
        &ring::digest::SHA256,
        Qualified(claims).to_string().as_bytes(),
    );
    digest.as_ref()[..HASH_HEX / 2]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `d` cut to Harbor's column, on a character boundary.
fn fit(mut d: String) -> String {
    if d.len() > MAX_DESCRIPTION {
        let mut end = MAX_DESCRIPTION;
        while !d.is_char_boundary(end) {
            end -= 1;
        }
        d.truncate(end);
    }
    d
}

/// A service account's robot's description: the mark, then what traces it to the account,
/// the pod and the node the kubelet asked for.
fn service_account_description(
    claims: &ServiceAccountClaims,
    grant: &Grant,
    expiry: i64,
) -> String {
    let bound = |what: &str, b: &Option<Bound>| match b {
        Some(b) => format!("{what} {}", text::inline(&b.name)),
        None => format!("no {what}"),
    };
    fit(format!(
        "{MARK}: Kubernetes service account {} ({}, {}); pull by {} entry {}; ends at {expiry} \
         (Unix seconds)",
        text::inline(&Qualified(claims).to_string()),
        bound("pod", &claims.kubernetes_io.pod),
        bound("node", &claims.kubernetes_io.node),
        Table::Kubernetes.as_str(),
        grant.rule,
    ))
}

/// The robot's description: the mark, then what traces it to the job.
fn description(claims: &Claims, grant: &Grant, expiry: i64) -> String {
    fit(format!(
        "{MARK}: GitLab job {} of pipeline {}, project {} ({}), ref {}; {} by rule {}; ends at \
         {expiry} (Unix seconds)",
        claims.job_id,
        claims.pipeline_id,
        claims.running_project_id(),
        text::inline(claims.running_project_path()),
        text::inline(&claims.git_ref),
        grant.access,
        grant.rule,
    ))
}

/// Where a project name came from, for a reason that names the key to fix: the grant's
/// entry, or for a release or a sweep (which look in the projects of both tables) either.
fn project_key(grant: Option<&Grant>) -> String {
    match grant {
        Some(g) => format!("harbor_project in {} entry {}", g.table.as_str(), g.rule),
        None => "the harbor_project of a [[rules]] or [[kubernetes_rules]] entry".to_owned(),
    }
}

const PERMISSIONS: &str = "the minter needs project read, robot create, list and delete, and \
                           repository pull and push on every project the rules name \
                           (docs/broker.md)";

impl HarborRobots {
    fn user(&self) -> String {
        text::inline(self.client.user()).into_owned()
    }

    /// Harbor did not take the broker's account.
    fn credentials(&self) -> RobotError {
        RobotError::BadGateway {
            reason: format!(
                "Harbor did not accept [harbor] username {} with the password in [harbor] \
                 password_file (a wrong password, or a disabled or expired robot); fix either",
                self.user()
            ),
        }
    }

    /// A refusal (`None` from a call that needs a right): the credentials when Harbor does not
    /// take them (one more request, on this failure only), else `refused`.
    fn refusal(&self, refused: impl FnOnce() -> String) -> RobotError {
        match account::kind(&self.client) {
            Ok(Kind::Guessed { status: 401, .. }) => self.credentials(),
            Ok(_) => RobotError::BadGateway { reason: refused() },
            Err(e) => self.harbor_error("asking Harbor who the broker is", e),
        }
    }

    /// A failed call, by what it says of Harbor: not there (503), too slow (504), or there but
    /// not answering as Harbor (502).
    fn harbor_error(&self, doing: &str, e: HarborError) -> RobotError {
        let reason = format!("{doing}: {}", text::inline(&e.to_string()));
        match e {
            HarborError::Timeout { .. } => RobotError::Timeout { reason },
            HarborError::Dns { .. }
            | HarborError::Connect { .. }
            | HarborError::Server { .. }
            | HarborError::Request { .. } => RobotError::Unavailable { reason },
            HarborError::Unauthorized { .. } => self.credentials(),
            HarborError::BadProject { .. } => RobotError::BadGateway {
                reason: format!("{doing}: not a Harbor project name; fix harbor_project"),
            },
            HarborError::Redirect { .. } => RobotError::BadGateway {
                reason: format!("{reason}; set [harbor] url to Harbor's own https:// address"),
            },
            HarborError::Tls { .. } | HarborError::Handshake { .. } | HarborError::Trust(_) => {
                RobotError::BadGateway {
                    reason: format!(
                        "{reason}; check [harbor] url, and [harbor] ca_file for a private CA"
                    ),
                }
            }
            _ => RobotError::BadGateway {
                reason: format!("{reason}; check that [harbor] url is Harbor itself"),
            },
        }
    }

    /// The robots of `project`; with `stem`, only those whose name holds it (`hb-<job>-`,
    /// `hk-<hash>-`: Harbor filters them, so they fit one page even while other holders'
    /// robots come and go).
    fn robots_of(
        &self,
        project: &str,
        grant: Option<&Grant>,
        stem: Option<&str>,
    ) -> Result<Vec<Listed>, RobotError> {
        let missing = || {
            format!(
                "project {} ({}) does not exist in Harbor, or {} may not read it; create the \
                 project or fix the key, or give the minter project read (docs/broker.md)",
                text::inline(project),
                project_key(grant),
                self.user(),
            )
        };
        let id = robots::project_id(&self.client, project)
            .map_err(|e| self.harbor_error(&format!("looking up project {project}"), e))?
            .ok_or_else(|| self.refusal(missing))?;
        let listed = match stem {
            Some(stem) => robots::list_matching(&self.client, id, stem),
            None => robots::list(&self.client, id),
        };
        listed
            .map_err(|e| self.harbor_error(&format!("listing the robots of {project}"), e))?
            .ok_or_else(|| {
                self.refusal(|| {
                    format!(
                        "{} may not list the robots of project {project}; {PERMISSIONS}",
                        self.user()
                    )
                })
            })
    }

    /// Deletes one robot: `Ok(true)` deleted, `Ok(false)` gone already (another replica).
    fn delete(&self, robot: &Listed, project: &str) -> Result<bool, RobotError> {
        robots::delete(&self.client, robot.id).map_err(|e| match e {
            HarborError::Unexpected {
                status: 401 | 403, ..
            } => self.refusal(|| {
                format!(
                    "{} may not delete robot {} in project {project}; {PERMISSIONS}",
                    self.user(),
                    text::inline(&robot.name)
                )
            }),
            e => self.harbor_error(&format!("deleting robot {}", text::inline(&robot.name)), e),
        })
    }

    /// Deletes every robot of ours in `projects` that `pick` chooses, handing each outcome
    /// (deleted, gone already, failed) to `outcome`. A project that cannot be listed (deleted,
    /// down) does not strand the others' robots: they are still done, and its error returned.
    fn delete_ours(
        &self,
        projects: &[String],
        stem: Option<&str>,
        pick: impl Fn(&Ours<'_>) -> bool,
        mut outcome: impl FnMut(Result<bool, RobotError>),
    ) -> Option<RobotError> {
        let mut unlisted = None;
        for project in distinct(projects) {
            match self.robots_of(project, None, stem) {
                Ok(listed) => {
                    for robot in listed.iter().filter(|r| ours(r).is_some_and(|o| pick(&o))) {
                        outcome(self.delete(robot, project));
                    }
                }
                Err(e) => {
                    unlisted.get_or_insert(e);
                }
            }
        }
        unlisted
    }

    /// A refused `POST /robots`, in the broker's terms.
    fn create_error(&self, e: CreateError, grant: &Grant) -> RobotError {
        let project = &grant.harbor_project;
        match e {
            CreateError::NotAllowed {
                oidc_hint: true, ..
            } => self.credentials(),
            CreateError::NotAllowed { message, kind, .. } => {
                let quoted = message
                    .as_deref()
                    .map(|m| format!(" (Harbor: \"{}\")", text::inline(m)))
                    .unwrap_or_default();
                let scope = message
                    .as_deref()
                    .is_some_and(|m| m.contains("permission scope is invalid"));
                let reason = if scope {
                    format!(
                        "Harbor refused {} a robot with {} on project {project}{quoted}: a robot \
                         creates only robots within its own permissions; {PERMISSIONS}",
                        self.user(),
                        grant.access,
                    )
                } else if kind.is_some_and(Kind::is_robot) {
                    format!(
                        "{} may not create robots in project {project}{quoted}; {PERMISSIONS}, \
                         and a system robot creates project robots only from Harbor 2.15 on",
                        self.user(),
                    )
                } else {
                    format!(
                        "{} may not create robots in project {project}{quoted}; use a Harbor \
                         administrator or a system robot as [harbor] username",
                        self.user(),
                    )
                };
                RobotError::BadGateway { reason }
            }
            CreateError::Rejected {
                status: 404,
                message,
            } => RobotError::BadGateway {
                reason: format!(
                    "project {project} ({}) does not exist in Harbor (Harbor: \"{}\"); create it \
                     or fix the key",
                    project_key(Some(grant)),
                    text::inline(&message)
                ),
            },
            CreateError::Rejected { status, message } => RobotError::BadGateway {
                reason: format!(
                    "Harbor refused the robot for project {project} ({status}: \"{}\")",
                    text::inline(&message)
                ),
            },
            CreateError::Duplicate => RobotError::BadGateway {
                reason: format!(
                    "Harbor found a robot of the same name in project {project} twice in a row"
                ),
            },
            CreateError::Harbor(e) => {
                self.harbor_error(&format!("creating a robot in project {project}"), e)
            }
        }
    }
}

/// Each project once, in a stable order.
fn distinct(projects: &[String]) -> BTreeSet<&str> {
    projects.iter().map(String::as_str).collect()
}

impl Robots for HarborRobots {
    fn mint(&self, grant: &Grant, holder: Holder<'_>, now: i64) -> Result<Minted, RobotError> {
        let project = grant.harbor_project.as_str();
        let expiry = now.saturating_add_unsigned(self.ttl_seconds);
        let hash;
        let (owner, limit, fix, description, access) = match holder {
            Holder::Job(claims) => (
                Owner::Job(claims.job_id.as_str()),
                MAX_LIVE_PER_JOB,
                JOB_FIX,
                description(claims, grant, expiry),
                match grant.access {
                    Access::Pull => RepositoryAccess::Pull,
                    Access::Push => RepositoryAccess::PullPush,
                },
            ),
            // Pull whatever the grant says: a kubelet only pulls.
            Holder::ServiceAccount(claims) => {
                hash = service_account_hash(claims);
                (
                    Owner::ServiceAccount(&hash),
                    MAX_LIVE_PER_SERVICE_ACCOUNT,
                    SERVICE_ACCOUNT_FIX,
                    service_account_description(claims, grant, expiry),
                    RepositoryAccess::Pull,
                )
            }
        };
        let live = self
            .robots_of(project, Some(grant), Some(&owner.stem()))?
            .iter()
            .filter_map(ours)
            .filter(|o| o.owner == owner && o.expiry > now)
            .count();
        if live >= limit {
            return Err(RobotError::TooMany {
                holder: holder.describe(),
                live,
                fix,
            });
        }
        let create = || {
            let name = robot_name(&owner, expiry);
            robots::create(&self.client, project, &name, &description, access)
        };
        let mut attempt = create();
        if let Err(CreateError::Duplicate) = attempt {
            // Another mint drew the same suffix in the same second: draw again, once.
            attempt = create();
        }
        let created = attempt.map_err(|e| self.create_error(e, grant))?;
        Ok(Minted {
            registry: self.client.url().registry.to_string(),
            project: project.to_owned(),
            username: created.name,
            password: created.secret,
            expires_at: expiry,
        })
    }

    fn release(&self, projects: &[String], job_id: &str) -> Result<usize, RobotError> {
        let (mut deleted, mut failed) = (0, None);
        let job = Owner::Job(job_id);
        let unlisted = self.delete_ours(
            projects,
            Some(&job.stem()),
            |o| o.owner == job,
            |outcome| match outcome {
                Ok(true) => deleted += 1,
                Ok(false) => {}
                Err(e) => {
                    failed.get_or_insert(e);
                }
            },
        );
        unlisted.or(failed).map_or(Ok(deleted), Err)
    }

    fn sweep(&self, projects: &[String], now: i64) -> Result<Swept, RobotError> {
        let mut swept = Swept::default();
        // Every robot: one that a concurrent release moved past this listing's pages is
        // either gone already or found by the next sweep.
        let unlisted = self.delete_ours(
            projects,
            None,
            |o| o.expiry <= now,
            |outcome| match outcome {
                Ok(true) => swept.deleted += 1,
                Ok(false) => {}
                Err(_) => swept.failed += 1,
            },
        );
        unlisted.map_or(Ok(swept), Err)
    }

    fn ready(&self) -> Result<(), RobotError> {
        match account::kind(&self.client) {
            Ok(Kind::User | Kind::Robot) => Ok(()),
            Ok(Kind::Guessed { status: 401, .. }) => Err(self.credentials()),
            // Harbor's own JSON 500 (kind() reads it as a pre-2.3 robot's answer): a failure.
            Ok(Kind::Guessed { status, .. }) if status >= 500 => Err(RobotError::Unavailable {
                reason: format!(
                    "asking Harbor who the broker is: Harbor failed with {status} (internal server error)"
                ),
            }),
            Ok(Kind::Guessed { status, .. }) => Err(RobotError::BadGateway {
                reason: format!(
                    "Harbor answered {status} to GET /api/v2.0/users/current, which no Harbor \
                     from 2.3 on answers; check that [harbor] url is Harbor itself"
                ),
            }),
            Err(e) => Err(self.harbor_error("asking Harbor who the broker is", e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed(name: &str, description: &str) -> Listed {
        Listed {
            id: 1,
            name: name.into(),
            description: description.into(),
            expires_at: 0,
            creation_time: String::new(),
        }
    }

    #[test]
    fn the_description_starts_with_the_mark_and_fits_harbor_s_column() {
        let mut claims: Claims = serde_json::from_value(serde_json::json!({
            "iss": "i", "sub": "s", "aud": "a", "exp": 2, "nbf": 1, "iat": 1, "jti": "j",
            "namespace_id": "7", "namespace_path": "team", "project_id": "42",
            "project_path": "team/app", "user_id": "3", "user_login": "alice",
            "pipeline_id": "900", "pipeline_source": "push", "job_id": "12", "ref": "main",
            "ref_type": "branch", "ref_protected": "false",
        }))
        .unwrap();
        let grant = Grant {
            harbor_project: "team".into(),
            access: Access::Pull,
            rule: 1,
            table: Table::Gitlab,
        };
        assert_eq!(
            description(&claims, &grant, 99),
            "harbor-broker: GitLab job 12 of pipeline 900, project 42 (team/app), ref main; pull \
             by rule 1; ends at 99 (Unix seconds)"
        );
        claims.git_ref = format!("a\nb{}", "é".repeat(600));
        let long = description(&claims, &grant, 99);
        assert!(
            long.starts_with(MARK) && long.len() <= MAX_DESCRIPTION,
            "{}",
            long.len()
        );
        assert!(long.contains("ref a\\nb"), "{long}");
    }

    #[test]
    fn a_robot_is_ours_only_with_our_name_and_our_mark() {
        let mark = "harbor-broker: GitLab job 42";
        let name = robot_name(&Owner::Job("42"), 1_700_000_000);
        assert!(name.starts_with("hb-42-1700000000-") && name.len() == 3 + 3 + 11 + 8);
        let full = format!("robot$team+{name}");
        assert_eq!(
            ours(&listed(&full, mark)),
            Some(Ours {
                owner: Owner::Job("42"),
                expiry: 1_700_000_000
            })
        );
        // Any prefix, a prefix with a `+` itself.
        assert!(ours(&listed(&format!("ci+x+{name}"), mark)).is_some());
        for (name, description) in [
            (full.as_str(), "made by hand"),
            (full.as_str(), "docker-credential-harbor harbor-broker"),
            ("robot$team+hb-42-1700000000-0a1b2c3", mark),
            ("robot$team+hb-42-1700000000-0A1B2C3D", mark),
            ("robot$team+hb-42-1700000000-0a1b2c3d-x", mark),
            ("robot$team+hb-x42-1700000000-0a1b2c3d", mark),
            ("robot$team+hb--1700000000-0a1b2c3d", mark),
            ("robot$team+hb-42-99999999999999999999-0a1b2c3d", mark),
            ("robot$team+ci-job-42-0a1b2c3d", mark),
            ("hb-42-1700000000-0a1b2c3d", mark),
        ] {
            assert_eq!(
                ours(&listed(name, description)),
                None,
                "{name} / {description}"
            );
        }
    }

    fn service_account(namespace: &str, name: &str) -> ServiceAccountClaims {
        serde_json::from_value(serde_json::json!({
            "iss": "https://kubernetes.default.svc", "aud": ["harbor-broker"],
            "sub": format!("system:serviceaccount:{namespace}:{name}"),
            "exp": 2, "nbf": 1, "iat": 1, "jti": "j",
            "kubernetes.io": {
                "namespace": namespace,
                "serviceaccount": {"name": name, "uid": "u1"},
                "pod": {"name": "web-0", "uid": "u2"},
                "node": {"name": "node-a", "uid": "u3"},
            },
        }))
        .unwrap()
    }

    #[test]
    fn a_service_account_s_robot_is_ours_by_its_hash_and_our_mark() {
        let claims = service_account("ci", "builder");
        let hash = service_account_hash(&claims);
        // SHA-256("ci/builder"), its first 8 bytes.
        assert_eq!(hash.len(), HASH_HEX);
        assert!(lower_hex(&hash), "{hash}");
        assert_ne!(hash, service_account_hash(&service_account("ci", "builde")));
        assert_ne!(
            hash,
            service_account_hash(&service_account("c", "ibuilder"))
        );
        let owner = Owner::ServiceAccount(&hash);
        let name = robot_name(&owner, 1_700_000_000);
        assert!(
            name.starts_with(&format!("hk-{hash}-1700000000-")) && name.len() == 3 + 17 + 11 + 8
        );
        let mark = "harbor-broker: Kubernetes service account ci/builder";
        let full = format!("robot$team+{name}");
        assert_eq!(
            ours(&listed(&full, mark)),
            Some(Ours {
                owner: Owner::ServiceAccount(&hash),
                expiry: 1_700_000_000
            })
        );
        let upper = hash.to_uppercase();
        for (name, description) in [
            (full.as_str(), "made by hand"),
            (
                &format!("robot$team+hk-{}-1700000000-0a1b2c3d", &hash[1..]),
                mark,
            ),
            (&format!("robot$team+hk-{hash}0-1700000000-0a1b2c3d"), mark),
            (&format!("robot$team+hk-{upper}-1700000000-0a1b2c3d"), mark),
            (&format!("robot$team+hk-{hash}-1700000000-0a1b2c3d-x"), mark),
            (&format!("robot$team+hk-{hash}-1700000000-0A1B2C3D"), mark),
            (&format!("robot$team+hk-{hash}-x-0a1b2c3d"), mark),
            (&format!("robot$team+hk-{hash}-1700000000"), mark),
            ("robot$team+hk-0123456789abcdeg-1700000000-0a1b2c3d", mark),
            // A job's stem with a hash, a service account's stem with a job id.
            (&format!("robot$team+hb-{hash}-1700000000-0a1b2c3d"), mark),
            ("robot$team+hk-42-1700000000-0a1b2c3d", mark),
        ] {
            assert_eq!(
                ours(&listed(name, description)),
                None,
                "{name} / {description}"
            );
        }
    }

    #[test]
    fn a_service_account_s_description_traces_its_pod_and_node() {
        let grant = Grant {
            harbor_project: "ci-images".into(),
            access: Access::Pull,
            rule: 2,
            table: Table::Kubernetes,
        };
        let mut claims = service_account("ci", "builder");
        assert_eq!(
            service_account_description(&claims, &grant, 99),
            "harbor-broker: Kubernetes service account ci/builder (pod web-0, node node-a); pull \
             by [[kubernetes_rules]] entry 2; ends at 99 (Unix seconds)"
        );
        assert_eq!(
            project_key(Some(&grant)),
            "harbor_project in [[kubernetes_rules]] entry 2"
        );
        // A token bound to no pod (a TokenRequest).
        claims.kubernetes_io.pod = None;
        claims.kubernetes_io.node = None;
        let unbound = service_account_description(&claims, &grant, 99);
        assert!(
            unbound.contains("builder (no pod, no node); pull"),
            "{unbound}"
        );
        // A name no check let through: escaped, and cut to Harbor's column.
        claims.kubernetes_io.namespace = format!("a\nb{}", "é".repeat(600));
        let long = service_account_description(&claims, &grant, 99);
        assert!(
            long.starts_with("harbor-broker: Kubernetes service account a\\nb"),
            "{long}"
        );
        assert!(long.len() <= MAX_DESCRIPTION, "{}", long.len());
    }
}
