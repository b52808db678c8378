//! `harbor-broker --config FILE`: the command line (`cli`) with the Harbor side (`harbor`)
//! plugged in. Nothing else lives here: what the service does is in the library.

use std::process::ExitCode;
use std::sync::Arc;

use docker_credential_harbor_core::env::Env;
use docker_credential_harbor_core::problem::Problem;
use harbor_broker::robots::Robots;
use harbor_broker::{cli, harbor};

fn main() -> ExitCode {
    cli::main(Env::args(), |config| {
        // Blocking reqwest: built here, before the server's runtime starts.
        let robots =
            harbor::connect(&config.harbor, config.robots.ttl_seconds).map_err(|e| {
                match e.hint() {
                    Some(hint) => anyhow::anyhow!("{e}\n  hint: {hint}"),
                    None => anyhow::anyhow!("{e}"),
                }
            })?;
        Ok(Arc::new(robots) as Arc<dyn Robots>)
    })
}
