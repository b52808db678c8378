//! The broker's job robots: what the server asks of Harbor (mint, release, sweep, readiness)
//! as one trait, [`Robots`], and the values that cross it. The server depends on the trait
//! alone; the real side talks to Harbor through `harbor-client`.
//!
//! What it must never do: put a robot's secret anywhere but the [`Minted`] it returns (never
//! in an error, a log line or `Debug`); delete a robot this broker did not mint; keep any state
//! of its own (Harbor is the only state, so any replica can release or sweep any robot).

use secrecy::SecretString;

use crate::claims::Claims;
use crate::policy::Grant;

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
    /// The job already holds the most live robots one job may hold.
    #[error(
        "job {job_id} already holds {live} live robots, the most one job may hold; release them \
         (DELETE /v1/credentials) or wait until they expire"
    )]
    TooMany { job_id: String, live: usize },
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

/// What the server asks of Harbor. Blocking: the server calls it off its async threads.
pub trait Robots: Send + Sync + 'static {
    /// Mints a project robot with exactly the grant's access for the job in `claims`, ending
    /// `ttl_seconds` (the config's) after `now`; refuses with [`RobotError::TooMany`] when the
    /// job already holds [`MAX_LIVE_PER_JOB`] live robots.
    fn mint(&self, grant: &Grant, claims: &Claims, now: i64) -> Result<Minted, RobotError>;
    /// Deletes every robot of job `job_id` in `projects`; how many were deleted.
    fn release(&self, projects: &[String], job_id: &str) -> Result<usize, RobotError>;
    /// Deletes every robot this broker minted in `projects` whose intended expiry is before
    /// `now`. Idempotent: replicas sweeping at once only meet 404s.
    fn sweep(&self, projects: &[String], now: i64) -> Result<Swept, RobotError>;
    /// Whether Harbor answers and takes the broker's account (`/readyz`).
    fn ready(&self) -> Result<(), RobotError>;
}
