//! Projects (docs/harbor-api.md#projects): existence, lookup and the fuzzy, counted list.

use serde_json::{Value, json};

use crate::util::*;

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
