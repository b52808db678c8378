//! Robots (docs/harbor-api.md#robot-accounts): the robot v2 API, its errors, expiry and disabling.

use harbor_double::Config;
use serde_json::{Value, json};

use crate::util::*;

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

    // The new credentials work at once (docs/harbor-api.md#creating-a-robot).
    let rc = Some(("robot$proj+ci-1234-ab", secret.as_str()));
    let (_, claims) = token(h, rc, "&scope=repository:proj/app:pull");
    let claims = claims.unwrap();
    assert_eq!(claims["sub"], "robot$proj+ci-1234-ab");
    assert_eq!(actions(&claims, 0), set(&["pull", "push"]));
    assert_eq!(get(h, "/api/v2.0/users/current", rc).status, 412);

    // docs/harbor-api.md#reading-updating-and-deleting
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

    // docs/harbor-api.md#reading-updating-and-deleting
    let alice = user(h, "alice");
    let delete = |creds| send(h, "DELETE", &format!("/api/v2.0/robots/{id}"), creds, None);
    assert_eq!(delete(as_creds(&alice)).status, 403);
    assert_eq!(delete(None).status, 401);
    let deleted = delete(as_creds(&pam));
    assert_eq!((deleted.status, deleted.body.as_str()), (200, ""));
    assert_eq!(delete(as_creds(&pam)).status, 404);
    assert_eq!(
        delete(as_creds(&alice)).status,
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

#[test]
fn the_robot_prefix_is_stripped_at_login_and_shown_in_every_name_and_can_change() {
    // docs/harbor-api.md#the-robot-prefix: Harbor stores `<project>+<name>` and adds the *current*
    // prefix.
    let f = start(Config {
        robot_prefix: "svc-".into(),
        ..Config::default()
    });
    let h = &f.h;
    let pam = user(h, "pam");
    let created = send(
        h,
        "POST",
        "/api/v2.0/robots",
        as_creds(&pam),
        Some(robot_body("ci-7", "proj", &[("repository", "push")], 1)),
    );
    assert_eq!(created.status, 201);
    let body = created.json();
    assert_eq!(body["name"], "svc-proj+ci-7");
    let (id, secret) = (
        body["id"].as_i64().unwrap(),
        body["secret"].as_str().unwrap(),
    );
    let read = get(h, &format!("/api/v2.0/robots/{id}"), as_creds(&pam)).json();
    assert_eq!(read["name"], "svc-proj+ci-7");
    let listed = get(
        h,
        "/api/v2.0/robots?q=Level%3Dproject%2CProjectID%3D5&page_size=100",
        as_creds(&pam),
    )
    .json();
    assert_eq!(listed[0]["name"], "svc-proj+ci-7");

    let svc = Some(("svc-proj+ci-7", secret));
    let (_, claims) = token(h, svc, "&scope=repository:proj/app:pull");
    assert_eq!(claims.unwrap()["sub"], "svc-proj+ci-7");
    assert_eq!(get(h, "/api/v2.0/users/current", svc).status, 412);
    // The default prefix is not special: under `svc-` it names no robot.
    let old = Some(("robot$proj+ci-7", secret));
    assert_eq!(get(h, "/api/v2.0/users/current", old).status, 401);
    // A login that starts with another prefix is a user's (LDAP names are not checked for `$`).
    h.add_user("robot$ops", "Ops-Secret-1", None, false);
    let me = get(
        h,
        "/api/v2.0/users/current",
        Some(("robot$ops", "Ops-Secret-1")),
    );
    assert_eq!(
        (me.status, me.json()["username"].clone()),
        (200, json!("robot$ops"))
    );

    // A sysadmin changes the prefix: every robot is renamed at once.
    h.set_robot_prefix("robot$");
    assert_eq!(get(h, "/api/v2.0/users/current", svc).status, 401);
    assert_eq!(get(h, "/api/v2.0/users/current", old).status, 412);
    assert_eq!(h.robot(id).unwrap().name, "robot$proj+ci-7");
    let read = get(h, &format!("/api/v2.0/robots/{id}"), as_creds(&pam)).json();
    assert_eq!(read["name"], "robot$proj+ci-7");
}

/// A system robot's body: `access` on every project (`namespace: "*"`).
fn system_robot_body(name: &str, access: &[(&str, &str)]) -> Value {
    json!({
        "name": name, "description": "a minter", "level": "system", "duration": -1,
        "permissions": [{"kind": "project", "namespace": "*",
            "access": access.iter().map(|(r, a)| json!({"resource": r, "action": a})).collect::<Vec<_>>()}],
    })
}

/// `POST /api/v2.0/robots` as `creds`.
fn create(h: &harbor_double::Harbor, creds: Option<(&str, &str)>, body: Value) -> Answer {
    send(h, "POST", "/api/v2.0/robots", creds, Some(body))
}

/// Creates a robot as the admin; its login and secret.
fn made_by_admin(h: &harbor_double::Harbor, body: Value) -> (String, String) {
    let admin = user(h, "admin");
    let created = create(h, as_creds(&admin), body);
    assert_eq!(created.status, 201);
    let b = created.json();
    (
        b["name"].as_str().unwrap().to_owned(),
        b["secret"].as_str().unwrap().to_owned(),
    )
}

const MINTER: &[(&str, &str)] = &[
    ("project", "read"),
    ("robot", "create"),
    ("robot", "list"),
    ("robot", "delete"),
    ("repository", "pull"),
    ("repository", "push"),
];

#[test]
fn before_2_15_a_system_robot_may_not_create_project_robots_and_a_project_robot_may() {
    // docs/harbor-api.md#creating-a-robot: 2.12–2.14 look the creator up by its name within the
    // new robot's project, where a system robot never is (goharbor/harbor#21406).
    let f = default();
    let h = &f.h;
    let (name, secret) = made_by_admin(h, system_robot_body("minter", MINTER));
    let minter = Some((name.as_str(), secret.as_str()));
    let pull_push = [("repository", "pull"), ("repository", "push")];
    let refused = create(h, minter, robot_body("job-1", "proj", &pull_push, 1));
    assert_eq!(refused.status, 403);
    assert_eq!(
        refused.json(),
        json!({"errors": [{"code": "DENIED", "message": "denied"}]})
    );
    // It may still list and delete them.
    let listed = get(
        h,
        "/api/v2.0/robots?q=Level%3Dproject%2CProjectID%3D5&page_size=100",
        minter,
    );
    assert_eq!(listed.status, 200);

    // A project robot holding robot:create creates robots within its own scope there.
    let mut maker = robot_body(
        "maker",
        "proj",
        &[("robot", "create"), ("repository", "pull")],
        1,
    );
    maker["description"] = json!("a project robot that makes robots");
    let (name, secret) = made_by_admin(h, maker);
    let maker = Some((name.as_str(), secret.as_str()));
    let made = create(
        h,
        maker,
        robot_body("pull-1", "proj", &[("repository", "pull")], 1),
    );
    assert_eq!(made.status, 201);
    let wider = create(h, maker, robot_body("push-1", "proj", &pull_push, 1));
    assert_eq!(wider.status, 403);
    assert_eq!(
        wider.json()["errors"][0]["message"],
        "permission scope is invalid. It must be equal to or more restrictive than the creator robot's permissions: robot$proj+maker"
    );
}

#[test]
fn from_2_15_a_system_robot_creates_project_robots_within_its_scope() {
    let f = v2_15();
    let h = &f.h;
    let pull_push = [("repository", "pull"), ("repository", "push")];
    let (name, secret) = made_by_admin(h, system_robot_body("minter", MINTER));
    let minter = Some((name.as_str(), secret.as_str()));
    let made = create(h, minter, robot_body("job-1", "proj", &pull_push, 1));
    assert_eq!(made.status, 201);
    assert_eq!(made.json()["name"], "robot$proj+job-1");
    let id = made.json()["id"].as_i64().unwrap();
    let creator = get(
        h,
        &format!("/api/v2.0/robots/{id}"),
        as_creds(&user(h, "admin")),
    );
    assert_eq!(creator.json()["creator_type"], "robot");

    // Without push of its own, it may not give push (Harbor's words, with its name).
    let (name, secret) = made_by_admin(h, system_robot_body("puller", &MINTER[..5]));
    let puller = Some((name.as_str(), secret.as_str()));
    let wider = create(h, puller, robot_body("job-2", "proj", &pull_push, 1));
    assert_eq!(wider.status, 403);
    assert_eq!(
        wider.json(),
        json!({"errors": [{"code": "DENIED", "message": "permission scope is invalid. It must be equal to or more restrictive than the creator robot's permissions: robot$puller"}]})
    );
    // A missing project looks forbidden, as to any non-admin.
    let missing = create(h, minter, robot_body("job-3", "nosuch", &pull_push, 1));
    assert_eq!(missing.status, 403);
    assert_eq!(missing.json()["errors"][0]["code"], "FORBIDDEN");
    // And it lists and deletes what it made.
    let listed = get(
        h,
        "/api/v2.0/robots?q=Level%3Dproject%2CProjectID%3D5&page_size=100",
        minter,
    );
    assert_eq!(listed.header("x-total-count"), Some("1"));
    let deleted = send(h, "DELETE", &format!("/api/v2.0/robots/{id}"), minter, None);
    assert_eq!(deleted.status, 200);
    // 2.15 hides its version from anonymous callers, as 2.13 does.
    assert!(get(h, "/api/v2.0/systeminfo", None).json()["harbor_version"].is_null());
    assert_eq!(
        get(h, "/api/v2.0/systeminfo", minter).json()["harbor_version"],
        "v2.15.0-1a2b3c4d"
    );
}

/// A 2.15 double (robots that create robots).
fn v2_15() -> crate::util::Fixture {
    start(Config {
        version: harbor_double::HarborVersion::V2_15,
        ..Config::default()
    })
}

#[test]
fn a_system_robots_kind_system_permissions_do_not_manage_project_robots() {
    // Confirmed against Harbor v2.15.2 by hand, 2026-12-03: `requireAccess` checks only the
    // project for a project robot, and `/system/...` policies never match `/project/<id>/robot`.
    let f = v2_15();
    let h = &f.h;
    let body = json!({
        "name": "sys-kindsystem", "level": "system", "duration": 1,
        "permissions": [{"kind": "system", "namespace": "/", "access": [
            {"resource": "robot", "action": "create"}, {"resource": "robot", "action": "list"},
            {"resource": "robot", "action": "read"}, {"resource": "robot", "action": "delete"}]}],
    });
    let (name, secret) = made_by_admin(h, body);
    let ks = Some((name.as_str(), secret.as_str()));
    let forbidden = json!({"errors": [{"code": "FORBIDDEN", "message": "forbidden"}]});
    let refused = create(
        h,
        ks,
        robot_body("hb-ks", "proj", &[("repository", "pull")], 1),
    );
    assert_eq!((refused.status, refused.json()), (403, forbidden.clone()));
    let project_list = "/api/v2.0/robots?q=Level%3Dproject%2CProjectID%3D5&page_size=100";
    let listed = get(h, project_list, ks);
    assert_eq!((listed.status, listed.json()), (403, forbidden.clone()));
    made_by_admin(h, robot_body("other", "proj", &[("repository", "pull")], 1));
    let id = get(h, project_list, as_creds(&user(h, "admin"))).json()[0]["id"]
        .as_i64()
        .unwrap();
    let read = get(h, &format!("/api/v2.0/robots/{id}"), ks);
    assert_eq!((read.status, read.json()), (403, forbidden.clone()));
    let deleted = send(h, "DELETE", &format!("/api/v2.0/robots/{id}"), ks, None);
    assert_eq!((deleted.status, deleted.json()), (403, forbidden));
    // System robots are its business.
    assert_eq!(get(h, "/api/v2.0/robots?page_size=100", ks).status, 200);
    let child = json!({
        "name": "sys-child", "level": "system", "duration": 1,
        "permissions": [{"kind": "system", "namespace": "/",
            "access": [{"resource": "robot", "action": "list"}]}],
    });
    assert_eq!(create(h, ks, child).status, 201);
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(r, a)| ((*r).into(), (*a).into()))
        .collect()
}

#[test]
fn push_brings_pull_only_for_project_robots() {
    // Confirmed against Harbor v2.15.2 by hand, 2026-12-03: only the project-level branch of
    // the robot security context adds pull for push (`filterRobotPolicies`).
    let f = default();
    let h = &f.h;
    let (name, secret) = made_by_admin(
        h,
        system_robot_body("sys-pushonly", &[("repository", "push")]),
    );
    let sys = Some((name.as_str(), secret.as_str()));
    assert_eq!(granted(h, sys, "proj/x"), set(&["push"]));
    assert_eq!(
        permissions(h, "/project/5", sys),
        pairs(&[("repository", "push")])
    );
    let mut in_proj =
        system_robot_body("sys-nsproj", &[("repository", "push"), ("project", "read")]);
    in_proj["permissions"][0]["namespace"] = json!("proj");
    let (name, secret) = made_by_admin(h, in_proj);
    let sys = Some((name.as_str(), secret.as_str()));
    assert_eq!(granted(h, sys, "proj/x"), set(&["push"]));
    assert_eq!(
        permissions(h, "/project/5", sys),
        pairs(&[(".", "read"), ("repository", "push")])
    );
    let (name, secret) = made_by_admin(
        h,
        robot_body("pushonly", "proj", &[("repository", "push")], 1),
    );
    let project = Some((name.as_str(), secret.as_str()));
    assert_eq!(granted(h, project, "proj/x"), set(&["pull", "push"]));
    assert_eq!(
        permissions(h, "/project/5", project),
        pairs(&[("repository", "pull"), ("repository", "push")])
    );
}

#[test]
fn a_system_robots_project_read_on_every_project_reads_every_sub_resource() {
    // Confirmed against Harbor v2.15.2 by hand, 2026-12-03: `project:read` on `*` is the policy
    // `/project/*`, a wildcard for keyMatch2; on one project, or for a project robot, it is `.`.
    let f = default();
    let h = &f.h;
    let (name, secret) =
        made_by_admin(h, system_robot_body("sys-projread", &[("project", "read")]));
    let reads = [
        ".",
        "member",
        "metadata",
        "label",
        "quota",
        "repository",
        "tag-retention",
        "configuration",
        "robot",
        "notification-policy",
        "scan",
        "sbom",
        "scanner",
        "artifact",
        "artifact-addition",
        "preheat-policy",
        "export-cve",
    ];
    let want: Vec<(&str, &str)> = reads.iter().map(|r| (*r, "read")).collect();
    assert_eq!(
        permissions(h, "/project/5", Some((&name, &secret))),
        pairs(&want)
    );
    // It still may not list repositories (`repository:list`) or pull.
    assert_eq!(granted(h, Some((&name, &secret)), "proj/x"), set(&[]));
    let (name, secret) =
        made_by_admin(h, robot_body("projread", "proj", &[("project", "read")], 1));
    assert_eq!(
        permissions(h, "/project/5", Some((&name, &secret))),
        pairs(&[(".", "read")])
    );
    // The broker's minter: Harbor's own list for it.
    let (name, secret) = made_by_admin(h, system_robot_body("minter", MINTER));
    let mut want = want;
    want.splice(6..6, [("repository", "pull"), ("repository", "push")]);
    let robot_at = want.iter().position(|p| p.0 == "robot").unwrap();
    want.splice(
        robot_at..=robot_at,
        [
            ("robot", "create"),
            ("robot", "read"),
            ("robot", "delete"),
            ("robot", "list"),
        ],
    );
    assert_eq!(
        permissions(h, "/project/5", Some((&name, &secret))),
        pairs(&want)
    );
}

#[test]
fn system_level_refusals_name_the_caller() {
    // Confirmed against Harbor v2.15.2 by hand, 2026-12-03: `RequireSystemAccess` answers 403
    // with the caller's name as the message, `RequireProjectAccess` with `forbidden`.
    let f = v2_15();
    let h = &f.h;
    let (name, secret) = made_by_admin(h, system_robot_body("minter", MINTER));
    let minter = Some((name.as_str(), secret.as_str()));
    let named = json!({"errors": [{"code": "FORBIDDEN", "message": "robot$minter"}]});
    for q in [
        "",
        "q=Level%3Dsystem&",
        "q=name%3D~hb-123&",
        "q=ProjectID%3D5&",
    ] {
        let a = get(
            h,
            &format!("/api/v2.0/robots?{q}page_size=100&page=1"),
            minter,
        );
        assert_eq!((a.status, a.json()), (403, named.clone()), "{q}");
    }
    let admin = user(h, "admin");
    let all = get(h, "/api/v2.0/robots?page_size=100", as_creds(&admin)).json();
    let id = all[0]["id"].as_i64().unwrap();
    let read = get(h, &format!("/api/v2.0/robots/{id}"), minter);
    assert_eq!((read.status, read.json()), (403, named.clone()));
    let deleted = send(h, "DELETE", &format!("/api/v2.0/robots/{id}"), minter, None);
    assert_eq!((deleted.status, deleted.json()), (403, named.clone()));
    let system = create(
        h,
        minter,
        system_robot_body("child", &[("repository", "pull")]),
    );
    assert_eq!((system.status, system.json()), (403, named));
    // A user is named by their username; a project check stays `forbidden`.
    let alice = user(h, "alice");
    let a = get(h, "/api/v2.0/robots?page_size=100", as_creds(&alice));
    assert_eq!(a.json()["errors"][0]["message"], "alice");
    let a = get(
        h,
        "/api/v2.0/robots?q=Level%3Dproject%2CProjectID%3D999",
        minter,
    );
    assert_eq!(a.json()["errors"][0]["message"], "forbidden");
}

#[test]
fn robot_lists_are_sorted_by_name_and_leave_out_an_empty_description() {
    // Confirmed against Harbor v2.15.2 by hand, 2026-12-03: `Name` is the default sort, and
    // `models.Robot.description` is `omitempty`.
    let f = default();
    let h = &f.h;
    let admin = user(h, "admin");
    for name in ["hb-tok", "hb.x_y-z", "hb-123", "hb-pr"] {
        let mut body = robot_body(name, "proj", &[("repository", "pull")], 1);
        if name == "hb-pr" {
            body["description"] = json!("");
        } else if name == "hb-tok" {
            body.as_object_mut().unwrap().remove("description");
        }
        made_by_admin(h, body);
    }
    let page = |n: u32| {
        get(
            h,
            &format!("/api/v2.0/robots?q=Level%3Dproject%2CProjectID%3D5&page_size=2&page={n}"),
            as_creds(&admin),
        )
        .json()
    };
    let names: Vec<Value> = [page(1), page(2)]
        .iter()
        .flat_map(|p| p.as_array().unwrap().iter().map(|r| r["name"].clone()))
        .collect();
    assert_eq!(
        names,
        [
            "robot$proj+hb-123",
            "robot$proj+hb-pr",
            "robot$proj+hb-tok",
            "robot$proj+hb.x_y-z"
        ]
    );
    let first = page(1);
    assert_eq!(first[0]["description"], "made by a test");
    assert!(first[1].get("description").is_none(), "{}", first[1]);
    let id = first[1]["id"].as_i64().unwrap();
    let read = get(h, &format!("/api/v2.0/robots/{id}"), as_creds(&admin)).json();
    assert!(read.get("description").is_none(), "{read}");
}

#[test]
fn q_is_decoded_twice_and_fuzzy_names_ignore_case() {
    // Confirmed against Harbor v2.15.2 by hand, 2026-12-03: `parseKeywords` runs
    // `url.QueryUnescape` on the decoded `q`, and `name=~` is `name__icontains`.
    let f = default();
    let h = &f.h;
    let admin = user(h, "admin");
    for name in ["hb-pr", "hb.x_y-z"] {
        made_by_admin(h, robot_body(name, "proj", &[("repository", "pull")], 1));
    }
    let count = |name_q: &str| {
        let a = get(
            h,
            &format!("/api/v2.0/robots?q=Level%3Dproject%2CProjectID%3D5%2Cname%3D{name_q}"),
            as_creds(&admin),
        );
        assert_eq!(a.status, 200, "{name_q}: {}", a.body);
        a.header("x-total-count").unwrap().to_owned()
    };
    assert_eq!(
        count("proj%2Bhb-pr"),
        "0",
        "a + sent once-encoded is a space"
    );
    assert_eq!(count("proj%252Bhb-pr"), "1");
    assert_eq!(count("~proj%252Bhb-p"), "1");
    assert_eq!(count("hb-pr"), "0", "the stored name has the project");
    assert_eq!(count("~HB-PR"), "1");
    assert_eq!(count("~x_y"), "1");
    assert_eq!(count("~x%2525y"), "0", "% is literal");
}

#[test]
fn a_page_size_over_100_is_a_422_before_authentication() {
    // Confirmed against Harbor v2.15.2 by hand, 2026-12-03: go-swagger validates parameters
    // before the handler's `RequireAuthenticated`.
    let f = default();
    let a = get(
        &f.h,
        "/api/v2.0/robots?q=Level%3Dproject%2CProjectID%3D5&page_size=101&page=1",
        None,
    );
    assert_eq!(a.status, 422);
    assert_eq!(
        a.json(),
        json!({"errors": [{"code": "UNPROCESSABLE_ENTITY", "message": "validation failure list:\npage_size in query should be less than or equal to 100"}]})
    );
    let ok_size = get(&f.h, "/api/v2.0/robots?page_size=100", None);
    assert_eq!(ok_size.status, 401);
}
