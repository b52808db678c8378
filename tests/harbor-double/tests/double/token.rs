//! Token service: actions per role and robot, the token body and JWT, anonymous tokens,
//! and the release variants (docs/harbor-api.md#the-token-service).

use std::collections::BTreeSet;

use base64::Engine as _;
use harbor_double::{Config, HarborVersion, Role};
use serde_json::{Value, json};

use crate::util::*;

#[test]
fn token_actions_are_what_the_role_allows_whatever_was_requested() {
    let f = default();
    let h = &f.h;
    for (name, expected) in [
        ("alice", set(&["pull", "push"])),
        ("mary", set(&["pull", "push", "delete"])),
        ("pam", set(&["pull", "push", "delete"])),
        ("gary", set(&["pull"])),
        ("dave", set(&[])),
        ("admin", set(&["pull", "push", "delete"])),
    ] {
        let c = user(h, name);
        assert_eq!(
            granted(h, as_creds(&c), "proj/app"),
            expected,
            "{name} on proj"
        );
        assert_eq!(
            granted(h, as_creds(&c), "nope/app"),
            set(&[]),
            "{name} on a missing project"
        );
    }
    h.add_user(
        "lim",
        "Lim1ted-guest",
        Some(("proj", Role::LimitedGuest)),
        false,
    );
    assert_eq!(
        granted(h, Some(("lim", "Lim1ted-guest")), "proj/app"),
        set(&["pull"])
    );

    // Several scopes, repeated and space-separated, keep request order; a name without a
    // slash or an unknown type gets [].
    let alice = user(h, "alice");
    let q = "&scope=repository:proj/a/b:pull&scope=repository:pub/x:push%20repository:noslash:pull&scope=foo:bar:baz";
    let (_, claims) = token(h, as_creds(&alice), q);
    let claims = claims.unwrap();
    let names: Vec<&str> = claims["access"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["proj/a/b", "pub/x", "noslash", "bar"]);
    assert_eq!(actions(&claims, 0), set(&["pull", "push"]));
    assert_eq!(actions(&claims, 1), set(&["pull"]));
    assert_eq!(actions(&claims, 2), set(&[]));
    assert_eq!(actions(&claims, 3), set(&[]));
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["iss"], "harbor-token-issuer");
    assert_eq!(claims["aud"], "harbor-registry");
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        1800
    );
}

#[test]
fn token_actions_come_back_in_random_order() {
    let f = default();
    let pam = user(&f.h, "pam");
    let mut orders = BTreeSet::new();
    for _ in 0..30 {
        let (_, claims) = token(&f.h, as_creds(&pam), "&scope=repository:proj/app:pull");
        orders.insert(claims.unwrap()["access"][0]["actions"].to_string());
    }
    assert!(orders.len() > 1, "always the same order: {orders:?}");
}

#[test]
fn the_token_body_and_jwt_header_have_harbors_shape() {
    let f = default();
    let alice = user(&f.h, "alice");
    let a = get(
        &f.h,
        "/service/token?service=harbor-registry",
        as_creds(&alice),
    );
    assert_eq!(a.status, 200);
    assert_eq!(
        a.header("content-type"),
        Some("application/json; charset=utf-8")
    );
    let body = a.json();
    assert_eq!(body["access_token"], "");
    assert_eq!(body["expires_in"], 1800);
    let issued = body["issued_at"].as_str().unwrap();
    assert!(issued.len() == 20 && issued.ends_with('Z'), "{issued}");
    let token = body["token"].as_str().unwrap();
    let header: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(header["alg"], "RS256");
    assert_eq!(header["typ"], "JWT");
    assert_eq!(header["kid"].as_str().unwrap().split(':').count(), 12);
    let claims = jwt_payload(token);
    assert_eq!(
        claims["access"],
        Value::Null,
        "no scope asked: access is null"
    );
    assert_eq!(claims["sub"], "alice");
}

#[test]
fn no_scope_and_no_or_wrong_credentials_is_401_with_an_empty_body() {
    let f = default();
    let anonymous = get(&f.h, "/service/token?service=harbor-registry", None);
    assert_eq!((anonymous.status, anonymous.body.as_str()), (401, ""));
    assert_eq!(anonymous.header("www-authenticate"), None);
    let wrong = get(
        &f.h,
        "/service/token?service=harbor-registry",
        Some(("alice", "wrong")),
    );
    assert_eq!((wrong.status, wrong.body.as_str()), (401, ""));
    let unknown = get(
        &f.h,
        "/service/token?service=harbor-registry&account=x&client_id=docker",
        Some(("nobody", "x")),
    );
    assert_eq!(unknown.status, 401);
}

#[test]
fn wrong_credentials_with_a_scope_get_an_anonymous_token() {
    let f = default();
    let h = &f.h;
    for creds in [None, Some(("alice", "wrong"))] {
        let (status, claims) = token(h, creds, "&scope=repository:pub/app:pull,push");
        assert_eq!(status, 200);
        let claims = claims.unwrap();
        assert!(
            claims.get("sub").is_none(),
            "anonymous tokens have no sub: {claims}"
        );
        assert_eq!(actions(&claims, 0), set(&["pull"]));
        let (_, claims) = token(h, creds, "&scope=repository:proj/app:pull");
        assert_eq!(actions(&claims.unwrap(), 0), set(&[]));
    }
}

#[test]
fn the_token_service_refuses_post_and_other_services() {
    let f = default();
    let post = send(
        &f.h,
        "POST",
        "/service/token?service=harbor-registry",
        None,
        None,
    );
    assert_eq!(post.status, 405);
    assert!(
        post.header("content-type")
            .unwrap()
            .starts_with("text/plain")
    );
    let other = get(
        &f.h,
        "/service/token?service=other&scope=repository:pub/a:pull",
        None,
    );
    assert_eq!(
        (other.status, other.body.as_str()),
        (400, "Unable to handle service: other")
    );
    assert!(
        other
            .header("content-type")
            .unwrap()
            .starts_with("text/plain")
    );
}

#[test]
fn robots_get_their_own_access_and_push_brings_pull() {
    let f = default();
    let h = &f.h;
    let pusher = h.add_robot("proj", "pusher", &["push"], 1);
    assert_eq!(pusher.name, "robot$proj+pusher");
    let creds = Some((pusher.name.as_str(), pusher.secret.as_str()));
    assert_eq!(granted(h, creds, "proj/app"), set(&["pull", "push"]));
    assert_eq!(granted(h, creds, "pub/app"), set(&["pull"]));
    let (_, claims) = token(h, creds, "");
    assert_eq!(claims.unwrap()["sub"], "robot$proj+pusher");
    let puller = h.add_robot("proj", "puller", &["pull"], -1);
    assert_eq!(
        granted(
            h,
            Some((puller.name.as_str(), puller.secret.as_str())),
            "proj/app"
        ),
        set(&["pull"])
    );
    // The prefix is configuration, not a constant.
    let g = start(Config {
        robot_prefix: "bot-".into(),
        ..Config::default()
    });
    let r = g.h.add_robot("proj", "ci", &["pull", "push"], 1);
    assert_eq!(r.name, "bot-proj+ci");
    assert_eq!(
        granted(&g.h, Some((r.name.as_str(), r.secret.as_str())), "proj/app"),
        set(&["pull", "push"])
    );
}

#[test]
fn version_variants_change_actions_sub_and_ping() {
    let f = start(Config {
        version: HarborVersion::V2_0,
        ..Config::default()
    });
    let h = &f.h;
    let alice = user(h, "alice");
    let (_, claims) = token(h, as_creds(&alice), "&scope=repository:proj/app:pull");
    assert_eq!(
        claims.unwrap()["access"][0]["actions"],
        json!(["push", "*", "pull"])
    );
    let gary = user(h, "gary");
    let (_, claims) = token(h, as_creds(&gary), "&scope=repository:proj/app:pull,push");
    assert_eq!(claims.unwrap()["access"][0]["actions"], json!(["pull"]));
    let (_, claims) = token(h, None, "&scope=repository:pub/app:pull");
    assert_eq!(
        claims.unwrap()["sub"],
        "",
        "2.0 anonymous tokens carry an empty sub"
    );
    let ping = get(h, "/api/v2.0/ping", None);
    assert_eq!(ping.body, "\"Pong\"");
    let robot = h.add_robot("proj", "ci", &["pull"], 1);
    let me = get(
        h,
        "/api/v2.0/users/current",
        Some((robot.name.as_str(), robot.secret.as_str())),
    );
    assert_eq!(me.status, 500);
    assert_eq!(
        me.json(),
        json!({"errors": [{"code": "UNKNOWN", "message": "internal server error"}]})
    );
    assert_eq!(
        get(h, "/api/v2.0/robots/1", as_creds(&user(h, "pam"))).status,
        404,
        "no robot v2 API in 2.0"
    );

    let star = start(Config {
        star_action: true,
        ..Config::default()
    });
    let pam = user(&star.h, "pam");
    assert_eq!(
        granted(&star.h, as_creds(&pam), "proj/app"),
        set(&["pull", "push", "delete", "*"])
    );
    let alice = user(&star.h, "alice");
    assert_eq!(
        granted(&star.h, as_creds(&alice), "proj/app"),
        set(&["pull", "push"])
    );
}
