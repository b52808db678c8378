//! `doctor` and the one-request verification against the Harbor double: the happy path costs
//! exactly one token request (and doctor one more, for the version), never sends a cookie
//! back; every failure exits 1, names what to change, and shows no secret.

use std::time::Duration;

use harbor_double::{AuthMode, Config, Fault, Harbor, HarborVersion, Role, TlsMode};

use crate::util::harbor::whoami_answers;
use crate::util::{Out, TestEnv, write_mode};

/// A test env with the double's CA trusted and GitLab's variables for `user` on `project`.
fn job(t: &mut TestEnv, h: &Harbor, user: &str, project: &str) {
    let password = h.password(user);
    t.harbor_env(&h.url(), user, &password);
    t.set("HARBOR_PROJECT", project);
    t.set("DOCKER_CREDENTIAL_HARBOR_CA_FILE", h.ca_file());
}

fn start(t: &TestEnv, config: Config) -> Harbor {
    Harbor::start(&t.path("harbor"), config)
}

fn doctor(t: &TestEnv) -> Out {
    let out = t.helper(&["doctor"], b"");
    t.assert_clean(&out);
    assert_eq!(out.stderr, "", "doctor reports on stdout only");
    out
}

/// The report line of one check, e.g. `FAIL  push …`.
fn line<'a>(out: &'a Out, check: &str) -> &'a str {
    out.stdout
        .lines()
        .find(|l| {
            l.get(6..)
                .is_some_and(|rest| rest.starts_with(&format!("{check} ")))
        })
        .unwrap_or_else(|| panic!("no {check} line in:\n{}", out.stdout))
}

#[track_caller]
fn assert_line(out: &Out, check: &str, status: &str, words: &[&str]) {
    let l = line(out, check);
    assert!(
        l.starts_with(status),
        "{check} should be {status}:\n{}",
        out.stdout
    );
    for w in words {
        assert!(
            out.stdout.contains(w),
            "{check}: missing {w:?} in:\n{}",
            out.stdout
        );
    }
}

fn no_cookie_sent(h: &Harbor) {
    for r in h.requests() {
        assert!(
            !r.headers.iter().any(|(k, _)| k == "cookie"),
            "cookie sent back: {} {}",
            r.method,
            r.path
        );
    }
}

#[test]
fn doctor_happy_path_checks_everything_with_four_requests_and_no_cookie() {
    let mut t = TestEnv::new("doctor-happy");
    let h = start(&t, Config::default());
    job(&mut t, &h, "alice", "proj");
    let out = doctor(&t).success();
    for check in [
        "url",
        "variables",
        "dns",
        "tcp",
        "tls",
        "harbor",
        "credentials",
        "project",
        "pull",
        "push",
    ] {
        assert!(
            line(&out, check).starts_with("ok"),
            "{check}:\n{}",
            out.stdout
        );
    }
    assert!(out.stdout.contains("Harbor v2.13.0"), "{}", out.stdout);
    assert!(out.stdout.contains("accepted as alice"));
    assert!(
        out.stdout.contains("doctor: 10 passed, 0 failed"),
        "{}",
        out.stdout
    );
    let requests = h.requests();
    let paths: Vec<&str> = requests.iter().map(|r| r.path.as_str()).collect();
    // systeminfo for the version, one token request for credentials, project, pull and push,
    // then the project's id and the account's permissions for the job-robot line.
    assert_eq!(requests.len(), 4, "{paths:?}");
    assert!(paths[0].starts_with("/api/v2.0/systeminfo"), "{paths:?}");
    assert!(
        // The scope is encoded as Go's url.Values encodes it (no value adds a segment).
        paths[1].starts_with("/service/token?service=harbor-registry&scope=repository%3Aproj%2F"),
        "{paths:?}"
    );
    assert!(paths[2].starts_with("/api/v2.0/projects/proj"), "{paths:?}");
    assert!(
        paths[3].starts_with("/api/v2.0/users/current/permissions?scope=/project/5"),
        "{paths:?}"
    );
    // alice is a developer: no robot creation, said as information (job robots are off).
    assert!(
        line(&out, "job robots").starts_with("info"),
        "{}",
        out.stdout
    );
    no_cookie_sent(&h);
}

#[test]
fn verification_is_one_request_on_the_happy_path() {
    use harbor_client::verify;
    let t = TestEnv::new("verify-one");
    let h = start(&t, Config::default());
    let client = crate::util::harbor::client(&h, "alice", &h.password("alice"));
    let v = verify::verify_push(&client, "proj").unwrap();
    assert_eq!(v.subject, "alice");
    assert_eq!(h.requests().len(), 1);
    no_cookie_sent(&h);
    // A second verification with the same client still sends no cookie (Harbor set `sid`).
    verify::verify_push(&client, "proj").unwrap();
    assert_eq!(h.requests().len(), 2);
    no_cookie_sent(&h);
}

#[test]
fn doctor_names_a_rejected_password_without_showing_it() {
    let mut t = TestEnv::new("doctor-badpw");
    let h = start(&t, Config::default());
    job(&mut t, &h, "alice", "proj");
    t.set("HARBOR_PASSWORD", "wrong-password-123")
        .secret("wrong-password-123");
    let out = doctor(&t).failure();
    assert_eq!(out.code, Some(1));
    assert_line(
        &out,
        "credentials",
        "FAIL",
        &[
            "did not accept the credentials of alice",
            "expired or disabled robot",
            "LDAP outage",
            "HARBOR_PASSWORD",
        ],
    );
    assert!(line(&out, "push").starts_with("skip"));
    no_cookie_sent(&h);
}

#[test]
fn doctor_tells_oidc_users_to_use_their_cli_secret() {
    let mut t = TestEnv::new("doctor-oidc");
    let h = start(
        &t,
        Config {
            auth_mode: AuthMode::OidcAuth,
            ..Config::default()
        },
    );
    job(&mut t, &h, "carol", "proj");
    doctor(&t).success();
    t.set("HARBOR_PASSWORD", "my-oidc-password")
        .secret("my-oidc-password");
    let out = doctor(&t).failure();
    assert_line(
        &out,
        "credentials",
        "FAIL",
        &["OIDC", "CLI secret", "User Profile"],
    );
}

#[test]
fn doctor_finds_a_missing_project() {
    let mut t = TestEnv::new("doctor-noproject");
    let h = start(&t, Config::default());
    job(&mut t, &h, "alice", "nope");
    let out = doctor(&t).failure();
    assert_line(&out, "credentials", "ok", &[]);
    assert_line(
        &out,
        "project",
        "FAIL",
        &["project nope does not exist", "HARBOR_PROJECT"],
    );
}

#[test]
fn doctor_finds_an_account_without_a_role() {
    let mut t = TestEnv::new("doctor-nonmember");
    let h = start(&t, Config::default());
    job(&mut t, &h, "dave", "proj");
    let out = doctor(&t).failure();
    assert_line(&out, "project", "ok", &[]);
    assert_line(
        &out,
        "pull",
        "FAIL",
        &["not a member", "Members", "Developer"],
    );
}

#[test]
fn doctor_finds_a_guest_without_push() {
    let mut t = TestEnv::new("doctor-guest");
    let h = start(&t, Config::default());
    job(&mut t, &h, "gary", "proj");
    let out = doctor(&t).failure();
    assert_line(&out, "pull", "ok", &[]);
    assert_line(
        &out,
        "push",
        "FAIL",
        &[
            "gary may pull from project proj but not push",
            "Developer role",
        ],
    );
    assert!(
        out.stdout.contains("doctor: 9 passed, 1 failed"),
        "{}",
        out.stdout
    );
}

#[test]
fn doctor_accepts_every_token_dialect() {
    for (name, config) in [
        (
            "v2-0",
            Config {
                version: HarborVersion::V2_0,
                ..Config::default()
            },
        ),
        (
            "star",
            Config {
                star_action: true,
                ..Config::default()
            },
        ),
        (
            "v2-12",
            Config {
                version: HarborVersion::V2_12,
                ..Config::default()
            },
        ),
    ] {
        let mut t = TestEnv::new(&format!("doctor-dialect-{name}"));
        let h = start(&t, config);
        job(&mut t, &h, "pam", "proj");
        doctor(&t).success();
    }
}

#[test]
fn doctor_reports_a_server_error_with_its_request_id() {
    let mut t = TestEnv::new("doctor-500");
    let h = start(&t, Config::default());
    job(&mut t, &h, "alice", "proj");
    h.set_fault_on("/service/token", Fault::Status500);
    let out = doctor(&t).failure();
    assert_line(
        &out,
        "credentials",
        "FAIL",
        &["Harbor failed with 500", "X-Request-Id ", "core log"],
    );
    // A 500 is not retried: only 502/503/504 and dropped connections are.
    assert_eq!(
        h.requests()
            .iter()
            .filter(|r| r.path.starts_with("/service/token"))
            .count(),
        1
    );
}

#[test]
fn doctor_does_not_parse_a_proxy_html_page_and_retries_it_boundedly() {
    let mut t = TestEnv::new("doctor-503");
    let h = start(&t, Config::default());
    job(&mut t, &h, "alice", "proj");
    h.set_fault(Fault::Html503);
    let out = doctor(&t).failure();
    assert_line(
        &out,
        "harbor",
        "FAIL",
        &[
            "proxy in front of Harbor answered 503 with an HTML page",
            "retry later",
        ],
    );
    assert!(!out.stdout.contains("<html"), "{}", out.stdout);
    assert_eq!(
        h.requests().len(),
        3,
        "an idempotent call is tried three times"
    );
}

#[test]
fn doctor_gives_up_on_a_slow_harbor_within_the_timeout() {
    let mut t = TestEnv::new("doctor-slow");
    let h = start(&t, Config::default());
    job(&mut t, &h, "alice", "proj");
    t.set("DOCKER_CREDENTIAL_HARBOR_TIMEOUT", "1");
    h.set_fault(Fault::Slow(Duration::from_secs(30)));
    let out = doctor(&t).failure();
    assert_line(
        &out,
        "harbor",
        "FAIL",
        &[
            "did not answer within 1 s",
            "DOCKER_CREDENTIAL_HARBOR_TIMEOUT",
        ],
    );
}

#[test]
fn doctor_refuses_to_follow_a_redirect_and_resends_nothing() {
    let mut t = TestEnv::new("doctor-redirect");
    let h = start(&t, Config::default());
    job(&mut t, &h, "alice", "proj");
    h.set_fault(Fault::Redirect(
        "https://elsewhere.example/api/v2.0/systeminfo".into(),
    ));
    let out = doctor(&t).failure();
    assert_line(
        &out,
        "harbor",
        "FAIL",
        &[
            "redirecting to https://elsewhere.example/api/v2.0/systeminfo",
            "set HARBOR_URL to https://elsewhere.example",
        ],
    );
    assert_eq!(h.requests().len(), 1, "a redirect is never followed");
}

#[test]
fn doctor_reports_nginx_plain_http_redirect() {
    let mut t = TestEnv::new("doctor-plain-http");
    let h = start(
        &t,
        Config {
            plain_http: true,
            ..Config::default()
        },
    );
    job(&mut t, &h, "alice", "proj");
    t.set("HARBOR_URL", h.http_url().unwrap());
    let out = doctor(&t).failure();
    assert_line(&out, "url", "warn", &["plain HTTP"]);
    assert_line(&out, "harbor", "FAIL", &["308", "https://127.0.0.1:"]);
}

#[test]
fn doctor_refuses_plain_http_to_a_remote_host() {
    let mut t = TestEnv::new("doctor-http-remote");
    t.harbor_env("http://harbor.example.net", "alice", "pw-not-sent-anywhere");
    let out = doctor(&t).failure();
    assert_line(
        &out,
        "url",
        "FAIL",
        &["http://", "not a loopback host", "https://"],
    );
}

#[test]
fn doctor_explains_an_unknown_ca_and_how_to_trust_it() {
    let mut t = TestEnv::new("doctor-wrong-ca");
    let h = start(&t, Config::default());
    job(&mut t, &h, "alice", "proj");
    t.set("DOCKER_CREDENTIAL_HARBOR_CA_FILE", h.other_ca_file());
    let out = doctor(&t).failure();
    let registry = h.addr();
    assert_line(
        &out,
        "tls",
        "FAIL",
        &[
            "signed by a CA this client does not trust",
            "DOCKER_CREDENTIAL_HARBOR_CA_FILE",
            &format!("/etc/docker/certs.d/{registry}/ca.crt"),
            &format!("/etc/containers/certs.d/{registry}/ca.crt"),
        ],
    );
    assert!(h.requests().is_empty(), "no HTTP request once TLS failed");
    // Without any CA for it, the same.
    t.unset("DOCKER_CREDENTIAL_HARBOR_CA_FILE");
    assert_line(&doctor(&t).failure(), "tls", "FAIL", &["does not trust"]);
}

#[test]
fn doctor_trusts_the_conventions_users_already_have() {
    let mut t = TestEnv::new("doctor-trust");
    let h = start(&t, Config::default());
    job(&mut t, &h, "alice", "proj");
    t.unset("DOCKER_CREDENTIAL_HARBOR_CA_FILE");
    // Rootless podman's certs.d under HOME.
    let ca = std::fs::read_to_string(h.ca_file()).unwrap();
    let certs_d = t.path(&format!(
        "home/.config/containers/certs.d/{}/ca.crt",
        h.addr()
    ));
    write_mode(&certs_d, &ca, 0o644);
    assert_line(&doctor(&t).success(), "tls", "ok", &["certs.d"]);
    std::fs::remove_file(&certs_d).unwrap();
    // SSL_CERT_FILE, as Go and OpenSSL honour it.
    t.set("SSL_CERT_FILE", h.ca_file());
    assert_line(&doctor(&t).success(), "tls", "ok", &["SSL_CERT_FILE="]);
}

#[test]
fn doctor_names_a_certificate_for_another_name() {
    let mut t = TestEnv::new("doctor-name");
    let h = start(
        &t,
        Config {
            tls: TlsMode::NameMismatch,
            ..Config::default()
        },
    );
    job(&mut t, &h, "alice", "proj");
    let out = doctor(&t).failure();
    assert_line(
        &out,
        "tls",
        "FAIL",
        &[
            "not valid for the name 127.0.0.1",
            "harbor.invalid",
            "HARBOR_URL",
        ],
    );
}

#[test]
fn doctor_names_an_expired_certificate() {
    let mut t = TestEnv::new("doctor-expired");
    let h = start(
        &t,
        Config {
            tls: TlsMode::Expired,
            ..Config::default()
        },
    );
    job(&mut t, &h, "alice", "proj");
    assert_line(
        &doctor(&t).failure(),
        "tls",
        "FAIL",
        &["has expired", "renewed"],
    );
}

#[test]
fn doctor_names_a_refused_connection() {
    let mut t = TestEnv::new("doctor-refused");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    t.harbor_env(
        &format!("https://127.0.0.1:{port}"),
        "alice",
        "pw-for-nobody",
    );
    t.set("HARBOR_PROJECT", "proj");
    let out = doctor(&t).failure();
    assert_line(
        &out,
        "tcp",
        "FAIL",
        &["Connection refused", "port in HARBOR_URL"],
    );
}

#[test]
fn doctor_retries_a_dropped_connection_then_reports_it() {
    let mut t = TestEnv::new("doctor-reset");
    let h = start(&t, Config::default());
    job(&mut t, &h, "alice", "proj");
    h.set_fault(Fault::Reset);
    let out = doctor(&t).failure();
    assert_line(&out, "harbor", "FAIL", &[]);
    assert_eq!(h.requests().len(), 3);
}

#[test]
fn doctor_names_missing_variables() {
    let mut t = TestEnv::new("doctor-vars");
    let h = start(&t, Config::default());
    t.set("HARBOR_URL", h.url())
        .set("DOCKER_CREDENTIAL_HARBOR_CA_FILE", h.ca_file());
    let out = doctor(&t).failure();
    assert_line(
        &out,
        "variables",
        "FAIL",
        &["HARBOR_USERNAME, HARBOR_PASSWORD, HARBOR_PROJECT not set"],
    );
    assert_line(&out, "harbor", "ok", &[]);
    let out = doctor(&TestEnv::new("doctor-novars")).failure();
    assert_line(&out, "url", "FAIL", &["neither HARBOR_URL nor HARBOR_HOST"]);
}

#[test]
fn doctor_checks_a_robot_and_says_where_its_expiry_is() {
    let mut t = TestEnv::new("doctor-robot");
    let h = start(&t, Config::default());
    let robot = h.add_robot("proj", "ci", &["pull", "push"], 30);
    t.harbor_env(&h.url(), &robot.name.replace('$', "$$"), &robot.secret);
    t.set("HARBOR_PROJECT", "proj")
        .set("DOCKER_CREDENTIAL_HARBOR_CA_FILE", h.ca_file());
    let out = doctor(&t).success();
    assert_line(
        &out,
        "credentials",
        "ok",
        &[&format!("accepted as {}", robot.name)],
    );
    assert_line(&out, "robot", "info", &["Robot Accounts"]);
    // An expired robot is indistinguishable from a wrong password, and doctor says so.
    h.expire_robot(robot.id);
    assert_line(
        &doctor(&t).failure(),
        "credentials",
        "FAIL",
        &["expired or disabled robot"],
    );
}

/// The prefixes the robot tests run under: Harbor's default and one without a `$`.
const PREFIXES: [&str; 2] = ["robot$", "svc-"];

fn with_prefix(prefix: &str) -> Config {
    Config {
        robot_prefix: prefix.into(),
        ..Config::default()
    }
}

/// GitLab's variables for a robot login, `robot$` escaped as GitLab escapes it.
fn robot_job(t: &mut TestEnv, h: &Harbor, name: &str, secret: &str) {
    t.harbor_env(&h.url(), &name.replacen("robot$", "robot$$", 1), secret);
    t.set("HARBOR_PROJECT", "proj")
        .set("DOCKER_CREDENTIAL_HARBOR_CA_FILE", h.ca_file());
}

fn has_line(out: &Out, check: &str) -> bool {
    out.stdout.lines().any(|l| {
        l.get(6..)
            .is_some_and(|rest| rest.starts_with(&format!("{check} ")))
    })
}

/// A robot that may also read its project and list its robots, so its expiry is readable.
fn reading_robot(h: &Harbor) -> (String, String) {
    use secrecy::ExposeSecret;
    let pam = crate::util::harbor::client(h, "pam", &h.password("pam"));
    let body = serde_json::json!({
        "name": "reader",
        "description": "",
        "level": "project",
        "duration": 30,
        "permissions": [{"kind": "project", "namespace": "proj", "access": [
            {"resource": "repository", "action": "pull"},
            {"resource": "repository", "action": "push"},
            {"resource": "project", "action": "read"},
            {"resource": "robot", "action": "list"},
        ]}],
    });
    let reply = pam.post_json("/api/v2.0/robots", &body).unwrap();
    assert_eq!(reply.status, 201);
    let created = harbor_client::robots::parse_created(&reply.body).unwrap();
    (created.name, created.secret.expose_secret().to_owned())
}

#[test]
fn doctor_knows_a_robot_by_harbors_answer_under_any_prefix() {
    for prefix in PREFIXES {
        let mut t = TestEnv::new(&format!("doctor-robot-prefix-{}", prefix.len()));
        let h = start(&t, with_prefix(prefix));
        let robot = h.add_robot("proj", "ci", &["pull", "push"], 30);
        assert!(robot.name.starts_with(prefix), "{}", robot.name);
        robot_job(&mut t, &h, &robot.name, &robot.secret);
        let out = doctor(&t).success();
        assert_line(
            &out,
            "robot",
            "info",
            &[&format!("{}'s expiry is not readable", robot.name)],
        );
        assert!(!out.stdout.contains("heuristic"), "{}", out.stdout);
        assert_eq!(whoami_answers(&h), [412], "asked once, and Harbor said");

        // Readable: the expiry, and job-robot advice for a robot rather than a user.
        let (name, secret) = reading_robot(&h);
        t.secret(&secret);
        robot_job(&mut t, &h, &name, &secret);
        h.clear_requests();
        let out = doctor(&t).success();
        // 30 days at creation; a second later it is 29 whole days.
        let days = ["29", "30"].map(|d| format!("{name} expires in {d} days"));
        assert_line(&out, "robot", "ok", &[]);
        assert!(
            days.iter()
                .any(|d| line(&out, "robot").contains(d.as_str())),
            "{}",
            out.stdout
        );
        assert_line(
            &out,
            "job robots",
            "info",
            &[&format!(
                "{name} may not create robot accounts in proj: a robot may create robots from Harbor 2.12 on"
            )],
        );
        assert!(!out.stdout.contains("project admins"), "{}", out.stdout);
        assert_eq!(whoami_answers(&h), [412]);
    }
}

#[test]
fn doctor_takes_a_user_with_a_dollar_in_the_name_for_a_user() {
    for prefix in PREFIXES {
        let mut t = TestEnv::new(&format!("doctor-dollar-user-{}", prefix.len()));
        let h = start(&t, with_prefix(prefix));
        // Harbor refuses `$` in database user names, not in names from LDAP or OIDC.
        h.add_user(
            "ops$team",
            "Ops-Secret-1",
            Some(("proj", Role::Developer)),
            false,
        );
        t.harbor_env(&h.url(), "ops$team", "Ops-Secret-1");
        t.set("HARBOR_PROJECT", "proj")
            .set("DOCKER_CREDENTIAL_HARBOR_CA_FILE", h.ca_file());
        let out = doctor(&t).success();
        assert_line(&out, "credentials", "ok", &["accepted as ops$team"]);
        assert!(!has_line(&out, "robot"), "no robot line:\n{}", out.stdout);
        assert_line(
            &out,
            "job robots",
            "info",
            &[
                "ops$team may not create robot accounts in proj (by default only project admins may)",
            ],
        );
        assert_eq!(whoami_answers(&h), [200]);
    }
}

#[test]
fn doctor_before_harbor_2_3_knows_a_robot_by_its_name_and_says_it_is_a_guess() {
    // Harbor 2.0–2.2 answer a robot's users/current with 500; 2.2 already had the prefix.
    let mut t = TestEnv::new("doctor-robot-old-harbor");
    let h = start(
        &t,
        Config {
            version: HarborVersion::V2_0,
            ..with_prefix("svc-")
        },
    );
    let robot = h.add_robot("proj", "ci", &["pull", "push"], 30);
    robot_job(&mut t, &h, &robot.name, &robot.secret);
    let out = doctor(&t);
    assert_line(
        &out,
        "robot",
        "info",
        &[
            &format!("{}'s expiry is not readable", robot.name),
            "a robot by its name, a heuristic: Harbor before 2.3 does not say",
        ],
    );
    assert_eq!(whoami_answers(&h), [500]);
}
