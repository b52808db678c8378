//! `DOCKER_AUTH_CONFIG` as the docker CLI ≥ 28.3 reads it (field-2026.md §1): a credential
//! store that wins over `config.json`, so for a host it lists, `credHelpers` and `credsStore`
//! (this helper) are never asked. pre-build takes Harbor's entries out of the job's copy and
//! removes a value docker would reject; doctor names both.
//!
//! docker's rules, as `cli/config/configfile` has them: empty means unset; the JSON holds only
//! `auths` (field names match case-insensitively, as Go's decoder does), each entry only
//! `auth`, a non-empty standard base64 `user:password` with a non-empty user; nothing may
//! follow the object. Keys are compared exactly as written.
//!
//! Pure: no I/O. What it returns never holds a secret: entries are keys and byte ranges of the
//! value, so the caller can rebuild the value in the job's shell without printing it. Where
//! docker's reading could differ from ours (a non-UTF-8 value, `auths` twice), the value is
//! [`DockerAuthConfig::Unfilterable`]: callers must then remove it, never keep a part of it.

use std::fmt;
use std::ops::Range;

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use secrecy::SecretSlice;

use crate::address::Registry;
use crate::text;

/// What the variable is, for docker ≥ 28.3.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DockerAuthConfig {
    /// Unset or empty: docker uses its config files.
    Unset,
    /// A store docker uses. `len` is the value's length in bytes; `ascii` says whether the
    /// job's shell can cut it by offsets (`shell::rebuild`).
    Valid {
        len: usize,
        ascii: bool,
        entries: Vec<Entry>,
    },
    /// docker prints "Failed to create credential store from DOCKER_AUTH_CONFIG" on every
    /// credential lookup and ignores the variable.
    Invalid(Invalid),
    /// A value that cannot be filtered with certainty; callers remove it whole.
    Unfilterable(&'static str),
}

/// One `auths` member: its key as docker decodes it, and the byte range of the member
/// (`"key":{…}`) in the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub key: String,
    pub member: Range<usize>,
}

impl Entry {
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

/// Why docker ≥ 28.3 rejects the value. The texts never repeat a value, and name a key only
/// when it is a plain word or an address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invalid {
    /// Not JSON, or not an object of objects of strings.
    Shape,
    /// A key other than `auths` at the top, or other than `auth` in an entry.
    UnknownKey(String),
    /// An entry with no (or an empty) `auth`.
    MissingAuth(String),
    /// An `auth` that is not base64 of `user:password`.
    BadAuth(String),
    /// Something after the object.
    Trailing,
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Invalid::Shape => f.write_str(
                "it is not of the form {\"auths\":{\"<registry>\":{\"auth\":\"<base64 user:password>\"}}}",
            ),
            Invalid::UnknownKey(k) => write!(f, "it holds {k}, and only \"auths\" entries with an \"auth\" are allowed"),
            Invalid::MissingAuth(k) => write!(f, "the entry for {k} has no \"auth\""),
            Invalid::BadAuth(k) => write!(
                f,
                "the \"auth\" of the entry for {k} is not base64 of user:password"
            ),
            Invalid::Trailing => f.write_str("something follows its JSON object"),
        }
    }
}

impl DockerAuthConfig {
    /// The entries docker would answer from instead of the helper for one of `registries`.
    pub fn shadowing<'a>(&'a self, registries: &'a [Registry]) -> impl Iterator<Item = &'a Entry> {
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
        let Ok(text) = std::str::from_utf8(value) else {
            return DockerAuthConfig::Unfilterable("it is not UTF-8");
        };
        match Parser::new(text).config() {
            Ok(entries) => DockerAuthConfig::Valid {
                len: value.len(),
                ascii: value.is_ascii(),
                entries,
            },
            Err(Fail::Invalid(i)) => DockerAuthConfig::Invalid(i),
            Err(Fail::Unsure(why)) => DockerAuthConfig::Unfilterable(why),
        }
    }
}

enum Fail {
    Invalid(Invalid),
    Unsure(&'static str),
}

impl From<Invalid> for Fail {
    fn from(i: Invalid) -> Fail {
        Fail::Invalid(i)
    }
}

type Parsed<T> = Result<T, Fail>;

struct Parser<'a> {
    s: &'a str,
    at: usize,
}

impl<'a> Parser<'a> {
    fn new(s: &'a str) -> Parser<'a> {
        Parser { s, at: 0 }
    }

    fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.at).copied()
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    fn eat(&mut self, b: u8) -> Parsed<()> {
        self.ws();
        if self.peek() == Some(b) {
            self.at += 1;
            Ok(())
        } else {
            Err(Invalid::Shape.into())
        }
    }

    /// `null`, after whitespace: Go decodes it into a struct or map as "leave empty".
    fn null(&mut self) -> bool {
        self.ws();
        if self.s[self.at..].starts_with("null") {
            self.at += 4;
            true
        } else {
            false
        }
    }

    /// The members of an object, each handed to `member` with its key and start offset.
    fn object(
        &mut self,
        mut member: impl FnMut(&mut Self, String, usize) -> Parsed<()>,
    ) -> Parsed<()> {
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
                _ => return Err(Invalid::Shape.into()),
            }
        }
    }

    fn config(mut self) -> Parsed<Vec<Entry>> {
        let mut entries = Vec::new();
        self.ws();
        // Whitespace alone is Go's io.EOF, which docker ignores: an empty store.
        if self.at < self.s.len() && !self.null() {
            let mut seen = false;
            self.object(|p, key, _| {
                if !key.eq_ignore_ascii_case("auths") {
                    return Err(Invalid::UnknownKey(shown_key(&key)).into());
                }
                if std::mem::replace(&mut seen, true) {
                    // Go merges the two objects, and `null` in the second empties the first.
                    return Err(Fail::Unsure("it holds \"auths\" twice"));
                }
                p.auths(&mut entries)
            })?;
        }
        self.ws();
        if self.at < self.s.len() {
            return Err(Invalid::Trailing.into());
        }
        Ok(entries)
    }

    fn auths(&mut self, entries: &mut Vec<Entry>) -> Parsed<()> {
        if self.null() {
            return Ok(());
        }
        self.object(|p, key, start| {
            let shown = || shown_address(&key);
            let mut auth = None;
            if p.null() {
                return Err(Invalid::MissingAuth(shown()).into());
            }
            p.object(|p, field, _| {
                if !field.eq_ignore_ascii_case("auth") {
                    return Err(Invalid::UnknownKey(shown_key(&field)).into());
                }
                // A repeated field: the last one wins, as in Go.
                auth = if p.null() { None } else { Some(p.string()?) };
                Ok(())
            })?;
            match auth.filter(|a| !a.is_empty()) {
                None => return Err(Invalid::MissingAuth(shown()).into()),
                Some(a) if !is_user_password(&a) => return Err(Invalid::BadAuth(shown()).into()),
                Some(_) => {}
            }
            entries.push(Entry {
                key,
                member: start..p.at,
            });
            Ok(())
        })
    }

    /// A JSON string, decoded; control characters and bad escapes are errors, a lone
    /// surrogate becomes U+FFFD (as in Go).
    fn string(&mut self) -> Parsed<String> {
        self.ws();
        if self.peek() != Some(b'"') {
            return Err(Invalid::Shape.into());
        }
        self.at += 1;
        let mut out = String::new();
        loop {
            let rest = &self.s[self.at..];
            let plain = rest
                .find(|c: char| c == '"' || c == '\\' || (c as u32) < 0x20)
                .ok_or(Invalid::Shape)?;
            out.push_str(&rest[..plain]);
            self.at += plain;
            match self.peek() {
                Some(b'"') => {
                    self.at += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.at += 1;
                    let c = self.peek().ok_or(Invalid::Shape)?;
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
                        _ => return Err(Invalid::Shape.into()),
                    }
                }
                _ => return Err(Invalid::Shape.into()),
            }
        }
    }

    fn hex4(&mut self) -> Parsed<u32> {
        let digits = self.s.get(self.at..self.at + 4).ok_or(Invalid::Shape)?;
        if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Invalid::Shape.into());
        }
        self.at += 4;
        Ok(u32::from_str_radix(digits, 16).map_err(|_| Invalid::Shape)?)
    }

    fn unicode(&mut self) -> Parsed<char> {
        let hi = self.hex4()?;
        if (0xd800..0xdc00).contains(&hi) && self.s[self.at..].starts_with("\\u") {
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
    let compact: String = auth.chars().filter(|c| !matches!(c, '\r' | '\n')).collect();
    let Ok(decoded) = GO_STD.decode(compact.as_bytes()) else {
        return false;
    };
    let decoded = SecretSlice::from(decoded);
    secrecy::ExposeSecret::expose_secret(&decoded)
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
        let DockerAuthConfig::Valid { len, entries, .. } = parse(&v) else {
            panic!()
        };
        assert_eq!(len, v.len());
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
            (r#"{"auths":{}}{"auths":{}}"#.to_owned(), Invalid::Trailing),
            ("{} x".into(), Invalid::Trailing),
            ("[]".into(), Invalid::Shape),
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
    fn unsure_values_are_unfilterable() {
        assert!(matches!(
            DockerAuthConfig::parse(Some(b"{\"auths\":{\"\xff\":{}}}")),
            DockerAuthConfig::Unfilterable(_)
        ));
        assert!(matches!(
            parse(r#"{"auths":{},"Auths":null}"#),
            DockerAuthConfig::Unfilterable(_)
        ));
    }

    #[test]
    fn entries_match_every_spelling_of_a_registry() {
        let reg = Registry::parse("harbor.example.com").unwrap();
        for k in [
            "harbor.example.com",
            "HARBOR.example.com",
            "https://harbor.example.com/",
            "harbor.example.com:443",
            "harbor.example.com/v2/",
        ] {
            assert!(
                Entry {
                    key: k.into(),
                    member: 0..0
                }
                .is_for(&reg),
                "{k}"
            );
        }
        for k in ["harbor.example.com:8443", "other.example.com", "bad host"] {
            assert!(
                !Entry {
                    key: k.into(),
                    member: 0..0
                }
                .is_for(&reg),
                "{k}"
            );
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
