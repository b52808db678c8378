//! The helper's own Harbor client pointed at the double, and what the double was asked: for
//! tests that set up state through the API or count requests.

use std::time::Duration;

use docker_credential_harbor::settings::HarborSettings;
use docker_credential_harbor_core::env::Env;
use docker_credential_harbor_core::integration::Account;
use docker_credential_harbor_core::url::HarborUrl;
use harbor_client::{HarborClient, tls};
use harbor_double::Harbor;

/// A Harbor client for `user`/`password`, trusting the double.
pub fn client(h: &Harbor, user: &str, password: &str) -> HarborClient {
    let env = Env::from_pairs([
        ("HARBOR_URL", h.url()),
        (
            "DOCKER_CREDENTIAL_HARBOR_CA_FILE",
            h.ca_file().display().to_string(),
        ),
    ]);
    let url = HarborUrl::from_env(&env).unwrap();
    let trust = tls::build(&HarborSettings::from_env(&env).harbor_options(&url.registry)).unwrap();
    let account = Account {
        username: user.into(),
        password: password.to_owned().into(),
    };
    HarborClient::new(url, &trust, Duration::from_secs(5), Some(account)).unwrap()
}

/// The statuses `GET /api/v2.0/users/current` answered, in order.
pub fn whoami_answers(h: &Harbor) -> Vec<u16> {
    h.requests()
        .iter()
        .filter(|r| r.path == "/api/v2.0/users/current")
        .map(|r| r.status)
        .collect()
}
