//! The broker's job robots: what the server asks of Harbor (mint, release, sweep, readiness)
//! as one trait, [`Robots`], and the values that cross it. The server depends on the trait
//! alone; the real side talks to Harbor through `harbor-client`.
//!
//! What it must never do: put a robot's secret anywhere but the [`Minted`] it returns (never
//! in an error, a log line or `Debug`); delete a robot this broker did not mint; keep any state
//! of its own (Harbor is the only state, so any replica can release or sweep any robot).

use secrecy::SecretString;

use crate::claims::Claims;
use crate::kubernetes::{Qualified, ServiceAccountClaims};
use crate::policy::Grant;

/// Whom a robot is minted for: what its name carries, what the per-holder limit counts, and
/// what its description traces.
#[derive(Clone, Copy, Debug)]
pub enum Holder<'a> {
    /// A GitLab CI job (`POST /v1/credentials`): at most [`MAX_LIVE_PER_JOB`] live robots.
    Job(&'a Claims),
    /// A Kubernetes service account (`POST /v1/kubernetes/credentials`): at most
    /// [`MAX_LIVE_PER_SERVICE_ACCOUNT`] live robots, so a restarting kubelet cannot mint
    /// without bound.
    ServiceAccount(&'a ServiceAccountClaims),
}

impl Holder<'_> {
    /// How a message names the holder: `job 5005`, `service account ci/builder`.
    pub fn describe(&self) -> String {
        match self {
            Holder::Job(claims) => format!("job {}", claims.job_id),
            Holder::ServiceAccount(claims) => format!(
                "service account {}",
                docker_credential_harbor_core::text::inline(&Qualified(claims).to_string())
            ),
        }
    }
}

/// A robot just minted for a job: what `POST /v1/credentials` answers with.
#[derive(Debug)]
pub struct Minted {
    /// The registry clients log in to: Harbor's host, with its port when it has one.
    pub registry: String,
    /// The Harbor project the robot may reach.
    pub project: String,
    /// The robot's login, as Harbor returned it (with Harbor's `robot_name_prefix`).
    pub username: String,
    pub password: SecretString,
    /// When the broker ends the robot (Unix seconds); Harbor's own expiry is later (1 day).
    pub expires_at: i64,
}

/// What a sweep did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Swept {
    /// Robots past their intended expiry that are now gone.
    pub deleted: usize,
    /// Robots past their intended expiry that could not be deleted (tried again next sweep).
    pub failed: usize,
}

/// Why a robot call failed. [`RobotError::status`] is the broker's HTTP answer.
#[derive(Debug, thiserror::Error)]
pub enum RobotError {
    /// The holder (a job, a service account) already holds the most live robots it may hold.
    /// `holder` is [`Holder::describe`]; `fix` says what frees one.
    #[error("{holder} already holds {live} live robots, the most it may hold; {fix}")]
    TooMany {
        holder: String,
        live: usize,
        fix: &'static str,
    },
    /// Harbor answered, but not as a working Harbor would (a refusal of the broker's own
    /// account, a missing project, junk): the broker's configuration or Harbor's.
    #[error("Harbor refused the broker: {reason}")]
    BadGateway { reason: String },
    /// Harbor cannot be reached or answered 5xx.
    #[error("Harbor is unavailable: {reason}")]
    Unavailable { reason: String },
    /// Harbor did not answer in time.
    #[error("Harbor did not answer in time: {reason}")]
    Timeout { reason: String },
}

impl RobotError {
    /// The HTTP status the broker answers with.
    pub fn status(&self) -> u16 {
        match self {
            RobotError::TooMany { .. } => 429,
            RobotError::BadGateway { .. } => 502,
            RobotError::Unavailable { .. } => 503,
            RobotError::Timeout { .. } => 504,
        }
    }
}

/// The most live robots one job may hold (`429` after that).
pub const MAX_LIVE_PER_JOB: usize = 3;
/// The most live robots one Kubernetes service account may hold (`429` after that).
pub const MAX_LIVE_PER_SERVICE_ACCOUNT: usize = 3;
/// [`RobotError::TooMany`]'s `fix` for a job.
pub const JOB_FIX: &str = "release them (DELETE /v1/credentials) or wait until they expire";
/// [`RobotError::TooMany`]'s `fix` for a service account: nothing releases its robots, the
/// sweeper ends them.
pub const SERVICE_ACCOUNT_FIX: &str = "the sweeper ends them ttl_seconds after they were minted; until then the kubelet's cache \
     (cacheDuration) serves the robots it holds";

/// What the server asks of Harbor. Blocking: the server calls it off its async threads.
pub trait Robots: Send + Sync + 'static {
    /// Mints a project robot with exactly the grant's access for `holder`, ending
    /// `ttl_seconds` (the config's) after `now`; refuses with [`RobotError::TooMany`] when the
    /// holder already holds its limit of live robots ([`MAX_LIVE_PER_JOB`],
    /// [`MAX_LIVE_PER_SERVICE_ACCOUNT`]).
    fn mint(&self, grant: &Grant, holder: Holder<'_>, now: i64) -> Result<Minted, RobotError>;
    /// Deletes every robot of job `job_id` in `projects`; how many were deleted.
    fn release(&self, projects: &[String], job_id: &str) -> Result<usize, RobotError>;
    /// Deletes every robot this broker minted in `projects` (for jobs and for service
    /// accounts) whose intended expiry is before `now`. Idempotent: replicas sweeping at once only meet 404s.
    fn sweep(&self, projects: &[String], now: i64) -> Result<Swept, RobotError>;
    /// Whether Harbor answers and takes the broker's account (`/readyz`).
    fn ready(&self) -> Result<(), RobotError>;
}
