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
use crate::kubernetes::{Qualified, ServiceAccountClaims};

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

/// One validated `[[kubernetes_rules]]` entry: pull on `harbor_project` for the service
/// accounts of `namespace` (only `service_account` when set).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KubernetesRule {
    pub namespace: String,
    pub service_account: Option<String>,
    pub harbor_project: String,
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
    /// `POST /v1/kubernetes/credentials`: the image's registry is not the broker's Harbor.
    #[error("image {image} is not on this broker's Harbor ({registry})")]
    OtherRegistry { image: String, registry: String },
    /// The image has no project segment (`<registry>/<repository>`), so no rule can name it.
    #[error(
        "image {image} names no Harbor project (Harbor's images are \
         <registry>/<project>/<repository>)"
    )]
    NoProject { image: String },
    #[error("no [[kubernetes_rules]] entry matches service account {service_account}")]
    NoKubernetesRule { service_account: String },
    #[error(
        "no [[kubernetes_rules]] entry grants service account {service_account} Harbor project \
         {harbor_project}"
    )]
    ProjectNotGranted {
        service_account: String,
        harbor_project: String,
    },
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

/// An image reference as the kubelet sends it, split as a container runtime does: the
/// registry is the first `/`-segment when it has a `.` or a `:` or is `localhost`, else
/// Docker Hub; the Harbor project is the segment after the registry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Image<'a> {
    /// `host[:port]` as [`registry_key`] writes it.
    pub registry: String,
    /// `None` when the image has no segment between the registry and the repository.
    pub project: Option<&'a str>,
}

impl<'a> Image<'a> {
    pub fn parse(image: &'a str) -> Image<'a> {
        let (first, rest) = match image.split_once('/') {
            Some((first, rest))
                if first.contains(['.', ':']) || first.eq_ignore_ascii_case("localhost") =>
            {
                (first, rest)
            }
            _ => ("docker.io", image),
        };
        // A project is followed by a repository: `<project>/<repository>[:tag][@digest]`.
        let project = rest.split_once('/').map(|(project, _)| project);
        Image {
            registry: registry_key(first),
            project,
        }
    }
}

/// A registry as the broker compares it: `host[:port]`, the host lower-cased, `:443` dropped.
pub fn registry_key(registry: &str) -> String {
    let lower = registry.to_ascii_lowercase();
    match lower.strip_suffix(":443") {
        Some(host) => host.to_owned(),
        None => lower,
    }
}

/// The decision for a verified service account asking to pull `image` from the broker's
/// Harbor at `registry` (a [`registry_key`]): the first rule that matches the namespace (and
/// the service account, when it names one) and names the image's project grants pull.
pub fn decide_kubernetes(
    rules: &[KubernetesRule],
    claims: &ServiceAccountClaims,
    image: &str,
    registry: &str,
) -> Result<Grant, Refusal> {
    let shown = || text::inline(image).into_owned();
    let parsed = Image::parse(image);
    if parsed.registry != registry {
        return Err(Refusal::OtherRegistry {
            image: shown(),
            registry: registry.to_owned(),
        });
    }
    let Some(project) = parsed.project else {
        return Err(Refusal::NoProject { image: shown() });
    };
    let service_account = || text::inline(&Qualified(claims).to_string()).into_owned();
    let mut matching = kubernetes_rules_of(rules, claims).peekable();
    if matching.peek().is_none() {
        return Err(Refusal::NoKubernetesRule {
            service_account: service_account(),
        });
    }
    match matching.find(|(_, rule)| rule.harbor_project == project) {
        Some((i, rule)) => Ok(Grant {
            harbor_project: rule.harbor_project.clone(),
            access: Access::Pull,
            rule: i + 1,
            table: Table::Kubernetes,
        }),
        None => Err(Refusal::ProjectNotGranted {
            service_account: service_account(),
            harbor_project: text::inline(project).into_owned(),
        }),
    }
}

/// The service account's grants beside `granted` (the image's, from [`decide_kubernetes`]):
/// pull on each other Harbor project a matching `[[kubernetes_rules]]` entry names, once, in
/// the file's order. The kubelet caches one answer per registry and service account, so that
/// answer must carry a robot for every project the service account's pods may pull from, not
/// only the first image's.
pub fn other_kubernetes_grants(
    rules: &[KubernetesRule],
    claims: &ServiceAccountClaims,
    granted: &Grant,
) -> Vec<Grant> {
    let mut others: Vec<Grant> = Vec::new();
    for (i, rule) in kubernetes_rules_of(rules, claims) {
        if rule.harbor_project != granted.harbor_project
            && others
                .iter()
                .all(|g| g.harbor_project != rule.harbor_project)
        {
            others.push(Grant {
                harbor_project: rule.harbor_project.clone(),
                access: Access::Pull,
                rule: i + 1,
                table: Table::Kubernetes,
            });
        }
    }
    others
}

/// The `[[kubernetes_rules]]` entries (with their index) for this service account: its
/// namespace, and its name or none.
fn kubernetes_rules_of<'a>(
    rules: &'a [KubernetesRule],
    claims: &'a ServiceAccountClaims,
) -> impl Iterator<Item = (usize, &'a KubernetesRule)> {
    rules.iter().enumerate().filter(|(_, rule)| {
        rule.namespace == claims.namespace()
            && rule
                .service_account
                .as_deref()
                .is_none_or(|sa| sa == claims.service_account())
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

    fn service_account(ns: &str, sa: &str) -> ServiceAccountClaims {
        serde_json::from_value(crate::test_keys::kubernetes_claims(
            "https://k",
            "a",
            ns,
            sa,
        ))
        .unwrap()
    }

    fn kube_rule(ns: &str, sa: Option<&str>, project: &str) -> KubernetesRule {
        KubernetesRule {
            namespace: ns.into(),
            service_account: sa.map(String::from),
            harbor_project: project.into(),
        }
    }

    const HARBOR: &str = "harbor.example.com";

    #[test]
    fn a_namespace_rule_grants_pull_on_its_project_to_every_service_account() {
        let rules = [
            kube_rule("other", None, "ci-images"),
            kube_rule("ci", None, "base"),
            kube_rule("ci", None, "ci-images"),
        ];
        for sa in ["builder", "default"] {
            let grant = decide_kubernetes(
                &rules,
                &service_account("ci", sa),
                "harbor.example.com/ci-images/app:1.0",
                HARBOR,
            )
            .unwrap();
            assert_eq!(
                grant,
                Grant {
                    harbor_project: "ci-images".into(),
                    access: Access::Pull,
                    rule: 3,
                    table: Table::Kubernetes,
                }
            );
        }
    }

    #[test]
    fn the_other_grants_are_each_other_project_of_the_service_account_once() {
        let rules = [
            kube_rule("ci", None, "base"),
            kube_rule("other", None, "secret"),
            kube_rule("ci", Some("builder"), "ci-images"),
            kube_rule("ci", Some("deployer"), "releases"),
            kube_rule("ci", Some("builder"), "base"),
            kube_rule("ci", None, "tools"),
        ];
        let claims = service_account("ci", "builder");
        let grant =
            decide_kubernetes(&rules, &claims, "harbor.example.com/ci-images/app", HARBOR).unwrap();
        let others = other_kubernetes_grants(&rules, &claims, &grant);
        let named: Vec<(&str, usize)> = others
            .iter()
            .map(|g| (g.harbor_project.as_str(), g.rule))
            .collect();
        assert_eq!(named, [("base", 1), ("tools", 6)]);
        assert!(
            others
                .iter()
                .all(|g| g.access == Access::Pull && g.table == Table::Kubernetes)
        );
        let alone = [kube_rule("ci", None, "base")];
        let grant =
            decide_kubernetes(&alone, &claims, "harbor.example.com/base/x", HARBOR).unwrap();
        assert!(other_kubernetes_grants(&alone, &claims, &grant).is_empty());
    }

    #[test]
    fn a_service_account_rule_matches_that_service_account_only() {
        let rules = [kube_rule("ci", Some("builder"), "ci-images")];
        let image = "harbor.example.com/ci-images/app";
        let grant =
            decide_kubernetes(&rules, &service_account("ci", "builder"), image, HARBOR).unwrap();
        assert_eq!(grant.rule, 1);
        let err = decide_kubernetes(&rules, &service_account("ci", "default"), image, HARBOR)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "no [[kubernetes_rules]] entry matches service account ci/default"
        );
    }

    #[test]
    fn another_namespace_is_refused() {
        let rules = [kube_rule("ci", None, "ci-images")];
        let err = decide_kubernetes(
            &rules,
            &service_account("prod", "builder"),
            "harbor.example.com/ci-images/app",
            HARBOR,
        )
        .unwrap_err();
        assert!(matches!(err, Refusal::NoKubernetesRule { .. }), "{err}");
        assert!(err.to_string().contains("prod/builder"), "{err}");
    }

    #[test]
    fn an_ungranted_project_or_another_registry_is_refused() {
        let rules = [kube_rule("ci", None, "ci-images")];
        let claims = service_account("ci", "builder");
        let err = decide_kubernetes(&rules, &claims, "harbor.example.com/secret/app", HARBOR)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "no [[kubernetes_rules]] entry grants service account ci/builder Harbor project secret"
        );
        for image in [
            "ci-images/app",
            "docker.io/ci-images/app",
            "harbor.example.com:5000/ci-images/app",
            "evil.example/ci-images/app",
            "harbor.example.com.evil/ci-images/app",
        ] {
            let err = decide_kubernetes(&rules, &claims, image, HARBOR).unwrap_err();
            assert!(
                matches!(err, Refusal::OtherRegistry { .. }),
                "{image}: {err}"
            );
            assert!(err.to_string().contains("(harbor.example.com)"), "{err}");
        }
    }

    #[test]
    fn image_forms_are_split_as_a_runtime_does() {
        let cases: [(&str, &str, Option<&str>); 11] = [
            ("harbor.example.com/p/app", "harbor.example.com", Some("p")),
            (
                "harbor.example.com/p/app:1.0",
                "harbor.example.com",
                Some("p"),
            ),
            (
                "HARBOR.example.com:443/p/a/b@sha256:ab",
                "harbor.example.com",
                Some("p"),
            ),
            (
                "harbor.example.com:8443/p/app:v",
                "harbor.example.com:8443",
                Some("p"),
            ),
            ("localhost:5000/p/x", "localhost:5000", Some("p")),
            ("localhost/p/x", "localhost", Some("p")),
            ("harbor.example.com/app:1.0", "harbor.example.com", None),
            (
                "harbor.example.com/app@sha256:ab",
                "harbor.example.com",
                None,
            ),
            ("nginx", "docker.io", None),
            ("library/nginx:1", "docker.io", Some("library")),
            ("", "docker.io", None),
        ];
        for (image, registry, project) in cases {
            let parsed = Image::parse(image);
            assert_eq!(parsed.registry, registry, "{image}");
            assert_eq!(parsed.project, project, "{image}");
        }
    }

    #[test]
    fn an_image_with_no_project_on_the_broker_s_harbor_is_refused() {
        let rules = [kube_rule("ci", None, "app")];
        let err = decide_kubernetes(
            &rules,
            &service_account("ci", "builder"),
            "harbor.example.com/app:1.0",
            HARBOR,
        )
        .unwrap_err();
        assert!(matches!(err, Refusal::NoProject { .. }), "{err}");
        let port = [kube_rule("ci", None, "p")];
        let grant = decide_kubernetes(
            &port,
            &service_account("ci", "builder"),
            "harbor.example.com:8443/p/x@sha256:ab",
            "harbor.example.com:8443",
        )
        .unwrap();
        assert_eq!(grant.harbor_project, "p");
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
