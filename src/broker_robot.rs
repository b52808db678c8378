//! The job's robot from harbor-broker: pre-build trades the job's GitLab id_token for it
//! ([`obtain`]: push first, pull when the broker's policy refuses push), puts its secret in a
//! per-job 0600 store the helper serves exactly as it serves a job robot's ([`serve`]), and
//! post-build hands it back ([`release`]).
//!
//! No process keeps the id_token after pre-build (a job robot's keeper exists because only it
//! holds the integration's password; here post-build reads the token again from the job): when
//! post-build cannot release the robot, or never runs, harbor-broker's sweeper deletes it once its
//! expiry has passed. The id_token is in no argv, file, log or message; the robot's secret is in
//! the store alone, never in the job record.

use docker_credential_harbor_core::env::{BROKER_VAR, ID_TOKEN_VAR};
use docker_credential_harbor_core::problem::Problem;
use docker_credential_harbor_core::protocol::Credentials;
use docker_credential_harbor_core::sources::store::Store;
use harbor_client::broker::{self, Access, BrokerClient, BrokerError, Granted};

use crate::job_record::BrokerRobot;
use crate::job_robot;
use crate::settings::{BadBrokerUrl, BrokerSettings, HarborSettings, JobContext};

/// What the broker gave, before it is put in service ([`serve`]).
pub(crate) struct Minted {
    pub(crate) granted: Granted,
    pub(crate) access: Access,
    /// The broker's reason for refusing push, when it gave a pull robot instead.
    pub(crate) push_refused: Option<String>,
    /// For the undo, should the robot not be put in service.
    client: BrokerClient,
}

/// Why the job has no robot from the broker, or why it was not released.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BrokerRobotError {
    #[error(transparent)]
    Url(BadBrokerUrl),
    #[error(
        "{ID_TOKEN_VAR} is not set: this job has no GitLab id_token to show harbor-broker ({BROKER_VAR} is set)"
    )]
    NoToken { broker: String },
    #[error("{BROKER_VAR} is not set in post-build's environment")]
    Unset,
    #[error(transparent)]
    Broker(BrokerError),
    #[error(
        "harbor-broker gave robot {name}, but pre-build cannot {what}: {error:#}; it was released again"
    )]
    Store {
        name: String,
        what: &'static str,
        error: anyhow::Error,
    },
}

impl Problem for BrokerRobotError {
    fn hint(&self) -> Option<String> {
        match self {
            BrokerRobotError::Url(e) => e.hint(),
            BrokerRobotError::NoToken { broker } => Some(broker::id_token_snippet(broker)),
            BrokerRobotError::Unset => Some(format!(
                "set {BROKER_VAR} in the runner's environment, where pre-build and post-build both read it"
            )),
            BrokerRobotError::Broker(e) => e.hint(),
            BrokerRobotError::Store { .. } => None,
        }
    }
}

fn client(
    settings: &BrokerSettings,
    harbor: &HarborSettings,
) -> Result<BrokerClient, BrokerRobotError> {
    let url = settings
        .url
        .as_ref()
        .map_err(|e| BrokerRobotError::Url(e.clone()))?;
    let token = settings
        .token
        .clone()
        .ok_or_else(|| BrokerRobotError::NoToken { broker: url.base() })?;
    BrokerClient::new(url, &harbor.broker_options(), token).map_err(BrokerRobotError::Broker)
}

/// Asks the broker for the job's robot: push, else pull when its policy refuses push.
pub(crate) fn obtain(
    settings: &BrokerSettings,
    harbor: &HarborSettings,
) -> Result<Minted, BrokerRobotError> {
    let client = client(settings, harbor)?;
    let (granted, access, push_refused) = match client.mint(Access::Push) {
        Ok(g) => (g, Access::Push, None),
        Err(BrokerError::Forbidden { message }) => {
            let g = client
                .mint(Access::Pull)
                .map_err(BrokerRobotError::Broker)?;
            (g, Access::Pull, Some(message))
        }
        Err(e) => return Err(BrokerRobotError::Broker(e)),
    };
    Ok(Minted {
        granted,
        access,
        push_refused,
        client,
    })
}

/// Stores the robot's secret where the helper serves it, once the per-job directory is made
/// (pre-build replaces a leftover one). A robot that cannot be put in service is released
/// again, so none is left unserved.
pub(crate) fn serve(
    minted: &Minted,
    context: &JobContext,
) -> Result<BrokerRobot, BrokerRobotError> {
    let g = &minted.granted.robot;
    let undo = |what: &'static str, error: anyhow::Error| {
        let _ = minted.client.release();
        BrokerRobotError::Store {
            name: g.username.clone(),
            what,
            error,
        }
    };
    let (_, _, store) =
        job_robot::store_path(context, &g.username).map_err(|e| undo("prepare its files", e))?;
    Store::at(store.clone())
        .upsert(
            &minted.granted.registry,
            Credentials {
                username: g.username.clone(),
                secret: g.password.clone(),
            },
        )
        .map_err(|e| undo("store its secret", e))?;
    Ok(BrokerRobot {
        registry: minted.granted.registry.as_str().to_owned(),
        username: g.username.clone(),
        project: g.project.clone(),
        expires_at: g.expires_at,
        store,
    })
}

/// Undoes [`obtain`] and [`serve`]: removes the robot's secret, then asks the broker to release the job's
/// robots; how many it deleted.
pub(crate) fn release(
    settings: Option<&BrokerSettings>,
    harbor: &HarborSettings,
    robot: &BrokerRobot,
) -> Result<u64, BrokerRobotError> {
    let _ = std::fs::remove_file(&robot.store);
    let settings = settings.ok_or(BrokerRobotError::Unset)?;
    client(settings, harbor)?
        .release()
        .map_err(BrokerRobotError::Broker)
}
