//! Entry points for the broker's fuzz targets (`crates/broker/fuzz/`, a cargo-fuzz workspace
//! of its own) and for the test that replays their corpus (`tests/fuzz_corpus.rs`): one
//! function per parser of outside input. Each hands the bytes to the parser as the broker
//! will, then checks what must hold whatever the input; a violated property panics, which the
//! fuzzer reports as a crash. Not an API: only a build with the `fuzzing` feature compiles it,
//! and it performs no I/O.

use docker_credential_harbor_core::text;

use crate::claims::{Claims, TokenVerifier};
use crate::config;
use crate::keys::{self, StaticKeys};
use crate::kubernetes::ServiceAccountClaims;
use crate::policy::{self, KubernetesRule};
use crate::server;

/// A target: bytes in, a panic when a property fails.
pub type Target = fn(&[u8]);

/// Every target, by the name of its file in `crates/broker/fuzz/fuzz_targets/` and its
/// corpus directory (names unique across the repository's fuzz workspaces).
pub const TARGETS: &[(&str, Target)] = &[
    ("id_token", id_token),
    ("broker_config", broker_config),
    ("request_bodies", request_bodies),
];

/// The public half of the test-only key `a` (tests/keys/README.md).
const JWKS: &[u8] = include_bytes!("../tests/keys/a.jwks.json");

/// Nothing the house's escaping would change (a tab and a line break are kept: a parser's
/// message may have several lines).
fn printable(message: &str) -> bool {
    text::escape(message) == message
}

/// A bearer token, the claims JSON and a JWKS body: verification never panics and never
/// succeeds (nothing here holds the private key, so an accepted input would be a forgery);
/// its refusal never quotes a part of the token nor holds a control character. The claims and JWKS
/// parsers never panic on the same bytes, nor do a service account's claims, its verification
/// (never accepted either) and the image split of `POST /v1/kubernetes/credentials`.
pub fn id_token(data: &[u8]) {
    let _ = serde_json::from_slice::<Claims>(data);
    let _ = keys::parse_jwks(data);
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    let keys = StaticKeys::from_jwks(JWKS).expect("the committed test JWKS parses");
    let verifier = TokenVerifier::new("https://gitlab.example.com", "https://broker.example")
        .expect("no other crypto provider in the fuzz target");
    // A service account's claims and an image as a kubelet might send them: parsing never
    // panics, and a registry key is lower-case.
    let _ = serde_json::from_slice::<ServiceAccountClaims>(data);
    let image = policy::Image::parse(token);
    assert!(
        !image.registry.bytes().any(|b| b.is_ascii_uppercase()),
        "{image:?}"
    );
    if let Ok(claims) = verifier.verify_as::<ServiceAccountClaims>(token, &keys) {
        panic!("a service-account token with no valid signature was accepted: {claims:?}");
    }
    let err = match verifier.verify(token, &keys) {
        Ok(claims) => panic!("a token with no valid signature was accepted: {claims:?}"),
        Err(err) => err.to_string(),
    };
    assert!(text::inline(&err) == err, "{err:?}");
    // A JWT's parts are base64url; a long one never shows up in a refusal (the messages'
    // own words are shorter, and a kid or alg is shown decoded, never encoded).
    for part in token.split('.') {
        let encoded = part
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if encoded && part.len() >= 16 {
            assert!(!err.contains(part), "{err:?}");
        }
    }
}

/// The config file's text: parsing never panics; a refusal holds nothing the house's
/// escaping would change; an accepted config has rules (or serves Kubernetes) and bounded robot lifetimes.
pub fn broker_config(data: &[u8]) {
    let Ok(source) = std::str::from_utf8(data) else {
        return;
    };
    match config::parse(source) {
        Ok(config) => {
            assert!(!config.rules.is_empty() || config.kubernetes.is_some());
            let ttl = config.robots.ttl_seconds;
            assert!((config::MIN_TTL..=config::MAX_TTL).contains(&ttl));
            assert!(config.robots.sweep_interval_seconds <= ttl);
            assert!(
                config
                    .gitlab
                    .as_ref()
                    .is_none_or(|g| g.issuer.starts_with("https://"))
            );
        }
        Err(err) => {
            let shown = err.to_string();
            assert!(printable(&shown), "{shown:?}");
        }
    }
}

/// The bodies of `POST /v1/credentials` and `POST /v1/kubernetes/credentials`, and the
/// Kubernetes decision on the image read: a refusal is one line; an accepted image is
/// non-empty with no space or control character; a grant is for the image's own registry and
/// project and a rule's; the other grants are the service account's other projects, each
/// once.
pub fn request_bodies(data: &[u8]) {
    if let Err(err) = server::parse_ask(data) {
        assert!(text::inline(&err) == err, "{err:?}");
    }
    let image = match server::parse_image(data) {
        Ok(image) => image,
        Err(err) => {
            assert!(text::inline(&err) == err, "{err:?}");
            return;
        }
    };
    assert!(!image.is_empty() && !image.chars().any(|c| c.is_whitespace() || c.is_control()));
    let rule = |namespace: &str, service_account: Option<&str>, project: &str| KubernetesRule {
        namespace: namespace.into(),
        service_account: service_account.map(String::from),
        harbor_project: project.into(),
    };
    let rules = [
        rule("ci", Some("builder"), "ci-images"),
        rule("ci", None, "base"),
        rule("other", None, "secret"),
        rule("ci", None, "ci-images"),
    ];
    let claims: ServiceAccountClaims = serde_json::from_value(serde_json::json!({
        "aud": ["harbor-broker"], "exp": 2, "iat": 1, "nbf": 1, "iss": "https://k",
        "kubernetes.io": {"namespace": "ci", "serviceaccount": {"name": "builder", "uid": "u"}},
        "sub": "system:serviceaccount:ci:builder",
    }))
    .expect("the fuzz target's claims parse");
    const HARBOR: &str = "harbor.example.com";
    match policy::decide_kubernetes(&rules, &claims, &image, HARBOR) {
        Ok(grant) => {
            let parsed = policy::Image::parse(&image);
            assert_eq!(parsed.registry, HARBOR, "{image:?}");
            assert_eq!(parsed.project, Some(grant.harbor_project.as_str()));
            assert!(["ci-images", "base"].contains(&grant.harbor_project.as_str()));
            let others = policy::other_kubernetes_grants(&rules, &claims, &grant);
            let mut seen = vec![grant.harbor_project.as_str()];
            for other in &others {
                assert!(!seen.contains(&other.harbor_project.as_str()), "{others:?}");
                seen.push(&other.harbor_project);
            }
            seen.sort_unstable();
            assert_eq!(seen, ["base", "ci-images"]);
        }
        Err(refusal) => {
            let shown = refusal.to_string();
            assert!(text::inline(&shown) == shown, "{shown:?}");
        }
    }
}
