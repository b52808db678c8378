//! Shared rules of every response (docs/harbor-api.md#every-call): request id, session cookie,
//! CSRF, the request log, and debug output that never shows a secret.

use serde_json::json;

use crate::util::*;

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

#[test]
fn successful_api_answers_are_json_without_a_charset_and_errors_keep_it() {
    // Confirmed against Harbor v2.15.2 by hand, 2026-12-03: go-swagger's producer writes
    // `application/json`; errors and the (beego) token service add `; charset=utf-8`.
    let f = default();
    let h = &f.h;
    let admin = user(h, "admin");
    let robot = h.add_robot("proj", "ci", &["pull"], 1);
    let created = send(
        h,
        "POST",
        "/api/v2.0/robots",
        as_creds(&admin),
        Some(robot_body("made", "proj", &[("repository", "pull")], 1)),
    );
    assert_eq!(created.status, 201);
    assert_eq!(created.header("content-type"), Some("application/json"));
    for path in [
        "/api/v2.0/systeminfo".to_owned(),
        "/api/v2.0/users/current".to_owned(),
        "/api/v2.0/users/current/permissions?scope=/project/5&relative=true".to_owned(),
        "/api/v2.0/projects?name=proj".to_owned(),
        "/api/v2.0/projects/proj".to_owned(),
        "/api/v2.0/robots?q=Level%3Dproject%2CProjectID%3D5".to_owned(),
        format!("/api/v2.0/robots/{}", robot.id),
    ] {
        let a = get(h, &path, as_creds(&admin));
        assert_eq!(a.status, 200, "{path}");
        assert_eq!(a.header("content-type"), Some("application/json"), "{path}");
    }
    let refused = get(h, "/api/v2.0/projects/nosuch", as_creds(&admin));
    assert_eq!(refused.status, 404);
    assert_eq!(
        refused.header("content-type"),
        Some("application/json; charset=utf-8")
    );
    let token = get(
        h,
        "/service/token?service=harbor-registry&scope=repository:proj/app:pull",
        as_creds(&admin),
    );
    assert_eq!(
        token.header("content-type"),
        Some("application/json; charset=utf-8")
    );
}
