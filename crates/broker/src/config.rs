//! The broker's TOML config (`harbor-broker --config FILE`), with exactly the names its contract
//! fixes (other tools and checks rely on them), parsed strictly (an unknown key is an error, so a
//! typo never becomes a default) and validated into [`Config`], whose rules the policy reads. It
//! never reads the Harbor password: only its path; [`read_password`] reads that file when the
//! broker needs it.
//!
//! Bounds chosen here (docs later, from these constants): `ttl_seconds` from [`MIN_TTL`] (a
//! short job's pre-build to post-build) to [`MAX_TTL`] (Harbor's shortest robot `duration`,
//! one day: a robot never outlives Harbor's own expiry); `sweep_interval_seconds` from
//! [`MIN_SWEEP`] to [`MAX_SWEEP`] and at most `ttl_seconds`. URLs must be `https://`: the
//! broker sends Harbor a password and trusts GitLab's keys. Every error names the key (and
//! the `[[rules]]` entry, counted from 1), says what is wrong and what to write instead.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use docker_credential_harbor_core::atomic_file::{self, Links};
use docker_credential_harbor_core::problem::Problem;
use docker_credential_harbor_core::text;
use secrecy::SecretString;
use serde::Deserialize;

use crate::claims::Id;
use harbor_client::broker::Access;

use crate::kubernetes;
use crate::policy::{Glob, KubernetesRule, Rule, Selector};

pub const MIN_TTL: u64 = 300;
pub const MAX_TTL: u64 = 24 * 60 * 60;
pub const MIN_SWEEP: u64 = 10;
pub const MAX_SWEEP: u64 = 60 * 60;
/// A config larger than this is refused unread.
pub const MAX_CONFIG_BYTES: u64 = 1024 * 1024;
/// A password file larger than this is refused unread.
pub const MAX_PASSWORD_BYTES: u64 = 4096;

/// The file as written: every table and key of the contract, nothing else.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    listen: String,
    tls: Option<Tls>,
    gitlab: Option<RawIssuer>,
    harbor: RawHarbor,
    robots: Robots,
    #[serde(default)]
    rules: Vec<RawRule>,
    kubernetes: Option<RawIssuer>,
    #[serde(default)]
    kubernetes_rules: Vec<RawKubernetesRule>,
}

/// A `[[kubernetes_rules]]` entry: pull only, so there is no `access` key (serde's unknown-field
/// error is rewritten into one that says so).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKubernetesRule {
    namespace: String,
    service_account: Option<String>,
    harbor_project: String,
}

/// `[tls]`: without it the broker speaks plain HTTP (behind a TLS-terminating proxy).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Tls {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
}

/// `[gitlab]` or `[kubernetes]`: the same keys, checked apart.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIssuer {
    issuer: String,
    audience: String,
    jwks_url: Option<String>,
    ca_file: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHarbor {
    url: String,
    username: String,
    password_file: PathBuf,
    ca_file: Option<PathBuf>,
}

/// `[robots]`.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Robots {
    pub ttl_seconds: u64,
    pub sweep_interval_seconds: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    project_id: Option<String>,
    namespace_id: Option<String>,
    project_path: Option<String>,
    harbor_project: String,
    access: Vec<String>,
    #[serde(default)]
    push_on_unprotected_refs: bool,
}

/// `[gitlab]`, validated.
#[derive(Clone, Debug)]
pub struct Gitlab {
    pub issuer: String,
    pub audience: String,
    /// `jwks_url`, or the issuer's `/oauth/discovery/keys`.
    pub jwks_url: String,
    pub ca_file: Option<PathBuf>,
}

/// `[kubernetes]`, validated: the cluster's service-account token issuer.
#[derive(Clone, Debug)]
pub struct Kubernetes {
    /// The tokens' `iss` exactly (kube-apiserver `--service-account-issuer`).
    pub issuer: String,
    /// What the tokens' `aud` must hold (the kubelet's `serviceAccountTokenAudience`).
    pub audience: String,
    /// `jwks_url`; `None`: OIDC discovery from the issuer at each JWKS fetch.
    pub jwks_url: Option<String>,
    pub ca_file: Option<PathBuf>,
}

/// `[harbor]`, validated; the password stays in its file.
#[derive(Clone, Debug)]
pub struct Harbor {
    pub url: String,
    pub username: String,
    pub password_file: PathBuf,
    pub ca_file: Option<PathBuf>,
}

/// The whole config, validated.
#[derive(Clone, Debug)]
pub struct Config {
    pub listen: SocketAddr,
    pub tls: Option<Tls>,
    /// `None` in a Kubernetes-only broker: `POST /v1/credentials` then answers 404.
    pub gitlab: Option<Gitlab>,
    pub harbor: Harbor,
    pub robots: Robots,
    pub rules: Vec<Rule>,
    /// `None`: `POST /v1/kubernetes/credentials` answers 404.
    pub kubernetes: Option<Kubernetes>,
    pub kubernetes_rules: Vec<KubernetesRule>,
}

/// What is wrong with the config: the key, what is wrong, and what to write instead.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the config {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("the config is not valid TOML for harbor-broker: {0}")]
    Syntax(String),
    #[error("{key} in the config: {problem}")]
    Invalid {
        key: String,
        problem: String,
        instead: String,
    },
}

impl Problem for ConfigError {
    fn hint(&self) -> Option<String> {
        match self {
            ConfigError::Invalid { instead, .. } => Some(instead.clone()),
            ConfigError::Syntax(_) => Some(
                "the keys are listen, [tls], [gitlab], [harbor], [robots], [[rules]], \
                 [kubernetes] and [[kubernetes_rules]]; see docs/broker.md for each table's keys"
                    .into(),
            ),
            ConfigError::Read { .. } => None,
        }
    }
}

fn invalid(
    key: impl Into<String>,
    problem: impl Into<String>,
    instead: impl Into<String>,
) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        problem: problem.into(),
        instead: instead.into(),
    }
}

/// Reads and validates the config at `path`.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let read_error = |reason: String| ConfigError::Read {
        path: text::inline(&path.display().to_string()).into_owned(),
        reason,
    };
    let bytes = match atomic_file::read_regular(path, Links::Follow, MAX_CONFIG_BYTES) {
        Ok(Some((bytes, _))) => bytes,
        Ok(None) => return Err(read_error("there is no such file".into())),
        Err(e) => return Err(read_error(e.to_string())),
    };
    let source = std::str::from_utf8(&bytes).map_err(|_| read_error("it is not UTF-8".into()))?;
    parse(source)
}

/// Parses and validates a config's text.
pub fn parse(source: &str) -> Result<Config, ConfigError> {
    let raw: Raw = toml::from_str(source).map_err(|e| {
        let shown = text::escape(e.to_string().trim_end()).into_owned();
        if shown.contains("unknown field `access`") && shown.contains("`service_account`") {
            invalid(
                "access in [[kubernetes_rules]]",
                "is not a key of that table: a Kubernetes rule grants pull only",
                "delete access; a service account never gets push",
            )
        } else {
            ConfigError::Syntax(shown)
        }
    })?;
    let listen = raw.listen.parse::<SocketAddr>().map_err(|_| {
        invalid(
            "listen",
            format!("{:?} is not an IP address and port", text::inline(&raw.listen)),
            "write the address to listen on with its port, e.g. listen = \"0.0.0.0:8443\" or \"[::]:8443\"",
        )
    })?;
    if let Some(tls) = &raw.tls {
        non_empty_path("tls.cert_file", &tls.cert_file)?;
        non_empty_path("tls.key_file", &tls.key_file)?;
    }
    let gitlab = raw.gitlab.map(check_gitlab).transpose()?;
    let kubernetes = raw.kubernetes.map(check_kubernetes).transpose()?;
    if gitlab.is_none() && kubernetes.is_none() {
        return Err(invalid(
            "[gitlab]",
            "is missing, and so is [kubernetes]: the broker would serve no one",
            "add [gitlab] (issuer, audience) for GitLab CI jobs, [kubernetes] (issuer, audience) \
             for Kubernetes service accounts, or both",
        ));
    }
    let harbor_url = https_url(
        "harbor.url",
        &raw.harbor.url,
        "url = \"https://harbor.example.com\"",
    )?;
    if raw.harbor.username.trim().is_empty() {
        return Err(invalid(
            "harbor.username",
            "is empty",
            "write the broker's Harbor account: an admin or a system robot, e.g. username = \"robot$harbor-broker\"",
        ));
    }
    non_empty_path("harbor.password_file", &raw.harbor.password_file)?;
    if let Some(ca) = &raw.harbor.ca_file {
        non_empty_path("harbor.ca_file", ca)?;
    }
    check_robots(&raw.robots)?;
    let rules = match (&gitlab, raw.rules.is_empty()) {
        (None, true) => Vec::new(),
        (None, false) => {
            return Err(invalid(
                "[[rules]]",
                "is set but [gitlab] is not, so no GitLab token could be checked for it",
                "add [gitlab] (issuer, audience), or delete the [[rules]] entries",
            ));
        }
        (Some(_), _) => check_rules(raw.rules)?,
    };
    let kubernetes_rules = match (&kubernetes, raw.kubernetes_rules.is_empty()) {
        (None, true) => Vec::new(),
        (None, false) => {
            return Err(invalid(
                "[[kubernetes_rules]]",
                "is set but [kubernetes] is not, so no service-account token could be checked \
                 for it",
                "add [kubernetes] (issuer, audience), or delete the [[kubernetes_rules]] entries",
            ));
        }
        (Some(_), _) => raw
            .kubernetes_rules
            .into_iter()
            .enumerate()
            .map(|(i, rule)| check_kubernetes_rule(i + 1, rule))
            .collect::<Result<Vec<_>, _>>()?,
    };
    Ok(Config {
        listen,
        tls: raw.tls,
        gitlab,
        harbor: Harbor {
            url: harbor_url,
            username: raw.harbor.username,
            password_file: raw.harbor.password_file,
            ca_file: raw.harbor.ca_file,
        },
        robots: raw.robots,
        rules,
        kubernetes,
        kubernetes_rules,
    })
}

fn check_gitlab(raw: RawIssuer) -> Result<Gitlab, ConfigError> {
    let issuer = https_url(
        "gitlab.issuer",
        &raw.issuer,
        "issuer = \"https://gitlab.example.com\"",
    )?;
    if issuer.ends_with('/') {
        return Err(invalid(
            "gitlab.issuer",
            "ends with a slash; tokens' iss is compared exactly and GitLab's has none",
            "write GitLab's URL without the trailing slash, e.g. issuer = \"https://gitlab.example.com\"",
        ));
    }
    audience(
        "gitlab.audience",
        &raw.audience,
        "write the aud your jobs' id_tokens name, e.g. audience = \"https://harbor-broker.example.com\"",
    )?;
    let jwks_url = match &raw.jwks_url {
        Some(url) => https_url(
            "gitlab.jwks_url",
            url,
            "jwks_url = \"https://gitlab.example.com/oauth/discovery/keys\", or leave it out",
        )?,
        None => format!("{issuer}/oauth/discovery/keys"),
    };
    if let Some(ca) = &raw.ca_file {
        non_empty_path("gitlab.ca_file", ca)?;
    }
    Ok(Gitlab {
        issuer,
        audience: raw.audience,
        jwks_url,
        ca_file: raw.ca_file,
    })
}

/// `value` when it is not empty and has no surrounding spaces.
fn audience(key: &str, value: &str, instead: &str) -> Result<(), ConfigError> {
    if value.trim().is_empty() || value.trim() != value {
        return Err(invalid(key, "is empty or has surrounding spaces", instead));
    }
    Ok(())
}

fn check_kubernetes(raw: RawIssuer) -> Result<Kubernetes, ConfigError> {
    // No trailing-slash rule: the API server writes --service-account-issuer as given, slash
    // and all; the config must match it exactly.
    let issuer = https_url(
        "kubernetes.issuer",
        &raw.issuer,
        "issuer = \"https://kubernetes.default.svc.cluster.local\" (kube-apiserver's \
         --service-account-issuer, exactly)",
    )?;
    audience(
        "kubernetes.audience",
        &raw.audience,
        "write the audience of the kubelet's tokenAttributes.serviceAccountTokenAudience, e.g. \
         audience = \"harbor-broker\"",
    )?;
    let jwks_url = raw
        .jwks_url
        .as_deref()
        .map(|url| {
            https_url(
                "kubernetes.jwks_url",
                url,
                "jwks_url = \"https://kubernetes.default.svc/openid/v1/jwks\", or leave it out \
                 for OIDC discovery from the issuer",
            )
        })
        .transpose()?;
    if let Some(ca) = &raw.ca_file {
        non_empty_path("kubernetes.ca_file", ca)?;
    }
    Ok(Kubernetes {
        issuer,
        audience: raw.audience,
        jwks_url,
        ca_file: raw.ca_file,
    })
}

fn check_kubernetes_rule(n: usize, rule: RawKubernetesRule) -> Result<KubernetesRule, ConfigError> {
    let key = |name: &str| format!("{name} in [[kubernetes_rules]] entry {n}");
    if !kubernetes::is_dns_label(&rule.namespace) {
        return Err(invalid(
            key("namespace"),
            format!(
                "{:?} is not a Kubernetes namespace name",
                text::inline(&rule.namespace)
            ),
            "write the namespace exactly: 1 to 63 of a-z, 0-9 and -, a letter or digit at each \
             end, e.g. namespace = \"ci\"",
        ));
    }
    if let Some(sa) = &rule.service_account
        && !kubernetes::is_dns_subdomain(sa)
    {
        return Err(invalid(
            key("service_account"),
            format!("{:?} is not a service account name", text::inline(sa)),
            "write the service account's name (a-z, 0-9, - and ., at most 253), e.g. \
             service_account = \"builder\", or leave it out for every service account of the \
             namespace",
        ));
    }
    if !valid_harbor_project(&rule.harbor_project) {
        return Err(invalid(
            key("harbor_project"),
            format!(
                "{:?} is not a Harbor project name",
                text::inline(&rule.harbor_project)
            ),
            "write the project's name as Harbor shows it: lower-case letters, digits and . _ - between them, e.g. harbor_project = \"ci-images\"",
        ));
    }
    Ok(KubernetesRule {
        namespace: rule.namespace,
        service_account: rule.service_account,
        harbor_project: rule.harbor_project,
    })
}

fn non_empty_path(key: &str, path: &Path) -> Result<(), ConfigError> {
    if path.as_os_str().is_empty() {
        return Err(invalid(
            key,
            "is empty",
            "write the file's path, or leave the key out where it is optional",
        ));
    }
    Ok(())
}

/// `value` when it is an `https://` URL with a host and no query, fragment, credentials,
/// space or control character.
fn https_url(key: &str, value: &str, example: &str) -> Result<String, ConfigError> {
    let wrong = |problem: &str| {
        invalid(
            key,
            format!("{:?} {problem}", text::inline(value)),
            format!("write an https URL, e.g. {example}"),
        )
    };
    let Some(rest) = value.strip_prefix("https://") else {
        return Err(wrong("is not an https:// URL"));
    };
    let host = rest.split('/').next().unwrap_or_default();
    if host.is_empty() || host.starts_with(':') {
        return Err(wrong("has no host"));
    }
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(wrong("has a space or a control character"));
    }
    if value.contains(['?', '#', '@']) {
        return Err(wrong("has a query, a fragment or credentials"));
    }
    Ok(value.to_owned())
}

fn check_robots(robots: &Robots) -> Result<(), ConfigError> {
    if !(MIN_TTL..=MAX_TTL).contains(&robots.ttl_seconds) {
        return Err(invalid(
            "robots.ttl_seconds",
            format!("{} is outside {MIN_TTL} to {MAX_TTL}", robots.ttl_seconds),
            format!(
                "write a robot's lifetime from {MIN_TTL} s (5 min) to {MAX_TTL} s (Harbor's own \
                 shortest robot, 1 day), e.g. ttl_seconds = 3600"
            ),
        ));
    }
    let sweep = robots.sweep_interval_seconds;
    if !(MIN_SWEEP..=MAX_SWEEP).contains(&sweep) || sweep > robots.ttl_seconds {
        return Err(invalid(
            "robots.sweep_interval_seconds",
            format!("{sweep} is outside {MIN_SWEEP} to {MAX_SWEEP}, or longer than ttl_seconds"),
            format!(
                "write how often to delete expired robots, from {MIN_SWEEP} s to {MAX_SWEEP} s \
                 and at most ttl_seconds, e.g. sweep_interval_seconds = 60"
            ),
        ));
    }
    Ok(())
}

fn check_rules(raw: Vec<RawRule>) -> Result<Vec<Rule>, ConfigError> {
    if raw.is_empty() {
        return Err(invalid(
            "[[rules]]",
            "there is none, so every job would be refused",
            "add a [[rules]] entry with project_id (or namespace_id), harbor_project and access",
        ));
    }
    let mut projects = HashSet::new();
    let mut rules = Vec::with_capacity(raw.len());
    for (i, rule) in raw.into_iter().enumerate() {
        let n = i + 1;
        let checked = check_rule(n, rule)?;
        if let Selector::Project(id) = &checked.selector
            && checked.project_path.is_none()
            && !projects.insert(id.clone())
        {
            return Err(invalid(
                format!("project_id in [[rules]] entry {n}"),
                format!(
                    "project {id} already has a rule without project_path; only the first would ever decide"
                ),
                "merge the two entries, or delete this one",
            ));
        }
        rules.push(checked);
    }
    Ok(rules)
}

fn check_rule(n: usize, rule: RawRule) -> Result<Rule, ConfigError> {
    let key = |name: &str| format!("{name} in [[rules]] entry {n}");
    let id = |name: &str, value: &str| {
        Id::parse(value).ok_or_else(|| {
            invalid(
                key(name),
                format!("{:?} is not a GitLab numeric ID", text::inline(value)),
                format!(
                    "write the ID GitLab shows on the project's or group's page, as a string of \
                     digits, e.g. {name} = \"42\" (paths can be renamed; IDs cannot)"
                ),
            )
        })
    };
    let selector = match (&rule.project_id, &rule.namespace_id) {
        (Some(p), None) => Selector::Project(id("project_id", p)?),
        (None, Some(ns)) => Selector::Namespace(id("namespace_id", ns)?),
        (Some(_), Some(_)) => {
            return Err(invalid(
                format!("[[rules]] entry {n}"),
                "has both project_id and namespace_id",
                "keep one: project_id for one project, namespace_id for every project directly in a group; add project_path to narrow either",
            ));
        }
        (None, None) => {
            return Err(invalid(
                format!("[[rules]] entry {n}"),
                "has neither project_id nor namespace_id",
                "add project_id = \"<digits>\" or namespace_id = \"<digits>\"",
            ));
        }
    };
    let project_path = match &rule.project_path {
        None => None,
        Some(p) if valid_glob(p) => Some(Glob::new(p)),
        Some(p) => {
            return Err(invalid(
                key("project_path"),
                format!("{:?} is not a project path pattern", text::inline(p)),
                "write a path such as \"group/project\", with * for one segment's characters or ** for any, e.g. \"group/*\"",
            ));
        }
    };
    if !valid_harbor_project(&rule.harbor_project) {
        return Err(invalid(
            key("harbor_project"),
            format!(
                "{:?} is not a Harbor project name",
                text::inline(&rule.harbor_project)
            ),
            "write the project's name as Harbor shows it: lower-case letters, digits and . _ - between them, e.g. harbor_project = \"team-a\"",
        ));
    }
    let access = check_access(&key("access"), &rule.access)?;
    if rule.push_on_unprotected_refs && access != Access::Push {
        return Err(invalid(
            key("push_on_unprotected_refs"),
            "is true but access does not grant push, so it would change nothing",
            "write access = [\"pull\", \"push\"], or delete push_on_unprotected_refs",
        ));
    }
    Ok(Rule {
        selector,
        project_path,
        harbor_project: rule.harbor_project,
        access,
        push_on_unprotected_refs: rule.push_on_unprotected_refs,
    })
}

fn check_access(key: &str, values: &[String]) -> Result<Access, ConfigError> {
    let instead = "write access = [\"pull\"] or access = [\"pull\", \"push\"]";
    let mut pull = false;
    let mut push = false;
    for v in values {
        let seen = match v.as_str() {
            "pull" => std::mem::replace(&mut pull, true),
            "push" => std::mem::replace(&mut push, true),
            other => {
                return Err(invalid(
                    key,
                    format!("{:?} is not an access (pull or push)", text::inline(other)),
                    instead,
                ));
            }
        };
        if seen {
            return Err(invalid(key, format!("{v:?} is listed twice"), instead));
        }
    }
    match (pull, push) {
        (true, false) => Ok(Access::Pull),
        (true, true) => Ok(Access::Push),
        (false, true) => Err(invalid(
            key,
            "names push without pull; a robot that pushes also pulls (Harbor checks the layers it mounts)",
            instead,
        )),
        (false, false) => Err(invalid(key, "is empty", instead)),
    }
}

fn valid_glob(p: &str) -> bool {
    !p.is_empty()
        && p.len() <= 255
        && !p.starts_with('/')
        && !p.ends_with('/')
        && p.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-/*".contains(c))
}

/// Harbor's project-name rule, and its 255-character limit.
fn valid_harbor_project(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && name.split(['.', '_', '-']).all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
}

/// Why the Harbor password could not be read.
#[derive(Debug, thiserror::Error)]
pub enum PasswordFileError {
    #[error("cannot read harbor.password_file {path}: {reason}")]
    Read { path: String, reason: String },
    #[error(
        "harbor.password_file {path} may be read or written by other users (mode {mode:04o}); it \
         holds the broker's Harbor password"
    )]
    Mode { path: String, mode: u32 },
    #[error("harbor.password_file {path} is empty")]
    Empty { path: String },
}

impl Problem for PasswordFileError {
    fn hint(&self) -> Option<String> {
        match self {
            PasswordFileError::Mode { path, .. } => Some(format!(
                "chmod 600 {path}, or chown root and chmod 640 to let only its group read it (in \
                 Kubernetes, a Secret volume with defaultMode: 0400 and the pod's fsGroup)"
            )),
            PasswordFileError::Empty { .. } => {
                Some("write the password of [harbor] username on the file's first line".into())
            }
            PasswordFileError::Read { .. } => None,
        }
    }
}

/// The Harbor password from `harbor.password_file`: a regular file (a link is followed, as
/// Kubernetes mounts Secrets), no access for group or others (but see below), at most
/// [`MAX_PASSWORD_BYTES`], one trailing line break dropped. A file root owns may be readable by
/// its group (PostgreSQL's rule for its key file): that is how the kubelet mounts a Secret for a
/// non-root pod (`fsGroup` makes the file 0440, root's, in the pod's group), and how systemd's
/// `LoadCredential=` hands one over (root's 0400 plus a read ACL for the service's user, whose
/// mask `stat` shows as the group's bits: 0440).
pub fn read_password(path: &Path) -> Result<SecretString, PasswordFileError> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let shown = text::inline(&path.display().to_string()).into_owned();
    let read_error = |reason: String| PasswordFileError::Read {
        path: shown.clone(),
        reason,
    };
    let (bytes, meta) = match atomic_file::read_regular(path, Links::Follow, MAX_PASSWORD_BYTES) {
        Ok(Some(found)) => found,
        Ok(None) => return Err(read_error("there is no such file".into())),
        Err(e) => return Err(read_error(e.to_string())),
    };
    let mode = meta.permissions().mode() & 0o7777;
    let forbidden = if meta.uid() == 0 { 0o037 } else { 0o077 };
    if mode & forbidden != 0 {
        return Err(PasswordFileError::Mode { path: shown, mode });
    }
    let text = std::str::from_utf8(&bytes).map_err(|_| read_error("it is not UTF-8".into()))?;
    let password = text
        .strip_suffix('\n')
        .map_or(text, |t| t.strip_suffix('\r').unwrap_or(t));
    if password.is_empty() {
        return Err(PasswordFileError::Empty { path: shown });
    }
    Ok(SecretString::from(password))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use secrecy::ExposeSecret;

    use super::*;

    const GOOD: &str = r#"
listen = "0.0.0.0:8443"

[tls]
cert_file = "/etc/harbor-broker/tls.crt"
key_file = "/etc/harbor-broker/tls.key"

[gitlab]
issuer = "https://gitlab.example.com"
audience = "https://harbor-broker.example.com"

[harbor]
url = "https://harbor.example.com"
username = "robot$harbor-broker"
password_file = "/run/secrets/harbor-password"

[robots]
ttl_seconds = 3600
sweep_interval_seconds = 60

[[rules]]
project_id = "42"
harbor_project = "team-app"
access = ["pull", "push"]

[[rules]]
namespace_id = "7"
project_path = "team/*"
harbor_project = "team"
access = ["pull"]
"#;

    /// GOOD with `from` replaced by `to` (which must be there).
    fn edited(from: &str, to: &str) -> Result<Config, ConfigError> {
        assert!(GOOD.contains(from), "{from}");
        parse(&GOOD.replacen(from, to, 1))
    }

    /// The error's key, text and hint in one string.
    fn refusal(from: &str, to: &str) -> String {
        let err = edited(from, to).unwrap_err();
        format!("{err} | {}", err.hint().unwrap_or_default())
    }

    const KUBERNETES: &str = r#"
[kubernetes]
issuer = "https://kubernetes.default.svc.cluster.local"
audience = "harbor-broker"

[[kubernetes_rules]]
namespace = "ci"
service_account = "builder"
harbor_project = "ci-images"

[[kubernetes_rules]]
namespace = "build-2"
harbor_project = "base"
"#;

    /// GOOD and the Kubernetes tables, with `from` replaced by `to` in the latter.
    fn kubernetes(from: &str, to: &str) -> Result<Config, ConfigError> {
        assert!(KUBERNETES.contains(from), "{from}");
        parse(&format!("{GOOD}{}", KUBERNETES.replacen(from, to, 1)))
    }

    /// `kubernetes`'s error, key, text and hint in one string.
    fn kubernetes_refusal(from: &str, to: &str) -> String {
        let err = kubernetes(from, to).unwrap_err();
        format!("{err} | {}", err.hint().unwrap_or_default())
    }

    #[test]
    fn the_kubernetes_tables_parse_into_their_settings_and_rules() {
        let config = kubernetes("", "").unwrap();
        let k = config.kubernetes.unwrap();
        assert_eq!(k.issuer, "https://kubernetes.default.svc.cluster.local");
        assert_eq!(k.audience, "harbor-broker");
        assert!(k.jwks_url.is_none() && k.ca_file.is_none());
        assert_eq!(
            config.kubernetes_rules,
            [
                KubernetesRule {
                    namespace: "ci".into(),
                    service_account: Some("builder".into()),
                    harbor_project: "ci-images".into(),
                },
                KubernetesRule {
                    namespace: "build-2".into(),
                    service_account: None,
                    harbor_project: "base".into(),
                },
            ]
        );
        let config = kubernetes(
            "audience = \"harbor-broker\"",
            "audience = \"harbor-broker\"\njwks_url = \"https://10.0.0.1:6443/openid/v1/jwks\"\nca_file = \"/ca.crt\"",
        )
        .unwrap();
        let k = config.kubernetes.unwrap();
        assert_eq!(
            k.jwks_url.as_deref(),
            Some("https://10.0.0.1:6443/openid/v1/jwks")
        );
        assert_eq!(k.ca_file.unwrap(), Path::new("/ca.crt"));
    }

    #[test]
    fn a_kubernetes_only_broker_needs_no_gitlab_and_no_rules() {
        let gitlab_at = GOOD.find("[gitlab]").unwrap();
        let harbor_at = GOOD.find("[harbor]").unwrap();
        let rules_at = GOOD.find("[[rules]]").unwrap();
        let without = format!("{}{}", &GOOD[..gitlab_at], &GOOD[harbor_at..rules_at]);
        let config = parse(&format!("{without}{KUBERNETES}")).unwrap();
        assert!(config.gitlab.is_none() && config.rules.is_empty());
        assert_eq!(config.kubernetes_rules.len(), 2);
        // Neither issuer: an error naming both tables.
        let err = parse(&without).unwrap_err();
        let shown = format!("{err} | {}", err.hint().unwrap_or_default());
        assert!(
            shown.contains("[gitlab]") && shown.contains("[kubernetes]"),
            "{shown}"
        );
        // [[rules]] still need [gitlab].
        let err = parse(&format!("{without}{KUBERNETES}{}", &GOOD[rules_at..])).unwrap_err();
        assert!(
            err.to_string().starts_with("[[rules]] in the config"),
            "{err}"
        );
    }

    #[test]
    fn kubernetes_rules_without_the_kubernetes_table_are_refused() {
        let rules_only = &KUBERNETES[KUBERNETES.find("[[kubernetes_rules]]").unwrap()..];
        let err = parse(&format!("{GOOD}{rules_only}")).unwrap_err();
        let shown = format!("{err} | {}", err.hint().unwrap_or_default());
        assert!(
            shown.starts_with("[[kubernetes_rules]] in the config")
                && shown.contains("add [kubernetes]"),
            "{shown}"
        );
    }

    #[test]
    fn each_kubernetes_key_is_checked_with_its_name() {
        let cases = [
            (
                "issuer = \"https://kubernetes.default.svc.cluster.local\"",
                "issuer = \"http://k\"",
                "kubernetes.issuer",
            ),
            (
                "audience = \"harbor-broker\"",
                "audience = \" \"",
                "kubernetes.audience",
            ),
            (
                "audience = \"harbor-broker\"",
                "audience = \"a\"\njwks_url = \"http://k/jwks\"",
                "kubernetes.jwks_url",
            ),
            (
                "audience = \"harbor-broker\"",
                "audience = \"a\"\nca_file = \"\"",
                "kubernetes.ca_file",
            ),
            (
                "namespace = \"ci\"",
                "namespace = \"CI\"",
                "namespace in [[kubernetes_rules]] entry 1",
            ),
            (
                "namespace = \"ci\"",
                "namespace = \"-ci\"",
                "namespace in [[kubernetes_rules]] entry 1",
            ),
            (
                "namespace = \"build-2\"",
                "namespace = \"a.b\"",
                "namespace in [[kubernetes_rules]] entry 2",
            ),
            (
                "service_account = \"builder\"",
                "service_account = \"Builder\"",
                "service_account in [[kubernetes_rules]] entry 1",
            ),
            (
                "harbor_project = \"base\"",
                "harbor_project = \"Base\"",
                "harbor_project in [[kubernetes_rules]] entry 2",
            ),
        ];
        for (from, to, key) in cases {
            let shown = kubernetes_refusal(from, to);
            assert!(
                shown.starts_with(&format!("{key} in the config")),
                "{to}: {shown}"
            );
            assert!(
                shown.contains(" | write") || shown.contains(" | delete"),
                "{to}: {shown}"
            );
        }
        for (from, to) in [
            ("namespace = \"ci\"", "namespace = \"ci\"\nproject = \"x\""),
            (
                "audience = \"harbor-broker\"",
                "audience = \"a\"\nclient_id = \"x\"",
            ),
            ("namespace = \"ci\"", "service_account = \"x\""),
        ] {
            let err = kubernetes(from, to).unwrap_err();
            assert!(matches!(err, ConfigError::Syntax(_)), "{to}: {err}");
        }
    }

    #[test]
    fn an_access_key_in_a_kubernetes_rule_says_pull_only() {
        let shown = kubernetes_refusal(
            "harbor_project = \"base\"",
            "harbor_project = \"base\"\naccess = [\"pull\", \"push\"]",
        );
        assert!(
            shown.starts_with("access in [[kubernetes_rules]] in the config")
                && shown.contains("pull only"),
            "{shown}"
        );
    }

    #[test]
    fn the_contract_s_config_parses() {
        let config = parse(GOOD).unwrap();
        assert_eq!(config.listen.port(), 8443);
        assert!(config.tls.is_some());
        assert_eq!(
            config.gitlab.as_ref().unwrap().jwks_url,
            "https://gitlab.example.com/oauth/discovery/keys"
        );
        assert_eq!(config.robots.ttl_seconds, 3600);
        assert_eq!(config.rules.len(), 2);
        assert_eq!(
            config.rules[0].selector,
            Selector::Project(Id::parse("42").unwrap())
        );
        assert_eq!(config.rules[0].access, Access::Push);
        assert!(!config.rules[0].push_on_unprotected_refs);
        assert_eq!(
            config.rules[1].project_path.as_ref().unwrap().as_str(),
            "team/*"
        );
    }

    #[test]
    fn tls_and_the_optional_keys_may_be_left_out_or_given() {
        let no_tls = GOOD.replace(
            "[tls]\ncert_file = \"/etc/harbor-broker/tls.crt\"\nkey_file = \"/etc/harbor-broker/tls.key\"\n",
            "",
        );
        assert!(parse(&no_tls).unwrap().tls.is_none());
        let config = edited(
            "audience = \"https://harbor-broker.example.com\"",
            "audience = \"a\"\njwks_url = \"https://gitlab.internal/oauth/discovery/keys\"\nca_file = \"/ca.pem\"",
        )
        .unwrap();
        assert_eq!(
            config.gitlab.as_ref().unwrap().jwks_url,
            "https://gitlab.internal/oauth/discovery/keys"
        );
        assert!(config.gitlab.as_ref().unwrap().ca_file.is_some());
    }

    #[test]
    fn an_unknown_key_is_refused_not_ignored() {
        for (from, to) in [
            ("listen =", "listne = \"x\"\nlisten ="),
            (
                "access = [\"pull\"]",
                "acess = [\"pull\"]\naccess = [\"pull\"]",
            ),
            ("ttl_seconds = 3600", "ttl_seconds = 3600\nttl = 5"),
            ("[tls]", "[tls]\nca_file = \"/x\""),
        ] {
            let err = edited(from, to).unwrap_err();
            assert!(matches!(err, ConfigError::Syntax(_)), "{err}");
        }
        let err = edited("ttl_seconds = 3600", "ttl_seconds = 3600\nttl = 5").unwrap_err();
        assert!(err.to_string().contains("ttl"), "{err}");
    }

    #[test]
    fn a_rule_needs_exactly_one_numeric_id() {
        let both = refusal(
            "namespace_id = \"7\"",
            "namespace_id = \"7\"\nproject_id = \"8\"",
        );
        assert!(
            both.contains("[[rules]] entry 2") && both.contains("both"),
            "{both}"
        );
        let neither = refusal("namespace_id = \"7\"\n", "");
        assert!(
            neither.contains("[[rules]] entry 2") && neither.contains("neither"),
            "{neither}"
        );
        for id in [
            "\"team/app\"",
            "\"-1\"",
            "\"\"",
            "\"4 2\"",
            "\"١٢\"",
            "\"123456789012345678901\"",
        ] {
            let shown = refusal("project_id = \"42\"", &format!("project_id = {id}"));
            assert!(shown.contains("project_id in [[rules]] entry 1"), "{shown}");
            assert!(shown.contains("e.g. project_id = \"42\""), "{shown}");
        }
        // A bare number is a TOML type error, said by the parser with its key.
        let err = edited("project_id = \"42\"", "project_id = 42").unwrap_err();
        assert!(err.to_string().contains("project_id"), "{err}");
    }

    #[test]
    fn access_is_pull_or_pull_and_push() {
        for (access, expected) in [
            ("[\"push\", \"pull\"]", Access::Push),
            ("[\"pull\"]", Access::Pull),
        ] {
            let config = edited(
                "access = [\"pull\", \"push\"]",
                &format!("access = {access}"),
            )
            .unwrap();
            assert_eq!(config.rules[0].access, expected);
        }
        for (access, says) in [
            ("[\"push\"]", "push without pull"),
            ("[]", "empty"),
            ("[\"pull\", \"pull\"]", "twice"),
            ("[\"admin\"]", "not an access"),
            ("[\"Pull\"]", "not an access"),
        ] {
            let shown = refusal(
                "access = [\"pull\", \"push\"]",
                &format!("access = {access}"),
            );
            assert!(
                shown.contains("access in [[rules]] entry 1") && shown.contains(says),
                "{shown}"
            );
            assert!(shown.contains("access = [\"pull\", \"push\"]"), "{shown}");
        }
    }

    #[test]
    fn push_on_unprotected_refs_needs_push() {
        let config = edited(
            "access = [\"pull\", \"push\"]",
            "access = [\"pull\", \"push\"]\npush_on_unprotected_refs = true",
        )
        .unwrap();
        assert!(config.rules[0].push_on_unprotected_refs);
        let shown = refusal(
            "access = [\"pull\"]",
            "access = [\"pull\"]\npush_on_unprotected_refs = true",
        );
        assert!(
            shown.contains("push_on_unprotected_refs in [[rules]] entry 2"),
            "{shown}"
        );
    }

    #[test]
    fn the_issuer_must_be_an_exact_https_url() {
        for issuer in [
            "http://gitlab.example.com",
            "gitlab.example.com",
            "https://",
            "https://gitlab.example.com/",
            "https://gitlab.example.com?x",
            "https://u:p@gitlab",
        ] {
            let shown = refusal(
                "issuer = \"https://gitlab.example.com\"",
                &format!("issuer = \"{issuer}\""),
            );
            assert!(shown.starts_with("gitlab.issuer in the config"), "{shown}");
        }
        let shown = refusal(
            "url = \"https://harbor.example.com\"",
            "url = \"http://harbor.example.com\"",
        );
        assert!(shown.starts_with("harbor.url"), "{shown}");
    }

    #[test]
    fn robot_lifetimes_are_bounded() {
        for ttl in ["0", "299", "86401"] {
            let shown = refusal("ttl_seconds = 3600", &format!("ttl_seconds = {ttl}"));
            assert!(
                shown.starts_with("robots.ttl_seconds")
                    && shown.contains("e.g. ttl_seconds = 3600"),
                "{shown}"
            );
        }
        edited("ttl_seconds = 3600", "ttl_seconds = 300").unwrap();
        edited("ttl_seconds = 3600", "ttl_seconds = 86400").unwrap();
        for sweep in ["0", "9", "3601"] {
            let shown = refusal(
                "sweep_interval_seconds = 60",
                &format!("sweep_interval_seconds = {sweep}"),
            );
            assert!(
                shown.starts_with("robots.sweep_interval_seconds"),
                "{shown}"
            );
        }
        let sweep_past_ttl = GOOD
            .replace("ttl_seconds = 3600", "ttl_seconds = 600")
            .replace(
                "sweep_interval_seconds = 60",
                "sweep_interval_seconds = 900",
            );
        let err = parse(&sweep_past_ttl).unwrap_err();
        assert!(err.to_string().contains("longer than ttl_seconds"), "{err}");
        let err = edited("ttl_seconds = 3600", "ttl_seconds = -1").unwrap_err();
        assert!(matches!(err, ConfigError::Syntax(_)), "{err}");
    }

    #[test]
    fn other_values_are_checked_with_their_key() {
        let cases = [
            (
                "listen = \"0.0.0.0:8443\"",
                "listen = \"localhost\"",
                "listen in the config",
            ),
            (
                "harbor_project = \"team-app\"",
                "harbor_project = \"Team App\"",
                "harbor_project in [[rules]] entry 1",
            ),
            (
                "harbor_project = \"team-app\"",
                "harbor_project = \"team--app\"",
                "harbor_project in [[rules]] entry 1",
            ),
            (
                "project_path = \"team/*\"",
                "project_path = \"/team/*\"",
                "project_path in [[rules]] entry 2",
            ),
            (
                "username = \"robot$harbor-broker\"",
                "username = \" \"",
                "harbor.username",
            ),
            (
                "password_file = \"/run/secrets/harbor-password\"",
                "password_file = \"\"",
                "harbor.password_file",
            ),
            (
                "audience = \"https://harbor-broker.example.com\"",
                "audience = \"\"",
                "gitlab.audience",
            ),
        ];
        for (from, to, key) in cases {
            let shown = refusal(from, to);
            assert!(shown.starts_with(key), "{shown}");
            assert!(
                shown.contains(" | write") || shown.contains(" | keep") || shown.contains(" | add"),
                "{shown}"
            );
        }
        let rules_gone = GOOD.split("[[rules]]").next().unwrap();
        let err = parse(rules_gone).unwrap_err();
        assert!(err.to_string().starts_with("[[rules]]"), "{err}");
        let dup = format!(
            "{GOOD}\n[[rules]]\nproject_id = \"42\"\nharbor_project = \"x\"\naccess = [\"pull\"]\n"
        );
        let err = parse(&dup).unwrap_err();
        assert!(err.to_string().contains("[[rules]] entry 3"), "{err}");
    }

    #[test]
    fn control_characters_in_values_are_escaped_in_errors() {
        let shown = refusal(
            "harbor_project = \"team-app\"",
            "harbor_project = \"x\\u001b[2J\\ny\"",
        );
        assert!(
            !shown.contains('\u{1b}') && !shown.contains('\n'),
            "{shown}"
        );
    }

    #[test]
    fn bad_toml_is_an_error_not_a_panic() {
        for source in [
            "",
            "listen = ",
            "[[rules]",
            "\u{0}",
            "listen = \"0.0.0.0:1\"\n[gitlab]\nissuer = 1",
        ] {
            assert!(parse(source).is_err());
        }
    }

    #[test]
    fn load_reads_a_file_and_names_it_when_it_cannot() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("broker.toml");
        std::fs::write(&path, GOOD).unwrap();
        assert_eq!(load(&path).unwrap().rules.len(), 2);
        let missing = dir.path().join("nope.toml");
        let err = load(&missing).unwrap_err().to_string();
        assert!(
            err.contains("nope.toml") && err.contains("no such file"),
            "{err}"
        );
    }

    #[test]
    fn the_password_file_is_read_private_and_trimmed_of_one_line_break() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("password");
        std::fs::write(&path, "s3cret-Pass\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(read_password(&path).unwrap().expose_secret(), "s3cret-Pass");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o400)).unwrap();
        read_password(&path).unwrap();
        // Kubernetes mounts a Secret's key as a link into ..data.
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&path, &link).unwrap();
        read_password(&link).unwrap();
    }

    #[test]
    fn a_password_file_others_may_read_is_refused_without_showing_the_password() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("password");
        std::fs::write(&path, "s3cret-Pass").unwrap();
        for mode in [0o644, 0o660, 0o604] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            let err = read_password(&path).unwrap_err();
            let shown = format!("{err} {err:?} {}", err.hint().unwrap_or_default());
            assert!(matches!(err, PasswordFileError::Mode { .. }), "{shown}");
            assert!(
                shown.contains("chmod 600") && !shown.contains("s3cret"),
                "{shown}"
            );
        }
    }

    /// Kubernetes mounts a Secret for a non-root pod through `fsGroup`, and the kubelet then
    /// turns the file's mode into at least 0440, root's file in the pod's group: that must be
    /// read. Group read is root's choice only: a file the broker's own user (or anyone else but
    /// root) owns, a group that may write, or others who may read are still refused.
    #[test]
    fn a_root_owned_password_file_may_be_read_by_its_group_as_kubernetes_mounts_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("password");
        std::fs::write(&path, "s3cret-Pass\n").unwrap();
        let as_root = docker_credential_harbor_core::atomic_file::euid() == 0;
        for (mode, root_may) in [(0o440, true), (0o640, true), (0o460, false), (0o444, false)] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            let read = read_password(&path);
            assert_eq!(read.is_ok(), as_root && root_may, "mode {mode:o}");
        }
        if as_root {
            // The same 0440 file owned by another user: not root's choice, refused.
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o440)).unwrap();
            std::os::unix::fs::chown(&path, Some(65534), None).unwrap();
            let err = read_password(&path).unwrap_err();
            assert!(matches!(err, PasswordFileError::Mode { .. }), "{err}");
        }
    }

    #[test]
    fn an_empty_missing_or_oversized_password_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("password");
        for contents in [
            "".to_string(),
            "\n".into(),
            "x".repeat(MAX_PASSWORD_BYTES as usize + 1),
        ] {
            std::fs::write(&path, contents).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
            assert!(read_password(&path).is_err());
        }
        let err = read_password(&dir.path().join("nope"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("harbor.password_file") && err.contains("nope"),
            "{err}"
        );
        assert!(
            read_password(dir.path()).is_err(),
            "a directory is not a password file"
        );
    }
}
