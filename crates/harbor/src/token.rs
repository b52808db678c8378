//! What a token from Harbor's `/service/token` grants, read from its JWT payload.
//!
//! Harbor answers wrong credentials with an anonymous token, not a 401, when a scope is asked
//! (docs/harbor.md#verification-in-one-request), so "authenticated" means a non-empty `sub`.
//! Granted actions ignore what was asked and come in random order; they are compared as a set,
//! tolerating the `*` of 2.1.4–2.8 and the 2.0 RWM list. The signature is not checked: this is a
//! diagnosis, the registry does the enforcing. The token itself is never stored, printed or logged.

use std::collections::BTreeSet;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;

/// What the token says about the caller and one requested repository scope.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    /// `sub`: the account Harbor authenticated, `None` for an anonymous token.
    pub subject: Option<String>,
    /// The actions granted on the first requested scope.
    pub actions: BTreeSet<String>,
}

impl Grant {
    pub fn authenticated(&self) -> bool {
        self.subject.as_deref().is_some_and(|s| !s.is_empty())
    }

    pub fn may_pull(&self) -> bool {
        // A project robot's push implies pull (docs/harbor.md#verification-in-one-request).
        self.actions.contains("pull") || self.actions.contains("push")
    }

    pub fn may_push(&self) -> bool {
        self.actions.contains("push")
    }
}

#[derive(Deserialize)]
struct TokenBody {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    access_token: Option<String>,
}

#[derive(Deserialize)]
struct Claims {
    #[serde(default)]
    sub: Option<String>,
    #[serde(default)]
    access: Option<Vec<Access>>,
}

#[derive(Deserialize)]
struct Access {
    #[serde(default)]
    actions: Vec<String>,
}

/// Reads a `/service/token` 200 body. `None` when it is not a token answer at all.
pub fn grant_from_body(body: &[u8]) -> Option<Grant> {
    let parsed: TokenBody = serde_json::from_slice(body).ok()?;
    // Harbor fills `token` and leaves `access_token` empty; distribution servers may do either.
    let jwt = parsed
        .token
        .filter(|t| !t.is_empty())
        .or(parsed.access_token.filter(|t| !t.is_empty()))?;
    grant_from_jwt(&jwt)
}

fn grant_from_jwt(jwt: &str) -> Option<Grant> {
    let payload = jwt.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    let claims: Claims = serde_json::from_slice(&bytes).ok()?;
    let actions = claims
        .access
        .and_then(|a| a.into_iter().next())
        .map(|a| a.actions.into_iter().filter(|x| x != "*").collect())
        .unwrap_or_default();
    Some(Grant {
        subject: claims.sub.filter(|s| !s.is_empty()),
        actions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(claims: &str) -> String {
        format!(
            "{}.{}.c2ln",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"RS256","typ":"JWT"}"#),
            URL_SAFE_NO_PAD.encode(claims)
        )
    }

    fn body(claims: &str) -> Vec<u8> {
        format!(
            r#"{{"token":"{}","access_token":"","expires_in":1800}}"#,
            jwt(claims)
        )
        .into_bytes()
    }

    #[test]
    fn developer_token_grants_pull_and_push_in_any_order() {
        let g = grant_from_body(&body(
            r#"{"sub":"alice","access":[{"type":"repository","name":"proj/x","actions":["push","pull"]}]}"#,
        ))
        .unwrap();
        assert!(g.authenticated() && g.may_pull() && g.may_push());
        assert_eq!(g.subject.as_deref(), Some("alice"));
    }

    #[test]
    fn anonymous_token_has_no_subject() {
        for claims in [
            r#"{"access":[{"type":"repository","name":"pub/x","actions":["pull"]}]}"#,
            r#"{"sub":"","access":[{"type":"repository","name":"proj/x","actions":[]}]}"#,
        ] {
            let g = grant_from_body(&body(claims)).unwrap();
            assert!(!g.authenticated());
        }
    }

    #[test]
    fn version_variants_star_and_rwm_lists() {
        let g = grant_from_body(&body(
            r#"{"sub":"pam","access":[{"type":"repository","name":"proj/x","actions":["delete","*","pull","push"]}]}"#,
        ))
        .unwrap();
        assert!(g.may_push() && !g.actions.contains("*"));
        let g = grant_from_body(&body(
            r#"{"sub":"u","access":[{"actions":["push","*","pull"]}]}"#,
        ))
        .unwrap();
        assert!(g.may_push() && g.may_pull());
        let guest =
            grant_from_body(&body(r#"{"sub":"gary","access":[{"actions":["pull"]}]}"#)).unwrap();
        assert!(guest.may_pull() && !guest.may_push());
        let none = grant_from_body(&body(r#"{"sub":"dave","access":null}"#)).unwrap();
        assert!(!none.may_pull());
    }

    #[test]
    fn garbage_is_not_a_grant() {
        assert_eq!(grant_from_body(b"<html>"), None);
        assert_eq!(grant_from_body(br#"{"token":"not-a-jwt"}"#), None);
        assert_eq!(grant_from_body(br#"{"token":""}"#), None);
    }
}
