//! The issuer's signing keys: the [`KeyStore`] trait the verifier asks for a `kid`, and
//! [`Jwks`], its real side, a cache of GitLab's JWKS (`/oauth/discovery/keys`).
//!
//! The cache keeps the keys as long as the JWKS response's `Cache-Control: max-age` says,
//! within [`MIN_CACHE`] and [`MAX_CACHE`] (GitLab sends 24 h). A `kid` the cache does not hold
//! triggers one refetch (a rotation: GitLab publishes a new key before it signs with it), but
//! at most one fetch per [`REFETCH_COOLDOWN`], so tokens with made-up kids cannot make the
//! broker hammer GitLab. Fetching and time are behind [`FetchJwks`] and [`Clock`]: this
//! module has no HTTP client and never sleeps. It never logs or returns a key's bytes in a
//! message, and it never accepts a key that is not RSA for RS256 signatures.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use docker_credential_harbor_core::problem::Problem;
use docker_credential_harbor_core::text;
use jsonwebtoken::DecodingKey;
use serde::Deserialize;

/// The shortest time a fetched JWKS is kept, whatever `Cache-Control` says (`no-cache`,
/// `max-age=0`): every token would otherwise cost a fetch.
pub const MIN_CACHE: Duration = Duration::from_secs(60);
/// The longest: the issue's cap, and what GitLab sends.
pub const MAX_CACHE: Duration = Duration::from_secs(24 * 60 * 60);
/// Kept this long when the response has no usable `max-age`.
pub const DEFAULT_CACHE: Duration = Duration::from_secs(60 * 60);
/// At most one fetch this often, for unknown kids and failed fetches alike.
pub const REFETCH_COOLDOWN: Duration = Duration::from_secs(30);
/// A JWKS larger than this is refused unparsed (GitLab's holds two keys, about 1 KiB each).
pub const MAX_JWKS_BYTES: usize = 256 * 1024;

/// Where the verifier gets the key a token's header names.
pub trait KeyStore {
    fn key(&self, kid: &str) -> Result<DecodingKey, KeyError>;

    /// Whether keys are loaded (`/readyz`); a store that fetches may fetch once here, within
    /// its cooldown, so probes cannot hammer the issuer either.
    fn ready(&self) -> Result<(), KeyError> {
        Ok(())
    }
}

/// One JWKS response: its body and its `Cache-Control` header, if any.
pub struct JwksResponse {
    pub body: Vec<u8>,
    pub cache_control: Option<String>,
}

/// Fetches the issuer's JWKS. The broker's binary implements it over HTTPS; tests serve
/// keys they made.
pub trait FetchJwks {
    /// The error says what failed (connection, status, TLS) in words a person reads.
    fn fetch(&self) -> anyhow::Result<JwksResponse>;
}

/// Monotonic time, injectable so tests move it instead of sleeping.
pub trait Clock {
    fn now(&self) -> Instant;
}

/// The process's monotonic clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// Why no key was found for a `kid`.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Not there, the JWKS fetched again to check (or, for [`StaticKeys`], not pinned).
    #[error("the token's signing key (kid {kid}) is not in the issuer's JWKS")]
    UnknownKid { kid: String },
    #[error(
        "the token's signing key (kid {kid}) is not in the issuer's JWKS, and it was fetched \
         less than {} s ago",
        REFETCH_COOLDOWN.as_secs()
    )]
    Cooldown { kid: String },
    #[error("the issuer's JWKS could not be fetched: {0}")]
    Fetch(String),
    /// The cached keys expired and the cooldown forbids a fetch yet.
    #[error(
        "the issuer's JWKS could not be fetched: no fresh keys are cached and the last fetch \
         was less than {} s ago",
        REFETCH_COOLDOWN.as_secs()
    )]
    Stale,
    #[error("the issuer's JWKS is not usable: {0}")]
    Parse(String),
}

impl Problem for KeyError {
    fn hint(&self) -> Option<String> {
        match self {
            KeyError::UnknownKid { .. } | KeyError::Cooldown { .. } => Some(
                "a token signed by another GitLab, or by a key GitLab no longer publishes: \
                 check [gitlab] issuer and jwks_url"
                    .into(),
            ),
            KeyError::Fetch(_) | KeyError::Stale => Some(
                "check that the broker reaches [gitlab] jwks_url and trusts its certificate \
                 ([gitlab] ca_file)"
                    .into(),
            ),
            KeyError::Parse(_) => None,
        }
    }
}

#[derive(Deserialize)]
struct JwkSet {
    keys: Vec<Jwk>,
}

// Only the members an RSA signing key needs; anything else in a key is ignored.
#[derive(Deserialize)]
struct Jwk {
    kty: String,
    kid: Option<String>,
    alg: Option<String>,
    #[serde(rename = "use")]
    use_: Option<String>,
    n: Option<String>,
    e: Option<String>,
}

/// The RS256 signing keys of a JWKS body by kid; other keys (EC, encryption, no kid) are
/// skipped. Refuses a body with no usable key.
pub fn parse_jwks(body: &[u8]) -> Result<HashMap<String, DecodingKey>, KeyError> {
    if body.len() > MAX_JWKS_BYTES {
        return Err(KeyError::Parse(format!(
            "it is larger than {} KiB",
            MAX_JWKS_BYTES / 1024
        )));
    }
    let set: JwkSet = serde_json::from_slice(body)
        .map_err(|e| KeyError::Parse(format!("not a JWKS ({})", text::inline(&e.to_string()))))?;
    let mut keys = HashMap::new();
    for jwk in set.keys {
        let usable = jwk.kty == "RSA"
            && jwk.alg.as_deref().is_none_or(|a| a == "RS256")
            && jwk.use_.as_deref().is_none_or(|u| u == "sig");
        let (true, Some(kid), Some(n), Some(e)) = (usable, jwk.kid, jwk.n, jwk.e) else {
            continue;
        };
        if let Ok(key) = DecodingKey::from_rsa_components(&n, &e) {
            keys.insert(kid, key);
        }
    }
    if keys.is_empty() {
        return Err(KeyError::Parse(
            "it holds no RSA signing key with a kid (kty RSA, alg RS256 or none, n and e)".into(),
        ));
    }
    Ok(keys)
}

/// How long a response may be cached: its `max-age`, clamped to [`MIN_CACHE`]..=[`MAX_CACHE`];
/// [`DEFAULT_CACHE`] without one; [`MIN_CACHE`] for `no-cache`, `no-store` or `max-age=0`.
pub fn cache_for(cache_control: Option<&str>) -> Duration {
    let Some(header) = cache_control else {
        return DEFAULT_CACHE;
    };
    let mut max_age = None;
    for directive in header.split(',').map(str::trim) {
        let lower = directive.to_ascii_lowercase();
        if lower == "no-cache" || lower == "no-store" {
            return MIN_CACHE;
        }
        if let Some(value) = lower.strip_prefix("max-age=") {
            max_age = value.trim_matches('"').parse::<u64>().ok();
        }
    }
    match max_age {
        Some(secs) => Duration::from_secs(secs).clamp(MIN_CACHE, MAX_CACHE),
        None => DEFAULT_CACHE,
    }
}

/// A fixed set of keys, never refetched: a JWKS pinned by hand (an issuer the broker cannot
/// reach), and the tests' issuer.
#[derive(Clone)]
pub struct StaticKeys(HashMap<String, DecodingKey>);

impl StaticKeys {
    /// The RS256 keys of a JWKS body, as [`parse_jwks`] reads them.
    pub fn from_jwks(body: &[u8]) -> Result<StaticKeys, KeyError> {
        parse_jwks(body).map(StaticKeys)
    }
}

impl fmt::Debug for StaticKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("StaticKeys").field(&self.0.len()).finish()
    }
}

impl KeyStore for StaticKeys {
    fn key(&self, kid: &str) -> Result<DecodingKey, KeyError> {
        self.0
            .get(kid)
            .cloned()
            .ok_or_else(|| KeyError::UnknownKid {
                kid: text::inline(kid).into_owned(),
            })
    }
}

struct State {
    keys: HashMap<String, DecodingKey>,
    // Until when `keys` may be used; `None` before the first successful fetch.
    fresh_until: Option<Instant>,
    // The last fetch attempt, successful or not, for the cooldown.
    last_attempt: Option<Instant>,
}

/// The real [`KeyStore`]: the issuer's JWKS, cached. One lock around the cache and the fetch,
/// so concurrent requests for an unknown kid cause one fetch, not one each.
pub struct Jwks<F, C> {
    fetcher: F,
    clock: C,
    state: Mutex<State>,
}

impl<F, C> fmt::Debug for Jwks<F, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Jwks").finish_non_exhaustive()
    }
}

impl<F: FetchJwks, C: Clock> Jwks<F, C> {
    /// An empty cache: the first `key` (or [`Jwks::refresh`]) fetches.
    pub fn new(fetcher: F, clock: C) -> Self {
        Jwks {
            fetcher,
            clock,
            state: Mutex::new(State {
                keys: HashMap::new(),
                fresh_until: None,
                last_attempt: None,
            }),
        }
    }

    /// Fetches now, cooldown or not (start-up, and `/readyz` later): the keys are replaced
    /// only by a usable JWKS.
    pub fn refresh(&self) -> Result<(), KeyError> {
        let mut state = self.lock();
        self.fetch_into(&mut state)
    }

    /// Whether fresh keys are loaded (for `/readyz`).
    pub fn is_loaded(&self) -> bool {
        let state = self.lock();
        state.fresh_until.is_some_and(|t| self.clock.now() < t)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic elsewhere cannot leave the map half-updated (it is replaced whole).
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn fetch_into(&self, state: &mut State) -> Result<(), KeyError> {
        let now = self.clock.now();
        state.last_attempt = Some(now);
        let response = self
            .fetcher
            .fetch()
            .map_err(|e| KeyError::Fetch(text::inline(&format!("{e:#}")).into_owned()))?;
        let keys = parse_jwks(&response.body)?;
        state.keys = keys;
        state.fresh_until = Some(now + cache_for(response.cache_control.as_deref()));
        Ok(())
    }

    fn may_fetch(&self, state: &State) -> bool {
        state
            .last_attempt
            .is_none_or(|t| self.clock.now().saturating_duration_since(t) >= REFETCH_COOLDOWN)
    }
}

impl<F: FetchJwks, C: Clock> KeyStore for Jwks<F, C> {
    fn key(&self, kid: &str) -> Result<DecodingKey, KeyError> {
        let mut state = self.lock();
        let fresh = state.fresh_until.is_some_and(|t| self.clock.now() < t);
        if fresh && let Some(key) = state.keys.get(kid) {
            return Ok(key.clone());
        }
        let kid_shown = text::inline(kid).into_owned();
        if !self.may_fetch(&state) {
            // Expired keys are not served, even while fetching is cooling down.
            return Err(if fresh {
                KeyError::Cooldown { kid: kid_shown }
            } else {
                KeyError::Stale
            });
        }
        self.fetch_into(&mut state)?;
        state
            .keys
            .get(kid)
            .cloned()
            .ok_or(KeyError::UnknownKid { kid: kid_shown })
    }

    fn ready(&self) -> Result<(), KeyError> {
        let mut state = self.lock();
        if state.fresh_until.is_some_and(|t| self.clock.now() < t) {
            return Ok(());
        }
        if !self.may_fetch(&state) {
            return Err(KeyError::Stale);
        }
        self.fetch_into(&mut state)
    }
}

#[cfg(test)]
mod tests {
    use std::cell::{Cell, RefCell};
    use std::rc::Rc;

    use super::*;
    use crate::test_keys::{A, B, jwks};

    /// A test issuer: serves whatever JWKS the test put there and counts the fetches.
    #[derive(Clone, Default)]
    struct Issuer {
        body: Rc<RefCell<Vec<u8>>>,
        cache_control: Rc<RefCell<Option<String>>>,
        down: Rc<Cell<bool>>,
        fetches: Rc<Cell<u32>>,
    }

    impl Issuer {
        fn serving(keys: &[(&[u8], &str)], cache_control: Option<&str>) -> Issuer {
            let issuer = Issuer::default();
            issuer.publish(keys);
            *issuer.cache_control.borrow_mut() = cache_control.map(String::from);
            issuer
        }

        fn publish(&self, keys: &[(&[u8], &str)]) {
            *self.body.borrow_mut() = jwks(keys);
        }
    }

    impl FetchJwks for Issuer {
        fn fetch(&self) -> anyhow::Result<JwksResponse> {
            self.fetches.set(self.fetches.get() + 1);
            if self.down.get() {
                anyhow::bail!("connection refused");
            }
            Ok(JwksResponse {
                body: self.body.borrow().clone(),
                cache_control: self.cache_control.borrow().clone(),
            })
        }
    }

    /// Time the test moves by hand.
    #[derive(Clone)]
    struct TestClock(Rc<Cell<Instant>>);

    impl TestClock {
        fn new() -> TestClock {
            TestClock(Rc::new(Cell::new(Instant::now())))
        }

        fn advance(&self, by: Duration) {
            self.0.set(self.0.get() + by);
        }
    }

    impl Clock for TestClock {
        fn now(&self) -> Instant {
            self.0.get()
        }
    }

    fn store(issuer: &Issuer) -> (Jwks<Issuer, TestClock>, TestClock) {
        let clock = TestClock::new();
        (Jwks::new(issuer.clone(), clock.clone()), clock)
    }

    #[test]
    fn a_known_kid_is_served_from_the_cache_without_a_second_fetch() {
        let issuer = Issuer::serving(&[(A, "a")], Some("max-age=86400"));
        let (keys, clock) = store(&issuer);
        keys.key("a").unwrap();
        clock.advance(Duration::from_secs(3600));
        keys.key("a").unwrap();
        assert_eq!(issuer.fetches.get(), 1);
    }

    #[test]
    fn an_unknown_kid_refetches_once_and_finds_a_rotated_key() {
        let issuer = Issuer::serving(&[(A, "a")], Some("max-age=86400"));
        let (keys, clock) = store(&issuer);
        keys.key("a").unwrap();
        clock.advance(REFETCH_COOLDOWN);
        // Rotation: GitLab now publishes b beside a.
        issuer.publish(&[(A, "a"), (B, "b")]);
        keys.key("b").unwrap();
        assert_eq!(issuer.fetches.get(), 2);
        keys.key("a").unwrap();
        keys.key("b").unwrap();
        assert_eq!(issuer.fetches.get(), 2);
    }

    #[test]
    fn an_unknown_kid_still_missing_after_the_refetch_is_refused() {
        let issuer = Issuer::serving(&[(A, "a")], None);
        let (keys, clock) = store(&issuer);
        keys.key("a").unwrap();
        clock.advance(REFETCH_COOLDOWN);
        let err = keys.key("nope").unwrap_err();
        assert!(matches!(err, KeyError::UnknownKid { .. }), "{err}");
        assert_eq!(issuer.fetches.get(), 2);
    }

    #[test]
    fn unknown_kids_within_the_cooldown_do_not_fetch_again() {
        let issuer = Issuer::serving(&[(A, "a")], None);
        let (keys, clock) = store(&issuer);
        keys.key("a").unwrap();
        clock.advance(REFETCH_COOLDOWN);
        for i in 0..100 {
            keys.key(&format!("made-up-{i}")).unwrap_err();
        }
        assert_eq!(
            issuer.fetches.get(),
            2,
            "one refetch for a hundred unknown kids"
        );
        let err = keys.key("another").unwrap_err();
        assert!(matches!(err, KeyError::Cooldown { .. }), "{err}");
        // The known key is still served meanwhile.
        keys.key("a").unwrap();
        clock.advance(REFETCH_COOLDOWN);
        keys.key("another").unwrap_err();
        assert_eq!(
            issuer.fetches.get(),
            3,
            "one more once the cooldown has passed"
        );
    }

    #[test]
    fn keys_expire_after_max_age_and_are_fetched_again() {
        let issuer = Issuer::serving(&[(A, "a")], Some("public, max-age=600, must-revalidate"));
        let (keys, clock) = store(&issuer);
        keys.key("a").unwrap();
        clock.advance(Duration::from_secs(599));
        keys.key("a").unwrap();
        assert_eq!(issuer.fetches.get(), 1);
        clock.advance(Duration::from_secs(1));
        keys.key("a").unwrap();
        assert_eq!(issuer.fetches.get(), 2);
    }

    #[test]
    fn a_key_the_issuer_dropped_is_refused_once_the_cache_expires() {
        let issuer = Issuer::serving(&[(A, "a")], Some("max-age=600"));
        let (keys, clock) = store(&issuer);
        keys.key("a").unwrap();
        issuer.publish(&[(B, "b")]);
        clock.advance(Duration::from_secs(600));
        assert!(matches!(keys.key("a"), Err(KeyError::UnknownKid { .. })));
    }

    #[test]
    fn expired_keys_are_not_served_while_the_issuer_is_down() {
        let issuer = Issuer::serving(&[(A, "a")], Some("max-age=600"));
        let (keys, clock) = store(&issuer);
        keys.key("a").unwrap();
        issuer.down.set(true);
        clock.advance(Duration::from_secs(600));
        let err = keys.key("a").unwrap_err();
        assert!(matches!(err, KeyError::Fetch(_)), "{err}");
        assert!(err.to_string().contains("connection refused"), "{err}");
        // A failed fetch starts the cooldown too.
        keys.key("a").unwrap_err();
        assert_eq!(issuer.fetches.get(), 2);
        assert!(!keys.is_loaded());
        issuer.down.set(false);
        clock.advance(REFETCH_COOLDOWN);
        keys.key("a").unwrap();
        assert!(keys.is_loaded());
    }

    #[test]
    fn readiness_fetches_once_when_nothing_is_loaded_and_then_keeps_the_cooldown() {
        let issuer = Issuer::serving(&[(A, "a")], Some("max-age=600"));
        issuer.down.set(true);
        let (keys, clock) = store(&issuer);
        assert!(matches!(keys.ready(), Err(KeyError::Fetch(_))));
        for _ in 0..10 {
            assert!(matches!(keys.ready(), Err(KeyError::Stale)));
        }
        assert_eq!(
            issuer.fetches.get(),
            1,
            "probes within the cooldown fetch nothing"
        );
        issuer.down.set(false);
        clock.advance(REFETCH_COOLDOWN);
        keys.ready().unwrap();
        keys.ready().unwrap();
        assert_eq!(issuer.fetches.get(), 2);
    }

    #[test]
    fn cache_control_is_clamped_to_the_floor_and_the_24_hour_cap() {
        assert_eq!(cache_for(Some("max-age=86400")), MAX_CACHE);
        assert_eq!(cache_for(Some("max-age=9999999")), MAX_CACHE);
        assert_eq!(cache_for(Some("max-age=0")), MIN_CACHE);
        assert_eq!(cache_for(Some("no-cache")), MIN_CACHE);
        assert_eq!(
            cache_for(Some("Public, Max-Age=7200")),
            Duration::from_secs(7200)
        );
        assert_eq!(cache_for(Some("max-age=soon")), DEFAULT_CACHE);
        assert_eq!(cache_for(None), DEFAULT_CACHE);
    }

    #[test]
    fn a_jwks_without_a_usable_rsa_signing_key_is_refused() {
        let bodies: [&[u8]; 5] = [
            b"not json",
            br#"{"keys": []}"#,
            br#"{"keys": [{"kty": "EC", "kid": "e", "crv": "P-256", "x": "AA", "y": "AA"}]}"#,
            br#"{"keys": [{"kty": "RSA", "n": "AQAB", "e": "AQAB"}]}"#,
            br#"{"keys": [{"kty": "RSA", "kid": "x", "use": "enc", "n": "AQAB", "e": "AQAB"}]}"#,
        ];
        for body in bodies {
            assert!(matches!(parse_jwks(body), Err(KeyError::Parse(_))));
        }
        let huge = vec![b' '; MAX_JWKS_BYTES + 1];
        assert!(matches!(parse_jwks(&huge), Err(KeyError::Parse(_))));
    }

    #[test]
    fn an_unknown_kid_is_shown_escaped() {
        let issuer = Issuer::serving(&[(A, "a")], None);
        let (keys, _clock) = store(&issuer);
        let err = keys.key("evil\n\u{1b}[31m").unwrap_err().to_string();
        assert!(!err.contains('\n') && !err.contains('\u{1b}'), "{err}");
    }
}
