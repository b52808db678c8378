//! A Kubernetes service-account token's claims, as the API server's token issuer writes
//! them (`pkg/serviceaccount/claims.go`: `sub` is `system:serviceaccount:<namespace>:<name>`,
//! the `kubernetes.io` object names the namespace, the service account, and for a bound
//! token the pod and the node), for `POST /v1/kubernetes/credentials`.
//!
//! What it must never do: trust `sub` over the `kubernetes.io` object (the two must agree,
//! or the token is refused), or accept a namespace or name that is not a Kubernetes name
//! (they reach a Harbor robot's description and the audit line).

use std::fmt;

use serde::Deserialize;

use crate::claims::Audience;

/// A named object the token is bound to: its name and UID.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct Bound {
    pub name: String,
    pub uid: String,
}

/// The `kubernetes.io` object of a service-account token.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct KubernetesIo {
    pub namespace: String,
    pub serviceaccount: Bound,
    /// Present in a token bound to a pod (what the kubelet requests for a credential
    /// provider); absent in a legacy or TokenRequest token bound to nothing.
    pub pod: Option<Bound>,
    /// Present from Kubernetes 1.32 (`ServiceAccountTokenPodNodeInfo`) in a pod-bound token.
    pub node: Option<Bound>,
}

/// A verified service-account token's claims.
#[derive(Clone, Debug, Deserialize)]
pub struct ServiceAccountClaims {
    pub iss: String,
    pub sub: String,
    pub aud: Audience,
    pub exp: u64,
    pub nbf: u64,
    pub iat: u64,
    pub jti: Option<String>,
    #[serde(rename = "kubernetes.io")]
    pub kubernetes_io: KubernetesIo,
}

impl ServiceAccountClaims {
    pub fn namespace(&self) -> &str {
        &self.kubernetes_io.namespace
    }

    /// The service account's name (not its `sub`).
    pub fn service_account(&self) -> &str {
        &self.kubernetes_io.serviceaccount.name
    }
}

/// `<namespace>/<name>`: how messages, the audit line and robot descriptions name a service
/// account.
pub struct Qualified<'a>(pub &'a ServiceAccountClaims);

impl fmt::Display for Qualified<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.0.namespace(), self.0.service_account())
    }
}

/// A DNS label (RFC 1123), Kubernetes' rule for a namespace: 1 to 63 of `[a-z0-9-]`, a letter
/// or digit at each end.
pub fn is_dns_label(s: &str) -> bool {
    (1..=63).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// A DNS subdomain (RFC 1123), Kubernetes' rule for a service account's name: at most 253,
/// dot-separated DNS labels.
pub fn is_dns_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_dns_label)
}

/// Why a verified token's claims are still refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SubjectError {
    #[error("the token's kubernetes.io.namespace is not a Kubernetes namespace name")]
    Namespace,
    #[error("the token's kubernetes.io.serviceaccount.name is not a service account name")]
    Name,
    #[error(
        "the token's sub is not system:serviceaccount:<namespace>:<name> of its kubernetes.io \
         claims"
    )]
    Subject,
}

impl ServiceAccountClaims {
    /// Checks that the names are Kubernetes names and that `sub` names the same service
    /// account as the `kubernetes.io` object.
    pub fn check_subject(&self) -> Result<(), SubjectError> {
        if !is_dns_label(self.namespace()) {
            return Err(SubjectError::Namespace);
        }
        if !is_dns_subdomain(self.service_account()) {
            return Err(SubjectError::Name);
        }
        let expected = format!(
            "system:serviceaccount:{}:{}",
            self.namespace(),
            self.service_account()
        );
        if self.sub != expected {
            return Err(SubjectError::Subject);
        }
        Ok(())
    }

    /// The pod's name, when the token is bound to one.
    pub fn pod(&self) -> Option<&str> {
        self.kubernetes_io.pod.as_ref().map(|p| p.name.as_str())
    }

    /// The node's name, when the token names it.
    pub fn node(&self) -> Option<&str> {
        self.kubernetes_io.node.as_ref().map(|n| n.name.as_str())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::claims::{TokenError, TokenVerifier};
    use crate::keys::StaticKeys;
    use crate::test_keys::{A, B, jwks, kubernetes_claims, sign};

    const ISSUER: &str = "https://kubernetes.default.svc.cluster.local";
    const AUDIENCE: &str = "harbor-broker";

    fn header() -> Value {
        json!({"alg": "RS256", "kid": "a"})
    }

    /// A service-account token of ci/builder with `f` applied, signed by key a.
    fn token(f: impl FnOnce(&mut Value)) -> String {
        let mut claims = kubernetes_claims(ISSUER, AUDIENCE, "ci", "builder");
        f(&mut claims);
        sign(A, &header(), &claims)
    }

    /// The token's claims when it verifies and its subject checks out.
    fn verify(token: &str) -> Result<ServiceAccountClaims, String> {
        let keys = StaticKeys::from_jwks(&jwks(&[(A, "a")])).unwrap();
        let claims: ServiceAccountClaims = TokenVerifier::new(ISSUER, AUDIENCE)
            .unwrap()
            .verify_as(token, &keys)
            .map_err(|e: TokenError| format!("token: {e}"))?;
        claims
            .check_subject()
            .map_err(|e| format!("subject: {e}"))?;
        Ok(claims)
    }

    #[test]
    fn a_token_as_the_api_server_writes_it_verifies_with_its_typed_claims() {
        let claims = verify(&token(|_| {})).unwrap();
        assert_eq!(Qualified(&claims).to_string(), "ci/builder");
        assert_eq!(claims.pod(), Some("builder-0"));
        assert_eq!(claims.node(), Some("node-1"));
        // A token bound to nothing (no pod, no node) verifies too.
        let claims = verify(&token(|c| {
            let io = c["kubernetes.io"].as_object_mut().unwrap();
            io.remove("pod");
            io.remove("node");
        }))
        .unwrap();
        assert_eq!(claims.pod(), None);
    }

    #[test]
    fn a_wrong_audience_an_expired_token_or_a_foreign_key_is_refused() {
        let err = verify(&token(|c| {
            c["aud"] = json!(["https://kubernetes.default.svc"])
        }));
        assert!(err.unwrap_err().contains("aud"));
        let err = verify(&token(|c| c["exp"] = json!(1)));
        assert!(err.unwrap_err().contains("expired"));
        let err = verify(&sign(
            A,
            &json!({"alg": "RS256", "kid": "zz"}),
            &kubernetes_claims(ISSUER, AUDIENCE, "ci", "builder"),
        ));
        assert!(err.unwrap_err().contains("zz"));
        let forged = sign(
            B,
            &header(),
            &kubernetes_claims(ISSUER, AUDIENCE, "ci", "builder"),
        );
        assert!(verify(&forged).unwrap_err().contains("signature"));
    }

    #[test]
    fn a_sub_that_disagrees_with_the_kubernetes_io_claims_is_refused() {
        for sub in [
            "system:serviceaccount:ci:other",
            "system:serviceaccount:prod:builder",
            "system:serviceaccount:ci:builder:x",
            "ci/builder",
        ] {
            let err = verify(&token(|c| c["sub"] = json!(sub))).unwrap_err();
            assert_eq!(err, format!("subject: {}", SubjectError::Subject), "{sub}");
        }
        let err = verify(&token(|c| {
            c["kubernetes.io"]["namespace"] = json!("Ci");
            c["sub"] = json!("system:serviceaccount:Ci:builder");
        }))
        .unwrap_err();
        assert_eq!(err, format!("subject: {}", SubjectError::Namespace));
        let err = verify(&token(|c| {
            c["kubernetes.io"]["serviceaccount"]["name"] = json!("a:b");
            c["sub"] = json!("system:serviceaccount:ci:a:b");
        }))
        .unwrap_err();
        assert_eq!(err, format!("subject: {}", SubjectError::Name));
    }

    #[test]
    fn a_gitlab_token_is_refused_at_the_kubernetes_door() {
        // Signed by a key the cluster publishes, yet GitLab-shaped: wrong iss, aud and claims.
        let gitlab = crate::test_keys::gitlab_claims("https://gitlab.example.com", AUDIENCE);
        let err = verify(&sign(A, &header(), &gitlab)).unwrap_err();
        assert!(err.starts_with("token:"), "{err}");
        let mut same_iss = gitlab;
        same_iss["iss"] = json!(ISSUER);
        let err = verify(&sign(A, &header(), &same_iss)).unwrap_err();
        assert!(err.contains("kubernetes.io"), "{err}");
        // nbf is required: the API server always writes it.
        let err = verify(&token(|c| {
            c.as_object_mut().unwrap().remove("nbf");
        }))
        .unwrap_err();
        assert!(err.contains("nbf"), "{err}");
    }

    #[test]
    fn names_follow_kubernetes_rules() {
        for good in ["ci", "a", "team-1", &"a".repeat(63)] {
            assert!(is_dns_label(good), "{good}");
        }
        for bad in ["", "-a", "a-", "A", "a.b", "a_b", &"a".repeat(64), "a\n"] {
            assert!(!is_dns_label(bad), "{bad:?}");
        }
        assert!(is_dns_subdomain("builder.v2"));
        assert!(!is_dns_subdomain("builder..v2"));
        assert!(!is_dns_subdomain(&"a.".repeat(127)));
    }
}
