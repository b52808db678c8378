//! One HTTP answer from Harbor, read whole and bounded, and what its error body says. Its
//! `Debug` never shows the body: a robot's secret arrives in one.

use std::fmt;

use super::HarborError;

/// One HTTP answer, read whole (Harbor's API answers are small).
pub struct Reply {
    pub status: u16,
    pub request_id: Option<String>,
    pub content_type: String,
    pub total_count: Option<u64>,
    pub body: Vec<u8>,
}

/// The body can hold a robot's secret (`POST /robots`): `Debug` shows only its length.
impl fmt::Debug for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reply")
            .field("status", &self.status)
            .field("request_id", &self.request_id)
            .field("content_type", &self.content_type)
            .field("total_count", &self.total_count)
            .field(
                "body",
                &format_args!("({} bytes, not shown)", self.body.len()),
            )
            .finish()
    }
}

impl Reply {
    pub fn is_json(&self) -> bool {
        self.content_type.starts_with("application/json")
    }

    /// The first `errors[].message` of Harbor's error body; never the raw body.
    pub fn error_message(&self) -> Option<String> {
        if !self.is_json() {
            return None;
        }
        #[derive(serde::Deserialize)]
        struct Errors {
            errors: Vec<Item>,
        }
        #[derive(serde::Deserialize)]
        struct Item {
            #[serde(default)]
            code: String,
            #[serde(default)]
            message: String,
        }
        let e: Errors = serde_json::from_slice(&self.body).ok()?;
        let first = e.errors.into_iter().next()?;
        Some(format!("{}: {}", first.code, first.message))
    }

    /// An `Unexpected` error for this reply.
    pub fn unexpected(&self, what: &str) -> HarborError {
        HarborError::Unexpected {
            what: what.to_owned(),
            status: self.status,
            request_id: self.request_id.clone(),
            message: self.error_message(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue_9_debug_of_a_reply_never_shows_its_body() {
        let reply = Reply {
            status: 201,
            request_id: None,
            content_type: "application/json".into(),
            total_count: None,
            body: br#"{"name":"robot$p+ci","secret":"ROBOTSECRET"}"#.to_vec(),
        };
        let shown = format!("{reply:?}");
        assert!(
            !shown.contains("ROBOTSECRET") && shown.contains("44 bytes"),
            "{shown}"
        );
    }
}
