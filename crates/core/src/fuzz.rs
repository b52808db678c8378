//! Entry points for the core's fuzz targets (`crates/core/fuzz/`, a cargo-fuzz workspace that
//! compiles this crate alone, so no reqwest, rustls or hickory) and for the test that replays
//! their corpus (`tests/fuzz_corpus.rs`): one function per parser of outside input the core
//! owns. Each hands the bytes to the parser exactly as the binary does, then checks what must
//! hold whatever the input; a violated property panics, which the fuzzer reports as a crash.
//! Not an API: only a build with the `fuzzing` feature compiles it (never the shipped binary),
//! and it performs no I/O.

use std::collections::BTreeMap;
use std::path::{Component, Path};

use crate::address::Registry;
use crate::kubelet;
use crate::protocol::{self, Memory, Verb};
use crate::sources::runner_side::RunnerSideConfig;
use crate::sources::store::Store;

/// A target: bytes in, a panic when a property fails.
pub type Target = fn(&[u8]);

/// Every target, by the name of its file in `crates/core/fuzz/fuzz_targets/` and its corpus
/// directory.
pub const TARGETS: &[(&str, Target)] = &[
    ("protocol", protocol),
    ("address", address),
    ("store_file", store_file),
    ("runner_config", runner_config),
    ("kubelet_request", kubelet_request),
];

fn serve(verb: Verb, input: &[u8], helper: &Memory) -> (bool, Vec<u8>) {
    let mut out = Vec::new();
    let ok = protocol::serve(
        verb,
        &mut &input[..],
        &mut out,
        &mut std::io::sink(),
        helper,
    );
    (ok, out)
}

/// The protocol's stdin, for each verb (the first byte picks it): every answer is one line;
/// an error line holds no control character; a `get` answer is docker's JSON with its exact
/// keys; what `store` accepted, `get` gives back byte for byte.
pub fn protocol(data: &[u8]) {
    let Some((&pick, input)) = data.split_first() else {
        return;
    };
    let verbs = [Verb::Get, Verb::Store, Verb::Erase, Verb::List];
    let verb = verbs[usize::from(pick) % verbs.len()];
    let helper = Memory::default();
    let _ = serve(
        Verb::Store,
        br#"{"ServerURL":"harbor.example.com","Username":"robot$ci","Secret":"s3cr3t"}"#,
        &helper,
    );
    let (ok, out) = serve(verb, input, &helper);
    let lines = out.iter().filter(|&&b| b == b'\n').count();
    assert!(
        out.is_empty() || (lines == 1 && out.ends_with(b"\n")),
        "{out:?}"
    );
    if !ok {
        let text = String::from_utf8(out).expect("errors are text");
        assert!(!text.trim_end().chars().any(char::is_control), "{text:?}");
        return;
    }
    match verb {
        Verb::Get => {
            let answer: serde_json::Value = serde_json::from_slice(&out).expect("JSON");
            for key in ["ServerURL", "Username", "Secret"] {
                assert!(answer[key].is_string(), "{answer}");
            }
        }
        Verb::List => {
            let listed: BTreeMap<String, String> = serde_json::from_slice(&out).expect("JSON");
            for key in listed.keys() {
                assert_eq!(
                    Registry::parse(key).map(|r| r.to_string()).as_deref(),
                    Ok(key.as_str())
                );
            }
        }
        Verb::Store => {
            // serde skips unknown fields without checking their UTF-8; Value does not.
            let Ok(request) = serde_json::from_slice::<serde_json::Value>(input) else {
                return;
            };
            let (Some(url), Some(secret)) =
                (request["ServerURL"].as_str(), request["Secret"].as_str())
            else {
                return;
            };
            if url.contains(['\n', '\r']) {
                return;
            }
            let (got, answer) = serve(Verb::Get, url.as_bytes(), &helper);
            assert!(got, "stored but not found: {url:?}");
            let answer: serde_json::Value = serde_json::from_slice(&answer).expect("JSON");
            assert_eq!(answer["Secret"].as_str(), Some(secret));
        }
        Verb::Erase => {}
    }
}

/// Address canonicalisation: the key is its own canonical form, one plain path component,
/// and its port (if any) is the one it shows.
pub fn address(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(r) = Registry::parse(s) else {
        return;
    };
    let key = r.as_str();
    assert_eq!(
        Registry::parse(key).as_ref(),
        Ok(&r),
        "not idempotent: {s:?}"
    );
    let mut parts = Path::new(key).components();
    assert!(
        matches!(parts.next(), Some(Component::Normal(_))),
        "{key:?}"
    );
    assert!(parts.next().is_none(), "{key:?}");
    assert!(
        !key.chars().any(|c| c.is_control() || c.is_whitespace()),
        "{key:?}"
    );
    if let Some(port) = r.port() {
        assert_ne!(port, 443);
        assert!(key.ends_with(&format!(":{port}")), "{key:?}");
    }
}

/// The store file: whatever it holds, listing it lists only canonical registry keys, and an
/// error never quotes the file.
pub fn store_file(data: &[u8]) {
    let store = Store::at("/fuzz/credentials.json".into());
    match store.list_bytes(data) {
        Ok(listed) => {
            for r in listed.keys() {
                assert_eq!(Registry::parse(r.as_str()).as_ref(), Ok(r));
            }
        }
        Err(e) => assert_quotes_nothing(&format!("{e:#}"), data),
    }
}

/// An error about a file holds no run of eight bytes of the file that is not in the message
/// for another reason (its fixed words): it says where the file broke, never what it holds.
fn assert_quotes_nothing(message: &str, data: &[u8]) {
    const FIXED: &str = "the credential store /fuzz/credentials.json is corrupt (not valid at line column ); it was left untouched: move it aside or repair it, then log in again has format version newer than this docker-credential-harbor reads upgrade runner config config.json is not valid expected registries harbor.example.net username password_file";
    for window in data.windows(8) {
        let Ok(w) = std::str::from_utf8(window) else {
            continue;
        };
        if w.chars().all(|c| c.is_ascii_alphanumeric()) && message.contains(w) && !FIXED.contains(w)
        {
            panic!("the message quotes the input ({w:?}): {message}");
        }
    }
}

/// The runner config file: entries it cannot parse are ignored and never echoed.
pub fn runner_config(data: &[u8]) {
    let path = Path::new("/fuzz/config.json");
    let config = match RunnerSideConfig::from_bytes(path, data, 0o600) {
        Ok(c) => c,
        Err(e) => return assert_quotes_nothing(&format!("{e:#}"), data),
    };
    let _ = config.list();
    let Some(note) = config.ignored_note() else {
        return;
    };
    let Ok(serde_json::Value::Object(root)) = serde_json::from_slice::<serde_json::Value>(data)
    else {
        return;
    };
    if let Some(serde_json::Value::Object(registries)) = root.get("registries") {
        for key in registries.keys() {
            if Registry::parse(key).is_err() && key.len() >= 12 {
                assert!(
                    !note.contains(key.as_str()),
                    "the note echoes {key:?}: {note}"
                );
            }
        }
    }
}

/// The kubelet's `CredentialProviderRequest`: a refusal is one line with no control character
/// and never holds the token; an accepted image names a canonical registry and a project of one
/// segment; a response carrying the input's strings is JSON that reads back to them, on one
/// line, with no raw `<`, `>` or `&`.
pub fn kubelet_request(data: &[u8]) {
    let request = match kubelet::parse_request(data) {
        Ok(r) => r,
        Err(e) => {
            let text = e.to_string();
            assert!(
                !text.contains('\n') && !text.chars().any(char::is_control),
                "{text:?}"
            );
            let Ok(serde_json::Value::Object(root)) = serde_json::from_slice(data) else {
                return;
            };
            let Some(token) = root.get("serviceAccountToken").and_then(|t| t.as_str()) else {
                return;
            };
            // Only a token that is not also one of the values the message may name.
            let elsewhere = ["apiVersion", "kind", "image"].iter().any(|k| {
                root.get(*k)
                    .and_then(|v| v.as_str())
                    .is_some_and(|v| v.contains(token))
            });
            if token.len() >= 8 && !elsewhere {
                assert!(!text.contains(token), "the error shows the token: {text}");
            }
            return;
        }
    };
    assert!(!request.image.is_empty());
    let Ok(image) = kubelet::locate_image(&request.image) else {
        return;
    };
    assert_eq!(
        Registry::parse(image.registry.as_str()).as_ref(),
        Ok(&image.registry)
    );
    if let Some(p) = &image.project {
        assert!(!p.is_empty() && !p.contains('/'), "{p:?}");
    }
    let password = request
        .service_account_token
        .unwrap_or_else(|| secrecy::SecretString::from(request.image.clone()));
    let key = format!("{}/{}", image.registry, request.image);
    let mut response = kubelet::Response::empty();
    response.cache_seconds = Some(data.len() as u64 * 61);
    response.auth.insert(
        key.clone(),
        kubelet::AuthConfig {
            username: request.image.clone(),
            password: password.clone(),
        },
    );
    let json = response.to_json();
    assert!(
        json.ends_with('\n') && json.matches('\n').count() == 1,
        "{json:?}"
    );
    assert!(!json.contains(['<', '>', '&']), "{json:?}");
    let back: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    use secrecy::ExposeSecret;
    assert_eq!(
        back["auth"][&key]["password"].as_str(),
        Some(password.expose_secret())
    );
    assert_eq!(
        back["auth"][&key]["username"].as_str(),
        Some(request.image.as_str())
    );
}
