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
