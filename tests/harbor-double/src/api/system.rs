//! docs/harbor-api.md#ping-and-systeminfo `GET /api/v2.0/systeminfo`: what Harbor tells anonymous
//! callers and what only an authenticated user or robot may see, per release
//! (docs/harbor-api.md#releases). It must never show the version or the URLs to an anonymous caller
//! of 2.13 or later.

use serde_json::json;

use crate::model::Principal;
use crate::respond::{self, Resp};
use crate::server::Shared;
use crate::{AuthMode, HarborVersion, util};

fn version_string(version: HarborVersion) -> &'static str {
    match version {
        HarborVersion::V2_0 => "v2.0.0-1a2b3c4d",
        HarborVersion::V2_12 => "v2.12.0-1a2b3c4d",
        HarborVersion::V2_13 => "v2.13.0-1a2b3c4d",
        HarborVersion::V2_15 => "v2.15.0-1a2b3c4d",
    }
}

/// docs/harbor-api.md#ping-and-systeminfo `GET /api/v2.0/systeminfo`: five fields for anyone; the
/// rest (harbor_version from 2.13, registry_url and the like from 2.2) only for an authenticated
/// user or robot.
pub(crate) fn systeminfo(shared: &Shared, who: Principal) -> Resp {
    let model = shared.model();
    let authenticated = model.authenticated(who);
    let config = &shared.config;
    let oidc = config.auth_mode == AuthMode::OidcAuth;
    let mode = match config.auth_mode {
        AuthMode::DbAuth => "db_auth",
        AuthMode::LdapAuth => "ldap_auth",
        AuthMode::OidcAuth => "oidc_auth",
    };
    let mut info = json!({
        "auth_mode": mode,
        "primary_auth_mode": false,
        "self_registration": false,
        "banner_message": "",
        "oidc_provider_name": if oidc { "OIDC" } else { "" },
    });
    let legacy = config.version == HarborVersion::V2_0;
    if authenticated || matches!(config.version, HarborVersion::V2_0 | HarborVersion::V2_12) {
        info["harbor_version"] = json!(version_string(config.version));
    }
    if authenticated || legacy {
        info["registry_url"] = json!(format!("127.0.0.1:{}", shared.https_port));
        info["external_url"] = json!(format!("https://127.0.0.1:{}", shared.https_port));
        info["has_ca_root"] = json!(false);
        info["project_creation_restriction"] = json!("everyone");
        info["read_only"] = json!(config.read_only);
        info["notification_enable"] = json!(true);
        info["registry_storage_provider_name"] = json!("filesystem");
    }
    if authenticated {
        info["current_time"] = json!(util::rfc3339_millis(util::now_millis()));
    }
    respond::api_json(200, &info)
}
