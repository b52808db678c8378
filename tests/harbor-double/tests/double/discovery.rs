//! Discovery and identity (docs/harbor-api.md#ping-and-systeminfo,
//! docs/harbor-api.md#the-current-user-and-its-permissions): systeminfo, the current user
//! and its permissions.

use std::collections::BTreeSet;

use harbor_double::{AuthMode, Config, HarborVersion};
use serde_json::json;

use crate::util::*;

#[test]
fn systeminfo_hides_version_and_urls_from_anonymous_callers() {
    let f = default();
    let h = &f.h;
    let anonymous = get(h, "/api/v2.0/systeminfo", None).json();
    assert_eq!(
        anonymous,
        json!({"auth_mode": "db_auth", "primary_auth_mode": false, "self_registration": false,
               "banner_message": "", "oidc_provider_name": ""})
    );
    let bad = get(h, "/api/v2.0/systeminfo", Some(("alice", "wrong")));
    assert_eq!(
        (bad.status, bad.json()),
        (200, anonymous.clone()),
        "bad credentials still get 200"
    );
    let alice = user(h, "alice");
    let known = get(h, "/api/v2.0/systeminfo", as_creds(&alice)).json();
    assert_eq!(known["harbor_version"], "v2.13.0-1a2b3c4d");
    assert_eq!(known["external_url"], h.url());
    for key in [
        "registry_url",
        "has_ca_root",
        "project_creation_restriction",
        "read_only",
        "notification_enable",
        "registry_storage_provider_name",
        "current_time",
    ] {
        assert!(known.get(key).is_some(), "{key} missing: {known}");
    }
    let robot = h.add_robot("proj", "ci", &["pull"], 1);
    let by_robot = get(
        h,
        "/api/v2.0/systeminfo",
        Some((robot.name.as_str(), robot.secret.as_str())),
    )
    .json();
    assert_eq!(by_robot["harbor_version"], "v2.13.0-1a2b3c4d");

    let older = start(Config {
        version: HarborVersion::V2_12,
        ..Config::default()
    });
    let info = get(&older.h, "/api/v2.0/systeminfo", None).json();
    assert_eq!(info["harbor_version"], "v2.12.0-1a2b3c4d");
    assert!(info.get("registry_url").is_none());
    let oidc = start(Config {
        auth_mode: AuthMode::OidcAuth,
        ..Config::default()
    });
    assert_eq!(
        get(&oidc.h, "/api/v2.0/systeminfo", None).json()["auth_mode"],
        "oidc_auth"
    );
}

#[test]
fn users_current_answers_users_robots_and_anonymous_callers_differently() {
    let f = default();
    let h = &f.h;
    let alice = user(h, "alice");
    let me = get(h, "/api/v2.0/users/current", as_creds(&alice));
    assert_eq!(me.status, 200);
    let me = me.json();
    assert_eq!(
        (
            me["user_id"].clone(),
            me["username"].clone(),
            me["sysadmin_flag"].clone()
        ),
        (json!(3), json!("alice"), json!(false))
    );
    let admin = user(h, "admin");
    assert_eq!(
        get(h, "/api/v2.0/users/current", as_creds(&admin)).json()["sysadmin_flag"],
        true
    );
    assert_eq!(
        get(h, "/api/v2.0/users/current", Some(("alice", "wrong"))).status,
        401
    );
    assert_eq!(get(h, "/api/v2.0/users/current", None).status, 401);
    let robot = h.add_robot("proj", "ci", &["push"], 1);
    let r = get(
        h,
        "/api/v2.0/users/current",
        Some((robot.name.as_str(), robot.secret.as_str())),
    );
    assert_eq!(r.status, 412);
    assert_eq!(
        r.json(),
        json!({"errors": [{"code": "PRECONDITION", "message": "get current user not available for security context: robot"}]})
    );
}

#[test]
fn permissions_show_push_for_developers_and_not_for_guests() {
    let f = default();
    let h = &f.h;
    let perms = |c: Option<(&str, &str)>, scope: &str| -> BTreeSet<(String, String)> {
        permissions(h, scope, c).into_iter().collect()
    };
    let push = ("repository".to_owned(), "push".to_owned());
    let pull = ("repository".to_owned(), "pull".to_owned());
    let alice = user(h, "alice");
    let a = perms(as_creds(&alice), "/project/5");
    assert!(a.contains(&push) && a.contains(&pull) && a.contains(&(".".into(), "read".into())));
    let gary = user(h, "gary");
    let g = perms(as_creds(&gary), "/project/5");
    assert!(g.contains(&pull) && !g.contains(&push));
    assert!(perms(as_creds(&alice), "/project/999").is_empty());
    assert!(
        perms(as_creds(&alice), "/project/proj").is_empty(),
        "names are not parsed"
    );
    let robot = h.add_robot("proj", "ci", &["push"], 1);
    let r = perms(
        Some((robot.name.as_str(), robot.secret.as_str())),
        "/project/5",
    );
    assert_eq!(r, [push.clone(), pull.clone()].into_iter().collect());
    assert_eq!(
        get(
            h,
            "/api/v2.0/users/current/permissions?scope=/project/5&relative=true",
            None
        )
        .status,
        401
    );
    let absolute = get(
        h,
        "/api/v2.0/users/current/permissions?scope=/project/5",
        as_creds(&alice),
    )
    .json();
    assert!(
        absolute
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["resource"] == "/project/5/repository")
    );
}
