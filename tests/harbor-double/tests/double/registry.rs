//! /v2 (docs/harbor-api.md#the-v2-probe): the probe Harbor answers itself, and the real registry
//! behind /v2, where real clients push and pull with Harbor's tokens.

use std::path::Path;
use std::process::Command;

use harbor_double::Config;
use serde_json::{Value, json};

use crate::util::*;

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
// The real registry behind /v2: real clients push and pull with Harbor's tokens
// (docs/harbor-api.md#the-token-service)

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
    let image = f.dir.path().join("image");
    let home = f.dir.path().join("home");
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
    let cert_dir = f.dir.path().join("certs.d").join(h.addr());
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
