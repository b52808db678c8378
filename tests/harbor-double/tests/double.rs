//! Proof that the double is faithful: each test drives a fresh double over real TLS with
//! reqwest (rustls, ring, the double's CA) or with real clients (skopeo, the built binary),
//! and checks what harbor-api.md says Harbor answers. Tests must never reach beyond 127.0.0.1
//! and never leave a process behind (every double is dropped at the end of its test).

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use harbor_double::{AuthMode, Config, Fault, Harbor, HarborVersion, Role, TlsMode};
use reqwest::blocking::{Client, Response};
use reqwest::header::HeaderMap;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------
// Support

/// A scratch directory removed at drop.
struct TestDir(PathBuf);

impl TestDir {
    fn new() -> TestDir {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("harbor-double-test-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TestDir(dir)
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A double and its directory; the double is dropped (registry killed) before the directory.
struct Fixture {
    h: Harbor,
    dir: TestDir,
}

fn start(config: Config) -> Fixture {
    let dir = TestDir::new();
    let h = Harbor::start(&dir.0, config);
    Fixture { h, dir }
}

fn default() -> Fixture {
    start(Config::default())
}

fn tls_config(ca: &Path) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth()
}

/// Like the helper's client: no redirects followed, no cookie store.
fn client_trusting(ca: &Path) -> Client {
    Client::builder()
        .tls_backend_preconfigured(tls_config(ca))
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

fn client(h: &Harbor) -> Client {
    client_trusting(&h.ca_file())
}

struct Answer {
    status: u16,
    headers: HeaderMap,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

fn answer(resp: Response) -> Answer {
    Answer {
        status: resp.status().as_u16(),
        headers: resp.headers().clone(),
        body: resp.text().unwrap(),
    }
}

fn send(
    h: &Harbor,
    method: &str,
    path: &str,
    creds: Option<(&str, &str)>,
    body: Option<Value>,
) -> Answer {
    let mut req = client(h).request(method.parse().unwrap(), format!("{}{path}", h.url()));
    if let Some((u, p)) = creds {
        req = req.basic_auth(u, Some(p));
    }
    if let Some(b) = body {
        req = req
            .header("content-type", "application/json")
            .body(b.to_string());
    }
    answer(req.send().unwrap())
}

fn get(h: &Harbor, path: &str, creds: Option<(&str, &str)>) -> Answer {
    send(h, "GET", path, creds, None)
}

fn user<'a>(h: &Harbor, name: &'a str) -> (&'a str, String) {
    (name, h.password(name))
}

fn as_creds<'a>(c: &'a (&'a str, String)) -> Option<(&'a str, &'a str)> {
    Some((c.0, c.1.as_str()))
}

fn jwt_payload(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// The token service's answer for one scope: status and, on 200, the JWT's claims.
fn token(h: &Harbor, creds: Option<(&str, &str)>, query: &str) -> (u16, Option<Value>) {
    let a = get(
        h,
        &format!("/service/token?service=harbor-registry{query}"),
        creds,
    );
    if a.status != 200 {
        return (a.status, None);
    }
    (200, Some(jwt_payload(a.json()["token"].as_str().unwrap())))
}

fn actions(claims: &Value, index: usize) -> BTreeSet<String> {
    claims["access"][index]["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_owned())
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

fn granted(h: &Harbor, creds: Option<(&str, &str)>, repo: &str) -> BTreeSet<String> {
    let (status, claims) = token(h, creds, &format!("&scope=repository:{repo}:pull"));
    assert_eq!(status, 200);
    actions(&claims.unwrap(), 0)
}

fn robot_body(name: &str, namespace: &str, access: &[(&str, &str)], duration: i64) -> Value {
    json!({
        "name": name, "description": "made by a test", "level": "project", "duration": duration,
        "permissions": [{"kind": "project", "namespace": namespace,
            "access": access.iter().map(|(r, a)| json!({"resource": r, "action": a})).collect::<Vec<_>>()}],
    })
}

// ---------------------------------------------------------------------------------------
// Token service (§4, §8 items 3, 4, 10, 13, 19)

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

// ---------------------------------------------------------------------------------------
// Shared rules of every response (§0)

#[test]
fn every_core_response_carries_a_request_id_a_sid_cookie_and_json_type() {
    let f = default();
    let resp = client(&f.h)
        .get(format!("{}/api/v2.0/users/current", f.h.url()))
        .header("X-Request-ID", "abc-123")
        .send()
        .unwrap();
    let a = answer(resp);
    assert_eq!(a.status, 401);
    assert_eq!(a.header("x-request-id"), Some("abc-123"));
    assert_eq!(
        a.header("content-type"),
        Some("application/json; charset=utf-8")
    );
    assert_eq!(
        a.json(),
        json!({"errors": [{"code": "UNAUTHORIZED", "message": "unauthorized"}]})
    );
    let cookie = a.header("set-cookie").unwrap();
    assert!(
        cookie.starts_with("sid=") && cookie.ends_with("; Path=/; HttpOnly"),
        "{cookie}"
    );
    let generated = get(&f.h, "/api/v2.0/ping", None);
    assert_eq!(generated.header("x-request-id").unwrap().len(), 36);
    assert_eq!(generated.body, "Pong");
    assert!(
        generated
            .header("content-type")
            .unwrap()
            .starts_with("text/plain")
    );
}

#[test]
fn a_sid_cookie_without_the_csrf_header_makes_non_get_requests_403() {
    let f = default();
    let h = &f.h;
    let (pam, pw) = user(h, "pam");
    let body = robot_body("csrf", "proj", &[("repository", "pull")], 1).to_string();
    let post = |cookie: bool, csrf: bool| {
        let mut req = client(h)
            .post(format!("{}/api/v2.0/robots", h.url()))
            .basic_auth(pam, Some(&pw))
            .header("content-type", "application/json")
            .body(body.clone());
        if cookie {
            req = req.header("cookie", "sid=0123456789abcdef");
        }
        if csrf {
            req = req.header("x-harbor-csrf-token", "anything");
        }
        answer(req.send().unwrap())
    };
    let refused = post(true, false);
    assert_eq!(refused.status, 403);
    assert_eq!(
        refused.json(),
        json!({"errors": [{"code": "FORBIDDEN", "message": "CSRF token invalid"}]})
    );
    assert!(h.robots().is_empty());
    assert_eq!(post(true, true).status, 201);
    assert_eq!(
        post(false, false).status,
        409,
        "without the cookie CSRF is skipped"
    );
    let get_with_cookie = client(h)
        .get(format!("{}/api/v2.0/systeminfo", h.url()))
        .header("cookie", "sid=0123456789abcdef")
        .send()
        .unwrap();
    assert_eq!(get_with_cookie.status(), 200);
}

#[test]
fn requests_are_logged_in_order_with_every_header() {
    let f = default();
    let h = &f.h;
    let resp = client(h)
        .get(format!("{}/api/v2.0/ping?x=1&y=%2F", h.url()))
        .header("accept", "application/vnd.oci.image.manifest.v1+json")
        .header("accept", "application/json")
        .header("X-Custom", "Value")
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    get(h, "/api/v2.0/users/current", Some(("alice", "wrong")));
    let log = h.requests();
    assert_eq!(log.len(), 2);
    assert_eq!(log[0].method, "GET");
    assert_eq!(log[0].path, "/api/v2.0/ping?x=1&y=%2F");
    assert_eq!(log[0].status, 200);
    let accepts: Vec<&str> = log[0]
        .headers
        .iter()
        .filter(|(n, _)| n == "accept")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(
        accepts,
        [
            "application/vnd.oci.image.manifest.v1+json",
            "application/json"
        ]
    );
    assert_eq!(log[0].header("x-custom"), Some("Value"));
    assert_eq!(log[1].status, 401);
    assert!(
        log[1]
            .header("authorization")
            .unwrap()
            .starts_with("Basic ")
    );
    assert!(!format!("{:?}", log[1]).contains(&log[1].header("authorization").unwrap()[6..]));
    h.clear_requests();
    assert!(h.requests().is_empty());
}

#[test]
fn debug_output_never_shows_a_secret() {
    let f = default();
    let robot = f.h.add_robot("proj", "ci", &["pull"], 1);
    assert!(!format!("{robot:?}").contains(&robot.secret));
    let dump = format!("{:?}", f.h);
    for name in ["admin", "alice", "pam"] {
        assert!(!dump.contains(&f.h.password(name)), "{dump}");
    }
}

// ---------------------------------------------------------------------------------------
// Discovery and identity (§1, §3, §8 items 1, 2, 5, 11)

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
        let a = get(
            h,
            &format!("/api/v2.0/users/current/permissions?scope={scope}&relative=true"),
            c,
        );
        assert_eq!(a.status, 200);
        a.json()
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["resource"].as_str().unwrap().to_owned(),
                    p["action"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
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

// ---------------------------------------------------------------------------------------
// Projects (§2, §8 items 7–9)

#[test]
fn head_project_is_200_404_401_and_422() {
    let f = default();
    let h = &f.h;
    let dave = user(h, "dave");
    assert_eq!(
        send(
            h,
            "HEAD",
            "/api/v2.0/projects?project_name=proj",
            as_creds(&dave),
            None
        )
        .status,
        200
    );
    let missing = send(
        h,
        "HEAD",
        "/api/v2.0/projects?project_name=nope",
        as_creds(&dave),
        None,
    );
    assert_eq!((missing.status, missing.body.as_str()), (404, ""));
    assert_eq!(
        send(
            h,
            "HEAD",
            "/api/v2.0/projects?project_name=proj",
            None,
            None
        )
        .status,
        401
    );
    assert_eq!(
        send(
            h,
            "HEAD",
            "/api/v2.0/projects?project_name=proj",
            Some(("dave", "bad")),
            None
        )
        .status,
        401
    );
    assert_eq!(
        send(h, "HEAD", "/api/v2.0/projects", as_creds(&dave), None).status,
        422
    );
    let robot = h.add_robot("proj", "ci", &["pull"], 1);
    let rc = Some((robot.name.as_str(), robot.secret.as_str()));
    assert_eq!(
        send(h, "HEAD", "/api/v2.0/projects?project_name=proj", rc, None).status,
        200
    );
}

#[test]
fn get_project_hides_missing_projects_from_non_admins() {
    let f = default();
    let h = &f.h;
    let alice = user(h, "alice");
    let ok = get(h, "/api/v2.0/projects/proj", as_creds(&alice));
    assert_eq!(ok.status, 200);
    let p = ok.json();
    assert_eq!(
        (p["project_id"].clone(), p["name"].clone()),
        (json!(5), json!("proj"))
    );
    assert_eq!(p["metadata"], json!({"public": "false"}));
    assert_eq!(p["current_user_role_ids"], json!([2]));
    let by_id = get(h, "/api/v2.0/projects/5", as_creds(&alice));
    assert_eq!(by_id.json()["name"], "proj");
    h.add_project("5", false);
    let named_five = client(h)
        .get(format!("{}/api/v2.0/projects/5", h.url()))
        .basic_auth("admin", Some(h.password("admin")))
        .header("X-Is-Resource-Name", "true")
        .send()
        .unwrap();
    assert_eq!(answer(named_five).json()["name"], "5");

    let dave = user(h, "dave");
    assert_eq!(
        get(h, "/api/v2.0/projects/proj", as_creds(&dave)).json(),
        json!({"errors": [{"code": "FORBIDDEN", "message": "forbidden"}]})
    );
    assert_eq!(get(h, "/api/v2.0/projects/proj", None).status, 401);
    let pam = user(h, "pam");
    assert_eq!(
        get(h, "/api/v2.0/projects/nope", as_creds(&pam)).status,
        403
    );
    let admin = user(h, "admin");
    let missing = get(h, "/api/v2.0/projects/nope", as_creds(&admin));
    assert_eq!(
        (missing.status, missing.json()),
        (
            404,
            json!({"errors": [{"code": "NOT_FOUND", "message": "project nope not found"}]})
        )
    );
    let public = get(h, "/api/v2.0/projects/pub", None);
    assert_eq!(
        (public.status, public.json()["metadata"].clone()),
        (200, json!({"public": "true"}))
    );
    let robot = h.add_robot("proj", "ci", &["pull", "push"], 1);
    assert_eq!(
        get(
            h,
            "/api/v2.0/projects/proj",
            Some((robot.name.as_str(), robot.secret.as_str()))
        )
        .status,
        403
    );
}

#[test]
fn the_project_list_is_fuzzy_and_counted() {
    let f = default();
    let h = &f.h;
    let alice = user(h, "alice");
    let a = get(
        h,
        "/api/v2.0/projects?name=pro&page_size=100",
        as_creds(&alice),
    );
    assert_eq!(a.header("x-total-count"), Some("1"));
    assert_eq!(a.json().as_array().unwrap()[0]["name"], "proj");
    let anonymous = get(h, "/api/v2.0/projects?page_size=100", None);
    let names: Vec<Value> = anonymous
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].clone())
        .collect();
    assert_eq!(names, [json!("pub")]);
    let dave = user(h, "dave");
    assert_eq!(
        get(h, "/api/v2.0/projects?name=proj", as_creds(&dave)).header("x-total-count"),
        Some("0")
    );
    let admin = user(h, "admin");
    let paged = get(h, "/api/v2.0/projects?page_size=1", as_creds(&admin));
    assert_eq!(paged.header("x-total-count"), Some("2"));
    assert!(paged.header("link").unwrap().contains("rel=\"next\""));
    assert_eq!(
        get(h, "/api/v2.0/projects?page_size=101", as_creds(&admin)).status,
        422
    );
}

// ---------------------------------------------------------------------------------------
// Robots (§5, §8 items 12–16)

#[test]
fn robots_are_created_used_read_listed_and_deleted_like_harbor() {
    let f = default();
    let h = &f.h;
    let pam = user(h, "pam");
    let created = send(
        h,
        "POST",
        "/api/v2.0/robots",
        as_creds(&pam),
        Some(robot_body(
            "ci-1234-ab",
            "proj",
            &[("repository", "pull"), ("repository", "push")],
            1,
        )),
    );
    assert_eq!(created.status, 201);
    let body = created.json();
    let id = body["id"].as_i64().unwrap();
    assert_eq!(
        created.header("location"),
        Some(format!("/api/v2.0/robots/{id}").as_str())
    );
    assert_eq!(body["name"], "robot$proj+ci-1234-ab");
    let secret = body["secret"].as_str().unwrap().to_owned();
    assert_eq!(secret.len(), 32);
    assert!(
        secret.bytes().any(|b| b.is_ascii_uppercase())
            && secret.bytes().any(|b| b.is_ascii_lowercase())
            && secret.bytes().any(|b| b.is_ascii_digit())
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!((body["expires_at"].as_i64().unwrap() - (now + 86_400)).abs() < 10);
    assert!(body["creation_time"].is_string());

    // §8 item 13: the new credentials work at once.
    let rc = Some(("robot$proj+ci-1234-ab", secret.as_str()));
    let (_, claims) = token(h, rc, "&scope=repository:proj/app:pull");
    let claims = claims.unwrap();
    assert_eq!(claims["sub"], "robot$proj+ci-1234-ab");
    assert_eq!(actions(&claims, 0), set(&["pull", "push"]));
    assert_eq!(get(h, "/api/v2.0/users/current", rc).status, 412);

    // §8 item 14
    let read = get(h, &format!("/api/v2.0/robots/{id}"), as_creds(&pam));
    assert_eq!(read.status, 200);
    let r = read.json();
    assert_eq!(
        (r["disable"].clone(), r["level"].clone()),
        (json!(false), json!("project"))
    );
    assert!(r.get("secret").is_none());
    assert_eq!(r["permissions"][0]["namespace"], "proj");
    assert_eq!(r["permissions"][0]["kind"], "project");
    assert_eq!(h.robot(id).unwrap().permissions[0].1.len(), 2);
    let missing = get(h, "/api/v2.0/robots/99", as_creds(&pam));
    assert_eq!(
        missing.json(),
        json!({"errors": [{"code": "NOT_FOUND", "message": "robot 99 not found"}]})
    );

    let listed = get(
        h,
        "/api/v2.0/robots?q=Level%3Dproject%2CProjectID%3D5%2Cname%3D~ci-&page_size=100",
        as_creds(&pam),
    );
    assert_eq!(listed.status, 200);
    assert_eq!(listed.header("x-total-count"), Some("1"));
    assert_eq!(
        get(h, "/api/v2.0/robots?q=Level%3Dproject", as_creds(&pam)).status,
        400
    );

    let again = send(
        h,
        "POST",
        "/api/v2.0/robots",
        as_creds(&pam),
        Some(robot_body(
            "ci-1234-ab",
            "proj",
            &[("repository", "pull")],
            1,
        )),
    );
    assert_eq!(again.status, 409);
    assert_eq!(
        again.json(),
        json!({"errors": [{"code": "CONFLICT", "message": "robot account 5:proj+ci-1234-ab already exists"}]})
    );

    // §8 item 15
    let alice = user(h, "alice");
    assert_eq!(
        send(
            h,
            "DELETE",
            &format!("/api/v2.0/robots/{id}"),
            as_creds(&alice),
            None
        )
        .status,
        403
    );
    assert_eq!(
        send(h, "DELETE", &format!("/api/v2.0/robots/{id}"), None, None).status,
        401
    );
    let deleted = send(
        h,
        "DELETE",
        &format!("/api/v2.0/robots/{id}"),
        as_creds(&pam),
        None,
    );
    assert_eq!((deleted.status, deleted.body.as_str()), (200, ""));
    assert_eq!(
        send(
            h,
            "DELETE",
            &format!("/api/v2.0/robots/{id}"),
            as_creds(&pam),
            None
        )
        .status,
        404
    );
    assert_eq!(
        send(
            h,
            "DELETE",
            &format!("/api/v2.0/robots/{id}"),
            as_creds(&alice),
            None
        )
        .status,
        404,
        "lookup before permission"
    );
    assert_eq!(token(h, rc, "").0, 401);
    assert!(h.robot(id).is_none());
}

#[test]
fn robot_creation_errors_match_harbor() {
    let f = default();
    let h = &f.h;
    let pull = &[("repository", "pull")][..];
    let create =
        |c: Option<(&str, &str)>, body: Value| send(h, "POST", "/api/v2.0/robots", c, Some(body));
    let pam = user(h, "pam");
    for name in ["alice", "mary"] {
        let c = user(h, name);
        let a = create(as_creds(&c), robot_body("x", "proj", pull, 1));
        assert_eq!(
            (a.status, a.json()),
            (
                403,
                json!({"errors": [{"code": "FORBIDDEN", "message": "forbidden"}]})
            ),
            "{name}"
        );
    }
    assert_eq!(create(None, robot_body("x", "proj", pull, 1)).status, 401);
    let zero = create(as_creds(&pam), robot_body("x", "proj", pull, 0));
    assert_eq!(zero.status, 400);
    assert_eq!(
        zero.json()["errors"][0]["message"],
        "bad request error duration input: 0, duration must be either -1(Never) or a positive integer"
    );
    for bad in ["CI", "a+b", "a$b"] {
        let a = create(as_creds(&pam), robot_body(bad, "proj", pull, 1));
        assert_eq!(
            a.json()["errors"][0]["message"],
            "robot name is not in lower case or contains illegal characters",
            "{bad}"
        );
    }
    let mut two = robot_body("x", "proj", pull, 1);
    let extra = two["permissions"][0].clone();
    two["permissions"].as_array_mut().unwrap().push(extra);
    assert_eq!(
        create(as_creds(&pam), two).json()["errors"][0]["message"],
        "bad request permission"
    );
    let user_create = create(
        as_creds(&pam),
        robot_body("x", "proj", &[("user", "create")], 1),
    );
    assert_eq!(
        user_create.json(),
        json!({"errors": [{"code": "BAD_REQUEST", "message": "bad request permission: user:create"}]})
    );
    assert_eq!(
        create(None, robot_body("x", "proj", pull, 0)).status,
        400,
        "validation comes before authentication"
    );
    assert_eq!(
        create(as_creds(&pam), robot_body("x", "nope", pull, 1)).status,
        403
    );
    let admin = user(h, "admin");
    let missing = create(as_creds(&admin), robot_body("x", "nope", pull, 1));
    assert_eq!(
        (
            missing.status,
            missing.json()["errors"][0]["message"].clone()
        ),
        (404, json!("project nope not found"))
    );
    assert_eq!(
        create(as_creds(&pam), robot_body("ok", "proj", pull, -1)).json()["expires_at"],
        -1
    );

    let ro = start(Config {
        read_only: true,
        ..Config::default()
    });
    let pam = user(&ro.h, "pam");
    let denied = send(
        &ro.h,
        "POST",
        "/api/v2.0/robots",
        as_creds(&pam),
        Some(robot_body("x", "proj", pull, 1)),
    );
    assert_eq!(
        (denied.status, denied.json()),
        (
            403,
            json!({"errors": [{"code": "DENIED",
        "message": "The system is in read only mode. Any modification is prohibited."}]})
        )
    );
    assert_eq!(
        get(&ro.h, "/api/v2.0/systeminfo", as_creds(&pam)).json()["read_only"],
        true
    );
}

#[test]
fn expired_and_disabled_robots_lose_access_at_once() {
    let f = default();
    let h = &f.h;
    let pam = user(h, "pam");
    for disable in [false, true] {
        let robot = h.add_robot(
            "proj",
            if disable { "off" } else { "old" },
            &["pull", "push"],
            1,
        );
        let rc = Some((robot.name.as_str(), robot.secret.as_str()));
        assert_eq!(token(h, rc, "").0, 200);
        if disable {
            h.disable_robot(robot.id);
        } else {
            h.expire_robot(robot.id);
        }
        assert_eq!(token(h, rc, "").0, 401);
        let (status, claims) = token(h, rc, "&scope=repository:proj/app:pull");
        let claims = claims.unwrap();
        assert_eq!(status, 200);
        assert!(claims.get("sub").is_none());
        assert_eq!(actions(&claims, 0), set(&[]));
        assert_eq!(
            get(h, "/api/v2.0/systeminfo", rc)
                .json()
                .get("harbor_version"),
            None
        );
        assert_eq!(
            send(h, "HEAD", "/api/v2.0/projects?project_name=proj", rc, None).status,
            401
        );
        let shown = get(h, &format!("/api/v2.0/robots/{}", robot.id), as_creds(&pam)).json();
        if disable {
            assert_eq!(shown["disable"], true);
        } else {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs();
            assert!(
                shown["expires_at"].as_i64().unwrap() < now as i64,
                "{shown}"
            );
            assert_eq!(shown["disable"], false);
        }
    }
}

#[test]
fn a_robot_can_be_disabled_and_its_secret_refreshed_through_the_api() {
    let f = default();
    let h = &f.h;
    let pam = user(h, "pam");
    let robot = h.add_robot("proj", "ci", &["pull"], 1);
    let mut body = get(h, &format!("/api/v2.0/robots/{}", robot.id), as_creds(&pam)).json();
    body["disable"] = json!(true);
    assert_eq!(
        send(
            h,
            "PUT",
            &format!("/api/v2.0/robots/{}", robot.id),
            as_creds(&pam),
            Some(body)
        )
        .status,
        200
    );
    assert!(h.robot(robot.id).unwrap().disabled);
    let fresh = send(
        h,
        "PATCH",
        &format!("/api/v2.0/robots/{}", robot.id),
        as_creds(&pam),
        Some(json!({"secret": ""})),
    );
    assert_eq!(fresh.json()["secret"].as_str().unwrap().len(), 32);
}

// ---------------------------------------------------------------------------------------
// Auth modes and the failed-login lock (§0, §6)

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

// ---------------------------------------------------------------------------------------
// /v2 (§4, §8 item 6)

#[test]
fn the_v2_probe_is_answered_by_harbor_itself() {
    let f = default();
    let h = &f.h;
    let alice = user(h, "alice");
    let ok = get(h, "/v2/", as_creds(&alice));
    assert_eq!((ok.status, ok.body.as_str()), (200, "{}"));
    let bad = get(h, "/v2/", Some(("alice", "wrong")));
    assert_eq!(bad.status, 401);
    assert_eq!(
        bad.header("www-authenticate"),
        Some("Basic realm=\"harbor\"")
    );
    assert_eq!(
        bad.json(),
        json!({"errors": [{"code": "UNAUTHORIZED", "message": "unauthorized"}]})
    );
    let none = get(h, "/v2/", None);
    assert_eq!(none.status, 401);
    assert_eq!(
        none.header("www-authenticate").unwrap(),
        format!(
            "Bearer realm=\"{}/service/token\",service=\"harbor-registry\"",
            h.url()
        )
    );
    let jwt = get(
        h,
        "/service/token?service=harbor-registry",
        as_creds(&alice),
    )
    .json()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let bearer = client(h)
        .get(format!("{}/v2/", h.url()))
        .bearer_auth(&jwt)
        .send()
        .unwrap();
    assert_eq!(bearer.status(), 200);
    assert_eq!(
        get(h, "/v2/proj/app/tags/list", as_creds(&alice)).status,
        404,
        "no registry behind this one"
    );
}

// ---------------------------------------------------------------------------------------
// Infrastructure failures (§8 items 17–20)

#[test]
fn faults_switch_on_and_off_and_are_logged() {
    let f = default();
    let h = &f.h;
    h.set_fault(Fault::Status500);
    let a = get(h, "/api/v2.0/systeminfo", None);
    assert_eq!(
        (a.status, a.json()),
        (
            500,
            json!({"errors": [{"code": "UNKNOWN", "message": "internal server error"}]})
        )
    );
    assert!(a.header("x-request-id").is_some());

    for (fault, status, title) in [
        (Fault::Html502, 502, "502 Bad Gateway"),
        (Fault::Html503, 503, "503 Service Temporarily Unavailable"),
        (Fault::Html504, 504, "504 Gateway Time-out"),
    ] {
        h.set_fault(fault);
        let a = get(h, "/service/token?service=harbor-registry", None);
        assert_eq!(a.status, status);
        assert_eq!(a.header("content-type"), Some("text/html"));
        assert_eq!(a.header("x-request-id"), None);
        assert!(
            a.body
                .starts_with(&format!("<html>\r\n<head><title>{title}</title></head>")),
            "{}",
            a.body
        );
    }

    h.set_fault(Fault::None);
    h.set_fault_on("/service/token", Fault::Html502);
    assert_eq!(
        get(h, "/service/token?service=harbor-registry", None).status,
        502
    );
    assert_eq!(get(h, "/api/v2.0/ping", None).status, 200);
    h.set_fault_on("/service/token", Fault::None);
    assert_eq!(
        get(h, "/service/token?service=harbor-registry", None).status,
        401
    );

    h.set_fault(Fault::Slow(Duration::from_millis(400)));
    let t = Instant::now();
    assert_eq!(get(h, "/api/v2.0/ping", None).status, 200);
    assert!(t.elapsed() >= Duration::from_millis(400));

    h.set_fault(Fault::Redirect("https://elsewhere.invalid/login".into()));
    let r = get(h, "/api/v2.0/users/current", as_creds(&user(h, "alice")));
    assert_eq!(
        (r.status, r.header("location")),
        (302, Some("https://elsewhere.invalid/login"))
    );

    h.set_fault(Fault::Reset);
    let err = client(h)
        .get(format!("{}/api/v2.0/ping", h.url()))
        .send()
        .unwrap_err();
    assert!(!err.is_timeout() && err.status().is_none(), "{err:?}");

    h.set_fault(Fault::None);
    assert_eq!(get(h, "/api/v2.0/ping", None).status, 200);
    let statuses: Vec<u16> = h.requests().iter().map(|l| l.status).collect();
    assert!(
        statuses.starts_with(&[500, 502, 503, 504, 502, 200, 401, 200, 302]),
        "{statuses:?}"
    );
    assert!(
        statuses.contains(&0),
        "the reset request is logged without a status: {statuses:?}"
    );
}

fn tls_error(client: &Client, url: &str) -> String {
    let err = client
        .get(format!("{url}/api/v2.0/ping"))
        .send()
        .unwrap_err();
    let mut text = format!("{err:?}");
    let mut source = std::error::Error::source(&err);
    while let Some(s) = source {
        text.push_str(&format!(" / {s}"));
        source = s.source();
    }
    text
}

#[test]
fn tls_modes_fail_verification_the_way_clients_see_it() {
    let valid = default();
    assert_eq!(get(&valid.h, "/api/v2.0/ping", None).status, 200);
    let wrong_ca = tls_error(&client_trusting(&valid.h.other_ca_file()), &valid.h.url());
    assert!(wrong_ca.contains("UnknownIssuer"), "{wrong_ca}");
    for (mode, expected) in [
        (TlsMode::NameMismatch, "NotValidForName"),
        (TlsMode::Expired, "Expired"),
        (TlsMode::SelfSigned, "UnknownIssuer"),
    ] {
        let f = start(Config {
            tls: mode,
            ..Config::default()
        });
        let text = tls_error(&client(&f.h), &f.h.url());
        assert!(text.contains(expected), "{mode:?}: {text}");
        assert!(
            f.h.requests().is_empty(),
            "no HTTP request gets through a failed handshake"
        );
    }
    // curl (OpenSSL) agrees about the expired certificate.
    let expired = start(Config {
        tls: TlsMode::Expired,
        ..Config::default()
    });
    let out = Command::new("curl")
        .args(["-sS", "--cacert"])
        .arg(expired.h.ca_file())
        .arg(format!("{}/api/v2.0/ping", expired.h.url()))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("expired"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_plain_http_listener_redirects_to_https_with_308() {
    let f = start(Config {
        plain_http: true,
        ..Config::default()
    });
    let http = f.h.http_url().unwrap();
    let plain = client(&f.h);
    let a = answer(
        plain
            .get(format!("{http}/service/token?service=harbor-registry"))
            .basic_auth("alice", Some("x"))
            .send()
            .unwrap(),
    );
    assert_eq!(a.status, 308);
    assert_eq!(
        a.header("location").unwrap(),
        format!("{}/service/token?service=harbor-registry", f.h.url())
    );
    assert_eq!(a.header("x-request-id"), None);
    assert!(a.body.contains("308 Permanent Redirect"));
    let log = f.h.requests();
    assert_eq!(log.len(), 1, "the HTTPS side saw nothing");
    assert_eq!(log[0].status, 308);
    assert!(default().h.http_url().is_none());
}

// ---------------------------------------------------------------------------------------
// The real registry behind /v2 (§4): real clients push and pull with Harbor's tokens

fn skopeo(home: &Path, args: &[&str]) -> std::process::Output {
    Command::new("skopeo")
        .args(args)
        .env("HOME", home)
        .output()
        .unwrap_or_else(|e| panic!("cannot run skopeo (apt-get install skopeo): {e}"))
}

#[test]
fn skopeo_pushes_and_pulls_through_the_double_and_a_guest_cannot_push() {
    let f = start(Config {
        registry: true,
        ..Config::default()
    });
    let h = &f.h;
    let image = f.dir.0.join("image");
    let home = f.dir.0.join("home");
    std::fs::create_dir_all(&home).unwrap();
    let mkimage = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/lib/mkimage.sh");
    let made = Command::new("sh")
        .arg(&mkimage)
        .arg(&image)
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let cert_dir = f.dir.0.join("certs.d").join(h.addr());
    assert!(cert_dir.join("ca.crt").exists());
    let cert_dir = cert_dir.to_string_lossy().into_owned();
    let src = format!("oci:{}:v1", image.display());
    let dest = |tag: &str| format!("docker://{}/proj/app:{tag}", h.addr());

    let alice = format!("alice:{}", h.password("alice"));
    let push = skopeo(
        &home,
        &[
            "copy",
            "--dest-creds",
            &alice,
            "--dest-cert-dir",
            &cert_dir,
            &src,
            &dest("v1"),
        ],
    );
    assert!(
        push.status.success(),
        "alice's push: {}",
        String::from_utf8_lossy(&push.stderr)
    );

    let gary = format!("gary:{}", h.password("gary"));
    let inspect = skopeo(
        &home,
        &[
            "inspect",
            "--creds",
            &gary,
            "--cert-dir",
            &cert_dir,
            &dest("v1"),
        ],
    );
    assert!(
        inspect.status.success(),
        "gary's inspect: {}",
        String::from_utf8_lossy(&inspect.stderr)
    );
    let info: Value = serde_json::from_slice(&inspect.stdout).unwrap();
    assert_eq!(info["RepoTags"], json!(["v1"]));

    let refused = skopeo(
        &home,
        &[
            "copy",
            "--dest-creds",
            &gary,
            "--dest-cert-dir",
            &cert_dir,
            &src,
            &dest("v2"),
        ],
    );
    assert!(!refused.status.success(), "a guest must not push");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("denied") || stderr.contains("unauthorized"),
        "{stderr}"
    );

    let robot = h.add_robot("proj", "ci", &["push"], 1);
    let robot_creds = format!("{}:{}", robot.name, robot.secret);
    let by_robot = skopeo(
        &home,
        &[
            "copy",
            "--dest-creds",
            &robot_creds,
            "--dest-cert-dir",
            &cert_dir,
            &src,
            &dest("robot"),
        ],
    );
    assert!(
        by_robot.status.success(),
        "robot push: {}",
        String::from_utf8_lossy(&by_robot.stderr)
    );

    // The proxied traffic is in the log, with the registry's statuses.
    let log = h.requests();
    assert!(
        log.iter()
            .any(|l| l.method == "PUT" && l.path == "/v2/proj/app/manifests/v1" && l.status == 201),
        "{log:?}"
    );
    assert!(
        log.iter()
            .any(|l| l.method == "PUT" && l.path == "/v2/proj/app/manifests/v2" && l.status == 401)
    );
    assert!(
        log.iter()
            .any(|l| l.path.starts_with("/service/token") && l.status == 200)
    );

    // Harbor core accepts Basic credentials on /v2 paths directly; the double turns them into
    // a token for the registry. Anonymous pulls of a private repository stay refused.
    let tags = get(h, "/v2/proj/app/tags/list", as_creds(&user(h, "gary")));
    assert_eq!(tags.status, 200);
    assert_eq!(tags.json()["tags"].as_array().unwrap().len(), 2);
    assert_eq!(get(h, "/v2/proj/app/tags/list", None).status, 401);
    assert_eq!(
        get(h, "/v2/proj/app/tags/list", as_creds(&user(h, "dave"))).status,
        401
    );
    drop(f);
}

// ---------------------------------------------------------------------------------------
// The binary

#[test]
fn the_binary_announces_itself_and_stops_when_stdin_closes() {
    let dir = TestDir::new();
    let mut child = Command::new(env!("CARGO_BIN_EXE_harbor-double"))
        .arg("--dir")
        .arg(&dir.0)
        .args(["--oidc", "--plain-http", "--stdin-lifetime"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let announced: Value = serde_json::from_str(&line).unwrap();
    let written: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.0.join("harbor.json")).unwrap()).unwrap();
    assert_eq!(announced, written);
    assert_eq!(announced["registry"], false);
    assert!(
        announced["http_url"]
            .as_str()
            .unwrap()
            .starts_with("http://127.0.0.1:")
    );
    let carol = announced["users"]["carol"].as_str().unwrap();
    let url = announced["url"].as_str().unwrap();
    let c = client_trusting(Path::new(announced["ca_file"].as_str().unwrap()));
    let resp = c
        .get(format!("{url}/service/token?service=harbor-registry"))
        .basic_auth("carol", Some(carol))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);

    let mut stdin = child.stdin.take().unwrap();
    stdin.flush().unwrap();
    drop(stdin);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success());
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the double did not stop when stdin closed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        c.get(format!("{url}/api/v2.0/ping")).send().is_err(),
        "the listener is gone"
    );
}

#[test]
fn a_double_starts_well_under_a_second_once_the_key_exists() {
    drop(default());
    let t = Instant::now();
    let f = default();
    let plain = t.elapsed();
    assert_eq!(get(&f.h, "/api/v2.0/ping", None).status, 200);
    let t = Instant::now();
    let r = start(Config {
        registry: true,
        ..Config::default()
    });
    let with_registry = t.elapsed();
    assert_eq!(
        get(&r.h, "/v2/", as_creds(&user(&r.h, "alice"))).status,
        200
    );
    eprintln!("start-up: {plain:?} without the registry, {with_registry:?} with it");
    assert!(plain < Duration::from_millis(500), "{plain:?}");
    assert!(with_registry < Duration::from_secs(3), "{with_registry:?}");
}

#[test]
fn a_harbor_can_be_shared_between_threads() {
    fn send_and_sync<T: Send + Sync>() {}
    send_and_sync::<Harbor>();
    send_and_sync::<harbor_double::Logged>();
}
