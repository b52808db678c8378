//! The audit line: one JSON object per decision, on its own line on stdout (a mint, a release,
//! a sweep that deleted or failed something), for the log collector. serde_json does all the
//! escaping, so a claim holding a newline or an escape sequence stays inside its string.
//!
//! What it must never do: hold a token, a robot's secret, the broker's password or a key. An
//! [`Entry`] has no field that could: the claims it copies are IDs, paths and names, and the
//! robot is named, never its secret.

use std::io::Write;
use std::sync::Mutex;

use serde::Serialize;

use crate::claims::Claims;
use crate::kubernetes::ServiceAccountClaims;
use harbor_client::broker::Access;

use crate::policy::Grant;

/// One audit line. Fields left `None` are left out.
#[derive(Debug, Default, Serialize)]
pub struct Entry {
    /// RFC 3339, UTC, to the second.
    pub time: String,
    /// `mint`, `release` or `sweep`.
    pub event: &'static str,
    /// `granted` (a robot minted or released), `refused` (token or policy), or `error` (the
    /// request, or Harbor).
    pub outcome: &'static str,
    /// The HTTP status answered (none for a sweep).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Why: the refusal's or the error's text, or what was done.
    pub reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pipeline_id: Option<String>,
    /// The project the job runs in (`job_project_id` for a fork's merge request).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project_path: Option<String>,
    #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
    pub git_ref: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ref_protected: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_login: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// A service account's namespace (`POST /v1/kubernetes/credentials`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// A service account's name, without its namespace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_account: Option<String>,
    /// The pod the service-account token is bound to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pod: Option<String>,
    /// The node the pod runs on, as the token names it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// The image the kubelet asked credentials for, as it sent it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// The robot's name as Harbor returned it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub robot: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub harbor_project: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_asked: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_granted: Option<&'static str>,
    /// The deciding `[[rules]]` (or, with `namespace`, `[[kubernetes_rules]]`) entry,
    /// counted from 1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<usize>,
    /// A service account's robots in its other granted projects, as Harbor named them, minted
    /// with the image's (`POST /v1/kubernetes/credentials`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub other_robots: Vec<String>,
    /// Robots deleted (release, sweep).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deleted: Option<usize>,
    /// Expired robots a sweep could not delete.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed: Option<usize>,
}

impl Entry {
    /// An entry for `event` with its outcome, stamped now.
    pub fn new(event: &'static str, outcome: &'static str, reason: impl Into<String>) -> Entry {
        Entry {
            time: now_rfc3339(),
            event,
            outcome,
            reason: reason.into(),
            ..Entry::default()
        }
    }

    /// The job's fields, from a verified token.
    pub fn job(mut self, claims: &Claims) -> Entry {
        self.job_id = Some(claims.job_id.to_string());
        self.pipeline_id = Some(claims.pipeline_id.to_string());
        self.project_id = Some(claims.running_project_id().to_string());
        self.project_path = Some(claims.running_project_path().to_owned());
        self.git_ref = Some(claims.git_ref.clone());
        self.ref_protected = Some(claims.ref_protected == crate::claims::RefProtected::True);
        self.user_login = Some(claims.user_login.clone());
        self.user_id = Some(claims.user_id.to_string());
        self
    }

    /// The service account's fields, from a verified token.
    pub fn service_account(mut self, claims: &ServiceAccountClaims) -> Entry {
        self.namespace = Some(claims.namespace().to_owned());
        self.service_account = Some(claims.service_account().to_owned());
        self.pod = claims.pod().map(String::from);
        self.node = claims.node().map(String::from);
        self
    }

    /// What was asked and what the rule grants.
    pub fn grant(mut self, asked: Access, grant: &Grant) -> Entry {
        self.access_asked = Some(asked.as_str());
        self.access_granted = Some(grant.access.as_str());
        self.harbor_project = Some(grant.harbor_project.clone());
        self.rule = Some(grant.rule);
        self
    }
}

fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    time::OffsetDateTime::from_unix_timestamp(now)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// Where audit lines go: stdout in the service, a buffer in tests.
pub struct Audit {
    out: Mutex<Box<dyn Write + Send>>,
}

impl Audit {
    pub fn stdout() -> Audit {
        Audit::to(Box::new(std::io::stdout()))
    }

    pub fn to(out: Box<dyn Write + Send>) -> Audit {
        Audit {
            out: Mutex::new(out),
        }
    }

    /// Writes one line. A failed write (stdout closed) loses that line and nothing else: the
    /// answer to the job does not depend on the log collector.
    pub fn write(&self, entry: &Entry) {
        let Ok(mut line) = serde_json::to_vec(entry) else {
            return;
        };
        line.push(b'\n');
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        let _ = out.write_all(&line).and_then(|()| out.flush());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_is_one_json_object_with_control_characters_escaped() {
        let mut entry = Entry::new("mint", "refused", "no rule\n\u{1b}[2J");
        entry.project_path = Some("evil\ngroup/app".into());
        let line = serde_json::to_string(&entry).unwrap();
        assert!(!line.contains('\n') && !line.contains('\u{1b}'), "{line}");
        let back: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(back["project_path"], "evil\ngroup/app");
        assert_eq!(back["event"], "mint");
        assert!(back.get("robot").is_none());
        let time = back["time"].as_str().unwrap();
        assert!(time.len() == 20 && time.ends_with('Z'), "{time}");
    }
}
