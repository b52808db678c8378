//! The hook lines added to the GitLab runner's config.toml, as text
//! (docs/install.md#the-tarball-on-a-runner-host).
//!
//! Each `[[runners]]` table that lacks `pre_build_script` or `post_build_script` gets it on the
//! line right under its header. The headers come from the TOML parser (`toml::de::DeTable`
//! keeps each table's header span), so a line of a multi-line string is never taken for one,
//! and CRLF files, spaced headers (`[[ runners ]]`) and headers followed by a comment are
//! found like any other. The lines are written in the header line's own line ending; every
//! other byte stays as it was. The result is parsed again and must equal the original plus
//! our keys, or there is no result. Pure: no I/O. It never rewrites a key that exists (it
//! says what to add by hand) and never quotes the file in a message: it holds the runner's
//! token.

use std::ops::Range;

use secrecy::zeroize::Zeroizing;
use toml::de::{DeTable, DeValue};

use docker_credential_harbor_core::text;

use super::{PreBuild, binary_in, calls, is_plain_path, post_build_script, pre_build_script};

const PRE: &str = "pre_build_script";
const POST: &str = "post_build_script";

/// The edited file, and what a person must still do by hand.
pub(crate) struct Edit {
    /// The whole new text; only meaningful when `added` > 0.
    pub(crate) text: Zeroizing<String>,
    /// How many lines were added.
    pub(crate) added: usize,
    /// How many `[[runners]]` tables the file has.
    pub(crate) runners: usize,
    /// One message per hook that exists and is not the one we would write.
    pub(crate) by_hand: Vec<String>,
}

/// Why the file cannot be edited; nothing of it is quoted.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum EditError {
    /// The binary's path cannot stand unquoted in the hook lines.
    #[error(
        "the binary's path holds characters the hook lines cannot take unquoted \
         (letters, digits and ._/+@:,%- only, not starting with -)"
    )]
    BadPath,
    #[error("is not valid TOML (line {line}, column {column}: {why})")]
    NotToml {
        line: usize,
        column: usize,
        why: String,
    },
    #[error("has no [[runners]] table")]
    NoRunners,
    /// `runners = [ … ]`: there is no header to put a line under.
    #[error(
        "defines runners as an inline array (line {line}), which has no [[runners]] \
         header to add lines under"
    )]
    InlineRunners { line: usize },
    /// The edit would change more than our keys; a bug, caught before anything is written.
    #[error("would change more than the hook lines if edited (please report this)")]
    Changed,
}

/// The two lines for `binary`, as `key = 'value'` (no indentation, no line ending).
pub(crate) fn hook_lines(binary: &str) -> [String; 2] {
    [
        format!("{PRE} = '{}'", pre_build_script(binary)),
        format!("{POST} = '{}'", post_build_script(binary)),
    ]
}

/// Adds the hook lines for `binary` to every `[[runners]]` table of `text` that lacks them.
pub(crate) fn add_hooks(text: &str, binary: &str) -> Result<Edit, EditError> {
    if !is_plain_path(binary) {
        return Err(EditError::BadPath);
    }
    let doc = DeTable::parse(text).map_err(|e| not_toml(text, &e))?;
    let Some(runners) = doc.get_ref().get("runners") else {
        return Err(EditError::NoRunners);
    };
    let list = match runners.get_ref() {
        DeValue::Array(list) if !list.is_empty() => list,
        DeValue::Array(_) => return Err(EditError::NoRunners),
        _ => return Err(EditError::NoRunners),
    };
    let values = [pre_build_script(binary), post_build_script(binary)];
    let lines = hook_lines(binary);
    let mut edit = Edit {
        text: Zeroizing::new(String::with_capacity(text.len() + 512)),
        added: 0,
        runners: list.len(),
        by_hand: Vec::new(),
    };
    // Where each runner's lines go, and which of ours it gets.
    let mut inserts: Vec<(usize, usize, Vec<usize>)> = Vec::new();
    for (i, item) in list.iter().enumerate() {
        let header = item.span();
        let under_header = text
            .get(header.start..)
            .is_some_and(|t| t.starts_with("[["));
        let (DeValue::Table(table), true) = (item.get_ref(), under_header) else {
            return Err(EditError::InlineRunners {
                line: line_of(text, runners.span().start),
            });
        };
        let name = match table.get("name").map(|n| n.get_ref()) {
            Some(DeValue::String(n)) => format!("\"{}\"", text::inline(n)),
            _ => format!("#{}", i + 1),
        };
        let mut missing = Vec::new();
        for (k, key) in [PRE, POST].into_iter().enumerate() {
            match table.get_key_value(key) {
                None => missing.push(k),
                Some((at, value)) => {
                    let at = line_of(text, at.span().start);
                    if let Some(note) = existing(key, value.get_ref(), &name, at, binary) {
                        edit.by_hand.push(note);
                    }
                }
            }
        }
        if !missing.is_empty() {
            inserts.push((i, header.end, missing));
        }
    }
    let mut from = 0;
    for (_, header_end, missing) in &inserts {
        let (at, eol, close) = after_line(text, *header_end);
        edit.text.push_str(&text[from..at]);
        if close {
            edit.text.push_str(eol);
        }
        for &k in missing {
            edit.text.push_str("  ");
            edit.text.push_str(&lines[k]);
            edit.text.push_str(eol);
            edit.added += 1;
        }
        from = at;
    }
    edit.text.push_str(&text[from..]);
    if edit.added > 0 {
        verify(text, &edit.text, &inserts, &values)?;
    }
    Ok(edit)
}

/// What to do by hand about a hook the table already has, or nothing when it is ours.
fn existing(
    key: &str,
    value: &DeValue<'_>,
    name: &str,
    line: usize,
    binary: &str,
) -> Option<String> {
    let script = match value {
        DeValue::String(s) => s.as_ref(),
        _ => "",
    };
    let own = |what: &str| {
        format!(
            "line {line}: runner {name} has a {key} of its own, which install never rewrites; \
             add this line to it by hand:\n  {what}"
        )
    };
    if key == POST {
        return (!calls(script, "post-build")).then(|| own(&post_build_script(binary)));
    }
    match PreBuild::of(script) {
        PreBuild::Checked => None,
        PreBuild::Missing => Some(own(&pre_build_script(binary))),
        PreBuild::Unchecked => Some(format!(
            "line {line}: runner {name} runs docker-credential-harbor pre-build without the check \
             that reports a missing binary; replace that line with:\n  {PRE} = '{}'",
            pre_build_script(binary_in(script).unwrap_or(binary))
        )),
    }
}

/// Where the line holding `pos` ends: the offset after its line break, that break, and
/// whether the file ended without one (then a break must be written first).
fn after_line(text: &str, pos: usize) -> (usize, &'static str, bool) {
    let pos = pos.min(text.len());
    match text.get(pos..).and_then(|rest| rest.find('\n')) {
        Some(n) => {
            let nl = pos + n;
            let eol = if text[..nl].ends_with('\r') {
                "\r\n"
            } else {
                "\n"
            };
            (nl + 1, eol, false)
        }
        None => {
            let eol = if text.contains("\r\n") { "\r\n" } else { "\n" };
            (text.len(), eol, true)
        }
    }
}

/// The new text must parse to the original plus exactly our keys.
fn verify(
    old: &str,
    new: &str,
    inserts: &[(usize, usize, Vec<usize>)],
    values: &[String; 2],
) -> Result<(), EditError> {
    let mut expected: toml::Table = old.parse().map_err(|_| EditError::Changed)?;
    let got: toml::Table = new.parse().map_err(|_| EditError::Changed)?;
    let Some(list) = expected.get_mut("runners").and_then(|r| r.as_array_mut()) else {
        return Err(EditError::Changed);
    };
    for (i, _, missing) in inserts {
        let Some(table) = list.get_mut(*i).and_then(|t| t.as_table_mut()) else {
            return Err(EditError::Changed);
        };
        for &k in missing {
            table.insert([PRE, POST][k].to_owned(), values[k].clone().into());
        }
    }
    if same_table(&got, &expected) {
        Ok(())
    } else {
        Err(EditError::Changed)
    }
}

/// Equality of TOML values in which a float equals itself, NaN included (`x = nan` must not
/// look like a change).
fn same(a: &toml::Value, b: &toml::Value) -> bool {
    use toml::Value;
    match (a, b) {
        (Value::Float(x), Value::Float(y)) => x.to_bits() == y.to_bits(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (Value::Table(x), Value::Table(y)) => same_table(x, y),
        _ => a == b,
    }
}

fn same_table(x: &toml::Table, y: &toml::Table) -> bool {
    x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
}

fn not_toml(text: &str, e: &toml::de::Error) -> EditError {
    let span = e.span().unwrap_or(Range { start: 0, end: 0 });
    let mut start = span.start.min(text.len());
    while !text.is_char_boundary(start) {
        start -= 1;
    }
    let line_start = text[..start].rfind('\n').map_or(0, |n| n + 1);
    // The parser's message names what it expected, never the text it found.
    let why = e.message().lines().collect::<Vec<_>>().join("; ");
    EditError::NotToml {
        line: line_of(text, start),
        column: text[line_start..start].chars().count() + 1,
        why: text::inline(&why).into_owned(),
    }
}

/// The 1-based line of byte offset `pos`.
fn line_of(text: &str, pos: usize) -> usize {
    text.as_bytes()[..pos.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    const BIN: &str = "/opt/b/docker-credential-harbor";

    fn added(text: &str) -> String {
        let e = add_hooks(text, BIN).unwrap();
        e.text.to_string()
    }

    #[test]
    fn lines_go_under_each_header_in_its_own_line_ending() {
        let [pre, post] = hook_lines(BIN);
        assert_eq!(
            added("[[runners]] # a\r\nname = \"a\"\r\n"),
            format!("[[runners]] # a\r\n  {pre}\r\n  {post}\r\nname = \"a\"\r\n")
        );
        // A header on the last line, without a line break.
        assert_eq!(
            added("x = 1\n[[ runners ]]"),
            format!("x = 1\n[[ runners ]]\n  {pre}\n  {post}\n")
        );
        let body = "[[runners]]\ns = '''\n[[runners]]\n'''\nx = nan\n";
        assert_eq!(
            added(body),
            format!("[[runners]]\n  {pre}\n  {post}\ns = '''\n[[runners]]\n'''\nx = nan\n")
        );
    }

    #[test]
    fn existing_hooks_are_kept_and_reported() {
        let ours = hook_lines(BIN).join("\n");
        let e = add_hooks(&format!("[[runners]]\n{ours}\n"), BIN).unwrap();
        assert_eq!((e.added, e.by_hand.len(), e.runners), (0, 0, 1));
        let e = add_hooks(
            "[[runners]]\nname = \"a\\u001b\"\npost_build_script = 1\n",
            BIN,
        )
        .unwrap();
        assert_eq!(e.added, 1);
        assert_eq!(e.by_hand.len(), 1);
        assert!(
            e.by_hand[0]
                .starts_with("line 3: runner \"a\\x1b\" has a post_build_script of its own"),
            "{}",
            e.by_hand[0]
        );
    }

    #[test]
    fn what_cannot_be_edited_is_refused_without_quoting_it() {
        let e = add_hooks("[[runners]]\ntoken = \"glrt-XYZ\n", BIN)
            .err()
            .unwrap();
        assert!(matches!(e, EditError::NotToml { line: 2, .. }), "{e:?}");
        assert!(!e.to_string().contains("glrt"), "{e}");
        assert_eq!(add_hooks("a = 1\n", BIN).err(), Some(EditError::NoRunners));
        assert_eq!(
            add_hooks("runners = []\n", BIN).err(),
            Some(EditError::NoRunners)
        );
        assert_eq!(
            add_hooks("[runners]\n", BIN).err(),
            Some(EditError::NoRunners)
        );
        assert_eq!(
            add_hooks("\nrunners = [{ name = \"a\" }]\n", BIN).err(),
            Some(EditError::InlineRunners { line: 2 })
        );
        assert_eq!(
            add_hooks("[[runners]]\n", "/x y").err(),
            Some(EditError::BadPath)
        );
    }
}
