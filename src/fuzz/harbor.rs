//! The fuzz targets for what Harbor answers (see the parent module): error bodies, the token
//! response and its JWT payload, the robot API. Each takes the bytes as a reply body, exactly
//! as the client gets it, and panics only when a property fails.

use secrecy::{ExposeSecret, SecretString};

use docker_credential_harbor_core::text;
use harbor_client::token::grant_from_body;
use harbor_client::{Reply, robots};

/// Harbor's error bodies: whatever `errors[].message` holds, the message shown is one line
/// without a control character but tabs.
pub fn harbor_error(data: &[u8]) {
    for content_type in ["application/json; charset=utf-8", "text/html"] {
        let reply = Reply {
            status: 400,
            request_id: Some("r-1".into()),
            content_type: content_type.into(),
            total_count: None,
            body: data.to_vec(),
        };
        let _ = reply.error_message();
        let shown = text::inline(&reply.unexpected("GET /api/v2.0/x").to_string()).into_owned();
        // A tab stays (harmless on one line); nothing else that moves the cursor does.
        assert!(
            !shown.chars().any(|c| c.is_control() && c != '\t'),
            "{shown:?}"
        );
    }
}

/// The token response and its JWT payload: the grant is a set without `*`, and push implies
/// pull as Harbor's robots have it.
pub fn token(data: &[u8]) {
    if let Some(g) = grant_from_body(data) {
        assert!(!g.actions.contains("*"));
        assert!(!g.may_push() || g.may_pull());
        assert_eq!(g.authenticated(), g.subject.is_some());
    }
}

/// harbor-broker's 201 (a job's robot, or a service account's with `other_projects`): what
/// it accepts is a bare registry that is not Docker Hub and distinct, valid projects with a
/// username and a password each; `Debug` does not depend on the passwords.
pub fn broker_answer(data: &[u8]) {
    use harbor_client::broker::{Granted, ProjectRobot, granted};
    let Ok(granted) = granted(data) else {
        return;
    };
    assert!(!granted.registry.is_docker_hub());
    let robots = || std::iter::once(&granted.robot).chain(&granted.others);
    let mut projects = Vec::new();
    for robot in robots() {
        assert!(!projects.contains(&robot.project.as_str()));
        projects.push(robot.project.as_str());
        assert!(!robot.username.is_empty() && !robot.password.expose_secret().is_empty());
    }
    let masked = |r: &ProjectRobot| ProjectRobot {
        project: r.project.clone(),
        username: r.username.clone(),
        password: SecretString::from(""),
        expires_at: r.expires_at,
    };
    let masked = Granted {
        registry: granted.registry.clone(),
        robot: masked(&granted.robot),
        others: granted.others.iter().map(masked).collect(),
    };
    assert_eq!(format!("{granted:?}"), format!("{masked:?}"));
}

/// The robot API's answers: created robot, listing, project id, permissions.
pub fn robot_answers(data: &[u8]) {
    if let Some(created) = robots::parse_created(data) {
        // Debug never shows the secret (unless the secret is also what Debug does show).
        let shown = format!("{created:?}");
        let secret = created.secret.expose_secret();
        let elsewhere = format!(
            "{} {} {} REDACTED",
            created.id, created.name, created.expires_at
        );
        if secret.len() >= 8 && !elsewhere.contains(secret) {
            assert!(!shown.contains(secret), "{shown}");
        }
    }
    let _ = robots::parse_project_id(data);
    let _ = robots::parse_may_create(data);
    for robot in robots::parse_listed(data).unwrap_or_default() {
        let _ = robots::is_job_robot(&robot);
        if let Some(id) = robots::job_id_of(&robot) {
            assert!(robot.name.contains(id));
        }
    }
}
