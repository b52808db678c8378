//! Whether the account is a robot, as Harbor says it (docs/harbor.md#doctor):
//! `GET /api/v2.0/users/current` answers 200 for a user and 412 for a robot (Harbor 2.3+),
//! whatever `robot_name_prefix` is, so nothing here assumes `robot$`.
//!
//! Harbor 2.0–2.2 answer a robot with 500, which a real failure also gives, and a 401 after the
//! credentials were accepted elsewhere is an OIDC CLI secret (the path is not on its allow-list).
//! Then the name decides, and the result says it is a guess ([`Kind::Guessed`]), so the output can
//! say so: a leading `robot$` (the default prefix, and the only one before 2.2) or one `+` followed
//! by a robot name (every project robot's login is `<prefix><project>+<name>`, and `+` is illegal
//! in other names). [`of`] is the one rule every caller asks: one request at most, asked only by
//! the callers that need the answer; never on `get`'s path.

use crate::{HarborClient, HarborError, is_project_name};

/// What the account is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Harbor answered 200: a local, LDAP, UAA or OIDC user.
    User,
    /// Harbor answered 412: a robot account, under any prefix.
    Robot,
    /// Harbor's answer (`status`) does not tell; `robot` is what the name suggests.
    Guessed { robot: bool, status: u16 },
}

impl Kind {
    pub fn is_robot(self) -> bool {
        matches!(self, Kind::Robot | Kind::Guessed { robot: true, .. })
    }

    /// For a message: ` (a robot by its name; Harbor …)` when the name decided, else nothing.
    pub fn guess_note(self) -> &'static str {
        match self {
            Kind::Guessed {
                robot: true,
                status: 500,
            } => " (a robot by its name, a heuristic: Harbor before 2.3 does not say)",
            Kind::Guessed { robot: true, .. } => {
                " (a robot by its name, a heuristic: Harbor did not say)"
            }
            _ => "",
        }
    }
}

/// What the client's account is, the one rule (docs/harbor.md#doctor): a name that cannot be
/// a robot's under any prefix ([`may_be_robot`]) is a user, and Harbor is not asked, so a
/// user costs no request; otherwise Harbor's answer ([`kind`]), and when the request leaves no
/// answer at all, the name ([`looks_like_robot`]).
pub fn of(client: &HarborClient) -> Kind {
    let user = client.user();
    if !may_be_robot(user) {
        return Kind::User;
    }
    kind(client).unwrap_or(Kind::Guessed {
        robot: looks_like_robot(user),
        status: 0,
    })
}

/// Asks Harbor what the client's account is (one `GET /api/v2.0/users/current`), whatever its
/// name; a 401 (credentials not taken) is `Guessed { status: 401, .. }`. Only a failure that
/// leaves no answer at all (network, timeout, a proxy's page) is an error. harbor-broker's
/// readiness asks this directly: a user answers 200 and a robot 412, both proving the account.
pub fn kind(client: &HarborClient) -> Result<Kind, HarborError> {
    let guessed = |status| Kind::Guessed {
        robot: looks_like_robot(client.user()),
        status,
    };
    match client.get("/api/v2.0/users/current", true) {
        Ok(reply) if reply.status == 200 => Ok(Kind::User),
        Ok(reply) if reply.status == 412 => Ok(Kind::Robot),
        Ok(reply) => Ok(guessed(reply.status)),
        // Harbor's own JSON 500: what 2.0–2.2 answer a robot.
        Err(HarborError::Server {
            status: 500,
            proxy_page: false,
            ..
        }) => Ok(guessed(500)),
        Err(e) => Err(e),
    }
}

/// Whether a name may be a robot's login under some prefix, so that asking Harbor can
/// change anything: a project robot's login always has a `+`, the default prefix a `$`. A
/// name with neither is a user or a system robot under a custom prefix, and a system robot's
/// expiry is not in its project's robot list anyway.
fn may_be_robot(name: &str) -> bool {
    name.contains('+') || name.contains('$')
}

/// The heuristic, for when Harbor does not say: the default prefix `robot$`, or exactly one
/// `+` with a project-like name before it and a robot name after it.
fn looks_like_robot(name: &str) -> bool {
    if name.starts_with("robot$") {
        return true;
    }
    match name.split_once('+') {
        Some((before, after)) => {
            !after.contains('+')
                && is_project_name(after)
                && before
                    .bytes()
                    .last()
                    .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_heuristic_reads_any_prefix_and_spares_user_names() {
        for robot in [
            "robot$proj+ci",
            "robot$ci",
            "svc-proj+ci",
            "svc-proj+ci-job-4242-0a1b2c3d",
            "bot.proj+x",
        ] {
            assert!(looks_like_robot(robot), "{robot}");
            assert!(may_be_robot(robot), "{robot}");
        }
        for user in [
            "alice",
            "ops$team",
            "a+b@example.com",
            "proj+",
            "+ci",
            "a+b+c",
            "Proj+CI",
            "svc-",
        ] {
            assert!(!looks_like_robot(user), "{user}");
        }
        assert!(!may_be_robot("alice") && !may_be_robot("svc-deployer"));
        assert!(may_be_robot("ops$team"));
    }

    #[test]
    fn only_a_guess_says_it_is_one() {
        assert!(Kind::Robot.is_robot() && !Kind::User.is_robot());
        assert_eq!(Kind::Robot.guess_note(), "");
        let old = Kind::Guessed {
            robot: true,
            status: 500,
        };
        assert!(old.is_robot() && old.guess_note().contains("before 2.3"));
        let user = Kind::Guessed {
            robot: false,
            status: 401,
        };
        assert!(!user.is_robot() && user.guess_note().is_empty());
    }
}
