//! Robot accounts (docs/harbor-api.md#robot-accounts): their records as Harbor stores them (the
//! name without the prefix), creation, lookup, the name as shown (with the *current* prefix),
//! Harbor's secret rules and its name pattern. A secret is stored here only; it must never reach a
//! log or a listing.

use super::Model;
use crate::RobotInfo;
use crate::util::{self, ALNUM};

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Permission {
    pub(crate) kind: String,
    pub(crate) namespace: String,
    pub(crate) access: Vec<(String, String)>,
}

pub(crate) struct RobotRec {
    pub(crate) id: i64,
    /// 0 for a system robot.
    pub(crate) project_id: i64,
    pub(crate) level: String,
    /// As Harbor stores it: `<project>+<name>` for a project robot, `<name>` for a system one. The
    /// prefix is not stored; it is added whenever the name is shown
    /// (docs/harbor-api.md#the-robot-prefix).
    pub(crate) name: String,
    pub(crate) secret: String,
    pub(crate) description: String,
    pub(crate) duration: i64,
    pub(crate) expires_at: i64,
    pub(crate) disabled: bool,
    pub(crate) permissions: Vec<Permission>,
    pub(crate) creation_ms: i64,
    pub(crate) update_ms: i64,
    pub(crate) creator_type: String,
    pub(crate) creator_ref: i64,
}

impl Model {
    /// Adds a project robot; returns its id and secret.
    pub(crate) fn add_robot(
        &mut self,
        project_id: i64,
        name: &str,
        access: Vec<(String, String)>,
        duration_days: i64,
        description: &str,
        creator: (&str, i64),
    ) -> (i64, String) {
        let project = self
            .project_by_id(project_id)
            .map(|p| p.name.clone())
            .unwrap_or_default();
        let permissions = vec![Permission {
            kind: "project".into(),
            namespace: project.clone(),
            access,
        }];
        self.insert_robot(
            project_id,
            "project",
            &format!("{project}+{name}"),
            permissions,
            duration_days,
            description,
            creator,
        )
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn insert_robot(
        &mut self,
        project_id: i64,
        level: &str,
        stored_name: &str,
        permissions: Vec<Permission>,
        duration_days: i64,
        description: &str,
        creator: (&str, i64),
    ) -> (i64, String) {
        let id = self.next_robot_id;
        self.next_robot_id += 1;
        let secret = robot_secret();
        let now = util::now_millis();
        let expires_at = if duration_days == -1 {
            -1
        } else {
            now / 1000 + duration_days * 86_400
        };
        self.robots.push(RobotRec {
            id,
            project_id,
            level: level.to_owned(),
            name: stored_name.to_owned(),
            secret: secret.clone(),
            description: description.to_owned(),
            duration: duration_days,
            expires_at,
            disabled: false,
            permissions,
            creation_ms: now,
            update_ms: now,
            creator_type: creator.0.to_owned(),
            creator_ref: creator.1,
        });
        (id, secret)
    }

    pub(crate) fn robot(&self, id: i64) -> Option<&RobotRec> {
        self.robots.iter().find(|r| r.id == id)
    }

    pub(crate) fn robot_mut(&mut self, id: i64) -> Option<&mut RobotRec> {
        self.robots.iter_mut().find(|r| r.id == id)
    }

    /// The name as the API shows it: the *current* prefix plus the stored name
    /// (docs/harbor-api.md#the-robot-prefix).
    pub(crate) fn robot_full_name(&self, id: i64) -> Option<String> {
        self.robot(id)
            .map(|r| format!("{}{}", self.config.robot_prefix, r.name))
    }

    pub(crate) fn robot_info(&self, id: i64) -> Option<RobotInfo> {
        let r = self.robot(id)?;
        Some(RobotInfo {
            id: r.id,
            name: self.robot_full_name(id)?,
            expires_at: r.expires_at,
            disabled: r.disabled,
            permissions: r
                .permissions
                .iter()
                .map(|p| (p.namespace.clone(), p.access.clone()))
                .collect(),
            description: r.description.clone(),
            duration: r.duration,
        })
    }
}

/// What Harbor's `CreateSec` makes: 32 characters with an upper-case letter, a lower-case
/// letter and a digit (docs/harbor-api.md#creating-a-robot).
pub(crate) fn robot_secret() -> String {
    loop {
        let s = util::random_string(ALNUM, 32);
        let b = s.as_bytes();
        if b.iter().any(u8::is_ascii_uppercase)
            && b.iter().any(u8::is_ascii_lowercase)
            && b.iter().any(u8::is_ascii_digit)
        {
            return s;
        }
    }
}

/// `^[a-z0-9]+(?:[._-][a-z0-9]+)*$` (docs/harbor-api.md#creating-a-robot), without a regex engine.
pub(crate) fn valid_robot_name(name: &str) -> bool {
    !name.is_empty()
        && name.split(['.', '_', '-']).all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn robot_names_follow_harbors_pattern() {
        for ok in ["ci", "ci-1234-ab", "a.b_c-d", "0"] {
            assert!(valid_robot_name(ok), "{ok}");
        }
        for bad in ["", "CI", "a+b", "a$b", "-a", "a-", "a--b", "a b"] {
            assert!(!valid_robot_name(bad), "{bad}");
        }
    }
}
