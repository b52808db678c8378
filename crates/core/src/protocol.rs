//! The Docker credential-helper wire protocol (docs/protocol.md), apart from any credential
//! source.
//!
//! [`serve`] takes the verb, stdin, stdout and stderr as arguments and answers through the
//! [`Helper`] trait, so the whole protocol is tested in-process on an in-memory helper. Contract
//! strings are constants because clients compare them byte for byte. This module must never
//! build an HTTP client, write anywhere but the streams it is given, or put a secret anywhere
//! but the single `get` answer.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};

use secrecy::zeroize::Zeroizing;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize, Serializer};

use crate::address::{AddressError, Registry};

pub const NAME: &str = "docker-credential-harbor";
/// The miss every client recognises (DCH `credentials/error.go`); anything else is a hard error.
pub const NOT_FOUND: &str = "credentials not found in native keychain";
pub const MISSING_SERVER_URL: &str = "no credentials server URL";
pub const MISSING_USERNAME: &str = "no credentials username";
pub const USAGE: &str = "Usage: docker-credential-harbor <store|get|erase|list|version>";

/// Largest stdin accepted. Real requests are well under 10 KiB; this bounds memory.
pub const MAX_INPUT: u64 = 1 << 20;

/// `docker-credential-harbor: unknown action: X`, as DCH `HandleCommand` words it.
pub fn unknown_action(verb: &str) -> String {
    format!("{NAME}: unknown action: {verb}")
}

/// `docker-credential-harbor (docker-credential-harbor) 0.1.0`.
pub fn version_line() -> String {
    format!("{NAME} ({NAME}) {}", env!("CARGO_PKG_VERSION"))
}

/// A user name and its secret; `Debug` never shows the secret.
#[derive(Clone, Debug)]
pub struct Credentials {
    pub username: String,
    pub secret: SecretString,
}

/// What answers the protocol: the sources, or an in-memory fake in tests.
pub trait Helper {
    /// `Ok(None)` is the not-found answer.
    fn get(&self, server: &Registry) -> anyhow::Result<Option<Credentials>>;
    /// An upsert: storing again replaces the entry.
    fn store(&self, server: &Registry, credentials: Credentials) -> anyhow::Result<()>;
    /// Erasing a missing entry succeeds.
    fn erase(&self, server: &Registry) -> anyhow::Result<()>;
    /// Every `host[:port]` that `get` answers, with its user name.
    fn list(&self) -> anyhow::Result<BTreeMap<Registry, String>>;
    /// What a person should hear on stderr about the last call: a source that could not answer
    /// and was passed over (its client still gets a plain answer). Never a secret.
    fn notes(&self) -> Vec<String> {
        Vec::new()
    }
}

/// The protocol verbs that read stdin and answer on stdout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verb {
    Get,
    Store,
    Erase,
    List,
}

impl Verb {
    pub fn parse(word: &str) -> Option<Verb> {
        Some(match word {
            "get" => Verb::Get,
            "store" => Verb::Store,
            "erase" => Verb::Erase,
            "list" => Verb::List,
            _ => return None,
        })
    }
}

/// Why a verb failed. Display is the exact text written to stdout.
#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    #[error("{}", NOT_FOUND)]
    NotFound,
    #[error("{}", MISSING_SERVER_URL)]
    MissingServerUrl,
    #[error("{}", MISSING_USERNAME)]
    MissingUsername,
    #[error(
        "{NAME}: the request on stdin is larger than {} KiB; send one server address or one credentials object",
        MAX_INPUT / 1024
    )]
    InputTooLarge,
    #[error(
        "{NAME}: the request on stdin is not valid UTF-8; send the server address as plain text"
    )]
    NotUtf8,
    /// serde_json's own message is never shown: it can quote the secret (docs/protocol.md#store).
    #[error(
        "{NAME}: the credentials on stdin are not a valid JSON object ({what} at line {line}, column {column}); \
         send {{\"ServerURL\":…,\"Username\":…,\"Secret\":…}}"
    )]
    BadJson {
        what: &'static str,
        line: usize,
        column: usize,
    },
    #[error("{NAME}: cannot use the server address: {0}; send host[:port] as docker does")]
    BadAddress(AddressError),
    #[error("{NAME}: {0:#}")]
    Source(anyhow::Error),
    #[error("{NAME}: cannot read the request on stdin: {0}")]
    Io(io::Error),
}

impl From<anyhow::Error> for ProtocolError {
    fn from(e: anyhow::Error) -> Self {
        ProtocolError::Source(e)
    }
}

/// What argv asks of the protocol: a verb, or what docker-credential-helpers' `Serve` answers
/// by itself (the version, the usage line, an unknown action).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Call {
    Verb(Verb),
    /// `version`, `--version`, `-v`: the version line, exit 0.
    Version,
    /// No argument, or a verb with more arguments: the usage line on stdout, exit 1.
    Usage,
    /// An unknown first word: `docker-credential-harbor: unknown action: X` on stdout, exit 1.
    UnknownAction(String),
}

/// Answers one call; `true` for exit status 0. The answer and its errors go to `output`, where
/// clients look for them (DCH `Serve` writes errors and the usage line to stdout too); the
/// helper's notes go to `notes` (stderr), which clients pass on to people or logs.
pub fn answer(
    call: &Call,
    input: &mut dyn Read,
    output: &mut dyn Write,
    notes: &mut dyn Write,
    helper: &dyn Helper,
) -> bool {
    let (ok, line) = match call {
        Call::Verb(verb) => return serve(*verb, input, output, notes, helper),
        Call::Version => (true, version_line()),
        Call::Usage => (false, USAGE.to_owned()),
        Call::UnknownAction(word) => (false, unknown_action(&crate::text::inline(word))),
    };
    writeln!(output, "{line}")
        .and_then(|()| output.flush())
        .is_ok()
        && ok
}

/// Runs one verb. Success writes the answer (if any) in one write and returns `true`; failure
/// writes the error line to `output` and returns `false`, so the caller exits 1. Either way,
/// the helper's notes are written to `notes`, one line each.
pub fn serve(
    verb: Verb,
    input: &mut dyn Read,
    output: &mut dyn Write,
    notes: &mut dyn Write,
    helper: &dyn Helper,
) -> bool {
    let result = match verb {
        Verb::Get => get(input, helper),
        Verb::Store => store(input, helper).map(|()| Zeroizing::new(Vec::new())),
        Verb::Erase => erase(input, helper).map(|()| Zeroizing::new(Vec::new())),
        // DCH clients send the literal `unused`; it is not read, so a terminal never blocks `list`.
        Verb::List => list(helper),
    };
    for note in helper.notes() {
        // Best effort, like the error line: the answer on stdout is what clients act on.
        let _ = writeln!(notes, "{NAME}: {}", crate::text::inline(&note));
    }
    match result {
        Ok(answer) => output
            .write_all(&answer)
            .and_then(|()| output.flush())
            .is_ok(),
        Err(e) => {
            // A failed write of the error changes nothing: the exit status already says it.
            // Clients show this text to people (inside docker's own error): one clean line.
            let text = e.to_string();
            let _ =
                writeln!(output, "{}", crate::text::inline(&text)).and_then(|()| output.flush());
            false
        }
    }
}

fn get(input: &mut dyn Read, helper: &dyn Helper) -> Result<Zeroizing<Vec<u8>>, ProtocolError> {
    let server_url = read_address(input)?;
    // An address with no canonical form names nothing we hold: that is a miss, not an error.
    let Ok(registry) = Registry::parse(&server_url) else {
        return Err(ProtocolError::NotFound);
    };
    let found = helper.get(&registry)?.ok_or(ProtocolError::NotFound)?;
    let answer = GetAnswer {
        server_url: &server_url,
        username: &found.username,
        secret: &found.secret,
    };
    let mut out = Zeroizing::new(Vec::with_capacity(128));
    serde_json::to_writer(&mut *out, &answer).map_err(|e| ProtocolError::Io(e.into()))?;
    out.push(b'\n');
    Ok(out)
}

fn store(input: &mut dyn Read, helper: &dyn Helper) -> Result<(), ProtocolError> {
    let raw = read_input(input)?;
    let request: StoreRequest = serde_json::from_slice(&raw).map_err(json_error)?;
    let server_url = request.server_url.unwrap_or_default();
    if server_url.trim().is_empty() {
        return Err(ProtocolError::MissingServerUrl);
    }
    let username = request.username.unwrap_or_default();
    if username.is_empty() {
        return Err(ProtocolError::MissingUsername);
    }
    let registry = Registry::parse(&server_url).map_err(ProtocolError::BadAddress)?;
    let secret = request.secret.unwrap_or_default();
    helper.store(&registry, Credentials { username, secret })?;
    Ok(())
}

fn erase(input: &mut dyn Read, helper: &dyn Helper) -> Result<(), ProtocolError> {
    let server_url = read_address(input)?;
    let registry = Registry::parse(&server_url).map_err(ProtocolError::BadAddress)?;
    helper.erase(&registry)?;
    Ok(())
}

fn list(helper: &dyn Helper) -> Result<Zeroizing<Vec<u8>>, ProtocolError> {
    let entries: BTreeMap<String, String> = helper
        .list()?
        .into_iter()
        .map(|(k, v)| (k.as_str().to_owned(), v))
        .collect();
    let mut out = serde_json::to_vec(&entries).map_err(|e| ProtocolError::Io(e.into()))?;
    out.push(b'\n');
    Ok(Zeroizing::new(out))
}

/// The `get` answer, with docker's exact key casing (Java clients match case-sensitively).
#[derive(Serialize)]
struct GetAnswer<'a> {
    #[serde(rename = "ServerURL")]
    server_url: &'a str,
    #[serde(rename = "Username")]
    username: &'a str,
    #[serde(rename = "Secret", serialize_with = "expose")]
    secret: &'a SecretString,
}

/// Exposure point: the secret leaves its wrapper only into the `get` answer buffer.
fn expose<S: Serializer>(secret: &&SecretString, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(secret.expose_secret())
}

/// The `store` request. Go clients may send `null` or omit fields; both mean empty.
#[derive(Deserialize)]
struct StoreRequest {
    #[serde(rename = "ServerURL", default)]
    server_url: Option<String>,
    #[serde(rename = "Username", default)]
    username: Option<String>,
    #[serde(rename = "Secret", default)]
    secret: Option<SecretString>,
}

fn json_error(e: serde_json::Error) -> ProtocolError {
    use serde_json::error::Category;
    let what = match e.classify() {
        Category::Io => "read error",
        Category::Syntax => "syntax error",
        Category::Data => "a field of the wrong type",
        Category::Eof => "unexpected end of input",
    };
    ProtocolError::BadJson {
        what,
        line: e.line(),
        column: e.column(),
    }
}

/// Reads all of stdin, bounded by [`MAX_INPUT`]; the buffer is wiped on drop.
fn read_input(input: &mut dyn Read) -> Result<Zeroizing<Vec<u8>>, ProtocolError> {
    let mut buf = Zeroizing::new(Vec::with_capacity(256));
    input
        .take(MAX_INPUT + 1)
        .read_to_end(&mut buf)
        .map_err(ProtocolError::Io)?;
    if buf.len() as u64 > MAX_INPUT {
        return Err(ProtocolError::InputTooLarge);
    }
    Ok(buf)
}

/// The server address as DCH reads it: lines joined without their line breaks, then trimmed.
fn read_address(input: &mut dyn Read) -> Result<String, ProtocolError> {
    let raw = read_input(input)?;
    let text = std::str::from_utf8(&raw).map_err(|_| ProtocolError::NotUtf8)?;
    let joined: String = text
        .split('\n')
        .map(|line| line.strip_suffix('\r').unwrap_or(line))
        .collect();
    let trimmed = joined.trim();
    if trimmed.is_empty() {
        return Err(ProtocolError::MissingServerUrl);
    }
    Ok(trimmed.to_owned())
}

/// An in-memory [`Helper`], as docker-credential-helpers' `memoryStore`: the protocol's own
/// tests and the fuzz targets serve from it. It holds secrets as plain strings, so nothing but
/// tests and fuzzing uses it, and only their builds compile it (the `fuzzing` feature).
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
#[derive(Default)]
pub struct Memory(std::cell::RefCell<BTreeMap<Registry, (String, String)>>);

#[cfg(any(test, feature = "fuzzing"))]
impl Helper for Memory {
    fn get(&self, server: &Registry) -> anyhow::Result<Option<Credentials>> {
        Ok(self.0.borrow().get(server).map(|(u, s)| Credentials {
            username: u.clone(),
            secret: SecretString::from(s.clone()),
        }))
    }
    fn store(&self, server: &Registry, c: Credentials) -> anyhow::Result<()> {
        let secret = c.secret.expose_secret().to_owned();
        self.0
            .borrow_mut()
            .insert(server.clone(), (c.username, secret));
        Ok(())
    }
    fn erase(&self, server: &Registry) -> anyhow::Result<()> {
        self.0.borrow_mut().remove(server);
        Ok(())
    }
    fn list(&self) -> anyhow::Result<BTreeMap<Registry, String>> {
        Ok(self
            .0
            .borrow()
            .iter()
            .map(|(k, (u, _))| (k.clone(), u.clone()))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(verb: Verb, input: &str, helper: &dyn Helper) -> (bool, String) {
        let (mut out, mut notes) = (Vec::new(), Vec::new());
        let ok = serve(verb, &mut input.as_bytes(), &mut out, &mut notes, helper);
        assert!(notes.is_empty(), "the in-memory helper has no notes");
        (ok, String::from_utf8(out).unwrap())
    }

    #[test]
    fn store_get_erase_round_trip_with_exact_keys() {
        let m = Memory::default();
        let req = r#"{"ServerURL":"https://Harbor.example.com/","Username":"robot$ci","Secret":"s3cr3t\"\\x"}"#;
        assert_eq!(run(Verb::Store, req, &m), (true, String::new()));
        let (ok, out) = run(Verb::Get, "harbor.example.com", &m);
        assert!(ok);
        assert_eq!(
            out,
            "{\"ServerURL\":\"harbor.example.com\",\"Username\":\"robot$ci\",\"Secret\":\"s3cr3t\\\"\\\\x\"}\n"
        );
        assert_eq!(
            run(Verb::List, "", &m),
            (true, "{\"harbor.example.com\":\"robot$ci\"}\n".into())
        );
        assert_eq!(
            run(Verb::Erase, "harbor.example.com\r\n", &m),
            (true, String::new())
        );
        assert_eq!(
            run(Verb::Get, "harbor.example.com", &m),
            (false, format!("{NOT_FOUND}\n"))
        );
        assert_eq!(run(Verb::List, "unused", &m), (true, "{}\n".into()));
    }

    #[test]
    fn contract_messages_are_exact() {
        let m = Memory::default();
        assert_eq!(
            run(Verb::Get, "", &m),
            (false, "no credentials server URL\n".into())
        );
        assert_eq!(
            run(Verb::Erase, " \n", &m),
            (false, "no credentials server URL\n".into())
        );
        let no_user = r#"{"ServerURL":"h","Username":"","Secret":"p"}"#;
        assert_eq!(
            run(Verb::Store, no_user, &m),
            (false, "no credentials username\n".into())
        );
        let no_url = r#"{"ServerURL":"","Username":"u","Secret":"p"}"#;
        assert_eq!(
            run(Verb::Store, no_url, &m),
            (false, "no credentials server URL\n".into())
        );
        let nulls = r#"{"ServerURL":null,"Username":"u"}"#;
        assert_eq!(
            run(Verb::Store, nulls, &m),
            (false, "no credentials server URL\n".into())
        );
        assert_eq!(
            run(Verb::Get, "https://", &m),
            (false, format!("{NOT_FOUND}\n"))
        );
    }

    #[test]
    fn address_lines_are_joined_then_trimmed_like_dch() {
        let m = Memory::default();
        run(
            Verb::Store,
            r#"{"ServerURL":"ab.example","Username":"u","Secret":"p"}"#,
            &m,
        );
        let (ok, out) = run(Verb::Get, "ab\r\n.example\n", &m);
        assert!(ok, "{out}");
        assert!(out.starts_with("{\"ServerURL\":\"ab.example\","));
    }

    #[test]
    fn bad_json_never_echoes_the_input() {
        let m = Memory::default();
        for bad in [
            r#"{"ServerURL":"h","Username":"u","Secret":12345678}"#,
            r#"{"ServerURL":"h","Username":"u","Secret":"TOPSECRET""#,
            r#"{"ServerURL":"h","Username":["TOPSECRET"]}"#,
            "TOPSECRET",
        ] {
            let (ok, out) = run(Verb::Store, bad, &m);
            assert!(!ok);
            assert!(out.contains("not a valid JSON object"), "{out}");
            assert!(
                !out.contains("TOPSECRET") && !out.contains("12345678"),
                "{out}"
            );
        }
    }

    #[test]
    fn oversized_and_non_utf8_input_fail_cleanly() {
        let m = Memory::default();
        let big = "a".repeat((MAX_INPUT + 10) as usize);
        let (ok, out) = run(Verb::Get, &big, &m);
        assert!(!ok && out.contains("larger than"), "{out}");
        let (mut out, mut notes) = (Vec::new(), Vec::new());
        let bad = [0xffu8, 0xfe];
        assert!(!serve(
            Verb::Get,
            &mut bad.as_slice(),
            &mut out,
            &mut notes,
            &m
        ));
        assert!(String::from_utf8(out).unwrap().contains("not valid UTF-8"));
    }

    #[test]
    fn go_escaped_token_user_round_trips() {
        let m = Memory::default();
        run(
            Verb::Store,
            r#"{"ServerURL":"h.example","Username":"\u003ctoken\u003e","Secret":"tok"}"#,
            &m,
        );
        let (_, out) = run(Verb::Get, "h.example", &m);
        assert_eq!(
            out,
            "{\"ServerURL\":\"h.example\",\"Username\":\"<token>\",\"Secret\":\"tok\"}\n"
        );
    }

    #[test]
    fn debug_of_credentials_is_redacted() {
        let c = Credentials {
            username: "u".into(),
            secret: SecretString::from("TOPSECRET"),
        };
        assert!(!format!("{c:?}").contains("TOPSECRET"));
    }
}
