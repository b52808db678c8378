//! Harbor's permission tables, copied from Harbor's source (docs/harbor-api.md#roles):
//! `src/common/rbac/project/rbac_role.go` (role policies, helm entries left out because
//! chartmuseum is gone), `rbac_util.go` (public-project policies) and `src/common/rbac/const.go`
//! (`PoliciesMap[Project]` plus `NolimitProvider`'s extras: what a project robot may be given).
//! A policy is `(resource, action)` relative to `/project/<id>`; `""` is the project itself.
//! Only data here: the rules that use it live in `model`.

use crate::Role;

pub(crate) type Policy = (&'static str, &'static str);

#[rustfmt::skip]
const PROJECT_ADMIN: &[Policy] = &[
    ("", "read"), ("", "update"), ("", "delete"),
    ("member", "create"), ("member", "read"), ("member", "update"), ("member", "delete"), ("member", "list"),
    ("metadata", "create"), ("metadata", "read"), ("metadata", "update"), ("metadata", "delete"), ("metadata", "list"),
    ("log", "list"),
    ("label", "create"), ("label", "read"), ("label", "update"), ("label", "delete"), ("label", "list"),
    ("quota", "read"),
    ("repository", "create"), ("repository", "read"), ("repository", "update"), ("repository", "delete"),
    ("repository", "list"), ("repository", "pull"), ("repository", "push"),
    ("tag-retention", "create"), ("tag-retention", "read"), ("tag-retention", "update"),
    ("tag-retention", "delete"), ("tag-retention", "list"), ("tag-retention", "operate"),
    ("immutable-tag", "create"), ("immutable-tag", "update"), ("immutable-tag", "delete"), ("immutable-tag", "list"),
    ("configuration", "read"), ("configuration", "update"),
    ("robot", "create"), ("robot", "read"), ("robot", "update"), ("robot", "delete"), ("robot", "list"),
    ("notification-policy", "create"), ("notification-policy", "update"), ("notification-policy", "delete"),
    ("notification-policy", "list"), ("notification-policy", "read"),
    ("scan", "create"), ("scan", "read"), ("scan", "stop"),
    ("sbom", "create"), ("sbom", "stop"), ("sbom", "read"),
    ("scanner", "read"), ("scanner", "create"),
    ("artifact", "create"), ("artifact", "read"), ("artifact", "delete"), ("artifact", "list"),
    ("artifact-addition", "read"),
    ("tag", "list"), ("tag", "create"), ("tag", "delete"),
    ("accessory", "list"),
    ("artifact-label", "create"), ("artifact-label", "delete"),
    ("preheat-policy", "create"), ("preheat-policy", "read"), ("preheat-policy", "update"),
    ("preheat-policy", "delete"), ("preheat-policy", "list"),
    ("export-cve", "create"), ("export-cve", "read"), ("export-cve", "list"),
];

#[rustfmt::skip]
const MAINTAINER: &[Policy] = &[
    ("", "read"),
    ("member", "read"), ("member", "list"),
    ("metadata", "read"),
    ("quota", "read"),
    ("label", "create"), ("label", "read"), ("label", "update"), ("label", "delete"), ("label", "list"),
    ("repository", "create"), ("repository", "read"), ("repository", "update"), ("repository", "delete"),
    ("repository", "list"), ("repository", "push"), ("repository", "pull"),
    ("tag-retention", "create"), ("tag-retention", "read"), ("tag-retention", "update"),
    ("tag-retention", "delete"), ("tag-retention", "list"), ("tag-retention", "operate"),
    ("accessory", "list"),
    ("immutable-tag", "create"), ("immutable-tag", "update"), ("immutable-tag", "delete"), ("immutable-tag", "list"),
    ("configuration", "read"),
    ("robot", "read"), ("robot", "list"),
    ("notification-policy", "read"), ("notification-policy", "list"),
    ("scan", "create"), ("scan", "read"), ("scan", "stop"),
    ("sbom", "create"), ("sbom", "stop"), ("sbom", "read"),
    ("scanner", "read"),
    ("artifact", "create"), ("artifact", "read"), ("artifact", "delete"), ("artifact", "list"),
    ("artifact-addition", "read"),
    ("tag", "list"), ("tag", "create"), ("tag", "delete"),
    ("artifact-label", "create"), ("artifact-label", "delete"),
    ("export-cve", "create"), ("export-cve", "read"), ("export-cve", "list"),
];

#[rustfmt::skip]
const DEVELOPER: &[Policy] = &[
    ("", "read"),
    ("member", "read"), ("member", "list"),
    ("label", "read"), ("label", "list"),
    ("quota", "read"),
    ("repository", "create"), ("repository", "read"), ("repository", "update"), ("repository", "list"),
    ("repository", "push"), ("repository", "pull"),
    ("tag-retention", "create"), ("tag-retention", "read"), ("tag-retention", "update"),
    ("tag-retention", "delete"), ("tag-retention", "list"), ("tag-retention", "operate"),
    ("configuration", "read"),
    ("robot", "read"), ("robot", "list"),
    ("scan", "read"), ("sbom", "read"),
    ("scanner", "read"),
    ("artifact", "create"), ("artifact", "read"), ("artifact", "list"),
    ("artifact-addition", "read"),
    ("tag", "list"), ("tag", "create"),
    ("accessory", "list"),
    ("artifact-label", "create"), ("artifact-label", "delete"),
    ("export-cve", "create"), ("export-cve", "read"), ("export-cve", "list"),
];

#[rustfmt::skip]
const GUEST: &[Policy] = &[
    ("", "read"),
    ("member", "read"), ("member", "list"),
    ("label", "read"), ("label", "list"),
    ("quota", "read"),
    ("repository", "read"), ("repository", "list"), ("repository", "pull"),
    ("configuration", "read"),
    ("robot", "read"), ("robot", "list"),
    ("scan", "read"), ("sbom", "read"),
    ("scanner", "read"),
    ("tag", "list"), ("accessory", "list"),
    ("artifact", "read"), ("artifact", "list"), ("artifact-addition", "read"),
];

#[rustfmt::skip]
const LIMITED_GUEST: &[Policy] = &[
    ("", "read"),
    ("quota", "read"),
    ("repository", "list"), ("repository", "read"), ("repository", "pull"),
    ("configuration", "read"),
    ("scan", "read"), ("sbom", "read"),
    ("scanner", "read"),
    ("tag", "list"), ("accessory", "list"),
    ("artifact", "read"), ("artifact", "list"), ("artifact-addition", "read"),
];

/// What everyone, anonymous callers included, may do in a public project (`rbac_util.go`).
#[rustfmt::skip]
pub(crate) const PUBLIC_PROJECT: &[Policy] = &[
    ("", "read"),
    ("label", "read"), ("label", "list"),
    ("repository", "list"), ("repository", "pull"),
    ("scan", "read"), ("scanner", "read"),
    ("tag", "list"),
    ("artifact", "read"), ("artifact", "list"), ("artifact-addition", "read"),
    ("accessory", "list"),
];

/// The access items a project robot may be created with (anything else is a 400 from 2.10:
/// docs/harbor-api.md#creating-a-robot).
/// Here `project` is the resource name robots use for the project itself.
#[rustfmt::skip]
pub(crate) const ROBOT_PROJECT_POLICIES: &[Policy] = &[
    ("log", "list"),
    ("project", "read"), ("project", "delete"), ("project", "update"),
    ("metadata", "read"), ("metadata", "create"), ("metadata", "delete"), ("metadata", "list"), ("metadata", "update"),
    ("repository", "read"), ("repository", "update"), ("repository", "delete"), ("repository", "list"),
    ("repository", "pull"), ("repository", "push"),
    ("artifact", "read"), ("artifact", "create"), ("artifact", "list"), ("artifact", "delete"),
    ("scan", "create"), ("scan", "read"), ("scan", "stop"),
    ("sbom", "create"), ("sbom", "stop"), ("sbom", "read"),
    ("tag", "create"), ("tag", "list"), ("tag", "delete"),
    ("accessory", "list"),
    ("artifact-addition", "read"),
    ("artifact-label", "create"), ("artifact-label", "delete"),
    ("scanner", "create"), ("scanner", "read"),
    ("preheat-policy", "read"), ("preheat-policy", "create"), ("preheat-policy", "delete"),
    ("preheat-policy", "list"), ("preheat-policy", "update"),
    ("immutable-tag", "create"), ("immutable-tag", "delete"), ("immutable-tag", "list"), ("immutable-tag", "update"),
    ("notification-policy", "read"), ("notification-policy", "create"), ("notification-policy", "delete"),
    ("notification-policy", "list"), ("notification-policy", "update"),
    ("tag-retention", "read"), ("tag-retention", "create"), ("tag-retention", "delete"),
    ("tag-retention", "list"), ("tag-retention", "update"),
    ("label", "read"), ("label", "create"), ("label", "delete"), ("label", "list"), ("label", "update"),
    ("quota", "read"),
    ("robot", "create"), ("robot", "read"), ("robot", "list"), ("robot", "delete"),
    ("export-cve", "create"), ("export-cve", "read"),
    ("member", "create"), ("member", "read"), ("member", "update"), ("member", "list"), ("member", "delete"),
];

pub(crate) fn role_policies(role: Role) -> &'static [Policy] {
    match role {
        Role::ProjectAdmin => PROJECT_ADMIN,
        Role::Maintainer => MAINTAINER,
        Role::Developer => DEVELOPER,
        Role::Guest => GUEST,
        Role::LimitedGuest => LIMITED_GUEST,
    }
}

/// Every policy that exists on a project (`GetPoliciesOfProject`): the union of the role
/// tables, in table order. `/users/current/permissions` filters this list by what the caller can.
pub(crate) fn all_project_policies() -> Vec<Policy> {
    let mut out: Vec<Policy> = Vec::new();
    for table in [PROJECT_ADMIN, MAINTAINER, DEVELOPER, GUEST, LIMITED_GUEST] {
        for p in table {
            if !out.contains(p) {
                out.push(*p);
            }
        }
    }
    out
}

impl Role {
    /// Harbor's role id (`src/common/const.go`).
    pub(crate) fn id(self) -> i64 {
        match self {
            Role::ProjectAdmin => 1,
            Role::Developer => 2,
            Role::Guest => 3,
            Role::Maintainer => 4,
            Role::LimitedGuest => 5,
        }
    }
}

/// The access items a system robot's `kind: system` permission may hold
/// (`PoliciesMap[System]` plus `NolimitProvider`'s extras).
#[rustfmt::skip]
pub(crate) const ROBOT_SYSTEM_POLICIES: &[Policy] = &[
    ("audit-log", "list"),
    ("preheat-instance", "read"), ("preheat-instance", "create"), ("preheat-instance", "delete"),
    ("preheat-instance", "list"), ("preheat-instance", "update"),
    ("project", "list"), ("project", "create"),
    ("replication-policy", "read"), ("replication-policy", "create"), ("replication-policy", "delete"),
    ("replication-policy", "list"), ("replication-policy", "update"),
    ("replication", "read"), ("replication", "create"), ("replication", "list"),
    ("replication-adapter", "list"),
    ("registry", "read"), ("registry", "create"), ("registry", "delete"), ("registry", "list"), ("registry", "update"),
    ("scan-all", "read"), ("scan-all", "update"), ("scan-all", "stop"), ("scan-all", "create"),
    ("system-volumes", "read"), ("system-quota", "read"),
    ("garbage-collection", "read"), ("garbage-collection", "create"), ("garbage-collection", "list"),
    ("garbage-collection", "update"), ("garbage-collection", "stop"),
    ("purge-audit", "read"), ("purge-audit", "create"), ("purge-audit", "list"), ("purge-audit", "update"),
    ("purge-audit", "stop"),
    ("jobservice-monitor", "list"), ("jobservice-monitor", "stop"),
    ("scanner", "read"), ("scanner", "create"), ("scanner", "delete"), ("scanner", "list"), ("scanner", "update"),
    ("label", "read"), ("label", "create"), ("label", "delete"), ("label", "update"),
    ("security-hub", "read"), ("security-hub", "list"),
    ("catalog", "read"),
    ("quota", "read"), ("quota", "list"), ("quota", "update"),
    ("robot", "create"), ("robot", "read"), ("robot", "list"), ("robot", "delete"),
    ("user", "create"), ("user", "read"), ("user", "update"), ("user", "list"), ("user", "delete"),
    ("ldap-user", "create"), ("ldap-user", "list"),
    ("user-group", "create"), ("user-group", "read"), ("user-group", "update"), ("user-group", "list"),
    ("user-group", "delete"),
];
