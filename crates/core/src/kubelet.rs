//! The kubelet's image credential provider protocol (`credentialprovider.kubelet.k8s.io/v1`,
//! docs/kubernetes.md): the request the kubelet writes on stdin, the response it reads on
//! stdout, an image's registry and Harbor project, and the static answer from the runner-side
//! config file. It lives in the core because it needs no network: the federated answer (the
//! broker call) is the binary's.
//!
//! The response must be the bytes Go's `json.NewEncoder(w).Encode(resp)` writes for the v1
//! struct (tests/kubelet/cases, checked against the real types by tests/kubelet-provider). It
//! must never put the request's service-account token or a password anywhere but the
//! response's `auth`: not in an error, not in `Debug`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::address::Registry;
use crate::env::{CONFIG_VAR, Env};
use crate::problem::Problem;
use crate::sources::runner_side::{self, RunnerSideConfig};
use crate::text;

/// The one version answered: v1alpha1 and v1beta1 are gone from the kubelets that matter.
pub const API_VERSION: &str = "credentialprovider.kubelet.k8s.io/v1";
pub const REQUEST_KIND: &str = "CredentialProviderRequest";
pub const RESPONSE_KIND: &str = "CredentialProviderResponse";
/// A request is an image name and a token of a few KiB; anything larger is not the kubelet.
pub const MAX_REQUEST: usize = 1 << 20;

/// A `CredentialProviderRequest`, checked. `Debug` shows no token (`SecretString`).
#[derive(Debug)]
pub struct Request {
    pub image: String,
    /// The pod's service-account token, when the provider's `tokenAttributes` asked for one.
    pub service_account_token: Option<SecretString>,
    /// Parsed so that a request carrying them is read; nothing here uses them.
    pub service_account_annotations: BTreeMap<String, String>,
}

/// The fields as the kubelet's Go types name them; unknown ones are ignored, as Go does.
#[derive(Deserialize)]
struct RawRequest {
    kind: Option<String>,
    #[serde(rename = "apiVersion")]
    api_version: Option<String>,
    image: Option<String>,
    #[serde(rename = "serviceAccountToken")]
    service_account_token: Option<SecretString>,
    #[serde(rename = "serviceAccountAnnotations")]
    service_account_annotations: Option<BTreeMap<String, String>>,
}

/// Why a request cannot be answered. No variant holds the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("the CredentialProviderRequest on stdin is larger than {} KiB", MAX_REQUEST / 1024)]
    TooLarge,
    #[error("the CredentialProviderRequest on stdin is not JSON (line {line}, column {column})")]
    NotJson { line: usize, column: usize },
    #[error(
        "the CredentialProviderRequest on stdin is not the v1 object: a field has the wrong type (line {line}, column {column})"
    )]
    NotObject { line: usize, column: usize },
    #[error("the request's apiVersion is {}, not {API_VERSION}", shown(.0))]
    ApiVersion(Option<String>),
    #[error("the request's kind is {}, not {REQUEST_KIND}", shown(.0))]
    Kind(Option<String>),
    #[error("the request has no image")]
    NoImage,
    #[error("the request's image {} has no usable registry: {why}", shown(&Some(.image.clone())))]
    Image { image: String, why: String },
}

fn shown(v: &Option<String>) -> String {
    match v {
        Some(v) => format!("\"{}\"", text::inline(v)),
        None => "missing".into(),
    }
}

impl Problem for RequestError {
    fn hint(&self) -> Option<String> {
        Some(match self {
            RequestError::ApiVersion(_) => format!(
                "set `apiVersion: {API_VERSION}` in this provider's entry of the kubelet's CredentialProviderConfig"
            ),
            RequestError::Image { .. } => {
                "check the provider's matchImages in the kubelet's CredentialProviderConfig".into()
            }
            _ => "run this command only as the kubelet's image credential provider (args: [\"kubelet-credential-provider\"])".into(),
        })
    }
}

/// Reads and checks a request: `bytes` is all of stdin.
pub fn parse_request(bytes: &[u8]) -> Result<Request, RequestError> {
    if bytes.len() > MAX_REQUEST {
        return Err(RequestError::TooLarge);
    }
    let raw: RawRequest = serde_json::from_slice(bytes).map_err(|e| {
        let (line, column) = (e.line(), e.column());
        match e.classify() {
            serde_json::error::Category::Data => RequestError::NotObject { line, column },
            _ => RequestError::NotJson { line, column },
        }
    })?;
    if raw.api_version.as_deref() != Some(API_VERSION) {
        return Err(RequestError::ApiVersion(raw.api_version));
    }
    if raw.kind.as_deref() != Some(REQUEST_KIND) {
        return Err(RequestError::Kind(raw.kind));
    }
    let image = raw
        .image
        .filter(|i| !i.is_empty())
        .ok_or(RequestError::NoImage)?;
    Ok(Request {
        image,
        // Go's `omitempty`: an empty token is no token.
        service_account_token: raw
            .service_account_token
            .filter(|t| !t.expose_secret().is_empty()),
        service_account_annotations: raw.service_account_annotations.unwrap_or_default(),
    })
}

/// Where an image lives: its registry and, when the name has one, its Harbor project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageLocation {
    pub registry: Registry,
    /// The registry part exactly as the image writes it (`Harbor.Example.NET:443`): the
    /// `auth` key must be spelled so, because the kubelet matches a key's host and port to
    /// the image's as written (`keyring.go`'s `URLsMatch`: an image's `:443` does not match a
    /// key without a port). Empty for Docker Hub.
    pub written: String,
    pub project: Option<String>,
}

/// The image's registry as container runtimes read a name: the first `/`-segment when it has a
/// `.` or a `:` or is `localhost`, else Docker Hub; the project is the segment after it.
pub fn locate_image(image: &str) -> Result<ImageLocation, RequestError> {
    let bad = |why: String| RequestError::Image {
        image: image.to_owned(),
        why,
    };
    // A digest's `:` is not a port: it can only follow `@`.
    let name = image.split('@').next().unwrap_or("");
    let (registry, rest) = match name.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':']) || first.eq_ignore_ascii_case("localhost") =>
        {
            (
                Registry::parse(first).map_err(|e| bad(e.to_string()))?,
                rest,
            )
        }
        _ => {
            return Ok(ImageLocation {
                registry: Registry::parse(crate::address::DOCKER_HUB)
                    .map_err(|e| bad(e.to_string()))?,
                written: String::new(),
                project: None,
            });
        }
    };
    if registry.as_str().contains(['/', '@']) {
        return Err(bad("the registry part is not host[:port]".into()));
    }
    let project = rest
        .split_once('/')
        .map(|(p, _)| p.to_owned())
        .filter(|p| !p.is_empty());
    Ok(ImageLocation {
        registry,
        written: name.split('/').next().unwrap_or("").to_owned(),
        project,
    })
}

/// A user name and password for one `auth` key.
#[derive(Debug)]
pub struct AuthConfig {
    pub username: String,
    pub password: SecretString,
}

#[derive(Debug)]
/// A `CredentialProviderResponse` with `cacheKeyType: Registry`, the only key type used.
pub struct Response {
    /// `None`: the kubelet uses the provider's `defaultCacheDuration`.
    pub cache_seconds: Option<u64>,
    /// The match pattern (`host[:port]` or `host[:port]/project`) to its credentials.
    pub auth: BTreeMap<String, AuthConfig>,
}

impl Response {
    /// Nothing for this image: the kubelet's other providers and pull secrets still apply.
    pub fn empty() -> Response {
        Response {
            cache_seconds: None,
            auth: BTreeMap::new(),
        }
    }

    /// The exact bytes Go's `json.NewEncoder(w).Encode` writes for the v1 struct: fields in
    /// struct order, map keys sorted, HTML-safe escapes, a trailing newline.
    /// Exposure point: the passwords leave their `SecretString` only into this buffer.
    pub fn to_json(&self) -> String {
        let mut out = String::with_capacity(256);
        out.push_str("{\"kind\":");
        go_string(&mut out, RESPONSE_KIND);
        out.push_str(",\"apiVersion\":");
        go_string(&mut out, API_VERSION);
        out.push_str(",\"cacheKeyType\":\"Registry\"");
        if let Some(s) = self.cache_seconds {
            out.push_str(",\"cacheDuration\":");
            go_string(&mut out, &go_duration(s));
        }
        // `auth` is `omitempty` in the v1 type: Go writes no key for an empty map.
        if !self.auth.is_empty() {
            out.push_str(",\"auth\":{");
        }
        for (n, (key, auth)) in self.auth.iter().enumerate() {
            if n > 0 {
                out.push(',');
            }
            go_string(&mut out, key);
            out.push_str(":{\"username\":");
            go_string(&mut out, &auth.username);
            out.push_str(",\"password\":");
            go_string(&mut out, auth.password.expose_secret());
            out.push('}');
        }
        if !self.auth.is_empty() {
            out.push('}');
        }
        out.push_str("}\n");
        out
    }
}

/// `s` as Go's `encoding/json` quotes it with HTML escaping on (the encoder's default).
fn go_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            // Go ≥ 1.22 writes these two short forms too.
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || matches!(c, '<' | '>' | '&' | '\u{2028}' | '\u{2029}') => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Whole seconds as Go's `time.Duration.String()` writes them: `0s`, `45s`, `4m0s`, `1h0m0s`.
pub fn go_duration(seconds: u64) -> String {
    let (h, m, s) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    match (h, seconds / 60) {
        (0, 0) => format!("{s}s"),
        (0, _) => format!("{m}m{s}s"),
        _ => format!("{h}h{m}m{s}s"),
    }
}

/// How long the kubelet may cache a robot ending at `expires_at` (Unix seconds, as `now`): its
/// remaining life less a margin of a tenth of it, at least 60 s, so no pull starts with a robot
/// about to end; 0 (no caching) when there is less left than that.
pub fn cache_seconds(expires_at: i64, now: i64) -> u64 {
    let left = u64::try_from(expires_at.saturating_sub(now)).unwrap_or(0);
    left.saturating_sub((left / 10).max(60))
}

/// Why the static answer failed: the runner-side config could not be used. The text names the
/// file and never holds a password.
#[derive(Debug, thiserror::Error)]
#[error("{detail}")]
pub struct StaticError {
    detail: String,
    path: PathBuf,
}

impl Problem for StaticError {
    fn hint(&self) -> Option<String> {
        Some(format!(
            "fix {} (the helper's runner-side config, docs/kubernetes.md), or point {CONFIG_VAR} in this provider's env at the right file",
            self.path.display()
        ))
    }
}

/// The static mode: the runner-side config's robot for the image's registry, keyed by the
/// registry part as the image writes it, with no cache duration; an empty answer for a
/// registry it does not list (or no config at all). Reads the config and its password source, nothing else.
pub fn static_answer(image: &ImageLocation, env: &Env) -> Result<Response, StaticError> {
    if image.registry.is_docker_hub() {
        return Ok(Response::empty());
    }
    let path = runner_side::locate(env);
    let fail = |e: anyhow::Error| StaticError {
        detail: format!("{e:#}"),
        path: path.clone(),
    };
    let Some(config) = RunnerSideConfig::load(&path).map_err(fail)? else {
        return Ok(Response::empty());
    };
    let Some(credentials) = config.get(&image.registry, env).map_err(fail)? else {
        return Ok(Response::empty());
    };
    let mut auth = BTreeMap::new();
    auth.insert(
        image.written.clone(),
        AuthConfig {
            username: credentials.username,
            password: credentials.secret,
        },
    );
    Ok(Response {
        cache_seconds: None,
        auth,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(body: &str) -> Result<Request, RequestError> {
        parse_request(body.as_bytes())
    }

    #[test]
    fn a_v1_request_is_read_and_others_are_refused_by_name() {
        let r = req(r#"{"kind":"CredentialProviderRequest","apiVersion":"credentialprovider.kubelet.k8s.io/v1","image":"h.example/p/a:1","serviceAccountToken":"eyJ.T.S","serviceAccountAnnotations":{"a":"b"},"extra":1}"#).unwrap();
        assert_eq!(r.image, "h.example/p/a:1");
        assert_eq!(r.service_account_token.unwrap().expose_secret(), "eyJ.T.S");
        assert_eq!(r.service_account_annotations["a"], "b");
        let r = req(r#"{"kind":"CredentialProviderRequest","apiVersion":"credentialprovider.kubelet.k8s.io/v1","image":"x","serviceAccountToken":""}"#).unwrap();
        assert!(r.service_account_token.is_none());
        let e = req(r#"{"kind":"CredentialProviderRequest","apiVersion":"credentialprovider.kubelet.k8s.io/v1beta1","image":"x"}"#).unwrap_err();
        assert!(e.to_string().contains("v1beta1"), "{e}");
        assert!(
            e.hint()
                .unwrap()
                .contains("apiVersion: credentialprovider.kubelet.k8s.io/v1")
        );
        assert!(matches!(req("{"), Err(RequestError::NotJson { .. })));
        assert!(matches!(req("[1]"), Err(RequestError::NotObject { .. })));
        assert!(matches!(
            req(r#"{"kind":"X","apiVersion":"credentialprovider.kubelet.k8s.io/v1","image":"x"}"#),
            Err(RequestError::Kind(Some(_)))
        ));
        assert_eq!(
            req(r#"{"kind":"CredentialProviderRequest","apiVersion":"credentialprovider.kubelet.k8s.io/v1","image":""}"#).err(),
            Some(RequestError::NoImage)
        );
        let big = format!("{{\"image\":\"{}\"}}", "a".repeat(MAX_REQUEST));
        assert_eq!(req(&big).err(), Some(RequestError::TooLarge));
    }

    #[test]
    fn an_error_never_shows_the_token() {
        let e = req(r#"{"kind":"CredentialProviderRequest","apiVersion":"v9","image":"x","serviceAccountToken":"SECRET"}"#).unwrap_err();
        assert!(!format!("{e} {e:?}").contains("SECRET"));
        let e = req(r#"{"serviceAccountToken":"SECRET""#).unwrap_err();
        assert!(!format!("{e} {e:?}").contains("SECRET"));
    }

    #[test]
    fn images_name_their_registry_and_project() {
        let at = |i: &str| {
            let l = locate_image(i).unwrap();
            (l.registry.as_str().to_owned(), l.project)
        };
        let p = |s: &str| Some(s.to_owned());
        assert_eq!(
            at("harbor.example.net/p/app:1"),
            ("harbor.example.net".into(), p("p"))
        );
        assert_eq!(
            at("Harbor.Example.NET:443/p/a/b@sha256:00"),
            ("harbor.example.net".into(), p("p"))
        );
        assert_eq!(
            at("harbor.example.net:8443/p/app"),
            ("harbor.example.net:8443".into(), p("p"))
        );
        assert_eq!(at("localhost/p/a"), ("localhost".into(), p("p")));
        assert_eq!(
            at("harbor.example.net/app"),
            ("harbor.example.net".into(), None)
        );
        assert_eq!(at("library/nginx:1"), ("docker.io".into(), None));
        assert_eq!(at("nginx@sha256:ab:cd"), ("docker.io".into(), None));
        assert!(locate_image("h.example:99999/p/a").is_err());
    }

    #[test]
    fn the_response_is_what_go_encodes() {
        let mut auth = BTreeMap::new();
        for (k, pw) in [
            ("z.example", "<&>\u{2028}\"\\\n\u{1}"),
            ("a.example:8443/p", "x"),
        ] {
            auth.insert(
                k.to_owned(),
                AuthConfig {
                    username: "robot$p+u".into(),
                    password: SecretString::from(pw),
                },
            );
        }
        let r = Response {
            cache_seconds: Some(240),
            auth,
        };
        assert_eq!(
            r.to_json(),
            "{\"kind\":\"CredentialProviderResponse\",\"apiVersion\":\"credentialprovider.kubelet.k8s.io/v1\",\
             \"cacheKeyType\":\"Registry\",\"cacheDuration\":\"4m0s\",\"auth\":{\
             \"a.example:8443/p\":{\"username\":\"robot$p+u\",\"password\":\"x\"},\
             \"z.example\":{\"username\":\"robot$p+u\",\"password\":\"\\u003c\\u0026\\u003e\\u2028\\\"\\\\\\n\\u0001\"}}}\n"
        );
        assert_eq!(
            Response::empty().to_json(),
            "{\"kind\":\"CredentialProviderResponse\",\"apiVersion\":\"credentialprovider.kubelet.k8s.io/v1\",\"cacheKeyType\":\"Registry\"}\n"
        );
    }

    #[test]
    fn durations_are_gos() {
        for (s, want) in [
            (0, "0s"),
            (45, "45s"),
            (60, "1m0s"),
            (240, "4m0s"),
            (3600, "1h0m0s"),
            (3661, "1h1m1s"),
            (90061, "25h1m1s"),
        ] {
            assert_eq!(go_duration(s), want);
        }
    }

    #[test]
    fn the_cache_ends_before_the_robot_by_the_margin() {
        assert_eq!(cache_seconds(1000 + 3600, 1000), 3600 - 360);
        assert_eq!(cache_seconds(1000 + 300, 1000), 240);
        assert_eq!(cache_seconds(1000 + 30, 1000), 0);
        assert_eq!(cache_seconds(0, 1000), 0);
        let most = i64::MAX as u64;
        assert_eq!(cache_seconds(i64::MAX, i64::MIN), most - most / 10);
    }

    #[test]
    fn the_static_answer_reads_the_runner_config_only() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let cfg = tmp.path().join("config.json");
        std::fs::write(
            &cfg,
            r#"{"registries":{"harbor.example.net":{"username":"robot$pull","password":"PW"}}}"#,
        )
        .unwrap();
        std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o600)).unwrap();
        let env = Env::from_pairs([
            (CONFIG_VAR, cfg.to_str().unwrap()),
            ("HARBOR_URL", "https://other.example"),
            ("HARBOR_USERNAME", "u"),
            ("HARBOR_PASSWORD", "NOT-THIS"),
        ]);
        let answer = |i: &str| {
            static_answer(&locate_image(i).unwrap(), &env)
                .unwrap()
                .to_json()
        };
        let listed = answer("harbor.example.net:443/p/a:1");
        assert!(
            listed.contains(
                "\"harbor.example.net:443\":{\"username\":\"robot$pull\",\"password\":\"PW\"}"
            ),
            "{listed}"
        );
        assert!(!listed.contains("cacheDuration"));
        assert_eq!(answer("other.example/p/a"), Response::empty().to_json());
        assert_eq!(answer("nginx"), Response::empty().to_json());
        std::fs::write(&cfg, "{").unwrap();
        let e = static_answer(&locate_image("harbor.example.net/p/a").unwrap(), &env).unwrap_err();
        assert!(e.to_string().contains("config.json") && e.hint().unwrap().contains(CONFIG_VAR));
    }
}
