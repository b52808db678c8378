//! Which Harbor project, and which access, a verified job gets: default deny, a grant only
//! from a `[[rules]]` entry that names the job's project or namespace by GitLab's numeric ID
//! (paths can be renamed and reclaimed; a `project_path` glob is only an extra condition).
//!
//! The running project is the token's `job_project_id` (and `job_namespace_id`,
//! `job_project_path`) when it carries them, so a merge request from a fork is judged as the
//! parent project's job, where it runs; else `project_id`.
//!
//! Several matching rules: the most specific one decides alone. A `project_id` rule beats a
//! `namespace_id` rule; among equals, the first in the file. No union: rules may name
//! different Harbor projects, and a broad namespace rule must not widen a project rule
//! that grants less. Push needs `ref_protected == "true"` unless that rule says
//! `push_on_unprotected_refs = true`. Never grants more than was asked for.

use std::fmt;

use docker_credential_harbor_core::text;

use harbor_client::broker::Access;

use crate::claims::{Claims, Id, RefProtected};

/// Whom a rule is for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selector {
    Project(Id),
    /// Direct projects of the namespace only: GitLab's `namespace_id` is the project's own
    /// group, not its parents.
    Namespace(Id),
}

/// One validated `[[rules]]` entry.
#[derive(Clone, Debug)]
pub struct Rule {
    pub selector: Selector,
    pub project_path: Option<Glob>,
    pub harbor_project: String,
    /// The most the rule grants.
    pub access: Access,
    pub push_on_unprotected_refs: bool,
}

/// Which table of the config a rule is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Table {
    /// `[[rules]]`: GitLab jobs.
    Gitlab,
    /// `[[kubernetes_rules]]`: Kubernetes service accounts.
    Kubernetes,
}

impl Table {
    /// The table's name as the config file writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Table::Gitlab => "[[rules]]",
            Table::Kubernetes => "[[kubernetes_rules]]",
        }
    }
}

/// A grant: the Harbor project and the access the robot gets, and the rule that gave it
/// (its table and 1-based position in the file, for the audit line and for a message that
/// names the key to fix).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    pub harbor_project: String,
    pub access: Access,
    pub rule: usize,
    pub table: Table,
}

/// Why a job was refused: the 403's body and the audit line's reason.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error(
        "no [[rules]] entry matches project {project_id} ({project_path}) or namespace \
         {namespace_id}"
    )]
    NoRule {
        project_id: String,
        project_path: String,
        namespace_id: String,
    },
    #[error(
        "rule {rule} grants only pull on Harbor project {harbor_project}, and push was asked for"
    )]
    PushNotGranted { rule: usize, harbor_project: String },
    #[error(
        "push needs a protected ref, and {git_ref} is not protected (rule {rule} does not set \
         push_on_unprotected_refs)"
    )]
    UnprotectedRef { rule: usize, git_ref: String },
}

/// The rule that decides for `claims`, if any, with its 1-based position.
fn deciding_rule<'r>(rules: &'r [Rule], claims: &Claims) -> Option<(usize, &'r Rule)> {
    let project = claims.running_project_id();
    let namespace = claims.running_namespace_id();
    let path = claims.running_project_path();
    let matches = |rule: &Rule, by_project: bool| {
        let id_matches = match &rule.selector {
            Selector::Project(id) => by_project && id == project,
            Selector::Namespace(id) => !by_project && id == namespace,
        };
        id_matches && rule.project_path.as_ref().is_none_or(|g| g.matches(path))
    };
    [true, false].into_iter().find_map(|by_project| {
        rules
            .iter()
            .enumerate()
            .find(|(_, rule)| matches(rule, by_project))
            .map(|(i, rule)| (i + 1, rule))
    })
}

/// The decision for a verified job asking for `asked`.
pub fn decide(rules: &[Rule], claims: &Claims, asked: Access) -> Result<Grant, Refusal> {
    let Some((position, rule)) = deciding_rule(rules, claims) else {
        return Err(Refusal::NoRule {
            project_id: claims.running_project_id().to_string(),
            project_path: text::inline(claims.running_project_path()).into_owned(),
            namespace_id: claims.running_namespace_id().to_string(),
        });
    };
    if asked == Access::Push {
        if rule.access < Access::Push {
            return Err(Refusal::PushNotGranted {
                rule: position,
                harbor_project: rule.harbor_project.clone(),
            });
        }
        if claims.ref_protected != RefProtected::True && !rule.push_on_unprotected_refs {
            return Err(Refusal::UnprotectedRef {
                rule: position,
                git_ref: text::inline(&claims.git_ref).into_owned(),
            });
        }
    }
    Ok(Grant {
        harbor_project: rule.harbor_project.clone(),
        access: asked,
        rule: position,
        table: Table::Gitlab,
    })
}

/// A `project_path` pattern: `*` matches within one path segment (no `/`), `**` matches
/// across segments (any characters), everything else matches itself, case-sensitively
/// (GitLab's paths are case-insensitive for lookup, but its tokens carry one spelling).
#[derive(Clone, PartialEq, Eq)]
pub struct Glob(String);

impl fmt::Debug for Glob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Glob({})", self.0)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Token {
    Char(char),
    Star,
    DoubleStar,
}

impl Glob {
    pub fn new(pattern: &str) -> Glob {
        Glob(pattern.to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn tokens(&self) -> Vec<Token> {
        let mut out = Vec::new();
        let mut chars = self.0.chars().peekable();
        while let Some(c) = chars.next() {
            if c != '*' {
                out.push(Token::Char(c));
            } else if chars.peek() == Some(&'*') {
                while chars.peek() == Some(&'*') {
                    chars.next();
                }
                out.push(Token::DoubleStar);
            } else {
                out.push(Token::Star);
            }
        }
        out
    }

    /// Whether `path` matches. Linear in pattern × path (a table, no backtracking), so no
    /// pattern can make a request slow.
    pub fn matches(&self, path: &str) -> bool {
        let pattern = self.tokens();
        let text: Vec<char> = path.chars().collect();
        // row[j]: the pattern so far matches text[..j].
        let mut row = vec![false; text.len() + 1];
        row[0] = true;
        for token in pattern {
            let mut next = vec![false; text.len() + 1];
            for j in 0..=text.len() {
                next[j] = match token {
                    Token::Char(c) => j > 0 && row[j - 1] && text[j - 1] == c,
                    Token::Star => row[j] || (j > 0 && next[j - 1] && text[j - 1] != '/'),
                    Token::DoubleStar => row[j] || (j > 0 && next[j - 1]),
                };
            }
            row = next;
        }
        row[text.len()]
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn claims(f: impl FnOnce(&mut Value)) -> Claims {
        let mut c = crate::claims::tests::gitlab_claims();
        f(&mut c);
        serde_json::from_value(c).unwrap()
    }

    fn id(s: &str) -> Id {
        Id::parse(s).unwrap()
    }

    fn rule(selector: Selector, harbor_project: &str, access: Access) -> Rule {
        Rule {
            selector,
            project_path: None,
            harbor_project: harbor_project.into(),
            access,
            push_on_unprotected_refs: false,
        }
    }

    #[test]
    fn no_rule_means_no_grant() {
        let claims = claims(|_| {});
        assert!(matches!(
            decide(&[], &claims, Access::Pull),
            Err(Refusal::NoRule { .. })
        ));
        let others = [
            rule(Selector::Project(id("4")), "x", Access::Push),
            rule(Selector::Namespace(id("42")), "x", Access::Push),
        ];
        let err = decide(&others, &claims, Access::Pull).unwrap_err();
        assert!(matches!(err, Refusal::NoRule { .. }), "{err}");
        assert!(err.to_string().contains("project 42 (team/app)"), "{err}");
    }

    #[test]
    fn a_project_rule_grants_what_is_asked_up_to_its_access() {
        let rules = [rule(Selector::Project(id("42")), "team-app", Access::Push)];
        let claims = claims(|_| {});
        for asked in [Access::Pull, Access::Push] {
            let grant = decide(&rules, &claims, asked).unwrap();
            assert_eq!(
                grant,
                Grant {
                    harbor_project: "team-app".into(),
                    access: asked,
                    rule: 1,
                    table: Table::Gitlab,
                }
            );
        }
        let pull_only = [rule(Selector::Project(id("42")), "team-app", Access::Pull)];
        let err = decide(&pull_only, &claims, Access::Push).unwrap_err();
        assert!(
            matches!(err, Refusal::PushNotGranted { rule: 1, .. }),
            "{err}"
        );
    }

    #[test]
    fn push_needs_a_protected_ref_unless_the_rule_allows_unprotected() {
        let unprotected = claims(|c| {
            c["ref_protected"] = json!("false");
            c["ref"] = json!("feature/x");
        });
        let mut rules = vec![rule(Selector::Namespace(id("7")), "team", Access::Push)];
        let err = decide(&rules, &unprotected, Access::Push).unwrap_err();
        assert_eq!(
            err,
            Refusal::UnprotectedRef {
                rule: 1,
                git_ref: "feature/x".into()
            }
        );
        assert_eq!(
            decide(&rules, &unprotected, Access::Pull).unwrap().access,
            Access::Pull
        );
        rules[0].push_on_unprotected_refs = true;
        assert_eq!(
            decide(&rules, &unprotected, Access::Push).unwrap().access,
            Access::Push
        );
    }

    #[test]
    fn a_fork_merge_request_is_judged_as_the_project_that_runs_it() {
        // The fork (project 666 in namespace 66) asks; the job runs in the parent, 42 in 7.
        let fork_mr = claims(|c| {
            c["project_id"] = json!("666");
            c["project_path"] = json!("mallory/app");
            c["namespace_id"] = json!("66");
            c["job_project_id"] = json!("42");
            c["job_project_path"] = json!("team/app");
            c["job_namespace_id"] = json!("7");
            c["ref_protected"] = json!("false");
        });
        let for_fork = [rule(Selector::Project(id("666")), "mallory", Access::Push)];
        assert!(matches!(
            decide(&for_fork, &fork_mr, Access::Pull),
            Err(Refusal::NoRule { .. })
        ));
        let for_fork_ns = [rule(Selector::Namespace(id("66")), "mallory", Access::Push)];
        assert!(decide(&for_fork_ns, &fork_mr, Access::Pull).is_err());
        let parent = [rule(Selector::Project(id("42")), "team-app", Access::Push)];
        assert_eq!(
            decide(&parent, &fork_mr, Access::Pull)
                .unwrap()
                .harbor_project,
            "team-app"
        );
        // ... and a fork's merge request ref is never protected in the parent.
        assert!(matches!(
            decide(&parent, &fork_mr, Access::Push),
            Err(Refusal::UnprotectedRef { .. })
        ));
    }

    #[test]
    fn the_project_rule_decides_over_a_namespace_rule_and_first_wins_among_equals() {
        let rules = [
            rule(Selector::Namespace(id("7")), "team", Access::Push),
            rule(Selector::Project(id("42")), "app-only", Access::Pull),
            rule(Selector::Project(id("42")), "shadowed", Access::Push),
        ];
        let claims = claims(|_| {});
        let grant = decide(&rules, &claims, Access::Pull).unwrap();
        assert_eq!((grant.harbor_project.as_str(), grant.rule), ("app-only", 2));
        // No union: the namespace rule's push does not widen the project rule.
        assert!(matches!(
            decide(&rules, &claims, Access::Push),
            Err(Refusal::PushNotGranted { rule: 2, .. })
        ));
    }

    #[test]
    fn project_path_is_an_extra_condition() {
        let mut narrowed = rule(Selector::Namespace(id("7")), "team", Access::Pull);
        narrowed.project_path = Some(Glob::new("team/lib-*"));
        let claims = claims(|_| {});
        assert!(decide(std::slice::from_ref(&narrowed), &claims, Access::Pull).is_err());
        narrowed.project_path = Some(Glob::new("team/*"));
        assert!(decide(&[narrowed], &claims, Access::Pull).is_ok());
    }

    #[test]
    fn globs_match_segments_with_one_star_and_anything_with_two() {
        let cases = [
            ("team/app", "team/app", true),
            ("team/*", "team/app", true),
            ("team/*", "team/sub/app", false),
            ("team/**", "team/sub/app", true),
            ("team/**/app", "team/a/b/app", true),
            ("*-svc", "x-svc", true),
            ("team/app", "team/app2", false),
            ("team/App", "team/app", false),
            ("*", "", true),
            ("a*b*c", "a/b/c", false),
        ];
        for (pattern, path, expected) in cases {
            assert_eq!(
                Glob::new(pattern).matches(path),
                expected,
                "{pattern} vs {path}"
            );
        }
        // No backtracking blow-up.
        let many = "*a".repeat(100);
        assert!(!Glob::new(&many).matches(&"a".repeat(99)));
    }
}
