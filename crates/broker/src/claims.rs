//! GitLab CI's id_token: its claims as a typed struct (docs of GitLab's id_token
//! authentication; IDs are strings, `ref_protected` is the string `"true"` or `"false"`), and
//! [`TokenVerifier`], which checks a token with jsonwebtoken and returns them.
//!
//! What a token must be: RS256 (never `none`, HMAC or another algorithm), a `kid` in its
//! header that the issuer's JWKS holds, a valid signature, `iss` and `aud` exactly the
//! configured ones, `exp`, `nbf` and `iat` within [`LEEWAY`], and every claim the policy or
//! the audit line reads present with its type. No error here echoes the token or any part
//! of it other than a short, escaped `kid` or claim name.

use std::collections::HashSet;
use std::fmt;

use docker_credential_harbor_core::problem::Problem;
use docker_credential_harbor_core::text;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use serde::{Deserialize, Deserializer};

use crate::crypto;
pub use crate::crypto::ForeignProvider;
use crate::keys::{KeyError, KeyStore};

/// Allowed clock difference with GitLab for `exp`, `nbf` and `iat`, in seconds.
pub const LEEWAY: u64 = 60;
/// A longer bearer is refused before it is parsed (GitLab's are about 1.5 KiB).
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;
/// A longer `kid` is refused: it is only ever a short fingerprint, and it is shown in errors.
const MAX_KID_BYTES: usize = 128;

/// A GitLab numeric ID (project, namespace, job, pipeline, user), sent as a string of digits.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Id(String);

impl Id {
    /// `s` when it is 1 to 20 ASCII digits (a u64), else `None`.
    pub fn parse(s: &str) -> Option<Id> {
        let ok = !s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit());
        ok.then(|| Id(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Id({})", self.0)
    }
}

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Id, D::Error> {
        let s = String::deserialize(d)?;
        Id::parse(&s)
            .ok_or_else(|| serde::de::Error::custom("an ID that is not a string of digits"))
    }
}

/// `ref_protected`: GitLab sends the string `"true"` or `"false"`; anything else is refused,
/// so a JSON `true` cannot pass for a protected ref by accident.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub enum RefProtected {
    #[serde(rename = "true")]
    True,
    #[serde(rename = "false")]
    False,
}

/// `aud`: one string or an array of them (`.gitlab-ci.yml` allows both).
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    One(String),
    Many(Vec<String>),
}

/// The claims the broker reads. Unknown claims are ignored (GitLab adds some in most
/// releases); the ones here are checked for presence and type. `sub` is never parsed
/// (projects can change its components); the policy reads the ID claims.
#[derive(Clone, Debug, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub sub: String,
    pub aud: Audience,
    pub exp: u64,
    pub nbf: u64,
    pub iat: u64,
    pub jti: String,
    pub namespace_id: Id,
    pub namespace_path: String,
    pub project_id: Id,
    pub project_path: String,
    /// The project that runs the job (GitLab 18.3+). In a merge request pipeline from a fork,
    /// `project_*` and `namespace_*` name the fork; these name the parent.
    pub job_project_id: Option<Id>,
    pub job_project_path: Option<String>,
    pub job_namespace_id: Option<Id>,
    pub job_namespace_path: Option<String>,
    pub user_id: Id,
    pub user_login: String,
    pub user_email: Option<String>,
    pub user_access_level: Option<String>,
    pub pipeline_id: Id,
    pub pipeline_source: String,
    pub job_id: Id,
    #[serde(rename = "ref")]
    pub git_ref: String,
    pub ref_type: String,
    pub ref_path: Option<String>,
    pub ref_protected: RefProtected,
    pub environment: Option<String>,
    pub environment_protected: Option<String>,
    pub deployment_tier: Option<String>,
    pub runner_id: Option<u64>,
    pub runner_environment: Option<String>,
    pub sha: Option<String>,
    pub project_visibility: Option<String>,
}

impl Claims {
    /// The project the job runs in: `job_project_id` when the token carries it (fork merge
    /// requests), else `project_id`.
    pub fn running_project_id(&self) -> &Id {
        self.job_project_id.as_ref().unwrap_or(&self.project_id)
    }

    /// Its path, on the same terms.
    pub fn running_project_path(&self) -> &str {
        self.job_project_path
            .as_deref()
            .unwrap_or(&self.project_path)
    }

    /// Its namespace, on the same terms.
    pub fn running_namespace_id(&self) -> &Id {
        self.job_namespace_id.as_ref().unwrap_or(&self.namespace_id)
    }
}

/// Why a token was refused: a 401's reason. Never holds the token.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("the token is longer than {} KiB", MAX_TOKEN_BYTES / 1024)]
    TooLong,
    #[error("the token is not a JWT (three base64url parts with a JSON header)")]
    Malformed,
    #[error("the token is signed with {0}; only RS256 is accepted")]
    Algorithm(String),
    #[error("the token's header has no kid (key ID)")]
    NoKid,
    #[error("the token's header has a kid longer than {MAX_KID_BYTES} bytes")]
    KidTooLong,
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error("the token's signature does not verify with the issuer's key")]
    Signature,
    #[error("the token's iss is not this broker's issuer")]
    Issuer,
    #[error("the token's aud does not include this broker's audience")]
    Audience,
    #[error("the token has expired (exp is more than {LEEWAY} s ago)")]
    Expired,
    #[error("the token is not valid yet (nbf is more than {LEEWAY} s ahead)")]
    NotYetValid,
    #[error("the token was issued in the future (iat is more than {LEEWAY} s ahead)")]
    IssuedInFuture,
    #[error("the token lacks the claim {0}")]
    MissingClaim(String),
    #[error("the token's claims are not as its issuer writes them: {0}")]
    Claims(String),
    #[error(transparent)]
    Provider(#[from] ForeignProvider),
}

impl Problem for TokenError {
    fn hint(&self) -> Option<String> {
        match self {
            TokenError::Issuer => Some(
                "[gitlab] issuer must be GitLab's URL exactly as its tokens say it (no trailing \
                 slash)"
                    .into(),
            ),
            TokenError::Audience => {
                Some("the job's id_tokens aud in .gitlab-ci.yml must be [gitlab] audience".into())
            }
            TokenError::Expired | TokenError::NotYetValid | TokenError::IssuedInFuture => {
                Some("check the clocks of GitLab and the broker (NTP)".into())
            }
            TokenError::Key(e) => e.hint(),
            _ => None,
        }
    }
}

/// A token's typed claims, as [`TokenVerifier::verify_as`] returns them.
pub trait TokenClaims: serde::de::DeserializeOwned {
    /// `iat`, which jsonwebtoken does not check.
    fn iat(&self) -> u64;
}

impl TokenClaims for Claims {
    fn iat(&self) -> u64 {
        self.iat
    }
}

impl TokenClaims for crate::kubernetes::ServiceAccountClaims {
    fn iat(&self) -> u64 {
        self.iat
    }
}

/// Checks tokens for one issuer and audience.
pub struct TokenVerifier {
    validation: Validation,
}

impl fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenVerifier").finish_non_exhaustive()
    }
}

impl TokenVerifier {
    /// A verifier for tokens whose `iss` is `issuer` and whose `aud` holds `audience`.
    pub fn new(issuer: &str, audience: &str) -> Result<TokenVerifier, ForeignProvider> {
        crypto::install()?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.algorithms = vec![Algorithm::RS256];
        validation.leeway = LEEWAY;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.validate_aud = true;
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.required_spec_claims = ["exp", "nbf", "iat", "iss", "aud", "sub"]
            .into_iter()
            .map(String::from)
            .collect::<HashSet<_>>();
        Ok(TokenVerifier { validation })
    }

    /// The token's GitLab claims when every check passes (the system clock decides `exp`,
    /// `nbf` and `iat`).
    pub fn verify(&self, token: &str, keys: &dyn KeyStore) -> Result<Claims, TokenError> {
        self.verify_as::<Claims>(token, keys)
    }

    /// The token's claims as `T` (GitLab's [`Claims`], or a Kubernetes service account's
    /// [`crate::kubernetes::ServiceAccountClaims`]) when every check passes; the same checks
    /// for each kind.
    pub fn verify_as<T: TokenClaims>(
        &self,
        token: &str,
        keys: &dyn KeyStore,
    ) -> Result<T, TokenError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(TokenError::TooLong);
        }
        // `none` and unknown names fail to parse as an Algorithm: name them. A header that
        // fails for another reason is malformed, whatever its alg.
        let header =
            jsonwebtoken::decode_header(token).map_err(|_| match algorithm_name(token) {
                Some(alg) if alg != "RS256" => TokenError::Algorithm(alg),
                _ => TokenError::Malformed,
            })?;
        if header.alg != Algorithm::RS256 {
            return Err(TokenError::Algorithm(format!("{:?}", header.alg)));
        }
        let kid = header.kid.ok_or(TokenError::NoKid)?;
        if kid.len() > MAX_KID_BYTES {
            return Err(TokenError::KidTooLong);
        }
        let key = keys.key(&kid)?;
        let data = jsonwebtoken::decode::<T>(token, &key, &self.validation)
            .map_err(|e| refusal(e.into_kind()))?;
        let now = jsonwebtoken::get_current_timestamp();
        if data.claims.iat() > now.saturating_add(LEEWAY) {
            return Err(TokenError::IssuedInFuture);
        }
        Ok(data.claims)
    }
}

/// The `alg` of a header that jsonwebtoken could not parse, when it is a short string (so
/// `none` is named as such), escaped.
fn algorithm_name(token: &str) -> Option<String> {
    use base64::Engine as _;
    let first = token.split('.').next()?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(first)
        .ok()?;
    let header: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let alg = header.get("alg")?.as_str()?;
    (alg.len() <= 16).then(|| text::inline(alg).into_owned())
}

fn refusal(kind: ErrorKind) -> TokenError {
    match kind {
        ErrorKind::InvalidSignature => TokenError::Signature,
        ErrorKind::InvalidIssuer => TokenError::Issuer,
        ErrorKind::InvalidAudience => TokenError::Audience,
        ErrorKind::ExpiredSignature => TokenError::Expired,
        ErrorKind::ImmatureSignature => TokenError::NotYetValid,
        ErrorKind::MissingRequiredClaim(c) => {
            TokenError::MissingClaim(text::inline(&c).chars().take(40).collect())
        }
        ErrorKind::InvalidClaimFormat(c) => TokenError::Claims(format!(
            "the claim {} has the wrong type",
            text::inline(&c).chars().take(40).collect::<String>()
        )),
        // serde says which claim is missing or has the wrong type; its text quotes at most a
        // claim's value, never the token, and is cut short.
        ErrorKind::Json(e) => {
            TokenError::Claims(text::inline(&e.to_string()).chars().take(160).collect())
        }
        ErrorKind::InvalidAlgorithm | ErrorKind::InvalidKeyFormat => {
            TokenError::Algorithm("an algorithm or key other than RS256".into())
        }
        _ => TokenError::Malformed,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::keys::StaticKeys;
    use crate::test_keys::{A, B, hs256, jwk, jwks, sign, signing_input};

    pub(crate) const ISSUER: &str = "https://gitlab.example.com";
    pub(crate) const AUDIENCE: &str = "https://harbor-broker.example.com";

    /// The keys a test issuer publishes: only `a`.
    fn published() -> StaticKeys {
        StaticKeys::from_jwks(&jwks(&[(A, "a")])).unwrap()
    }

    fn now() -> u64 {
        jsonwebtoken::get_current_timestamp()
    }

    /// The claims GitLab puts in a job's token, as GitLab types them.
    pub(crate) fn gitlab_claims() -> Value {
        crate::test_keys::gitlab_claims(ISSUER, AUDIENCE)
    }

    fn header() -> Value {
        json!({"alg": "RS256", "typ": "JWT", "kid": "a"})
    }

    fn verify(token: &str) -> Result<Claims, TokenError> {
        TokenVerifier::new(ISSUER, AUDIENCE)
            .unwrap()
            .verify(token, &published())
    }

    /// GitLab's claims with `f` applied, signed by key a.
    fn with(f: impl FnOnce(&mut Value)) -> String {
        let mut claims = gitlab_claims();
        f(&mut claims);
        sign(A, &header(), &claims)
    }

    #[test]
    fn a_token_as_gitlab_signs_it_verifies_with_its_typed_claims() {
        let claims = verify(&with(|_| {})).unwrap();
        assert_eq!(claims.project_id.as_str(), "42");
        assert_eq!(claims.ref_protected, RefProtected::True);
        assert_eq!(claims.git_ref, "main");
        assert_eq!(claims.runner_id, Some(9));
        assert!(claims.job_project_id.is_none());
        assert_eq!(claims.running_project_id().as_str(), "42");
    }

    #[test]
    fn an_aud_array_holding_the_audience_verifies() {
        let token = with(|c| c["aud"] = json!(["https://other.example", AUDIENCE]));
        verify(&token).unwrap();
    }

    #[test]
    fn a_signature_by_another_key_is_refused() {
        let token = sign(B, &header(), &gitlab_claims());
        assert!(matches!(verify(&token), Err(TokenError::Signature)));
    }

    #[test]
    fn a_tampered_payload_is_refused() {
        let token = with(|_| {});
        let parts: Vec<&str> = token.split('.').collect();
        let mut claims = gitlab_claims();
        claims["project_id"] = json!("1");
        let forged = signing_input(&header(), &claims);
        let token = format!("{forged}.{}", parts[2]);
        assert!(matches!(verify(&token), Err(TokenError::Signature)));
    }

    #[test]
    fn alg_none_is_refused() {
        let header = json!({"alg": "none", "typ": "JWT", "kid": "a"});
        let token = format!("{}.", signing_input(&header, &gitlab_claims()));
        let err = verify(&token).unwrap_err();
        assert!(
            matches!(err, TokenError::Algorithm(ref a) if a == "none"),
            "{err}"
        );
    }

    #[test]
    fn hs256_with_the_public_key_as_secret_is_refused() {
        // Key confusion: an HMAC keyed with what the JWKS publishes.
        let header = json!({"alg": "HS256", "typ": "JWT", "kid": "a"});
        let public = jwk(A, "a").to_string();
        for secret in [
            public.as_bytes(),
            jwk(A, "a")["n"].as_str().unwrap().as_bytes(),
        ] {
            let token = hs256(secret, &header, &gitlab_claims());
            let err = verify(&token).unwrap_err();
            assert!(matches!(err, TokenError::Algorithm(_)), "{err}");
        }
    }

    #[test]
    fn other_rsa_algorithms_are_refused() {
        for alg in ["RS384", "RS512", "PS256", "ES256", "EdDSA"] {
            let header = json!({"alg": alg, "typ": "JWT", "kid": "a"});
            let token = sign(A, &header, &gitlab_claims());
            let err = verify(&token).unwrap_err();
            assert!(matches!(err, TokenError::Algorithm(_)), "{alg}: {err}");
        }
    }

    #[test]
    fn a_malformed_rs256_header_is_called_malformed_not_a_wrong_algorithm() {
        for header in [
            json!({"alg": "RS256", "kid": 5}),
            json!({"alg": "RS256", "kid": "a", "crit": 1}),
        ] {
            let token = sign(A, &header, &gitlab_claims());
            let err = verify(&token).unwrap_err();
            assert!(matches!(err, TokenError::Malformed), "{header}: {err}");
        }
    }

    #[test]
    fn a_header_without_kid_is_refused() {
        let token = sign(A, &json!({"alg": "RS256", "typ": "JWT"}), &gitlab_claims());
        assert!(matches!(verify(&token), Err(TokenError::NoKid)));
    }

    #[test]
    fn an_unknown_kid_is_refused() {
        let token = sign(A, &json!({"alg": "RS256", "kid": "zz"}), &gitlab_claims());
        assert!(matches!(
            verify(&token),
            Err(TokenError::Key(KeyError::UnknownKid { .. }))
        ));
    }

    #[test]
    fn a_wrong_issuer_or_audience_is_refused() {
        for iss in [
            "https://gitlab.example.com/",
            "https://evil.example",
            "http://gitlab.example.com",
        ] {
            let err = verify(&with(|c| c["iss"] = json!(iss))).unwrap_err();
            assert!(matches!(err, TokenError::Issuer), "{iss}: {err}");
        }
        for aud in [
            json!("https://harbor-broker.example.com/"),
            json!(["x"]),
            json!("HTTPS://harbor-broker.example.com"),
        ] {
            let err = verify(&with(|c| c["aud"] = aud.clone())).unwrap_err();
            assert!(matches!(err, TokenError::Audience), "{aud}: {err}");
        }
    }

    #[test]
    fn expiry_and_not_before_allow_60_seconds_and_no_more() {
        let now = now();
        verify(&with(|c| c["exp"] = json!(now - 30))).unwrap();
        let err = verify(&with(|c| c["exp"] = json!(now - 120))).unwrap_err();
        assert!(matches!(err, TokenError::Expired), "{err}");
        verify(&with(|c| c["nbf"] = json!(now + 30))).unwrap();
        let err = verify(&with(|c| c["nbf"] = json!(now + 120))).unwrap_err();
        assert!(matches!(err, TokenError::NotYetValid), "{err}");
        verify(&with(|c| c["iat"] = json!(now + 30))).unwrap();
        let err = verify(&with(|c| c["iat"] = json!(now + 120))).unwrap_err();
        assert!(matches!(err, TokenError::IssuedInFuture), "{err}");
    }

    #[test]
    fn a_time_claim_as_a_string_is_refused_not_skipped() {
        // CVE-2026-25537: jsonwebtoken < 10.3 read a mistyped nbf as absent.
        let far = (now() + 100_000).to_string();
        for claim in ["nbf", "exp", "iat"] {
            let err = verify(&with(|c| c[claim] = json!(far))).unwrap_err();
            assert!(!matches!(err, TokenError::Signature), "{claim}: {err}");
        }
    }

    #[test]
    fn a_missing_or_mistyped_claim_is_refused() {
        for claim in [
            "exp",
            "nbf",
            "iat",
            "iss",
            "aud",
            "sub",
            "project_id",
            "namespace_id",
            "job_id",
            "ref",
            "ref_protected",
        ] {
            let err = verify(&with(|c| {
                c.as_object_mut().unwrap().remove(claim);
            }))
            .unwrap_err();
            assert!(
                matches!(err, TokenError::MissingClaim(_) | TokenError::Claims(_)),
                "{claim}: {err}"
            );
            assert!(err.to_string().contains(claim), "{claim}: {err}");
        }
        let mistyped = [
            ("project_id", json!(42)),
            ("project_id", json!("42a")),
            ("ref_protected", json!(true)),
            ("ref_protected", json!("yes")),
            ("job_project_id", json!("")),
        ];
        for (claim, value) in mistyped {
            let err = verify(&with(|c| c[claim] = value.clone())).unwrap_err();
            assert!(
                matches!(err, TokenError::Claims(_)),
                "{claim}={value}: {err}"
            );
        }
    }

    #[test]
    fn garbage_is_refused_without_echoing_it() {
        let long = "x".repeat(MAX_TOKEN_BYTES + 1);
        assert!(matches!(verify(&long), Err(TokenError::TooLong)));
        for token in [
            "",
            "a.b",
            "a.b.c",
            "...",
            "eyJhbGciOiJSUzI1NiJ9.e30.sig",
            "\u{1b}[2J.x.y",
        ] {
            let err = verify(token).unwrap_err().to_string();
            assert!(token.len() < 3 || !err.contains(token), "{err}");
            assert!(!err.contains('\u{1b}'), "{err}");
        }
    }

    #[test]
    fn no_refusal_echoes_the_token() {
        let good = with(|_| {});
        let tokens = [
            sign(B, &header(), &gitlab_claims()),
            with(|c| c["iss"] = json!("https://evil.example")),
            with(|c| c["exp"] = json!(1)),
            with(|c| c["project_id"] = json!(1)),
        ];
        for token in &tokens {
            let err = verify(token).unwrap_err();
            let shown = format!("{err} {err:?} {:?}", err.hint());
            for part in token.split('.').chain(good.split('.')) {
                assert!(!shown.contains(part), "{shown}");
            }
        }
    }
}
