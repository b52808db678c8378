//! Auth modes and the failed-login lock (docs/harbor-api.md#auth-modes,
//! docs/harbor-api.md#failed-login-lock).

use std::time::{Duration, Instant};

use harbor_double::{AuthMode, Config};

use crate::util::*;

#[test]
fn bad_credentials_are_delayed_and_lock_the_username_when_configured() {
    let f = start(Config {
        failed_login_delay: true,
        ..Config::default()
    });
    let h = &f.h;
    let started = Instant::now();
    assert_eq!(
        get(h, "/api/v2.0/users/current", Some(("alice", "wrong"))).status,
        401
    );
    assert!(
        started.elapsed() >= Duration::from_millis(1400),
        "{:?}",
        started.elapsed()
    );
    let alice = user(h, "alice");
    // The lock is as long as the sleep, so it ends as the answer arrives: fail again from
    // another thread and ask with the right password while that request sleeps.
    let h2 = h.url();
    let ca = h.ca_file();
    let waiter = std::thread::spawn(move || {
        client_trusting(&ca)
            .get(format!("{h2}/api/v2.0/users/current"))
            .basic_auth("alice", Some("wrong"))
            .send()
            .unwrap()
            .status()
    });
    // The lock is taken right after the request is logged; wait for that, not for a guess.
    let deadline = Instant::now() + Duration::from_secs(5);
    while h.requests().len() < 2 {
        assert!(
            Instant::now() < deadline,
            "the second bad login never arrived"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(50));
    let locked = get(h, "/api/v2.0/users/current", as_creds(&alice));
    assert_eq!(locked.status, 401, "locked usernames run as anonymous");
    assert_eq!(waiter.join().unwrap(), 401);
    std::thread::sleep(Duration::from_millis(1600));
    assert_eq!(
        get(h, "/api/v2.0/users/current", as_creds(&alice)).status,
        200
    );
    let ping = Instant::now();
    get(h, "/api/v2.0/ping", Some(("alice", "wrong")));
    assert!(
        ping.elapsed() < Duration::from_millis(1000),
        "ping never authenticates"
    );
}

#[test]
fn oidc_cli_secrets_count_only_on_the_allow_list() {
    let f = start(Config {
        auth_mode: AuthMode::OidcAuth,
        ..Config::default()
    });
    let h = &f.h;
    let carol = user(h, "carol");
    let (status, claims) = token(h, as_creds(&carol), "&scope=repository:proj/app:pull");
    assert_eq!(status, 200);
    let claims = claims.unwrap();
    assert_eq!(claims["sub"], "carol");
    assert_eq!(actions(&claims, 0), set(&["pull", "push"]));
    assert_eq!(get(h, "/v2/", as_creds(&carol)).status, 200);
    let listed = get(h, "/api/v2.0/projects?name=proj", as_creds(&carol));
    assert_eq!(listed.header("x-total-count"), Some("1"));
    assert!(
        get(h, "/api/v2.0/systeminfo", as_creds(&carol))
            .json()
            .get("harbor_version")
            .is_some()
    );
    assert_eq!(
        get(h, "/api/v2.0/users/current", as_creds(&carol)).status,
        401
    );
    assert_eq!(
        get(
            h,
            "/api/v2.0/users/current/permissions?scope=/project/5",
            as_creds(&carol)
        )
        .status,
        401
    );
    assert_eq!(
        send(
            h,
            "HEAD",
            "/api/v2.0/projects?project_name=proj",
            as_creds(&carol),
            None
        )
        .status,
        401
    );
    assert_eq!(
        get(h, "/api/v2.0/projects/proj", as_creds(&carol)).status,
        401
    );
    let pull = &[("repository", "pull")][..];
    assert_eq!(
        send(
            h,
            "POST",
            "/api/v2.0/robots",
            as_creds(&carol),
            Some(robot_body("x", "proj", pull, 1))
        )
        .status,
        401
    );
    let admin = user(h, "admin");
    assert_eq!(
        get(h, "/api/v2.0/users/current", as_creds(&admin)).status,
        200,
        "user 1 still uses the database"
    );
    assert_eq!(token(h, Some(("carol", "not-her-secret")), "").0, 401);
}
