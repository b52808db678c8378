//! `kubelet-credential-provider`: the kubelet's image credential provider
//! (docs/kubernetes.md). A `CredentialProviderRequest` on stdin, a `CredentialProviderResponse`
//! on stdout (the core's `kubelet` writes it as Go does), or one line on stderr and exit 1,
//! which the kubelet logs before it goes on without this provider's credentials.
//!
//! Static mode (no `DOCKER_CREDENTIAL_HARBOR_BROKER` in the provider's env) is `get`'s kind of
//! work: it reads the request and the runner-side config, builds no HTTP client and spawns
//! nothing. Federated mode trades the request's service-account token at harbor-broker for a
//! pull robot of the image's project. The token and every password stay out of stderr.

use std::io::{self, Read, Write};
use std::time::{SystemTime, UNIX_EPOCH};

use docker_credential_harbor_core::env::{BROKER_VAR, Env, HARBOR_URL};
use docker_credential_harbor_core::kubelet::{
    self, AuthConfig, ImageLocation, MAX_REQUEST, Request, Response,
};
use docker_credential_harbor_core::problem::Problem;
use docker_credential_harbor_core::protocol::NAME;
use docker_credential_harbor_core::text;
use docker_credential_harbor_core::url::{HarborUrl, UrlProblem};
use harbor_client::broker::{BrokerClient, ForServiceAccount, ProjectRobot};

use crate::report::Message;
use crate::settings::{BrokerSettings, HarborSettings};

/// Where the kubelet's provider is configured, for the hints.
const PROVIDER_ENV: &str =
    "the env of this provider's entry in the kubelet's CredentialProviderConfig";

/// Answers the request on `stdin`; `Ok(false)` after the one stderr line of a failure.
pub(crate) fn run(
    env: &Env,
    stdin: &mut dyn Read,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> io::Result<bool> {
    match answer(env, stdin) {
        Ok(response) => {
            stdout.write_all(response.to_json().as_bytes())?;
            stdout.flush()?;
            Ok(true)
        }
        Err(line) => {
            writeln!(
                stderr,
                "{NAME}: kubelet-credential-provider: {}",
                text::inline(&line)
            )?;
            Ok(false)
        }
    }
}

/// The response, or the failure as one line: what failed, why, and the fix.
fn answer(env: &Env, stdin: &mut dyn Read) -> Result<Response, String> {
    let mut bytes = Vec::new();
    stdin
        .take(MAX_REQUEST as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read the CredentialProviderRequest on stdin: {e}"))?;
    let request = kubelet::parse_request(&bytes).map_err(|e| said(&e))?;
    let image = kubelet::locate_image(&request.image).map_err(|e| said(&e))?;
    if env.var(BROKER_VAR).is_none() {
        // A token the kubelet sends anyway is not needed here, and not read further.
        return kubelet::static_answer(&image, env).map_err(|e| said(&e));
    }
    federated(env, &request, &image)
}

/// `problem; hint`, for the one line.
fn said(problem: &dyn Problem) -> String {
    match problem.hint() {
        Some(hint) => format!("{problem}; {hint}"),
        None => problem.to_string(),
    }
}

/// The broker's pull robots for the image's project and the service account's other granted
/// projects, each keyed `<registry>/<project>` so the kubelet never offers it for another
/// project, cached (for the whole registry) for less than the first of them lives.
fn federated(env: &Env, request: &Request, image: &ImageLocation) -> Result<Response, String> {
    let Some(token) = request.service_account_token.clone() else {
        return Err(said(&Message(
            &format!(
                "{BROKER_VAR} is set but the request carries no serviceAccountToken, so there is nothing to show harbor-broker"
            ),
            Some(
                "add tokenAttributes (serviceAccountTokenAudience: the broker's [kubernetes] audience, cacheType: \
                 ServiceAccount, requireServiceAccount: true) to this provider's entry in the kubelet's \
                 CredentialProviderConfig (Kubernetes >= 1.34, or 1.33 with the \
                 KubeletServiceAccountTokenForCredentialProviders gate); or remove the variable for the static mode"
                    .into(),
            ),
        )));
    };
    let served = HarborUrl::from_env(env).map_err(|e| match e {
        UrlProblem::Missing => said(&Message(
            &format!(
                "{HARBOR_URL} is not set: the federated mode serves the registry of Harbor's URL"
            ),
            Some(format!(
                "add {HARBOR_URL}=https://<your Harbor> to {PROVIDER_ENV}"
            )),
        )),
        other => said(&Message(
            &other.to_string(),
            Some(format!(
                "set {HARBOR_URL} in {PROVIDER_ENV} to Harbor's https:// address"
            )),
        )),
    })?;
    if image.registry != served.registry {
        return Ok(Response::empty());
    }
    let url = BrokerSettings::from_env(env)
        .map(|b| b.url)
        .ok_or_else(|| format!("{BROKER_VAR} is not set"))?
        .map_err(|e| {
            said(&Message(
                &e.to_string(),
                Some(format!(
                    "set {BROKER_VAR} in {PROVIDER_ENV} to harbor-broker's https:// address"
                )),
            ))
        })?;
    let options = HarborSettings::from_env(env).broker_options();
    let granted = BrokerClient::new(&url, &options, token)
        .and_then(|client| client.kubernetes(&request.image))
        .map_err(|e| said(&ForServiceAccount(&e)))?;
    let robot = &granted.robot;
    let same_project = image.project.as_deref().is_none_or(|p| p == robot.project);
    if granted.registry != served.registry || !same_project {
        return Err(said(&Message(
            &format!(
                "harbor-broker answered with a robot for {}/{}, not for the image's registry {} and project {}",
                granted.registry,
                robot.project,
                served.registry,
                image.project.as_deref().unwrap_or("(none)")
            ),
            Some(format!(
                "check that {BROKER_VAR} and {HARBOR_URL} in {PROVIDER_ENV} name the same Harbor as the broker's config"
            )),
        )));
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    let first_end = granted
        .others
        .iter()
        .map(|o| o.expires_at)
        .fold(robot.expires_at, i64::min);
    let mut response = Response::empty();
    response.cache_seconds = Some(kubelet::cache_seconds(first_end, now));
    // Spelled as the image writes its registry and project: the kubelet matches keys to
    // images as written (kubelet::ImageLocation::written). The other projects have only
    // the broker's spelling, which is Harbor's (project names are lower case).
    let key = |project: &str| format!("{}/{project}", image.written);
    let auth = |r: ProjectRobot| AuthConfig {
        username: r.username,
        password: r.password,
    };
    response.auth.insert(
        key(image.project.as_deref().unwrap_or(&granted.robot.project)),
        auth(granted.robot),
    );
    for other in granted.others {
        response.auth.insert(key(&other.project), auth(other));
    }
    Ok(response)
}
