//! What the kubelet provider's tests share (tests/kubelet.rs against the stand-in broker,
//! tests/kubelet_e2e.rs against the real one): the v1 request as the kubelet encodes it, the
//! refusal the kubelet must see, and Go's duration text read back. It holds no secret and
//! never runs the provider itself.

use std::time::{SystemTime, UNIX_EPOCH};

use super::Out;

/// The v1 request as the kubelet encodes it (Go's encoding/json: field order, a final newline),
/// with the pod's service-account token when there is one.
pub fn request(image: &str, token: Option<&str>) -> String {
    let token = token
        .map(|t| format!(",\"serviceAccountToken\":\"{t}\""))
        .unwrap_or_default();
    format!(
        "{{\"kind\":\"CredentialProviderRequest\",\"apiVersion\":\"credentialprovider.kubelet.k8s.io/v1\",\"image\":\"{image}\"{token}}}\n"
    )
}

/// A failure as the kubelet must see it: exit 1, nothing on stdout, one line on stderr.
pub fn assert_refused(out: &Out, holds: &str) {
    assert_eq!(out.code, Some(1), "{out:?}");
    assert_eq!(out.stdout, "", "{out:?}");
    assert_eq!(out.stderr.lines().count(), 1, "{out:?}");
    assert!(out.stderr.contains(holds), "expected {holds:?} in {out:?}");
}

/// Go's `time.Duration.String()` of whole seconds (`"4m0s"`, `"1h0m0s"`, `"0s"`), back to
/// seconds.
pub fn go_seconds(go: &str) -> u64 {
    let (mut total, mut n) = (0, 0);
    for c in go.chars() {
        match c {
            '0'..='9' => n = n * 10 + u64::from(c.to_digit(10).unwrap()),
            'h' => (total, n) = (total + n * 3600, 0),
            'm' => (total, n) = (total + n * 60, 0),
            's' => (total, n) = (total + n, 0),
            _ => panic!("not a Go duration of whole seconds: {go:?}"),
        }
    }
    total
}

/// Unix seconds now.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}
