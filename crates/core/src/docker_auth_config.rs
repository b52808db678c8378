//! `DOCKER_AUTH_CONFIG` as the docker CLI ≥ 28.3 reads it
//! (docs/gitlab-runner.md#versions-that-matter): a credential store that wins over `config.json`,
//! so for a host it lists, `credHelpers` and `credsStore` (this helper) are never asked. pre-build
//! takes Harbor's entries out of the job's copy and removes a value docker ignores; doctor names
//! both.
//!
//! docker (`cli/config/configfile`, `parseEnvConfig`) reads the value with Go's
//! `encoding/json`: one `Decode` into a struct with only `auths` (each entry only `auth`),
//! unknown fields disallowed; then `More()`, so after that first value whitespace and then
//! `]`, `}` or the end pass, whatever follows them; then each entry of the decoded map must
//! have an `auth` that is standard base64 of `user:password` with a non-empty user. A value
//! that fails is ignored, with a warning at every credential lookup. What Go's decoder does,
//! followed here (its source in Go 1.26, and the golden cases in tests/docker-auth-config/,
//! which the oracle there checks against docker's own code):
//! - field names match exactly or under Unicode simple case folding (`AUTHS`; `authſ` with
//!   U+017F); keys in `auths` are compared exactly, after JSON unescaping;
//! - `auths` twice adds to one map, and `"auths":null` empties it; a key twice, or a field
//!   twice, the last wins, and only the winning entry is checked; `"auth":null` keeps the
//!   `auth` before it; a null entry is an entry without `auth`;
//! - invalid UTF-8 in a string reads as one U+FFFD per byte;
//! - the first error met wins: one in the JSON itself, then a wrong key or type anywhere,
//!   then what follows the value, then the entries.
//!
//! Pure: no I/O. What it returns never holds a secret: entries are keys and byte ranges of the
//! value, so the caller can rebuild the value in the job's shell without printing it.

use std::collections::HashMap;
use std::ops::Range;

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use secrecy::{ExposeSecret, SecretSlice, SecretString};

use crate::address::Registry;
use crate::text;

/// What the variable is, for docker ≥ 28.3.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DockerAuthConfig {
    /// Unset or empty: docker uses its config files.
    Unset,
    /// A store docker uses. `len` is the value's length in bytes; `ascii` says whether the
    /// job's shell can cut it by offsets; `quotes` are the offsets of every `"` in it, where
    /// the shell splits it (`shell::rebuild`).
    Valid {
        len: usize,
        ascii: bool,
        entries: Vec<AuthsEntry>,
        quotes: Vec<usize>,
    },
    /// docker prints "Failed to create credential store from DOCKER_AUTH_CONFIG" at every
    /// credential lookup, then answers from its config files as if the variable were unset.
    Invalid(Invalid),
}

/// One `auths` member that docker's map is built from: its key as docker decodes it, the byte
/// range of the member (`"key":{…}`, or `"key":null` that a later member replaces) in the
/// value, and which `auths` object holds it (members of one object are consecutive in
/// [`DockerAuthConfig::Valid`]'s list). A key listed twice is two entries; docker keeps the
/// last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthsEntry {
    pub key: String,
    pub member: Range<usize>,
    pub object: usize,
}

impl AuthsEntry {
    /// Whether this entry is docker's answer for `registry` under some spelling: any key
    /// whose canonical form is `registry` (`https://harbor.example.com/`, `HARBOR.example.com`,
    /// `harbor.example.com:443`). docker matches keys exactly, so this removes at least every
    /// spelling it would use.
    pub fn is_for(&self, registry: &Registry) -> bool {
        Registry::parse(&self.key).is_ok_and(|r| &r == registry)
    }

    /// The key for a message: the canonical registry, never a key that is not an address
    /// (it could be anything, a password included).
    pub fn shown(&self) -> String {
        shown_address(&self.key)
    }
}

/// Why docker ≥ 28.3 ignores the value. The texts never repeat a value, and name a key only
/// when it is a plain word or an address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    /// Not JSON, or not an object of objects of strings.
    #[error(
        "it is not of the form {{\"auths\":{{\"<registry>\":{{\"auth\":\"<base64 user:password>\"}}}}}}"
    )]
    Shape,
    /// A key other than `auths` at the top, or other than `auth` in an entry.
    #[error("it holds {0}, and only \"auths\" entries with an \"auth\" are allowed")]
    UnknownKey(String),
    /// An entry with no (or an empty) `auth`.
    #[error("the entry for {0} has no \"auth\"")]
    MissingAuth(String),
    /// An `auth` that is not base64 of `user:password`.
    #[error("the \"auth\" of the entry for {0} is not base64 of user:password")]
    BadAuth(String),
    /// Something other than `]` or `}` after the first JSON value.
    #[error("its JSON value is followed by something other than ] or }}")]
    Trailing,
}

impl DockerAuthConfig {
    /// The entries docker would answer from instead of the helper for one of `registries`.
    pub fn shadowing<'a>(
        &'a self,
        registries: &'a [Registry],
    ) -> impl Iterator<Item = &'a AuthsEntry> {
        let entries = match self {
            DockerAuthConfig::Valid { entries, .. } => entries.as_slice(),
            _ => &[],
        };
        entries
            .iter()
            .filter(|e| registries.iter().any(|r| e.is_for(r)))
    }

    pub fn parse(value: Option<&[u8]>) -> DockerAuthConfig {
        let Some(value) = value.filter(|v| !v.is_empty()) else {
            return DockerAuthConfig::Unset;
        };
        match Parser::new(value).config() {
            Ok(entries) => DockerAuthConfig::Valid {
                len: value.len(),
                ascii: value.is_ascii(),
                entries,
                quotes: (0..value.len()).filter(|&i| value[i] == b'"').collect(),
            },
            Err(i) => DockerAuthConfig::Invalid(i),
        }
    }
}

/// Go's scanner nests at most this deep (`maxNestingDepth`); deeper is a syntax error.
const MAX_DEPTH: usize = 10_000;

/// Not JSON as Go's scanner reads it: docker's error is a syntax error, whatever else is wrong.
struct Syntax;

type Scan<T> = Result<T, Syntax>;

/// An entry's `auth` as docker checks it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Auth {
    Missing,
    Bad,
    Good,
}

struct Parser<'a> {
    b: &'a [u8],
    at: usize,
    /// The first wrong key or type: Go's decoder goes on, and returns it at the end.
    saved: Option<Invalid>,
    /// `auths` objects read so far.
    objects: usize,
    /// The members docker's map is built from, with their `auth`, in order.
    members: Vec<(AuthsEntry, Auth)>,
}

impl<'a> Parser<'a> {
    fn new(b: &'a [u8]) -> Parser<'a> {
        Parser {
            b,
            at: 0,
            saved: None,
            objects: 0,
            members: Vec::new(),
        }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.at).copied()
    }

    /// Go's `isSpace`.
    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    fn eat(&mut self, b: u8) -> Scan<()> {
        self.ws();
        if self.peek() == Some(b) {
            self.at += 1;
            Ok(())
        } else {
            Err(Syntax)
        }
    }

    fn literal(&mut self, word: &[u8]) -> Scan<()> {
        if self.b[self.at..].starts_with(word) {
            self.at += word.len();
            Ok(())
        } else {
            Err(Syntax)
        }
    }

    /// What Go's decoder saves and goes on after: only the first is returned.
    fn save(&mut self, why: Invalid) {
        self.saved.get_or_insert(why);
    }

    fn config(mut self) -> Result<Vec<AuthsEntry>, Invalid> {
        self.ws();
        // Whitespace alone is Go's io.EOF, which docker ignores: an empty store.
        if self.at < self.b.len() {
            self.top().map_err(|Syntax| Invalid::Shape)?;
        }
        if let Some(why) = self.saved {
            return Err(why);
        }
        // `Decoder.More`: the next byte that is not whitespace, if any.
        self.ws();
        if !matches!(self.peek(), None | Some(b']' | b'}')) {
            return Err(Invalid::Trailing);
        }
        // docker checks the map it decoded: for each key, its last member.
        let mut last = HashMap::new();
        for (i, (e, _)) in self.members.iter().enumerate() {
            last.insert(e.key.as_str(), i);
        }
        for (i, (e, auth)) in self.members.iter().enumerate() {
            match auth {
                _ if last.get(e.key.as_str()) != Some(&i) => {}
                Auth::Missing => return Err(Invalid::MissingAuth(e.shown())),
                Auth::Bad => return Err(Invalid::BadAuth(e.shown())),
                Auth::Good => {}
            }
        }
        Ok(self.members.into_iter().map(|(e, _)| e).collect())
    }

    /// The one value docker decodes: an object of `auths`, or null.
    fn top(&mut self) -> Scan<()> {
        match self.peek() {
            Some(b'{') => self.object(|p, key, _| {
                if is_field(&key, "auths") {
                    p.auths()
                } else {
                    p.save(Invalid::UnknownKey(shown_key(&key)));
                    p.skip(1)
                }
            }),
            Some(b'n') => self.literal(b"null"),
            _ => {
                self.save(Invalid::Shape);
                self.skip(0)
            }
        }
    }

    fn auths(&mut self) -> Scan<()> {
        self.ws();
        match self.peek() {
            Some(b'n') => {
                self.literal(b"null")?;
                // Go sets the map to nil: what came before is gone.
                self.members.clear();
                Ok(())
            }
            Some(b'{') => {
                let object = self.objects;
                self.objects += 1;
                self.object(|p, key, start| p.entry(key, start, object))
            }
            _ => {
                self.save(Invalid::Shape);
                self.skip(1)
            }
        }
    }

    /// One member of `auths`, whose key (already read) starts at `start`.
    fn entry(&mut self, key: String, start: usize, object: usize) -> Scan<()> {
        self.ws();
        let mut auth = Auth::Missing;
        match self.peek() {
            Some(b'n') => self.literal(b"null")?,
            Some(b'{') => self.object(|p, field, _| {
                if !is_field(&field, "auth") {
                    p.save(Invalid::UnknownKey(shown_key(&field)));
                    return p.skip(3);
                }
                p.ws();
                match p.peek() {
                    Some(b'"') => {
                        let value = SecretString::from(p.string()?);
                        auth = match value.expose_secret() {
                            "" => Auth::Missing,
                            a if is_user_password(a) => Auth::Good,
                            _ => Auth::Bad,
                        };
                        Ok(())
                    }
                    // Go leaves a string as it was on null.
                    Some(b'n') => p.literal(b"null"),
                    _ => {
                        p.save(Invalid::Shape);
                        p.skip(3)
                    }
                }
            })?,
            _ => {
                self.save(Invalid::Shape);
                self.skip(2)?;
            }
        }
        let entry = AuthsEntry {
            key,
            member: start..self.at,
            object,
        };
        self.members.push((entry, auth));
        Ok(())
    }

    /// An object's members, each handed to `member` with its key and where it starts. Only
    /// for the three levels docker reads, so at most three deep.
    fn object(&mut self, mut member: impl FnMut(&mut Self, String, usize) -> Scan<()>) -> Scan<()> {
        self.eat(b'{')?;
        self.ws();
        if self.peek() == Some(b'}') {
            self.at += 1;
            return Ok(());
        }
        loop {
            self.ws();
            let start = self.at;
            let key = self.string()?;
            self.eat(b':')?;
            member(self, key, start)?;
            self.ws();
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(b'}') => {
                    self.at += 1;
                    return Ok(());
                }
                _ => return Err(Syntax),
            }
        }
    }

    /// Any JSON value, checked as Go's scanner checks it and thrown away; `depth` objects and
    /// arrays are open around it. A loop, not recursion: no input can exhaust the stack.
    fn skip(&mut self, depth: usize) -> Scan<()> {
        // The open objects (true) and arrays (false), innermost last.
        let mut open: Vec<bool> = Vec::new();
        loop {
            self.ws();
            match self.peek() {
                Some(c @ (b'{' | b'[')) => {
                    self.at += 1;
                    if depth + open.len() + 1 > MAX_DEPTH {
                        return Err(Syntax);
                    }
                    let object = c == b'{';
                    self.ws();
                    if self.peek() == Some(if object { b'}' } else { b']' }) {
                        self.at += 1;
                    } else {
                        open.push(object);
                        if object {
                            self.string()?;
                            self.eat(b':')?;
                        }
                        continue;
                    }
                }
                Some(b'"') => {
                    self.string()?;
                }
                Some(b't') => self.literal(b"true")?,
                Some(b'f') => self.literal(b"false")?,
                Some(b'n') => self.literal(b"null")?,
                Some(b'-' | b'0'..=b'9') => self.number()?,
                _ => return Err(Syntax),
            }
            // After a value: close what it ends, or go on to the next element.
            loop {
                let Some(&object) = open.last() else {
                    return Ok(());
                };
                self.ws();
                match self.peek() {
                    Some(b',') => {
                        self.at += 1;
                        if object {
                            self.string()?;
                            self.eat(b':')?;
                        }
                        break;
                    }
                    Some(b'}') if object => {}
                    Some(b']') if !object => {}
                    _ => return Err(Syntax),
                }
                self.at += 1;
                open.pop();
            }
        }
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`
    fn number(&mut self) -> Scan<()> {
        let digits = |p: &mut Self| {
            let from = p.at;
            while p.peek().is_some_and(|c| c.is_ascii_digit()) {
                p.at += 1;
            }
            if p.at > from { Ok(()) } else { Err(Syntax) }
        };
        if self.peek() == Some(b'-') {
            self.at += 1;
        }
        if self.peek() == Some(b'0') {
            self.at += 1;
        } else {
            digits(self)?;
        }
        if self.peek() == Some(b'.') {
            self.at += 1;
            digits(self)?;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.at += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.at += 1;
            }
            digits(self)?;
        }
        Ok(())
    }

    /// A JSON string, decoded as Go decodes it: control characters and bad escapes are
    /// errors, a lone surrogate and each byte of invalid UTF-8 become U+FFFD.
    fn string(&mut self) -> Scan<String> {
        self.ws();
        if self.peek() != Some(b'"') {
            return Err(Syntax);
        }
        self.at += 1;
        let mut out = String::new();
        loop {
            let b = self.b;
            let rest = &b[self.at..];
            let plain = rest
                .iter()
                .position(|&c| c == b'"' || c == b'\\' || c < 0x20)
                .ok_or(Syntax)?;
            push_lossy(&mut out, &rest[..plain]);
            self.at += plain + 1;
            match rest[plain] {
                b'"' => return Ok(out),
                b'\\' => {
                    let c = self.peek().ok_or(Syntax)?;
                    self.at += 1;
                    match c {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => out.push(self.unicode()?),
                        _ => return Err(Syntax),
                    }
                }
                _ => return Err(Syntax),
            }
        }
    }

    fn hex4(&mut self) -> Scan<u32> {
        let digits = self.b.get(self.at..self.at + 4).ok_or(Syntax)?;
        let mut n = 0;
        for &d in digits {
            n = n * 16 + char::from(d).to_digit(16).ok_or(Syntax)?;
        }
        self.at += 4;
        Ok(n)
    }

    fn unicode(&mut self) -> Scan<char> {
        let hi = self.hex4()?;
        if (0xd800..0xdc00).contains(&hi) && self.b[self.at..].starts_with(b"\\u") {
            let back = self.at;
            self.at += 2;
            let lo = self.hex4()?;
            if (0xdc00..0xe000).contains(&lo) {
                let c = 0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00);
                return Ok(char::from_u32(c).unwrap_or('\u{fffd}'));
            }
            // Not a pair: the second escape stands on its own.
            self.at = back;
        }
        Ok(char::from_u32(hi).unwrap_or('\u{fffd}'))
    }
}

/// `bytes` as Go's decoder reads them in a string: each byte of invalid UTF-8 is U+FFFD.
fn push_lossy(out: &mut String, mut bytes: &[u8]) {
    while !bytes.is_empty() {
        let (valid, bad) = match std::str::from_utf8(bytes) {
            Ok(s) => (s, 0),
            Err(e) => (
                std::str::from_utf8(&bytes[..e.valid_up_to()]).unwrap_or_default(),
                e.error_len().unwrap_or(bytes.len() - e.valid_up_to()),
            ),
        };
        out.push_str(valid);
        out.extend(std::iter::repeat_n('\u{fffd}', bad));
        bytes = &bytes[valid.len() + bad..];
    }
}

/// Whether `key` names the Go struct field `name` (lowercase ASCII letters): the same letters
/// under Unicode simple case folding, where ſ (U+017F) is an `s` and the Kelvin sign (U+212A)
/// a `k`, the only characters outside ASCII that fold to ASCII ones.
fn is_field(key: &str, name: &str) -> bool {
    let mut chars = key.chars();
    name.bytes().all(|n| match chars.next() {
        Some(c) if c.is_ascii() => c.to_ascii_lowercase() == char::from(n),
        Some('\u{17f}') => n == b's',
        Some('\u{212a}') => n == b'k',
        _ => false,
    }) && chars.next().is_none()
}

/// An `auths` key for a message: its canonical registry, or nothing.
fn shown_address(key: &str) -> String {
    Registry::parse(key).map_or_else(|_| "an entry".to_owned(), |r| r.to_string())
}

/// A key for a message: a plain word is shown quoted, anything else is not shown.
fn shown_key(key: &str) -> String {
    let plain = !key.is_empty()
        && key.len() <= 40
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if plain {
        format!("\"{}\"", text::inline(key))
    } else {
        "a key that is not \"auths\"".to_owned()
    }
}

/// Go's `base64.StdEncoding` (padding required, line breaks ignored) of `user:password` with a
/// non-empty user, as docker's `decodeAuth` wants it.
fn is_user_password(auth: &str) -> bool {
    const GO_STD: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new()
            .with_decode_padding_mode(DecodePaddingMode::RequireCanonical)
            .with_decode_allow_trailing_bits(true),
    );
    let compact = SecretString::from(
        auth.chars()
            .filter(|c| !matches!(c, '\r' | '\n'))
            .collect::<String>(),
    );
    let Ok(decoded) = GO_STD.decode(compact.expose_secret().as_bytes()) else {
        return false;
    };
    let decoded = SecretSlice::from(decoded);
    decoded
        .expose_secret()
        .iter()
        .position(|&b| b == b':')
        .is_some_and(|i| i > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    fn parse(s: &str) -> DockerAuthConfig {
        DockerAuthConfig::parse(Some(s.as_bytes()))
    }

    fn keys(s: &str) -> Vec<String> {
        match parse(s) {
            DockerAuthConfig::Valid { entries, .. } => entries.into_iter().map(|e| e.key).collect(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn unset_and_empty_stores() {
        assert_eq!(DockerAuthConfig::parse(None), DockerAuthConfig::Unset);
        assert_eq!(parse(""), DockerAuthConfig::Unset);
        for empty in [
            " \n",
            "null",
            "null ]",
            "{}",
            r#"{"auths":{}}"#,
            r#"{"auths":null}"#,
            r#"{"AUTHS":{}}"#,
        ] {
            assert_eq!(keys(empty), Vec::<String>::new(), "{empty:?}");
        }
    }

    #[test]
    fn valid_entries_keep_their_exact_key_and_member_range() {
        let a = b64("robot$pull:secret");
        let v = format!(
            r#" {{ "auths" : {{ "harbor.example.com" : {{ "auth" : "{a}" }} , "https://x.example/": {{"Auth":"{a}"}} }} }} "#
        );
        let DockerAuthConfig::Valid {
            len,
            entries,
            quotes,
            ..
        } = parse(&v)
        else {
            panic!()
        };
        assert_eq!(len, v.len());
        assert_eq!(quotes.len(), v.matches('"').count());
        assert!(quotes.iter().all(|&q| v.as_bytes()[q] == b'"'));
        assert_eq!(entries[0].key, "harbor.example.com");
        assert_eq!(
            &v[entries[0].member.clone()],
            format!(r#""harbor.example.com" : {{ "auth" : "{a}" }}"#)
        );
        assert_eq!(
            &v[entries[1].member.clone()],
            format!(r#""https://x.example/": {{"Auth":"{a}"}}"#)
        );
        // Escapes are decoded: docker's key is the decoded string.
        assert_eq!(
            keys(&format!(
                r#"{{"auths":{{"h\u0061rbor":{{"auth":"{a}"}}}}}}"#
            )),
            ["harbor"]
        );
    }

    #[test]
    fn what_docker_rejects() {
        let a = b64("u:p");
        let cases = [
            (
                r#"{"credHelpers":{"harbor.example.com":"harbor"}}"#.to_owned(),
                Invalid::UnknownKey("\"credHelpers\"".into()),
            ),
            (
                r#"{"credsStore":"harbor"}"#.into(),
                Invalid::UnknownKey("\"credsStore\"".into()),
            ),
            (
                format!(r#"{{"auths":{{"h.example":{{"auth":"{a}","username":"u"}}}}}}"#),
                Invalid::UnknownKey("\"username\"".into()),
            ),
            (
                r#"{"auths":{"h.example":{}}}"#.into(),
                Invalid::MissingAuth("h.example".into()),
            ),
            (
                r#"{"auths":{"h.example":null}}"#.into(),
                Invalid::MissingAuth("h.example".into()),
            ),
            (
                r#"{"auths":{"h.example":{"auth":""}}}"#.into(),
                Invalid::MissingAuth("h.example".into()),
            ),
            (
                r#"{"auths":{"h.example":{"auth":null}}}"#.into(),
                Invalid::MissingAuth("h.example".into()),
            ),
            (
                r#"{"auths":{"h.example":{"auth":"not base64!"}}}"#.into(),
                Invalid::BadAuth("h.example".into()),
            ),
            (
                format!(
                    r#"{{"auths":{{"h.example":{{"auth":"{}"}}}}}}"#,
                    b64("nocolon")
                ),
                Invalid::BadAuth("h.example".into()),
            ),
            (
                format!(
                    r#"{{"auths":{{"h.example":{{"auth":"{}"}}}}}}"#,
                    b64(":emptyuser")
                ),
                Invalid::BadAuth("h.example".into()),
            ),
            (
                format!(
                    r#"{{"auths":{{"h.example":{{"auth":"{}"}}}}}}"#,
                    b64("u:pw").trim_end_matches('=')
                ),
                Invalid::BadAuth("h.example".into()),
            ),
            // Only `]`, `}` and whitespace may follow the value.
            (r#"{"auths":{}}{"auths":{}}"#.to_owned(), Invalid::Trailing),
            ("{} x".into(), Invalid::Trailing),
            ("{} ,]".into(), Invalid::Trailing),
            ("null x".into(), Invalid::Trailing),
            // The entries are checked after what follows.
            (r#"{"auths":{"h":{}}} x"#.into(), Invalid::Trailing),
            ("[]".into(), Invalid::Shape),
            ("5 ]".into(), Invalid::Shape),
            (" ]".into(), Invalid::Shape),
            (r#"{"auths":[]}"#.into(), Invalid::Shape),
            (r#"{"auths":{"h":{"auth":5}}}"#.into(), Invalid::Shape),
            ("{\"auths\":{\"h\t\":{}}}".into(), Invalid::Shape),
            (r#"{"auths":{"#.into(), Invalid::Shape),
            (r#"{"auths":{"h":{"auth":"\x"}}}"#.into(), Invalid::Shape),
            (
                r#"{"pass word":1}"#.into(),
                Invalid::UnknownKey("a key that is not \"auths\"".into()),
            ),
            (
                r#"{"auths":{"user:pw@bad host":{}}}"#.to_owned(),
                Invalid::MissingAuth("an entry".into()),
            ),
            // The first wrong key or type is the reason, unless the JSON itself is broken.
            (
                r#"{"x":[1,{"y":-0.5e+3}],"auths":5}"#.into(),
                Invalid::UnknownKey("\"x\"".into()),
            ),
            (r#"{"x":1,"auths":{} "#.into(), Invalid::Shape),
            (r#"{"x":01}"#.into(), Invalid::Shape),
            // A wrong entry that a later one replaces still counts when its type is wrong.
            (
                format!(r#"{{"auths":{{"h":{{"auth":5}},"h":{{"auth":"{a}"}}}}}}"#),
                Invalid::Shape,
            ),
        ];
        for (value, want) in cases {
            assert_eq!(parse(&value), DockerAuthConfig::Invalid(want), "{value}");
        }
        // Line breaks inside the base64 are ignored, as in Go.
        let folded = format!(
            "{}\\n{}",
            &b64("user:password")[..4],
            &b64("user:password")[4..]
        );
        assert_eq!(
            keys(&format!(r#"{{"auths":{{"h":{{"auth":"{folded}"}}}}}}"#)),
            ["h"]
        );
    }

    #[test]
    fn what_docker_accepts_as_go_decodes_it() {
        let a = b64("u:p");
        let h = format!(r#""h":{{"auth":"{a}"}}"#);
        // Decode reads one value; More() looks at one byte after it.
        for tail in [" ]", "]x", " } garbage", "}}", "\n]\u{1}\"", " ] {"] {
            assert_eq!(
                keys(&format!("{{\"auths\":{{{h}}}}}{tail}")),
                ["h"],
                "{tail:?}"
            );
        }
        // Field names fold as in Go; keys do not.
        assert_eq!(keys(&format!(r#"{{"authſ":{{{h}}}}}"#)), ["h"]);
        assert_eq!(
            keys(&format!(r#"{{"AuThS":{{"H":{{"AUTH":"{a}"}}}}}}"#)),
            ["H"]
        );
        // The last `auth` that is not null wins; a key's last member is the one checked.
        assert_eq!(
            keys(&format!(
                r#"{{"auths":{{"h":{{"auth":"{a}","auth":null}}}}}}"#
            )),
            ["h"]
        );
        assert_eq!(
            keys(&format!(
                r#"{{"auths":{{"h":{{}},"g":{{"auth":"x"}},"h":{{"auth":"{a}"}},"g":{{"auth":"{a}"}}}}}}"#
            )),
            ["h", "g", "h", "g"]
        );
        // `auths` twice is one map; null empties it.
        assert_eq!(
            keys(&format!(
                r#"{{"auths":{{{h}}},"AUTHS":{{"g":{{"auth":"{a}"}}}}}}"#
            )),
            ["h", "g"]
        );
        assert_eq!(
            keys(&format!(
                r#"{{"auths":{{"x":{{}}}},"Auths":null,"auths":{{{h}}}}}"#
            )),
            ["h"]
        );
        let DockerAuthConfig::Valid { entries, .. } =
            parse(&format!(r#"{{"auths":{{{h},{h}}},"auths":{{{h}}}}}"#))
        else {
            panic!()
        };
        assert_eq!(
            entries.iter().map(|e| e.object).collect::<Vec<_>>(),
            [0, 0, 1]
        );
        // Invalid UTF-8 in a key is one U+FFFD per byte, as Go reads it, whatever follows `]`.
        let v = [
            br#"{"auths":{"h"#.as_slice(),
            b"\xe2\x82",
            format!(r#"":{{"auth":"{a}"}}}}}}]"#).as_bytes(),
            b"\xff",
        ]
        .concat();
        let DockerAuthConfig::Valid { entries, ascii, .. } = DockerAuthConfig::parse(Some(&v))
        else {
            panic!()
        };
        assert!(!ascii);
        assert_eq!(entries[0].key, "h\u{fffd}\u{fffd}");
    }

    #[test]
    fn field_names_fold_as_in_go() {
        for (key, name) in [
            ("auths", "auths"),
            ("AUTHS", "auths"),
            ("auth\u{17f}", "auths"),
            ("\u{212a}ey", "key"),
        ] {
            assert!(is_field(key, name), "{key}");
        }
        for (key, name) in [
            ("auth", "auths"),
            ("authss", "auths"),
            ("auth\u{df}", "auths"),
            ("autℎ", "auth"),
            ("auth\u{130}", "auths"),
        ] {
            assert!(!is_field(key, name), "{key}");
        }
    }

    #[test]
    fn no_nesting_exhausts_the_stack() {
        let deep = "[".repeat(200_000);
        assert_eq!(parse(&deep), DockerAuthConfig::Invalid(Invalid::Shape));
        // 10 000 levels is Go's limit: one more is a syntax error, not a wrong type.
        let nested = |n: usize| format!("{{\"x\":{}{}}}", "[".repeat(n), "]".repeat(n));
        assert_eq!(
            parse(&nested(9_999)),
            DockerAuthConfig::Invalid(Invalid::UnknownKey("\"x\"".into()))
        );
        assert_eq!(
            parse(&nested(10_000)),
            DockerAuthConfig::Invalid(Invalid::Shape)
        );
    }

    #[test]
    fn entries_match_every_spelling_of_a_registry() {
        let reg = Registry::parse("harbor.example.com").unwrap();
        let entry = |k: &str| AuthsEntry {
            key: k.into(),
            member: 0..0,
            object: 0,
        };
        for k in [
            "harbor.example.com",
            "HARBOR.example.com",
            "https://harbor.example.com/",
            "harbor.example.com:443",
            "harbor.example.com/v2/",
        ] {
            assert!(entry(k).is_for(&reg), "{k}");
        }
        for k in ["harbor.example.com:8443", "other.example.com", "bad host"] {
            assert!(!entry(k).is_for(&reg), "{k}");
        }
    }

    #[test]
    fn messages_never_show_a_value() {
        let secret = b64("u:TOPSECRET");
        for v in [
            format!(r#"{{"auths":{{"{secret}":{{}}}}}}"#),
            format!(r#"{{"{secret}":1}}"#),
            format!(r#"{{"auths":{{"h":{{"{secret}":1}}}}}}"#),
        ] {
            let DockerAuthConfig::Invalid(i) = parse(&v) else {
                panic!("{v}")
            };
            assert!(
                !i.to_string().contains("TOPSECRET") && !i.to_string().contains(&secret),
                "{i}"
            );
        }
    }
}
