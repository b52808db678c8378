//! Entry points for the fuzz targets in `fuzz/` and for the test that replays their corpus
//! (`tests/fuzz_corpus.rs`): one function per parser of outside input above the core (the
//! core's own parsers are fuzzed from `crates/core/fuzz/`, `docker_credential_harbor_core::fuzz`,
//! without reqwest). Each hands the bytes
//! to the parser exactly as the binary does, then checks what must hold whatever the input;
//! a violated property panics, which the fuzzer reports as a crash. Not an API: nothing but
//! the fuzzer and the tests calls it, it performs no I/O beyond what it says, and only a build
//! with the `fuzzing` feature compiles it (never the shipped binary).

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::Path;

use docker_credential_harbor_core::address::Registry;
use docker_credential_harbor_core::docker_auth_config::{self as auth_config, DockerAuthConfig};
use docker_credential_harbor_core::env::{self, Env};
use docker_credential_harbor_core::integration::Integration;
use docker_credential_harbor_core::sources::environment;
use docker_credential_harbor_core::text;
use docker_credential_harbor_core::url::HarborUrl;
use docker_credential_harbor_core::vars;

use crate::client_config::{ConfigFile, EntryChange, LOGIN_FIELDS};
use crate::commands::pre_build::auth_env;
use crate::gitlab_runner_toml::edit;
use crate::job_record::JobState;
use crate::settings::{HarborSettings, JobContext};
use crate::shell::{Cut, Piece};

mod harbor;

pub use harbor::{broker_answer, harbor_error, robot_answers, token};

pub use docker_credential_harbor_core::fuzz::Target;

/// Every target, by the name of its file in `fuzz/fuzz_targets/` and its corpus directory.
pub const TARGETS: &[(&str, Target)] = &[
    ("variables", variables),
    ("client_config", client_config),
    ("harbor_error", harbor_error),
    ("token", token),
    ("robot_answers", robot_answers),
    ("broker_answer", broker_answer),
    ("job_record", job_record),
    ("docker_auth_config", docker_auth_config),
    ("runner_hooks", runner_hooks),
];

const HARBOR_VARS: [&str; 8] = [
    env::HARBOR_URL,
    env::HARBOR_HOST,
    env::HARBOR_USERNAME,
    env::HARBOR_USER,
    env::HARBOR_PASSWORD,
    env::HARBOR_PROJECT,
    docker_credential_harbor_core::env::HARBOR_OCI,
    docker_credential_harbor_core::env::TIMEOUT_VAR,
];

/// `HARBOR_*` resolution: lines whose first byte picks a variable and whose rest is its
/// value. A usable URL is https or loopback http, names the registry the helper serves, and
/// survives a round trip through its own base.
pub fn variables(data: &[u8]) {
    let pairs: Vec<(&str, OsString)> = data
        .split(|&b| b == b'\n')
        .filter_map(|line| {
            let (&pick, value) = line.split_first()?;
            let value: Vec<u8> = value.iter().copied().filter(|&b| b != 0).collect();
            Some((
                HARBOR_VARS[usize::from(pick) % HARBOR_VARS.len()],
                OsString::from_vec(value),
            ))
        })
        .collect();
    let env = Env::from_pairs(pairs);
    let registry = vars::registry(&env);
    let integration = Integration::resolve(&env);
    let _ = (
        integration.missing(),
        integration.account(),
        HarborSettings::from_env(&env).timeout,
        JobContext::from_env(&env).verify,
    );
    assert_eq!(integration.registry(), registry.as_ref().map(|(r, _)| r));
    if let Some((r, _)) = &registry {
        assert!(!r.is_docker_hub());
        if let Some(c) = environment::get(&env, r) {
            assert_eq!(Some(c.username), vars::username(&env));
        }
    }
    if let Ok(url) = HarborUrl::from_env(&env) {
        if let Some((r, _)) = &registry {
            assert_eq!(&url.registry, r);
        }
        let again = HarborUrl::parse(&url.base(), url.from).expect("its own base parses");
        assert_eq!(
            (&again.registry, again.base(), again.port()),
            (&url.registry, url.base(), url.port())
        );
        assert!(
            url.scheme == docker_credential_harbor_core::url::Scheme::Https || url.is_loopback()
        );
    }
}

/// The client config merge (docker's config.json, containers' auth.json, helm's registry
/// config): a per-job copy holds no login, and adding then removing our entry gives back
/// what was there.
pub fn client_config(data: &[u8]) {
    let path = Path::new("/fuzz/config.json");
    let Ok(mut file) = ConfigFile::from_bytes(path, data, 0o600, true) else {
        return;
    };
    let (copy, _) = file.copy_without_logins(Path::new("/fuzz/copy.json"));
    let rendered: serde_json::Value =
        serde_json::from_slice(&copy.render().expect("renders")).expect("JSON");
    if let Some(auths) = rendered.get("auths").and_then(|a| a.as_object()) {
        for entry in auths.values() {
            for field in LOGIN_FIELDS {
                assert!(
                    entry.get(field).is_none(),
                    "a login survived the copy: {entry}"
                );
            }
        }
    }
    let before = file.render().expect("renders");
    let root: serde_json::Value = serde_json::from_slice(&before).expect("JSON");
    let replaceable = root
        .get("credHelpers")
        .is_none_or(serde_json::Value::is_object);
    let had_helpers = file.has_helpers();
    let harbor = Registry::parse("harbor.fuzz.example:8443").expect("a valid address");
    if file.set_helper(&harbor, false) == EntryChange::Added && replaceable {
        assert!(file.remove_helper(&harbor, !had_helpers));
        assert_eq!(file.render().expect("renders"), before);
    }
}

/// The job record pre-build leaves where the job can write: any record parses or is refused,
/// and one that parses writes back as one that parses.
pub fn job_record(data: &[u8]) {
    let path = Path::new("/fuzz/state.json");
    if let Ok(state) = JobState::from_bytes(path, data) {
        let bytes = serde_json::to_vec(&state).expect("encodes");
        JobState::from_bytes(path, &bytes).expect("its own encoding parses");
    }
}

/// `DOCKER_AUTH_CONFIG` as docker ≥ 28.3 reads it: a store's first JSON value is JSON to
/// serde_json too (when it is UTF-8); `quotes` are exactly its `"` bytes; each entry's range
/// is a whole `"key":…` member; and the other entries, cut from the value the way pre-build's
/// script does in the job's shell (`shell::Cut`, run by [`sh_printf`]), give exactly the
/// pieces pre-build meant, which are again a store with the same keys in the same order and
/// no Harbor entry.
pub fn docker_auth_config(data: &[u8]) {
    let DockerAuthConfig::Valid {
        len,
        ascii,
        entries,
        quotes,
    } = DockerAuthConfig::parse(Some(data))
    else {
        return;
    };
    assert_eq!(len, data.len());
    assert_eq!(ascii, data.is_ascii());
    let at_quotes: Vec<usize> = (0..data.len()).filter(|&i| data[i] == b'"').collect();
    assert_eq!(quotes, at_quotes);
    if let Ok(text) = std::str::from_utf8(data)
        && !text.trim_matches([' ', '\t', '\n', '\r']).is_empty()
    {
        let first = serde_json::Deserializer::from_str(text)
            .into_iter::<serde_json::Value>()
            .next();
        // serde_json refuses a lone surrogate escape (`\udbbb`, `\ud800]`), which Go reads as
        // U+FFFD (tests/docker-auth-config/cases.txt, checked against docker's code): a value
        // with a surrogate escape is left to those golden cases.
        let surrogate_escape = text.as_bytes().windows(4).any(|w| {
            matches!(
                w,
                [
                    b'\\',
                    b'u',
                    b'd' | b'D',
                    b'8'..=b'9' | b'a'..=b'f' | b'A'..=b'F',
                ]
            )
        });
        assert!(
            matches!(first, Some(Ok(_))) || surrogate_escape,
            "a store is JSON: {first:?}"
        );
    }
    for e in &entries {
        let m = &data[e.member.clone()];
        assert!(
            m.starts_with(b"\"") && (m.ends_with(b"}") || m.ends_with(b"null")),
            "not a member: {m:?}"
        );
    }
    let harbor = Registry::parse("harbor.fuzz.example").expect("a valid address");
    let keep = |e: &auth_config::AuthsEntry| !e.is_for(&harbor);
    let pieces = auth_env::pieces(&entries, keep);
    let cut = Cut::new(len, b'"', &quotes, &pieces).expect("members can be cut at their quotes");
    let mut meant = Vec::new();
    for p in &pieces {
        match p {
            Piece::Text(t) => meant.extend_from_slice(t),
            Piece::Kept(r) => meant.extend_from_slice(&data[r.clone()]),
        }
    }
    let printed = sh_printf(data, cut.sep, &cut.format).expect("the shell splits it as planned");
    assert_eq!(printed.fields, cut.fields);
    assert_eq!(
        printed.out.strip_suffix(b".").map(<[u8]>::to_vec),
        Some(meant.clone())
    );
    let DockerAuthConfig::Valid { entries: again, .. } = DockerAuthConfig::parse(Some(&meant))
    else {
        panic!("the rebuilt value is not a store: {meant:?}");
    };
    let kept: Vec<&String> = entries.iter().filter(|e| keep(e)).map(|e| &e.key).collect();
    let again: Vec<&String> = again.iter().map(|e| &e.key).collect();
    assert_eq!(kept, again);
}

/// The runner's config.toml, edited by `install-hooks`
/// (docs/install.md#the-tarball-on-a-runner-host): never a panic; an error never quotes the file
/// (it holds the runner's token); a note for the admin is one message and one line to add, with no
/// control character of the file's; an edit only inserts whole lines, parses, and a second edit
/// adds nothing.
pub fn runner_hooks(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let edit = match edit::add_hooks(text, "/opt/b/docker-credential-harbor") {
        Ok(e) => e,
        Err(e) => {
            let message = e.to_string();
            for window in data.windows(16) {
                if window.iter().all(u8::is_ascii_alphanumeric) {
                    let w = std::str::from_utf8(window).unwrap_or_default();
                    assert!(!message.contains(w), "the error quotes {w:?}: {message}");
                }
            }
            return;
        }
    };
    for note in &edit.by_hand {
        assert_eq!(note.matches('\n').count(), 1, "{note:?}");
        // Escaped as every message is (text::escape keeps `\n` and `\t`, nothing else).
        assert_eq!(text::escape(note), note.as_str(), "{note:?}");
    }
    if edit.added == 0 {
        return;
    }
    let new: &str = &edit.text;
    let mut old = text.split_inclusive('\n').peekable();
    // The original's last line may gain the line break the lines under it need.
    let same = |o: &str, n: &str| {
        o == n
            || (!o.ends_with('\n')
                && n.strip_suffix('\n')
                    .map(|n| n.strip_suffix('\r').unwrap_or(n))
                    == Some(o))
    };
    let mut inserted = 0;
    for line in new.split_inclusive('\n') {
        if old.peek().is_some_and(|o| same(o, line)) {
            old.next();
        } else {
            inserted += 1;
        }
    }
    assert!(old.next().is_none(), "a line of the original is gone");
    assert_eq!(inserted, edit.added);
    new.parse::<toml::Table>().expect("the edit parses");
    let again = edit::add_hooks(new, "/opt/b/docker-credential-harbor")
        .map(|e| e.added)
        .unwrap_or(usize::MAX);
    assert_eq!(again, 0, "a second edit added lines");
}

/// What `IFS=<sep>; set -f; set -- $value; printf <format> "$@"` does in dash, bash and
/// busybox sh, for the formats `shell::Cut` writes (literals with `%%` and `\\`, `%s`,
/// `%.Ns`): the field count and the output. `None` for a format that uses fewer arguments
/// than there are fields (printf would start it again) or more.
pub struct Printed {
    pub fields: usize,
    pub out: Vec<u8>,
}

pub fn sh_printf(value: &[u8], sep: u8, format: &[u8]) -> Option<Printed> {
    let mut fields: Vec<&[u8]> = value.split(|&b| b == sep).collect();
    // A separator at the end ends the last field; an empty value has none.
    if value.is_empty() || value.ends_with(&[sep]) {
        fields.pop();
    }
    let mut args = fields.iter();
    let mut out = Vec::new();
    let mut f = format.iter().copied().peekable();
    while let Some(c) = f.next() {
        match c {
            b'\\' | b'%' if f.peek() == Some(&c) => {
                out.push(c);
                f.next();
            }
            b'%' => {
                let mut precision = None;
                if f.peek() == Some(&b'.') {
                    f.next();
                    let mut n = 0usize;
                    while let Some(d) = f.next_if(u8::is_ascii_digit) {
                        n = n.checked_mul(10)?.checked_add(usize::from(d - b'0'))?;
                    }
                    precision = Some(n);
                }
                if f.next() != Some(b's') {
                    return None;
                }
                let arg = args.next()?;
                out.extend_from_slice(&arg[..precision.unwrap_or(arg.len()).min(arg.len())]);
            }
            b'\\' => return None,
            c => out.push(c),
        }
    }
    args.next().is_none().then_some(Printed {
        fields: fields.len(),
        out,
    })
}
