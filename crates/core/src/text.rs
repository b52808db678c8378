//! Text for people: every value that reaches a terminal or the job log passes through
//! [`escape`], so no variable, file name or Harbor answer can clear a screen, rewrite a line
//! or fake a GitLab log section (docs/security.md#what-holds-and-how-it-is-checked).
//!
//! Control characters (C0 but `\n` and `\t`, DEL, C1) and the Unicode bidirectional overrides
//! become visible escapes such as `\x1b` or `\u{202e}`; everything else, non-ASCII letters
//! included, is kept. Pure: no I/O. It must never be applied to machine output (the `get`
//! answer, `export` lines), whose bytes are a contract.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io;

/// Whether `c` must not reach a terminal as itself.
fn is_unsafe(c: char) -> bool {
    match c {
        '\n' | '\t' => false,
        // C0, DEL, C1: cursor movement, OSC titles, 8-bit CSI.
        c if c.is_control() => true,
        // Bidirectional embeddings, overrides and isolates reorder what follows them.
        '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}' => true,
        _ => false,
    }
}

/// `s` with every unsafe character escaped; borrowed when there is nothing to escape.
pub fn escape(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_unsafe) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\r' => out.push_str("\\r"),
            c if is_unsafe(c) && (c as u32) < 0x100 => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if is_unsafe(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// A value shown in a one-line message: as [`escape`], and a line break shown as `\n`
/// too, so one value cannot start a line that looks like another message.
pub fn inline(s: &str) -> Cow<'_, str> {
    match escape(s) {
        Cow::Borrowed(b) if !b.contains('\n') => Cow::Borrowed(b),
        other => Cow::Owned(other.replace('\n', "\\n")),
    }
}

/// A writer for people: whole lines are escaped as they complete, so a caller cannot forget
/// to escape a value it interpolates. A partial last line is written on `flush` or drop.
pub struct Escaped<W: io::Write> {
    inner: W,
    pending: Vec<u8>,
}

impl<W: io::Write> Escaped<W> {
    pub fn new(inner: W) -> Escaped<W> {
        Escaped {
            inner,
            pending: Vec::new(),
        }
    }

    fn write_pending(&mut self, upto: usize) -> io::Result<()> {
        let line: Vec<u8> = self.pending.drain(..upto).collect();
        let text = String::from_utf8_lossy(&line);
        self.inner.write_all(escape(&text).as_bytes())
    }
}

impl<W: io::Write> io::Write for Escaped<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.pending.extend_from_slice(buf);
        if let Some(last) = self.pending.iter().rposition(|&b| b == b'\n') {
            self.write_pending(last + 1)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if !self.pending.is_empty() {
            self.write_pending(self.pending.len())?;
        }
        self.inner.flush()
    }
}

impl<W: io::Write> Drop for Escaped<W> {
    fn drop(&mut self) {
        let _ = io::Write::flush(self);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_become_visible_and_the_rest_is_kept() {
        assert_eq!(escape("plain: é ü 中"), "plain: é ü 中");
        assert!(matches!(escape("plain"), Cow::Borrowed(_)));
        assert_eq!(escape("a\x1b[2Jb"), "a\\x1b[2Jb");
        assert_eq!(escape("a\rb\x07c\x7f"), "a\\rb\\x07c\\x7f");
        assert_eq!(escape("\u{9b}31m"), "\\x9b31m");
        assert_eq!(escape("x\u{202e}y"), "x\\u{202e}y");
        assert_eq!(escape("two\nlines\tok"), "two\nlines\tok");
        assert_eq!(inline("two\nlines"), "two\\nlines");
    }

    #[test]
    fn the_writer_escapes_lines_split_anywhere() {
        use std::io::Write;
        let text = "a\x1b]0;t\x07 €\nb\rc";
        for cut in 0..text.len() {
            let mut out = Vec::new();
            {
                let mut w = Escaped::new(&mut out);
                w.write_all(&text.as_bytes()[..cut]).unwrap();
                w.write_all(&text.as_bytes()[cut..]).unwrap();
            }
            assert_eq!(String::from_utf8(out).unwrap(), "a\\x1b]0;t\\x07 €\nb\\rc");
        }
    }

    #[test]
    fn no_escaped_text_holds_a_control_character() {
        let all: String = (0u32..0x3000).filter_map(char::from_u32).collect();
        assert!(!inline(&all).chars().any(is_unsafe));
        assert!(!inline(&all).contains('\n'));
    }
}
