//! POSIX `sh` quoting and `export` lines that are safe for any byte a variable can hold.
//!
//! `pre-build`'s output is `eval`ed by the job's shell (dash, bash, busybox ash), so every value
//! goes in single quotes, where nothing is special, and each `'` becomes `'\''`. Newlines are
//! fine inside single quotes. Values are bytes, not text: a path that is not UTF-8 comes back
//! exactly as it was (issue 9, defect 12). Pure: no I/O. Never called with a secret: the
//! password is never exported (it is already in the job's environment, and `set -x` would
//! echo it), and a variable that holds secrets is rebuilt from its own value by offsets
//! ([`rebuild`]), never written out.

use std::ffi::OsStr;
use std::ops::Range;
use std::os::unix::ffi::OsStrExt;

/// `value` as one single-quoted shell word. A NUL byte cannot be in a shell variable (nor in
/// an environment variable or a path), so none is ever passed; one would end the word early
/// in the shell, never escape it.
pub fn quote(value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len() + 2);
    out.push(b'\'');
    for &b in value {
        if b == b'\'' {
            out.extend_from_slice(b"'\\''");
        } else {
            out.push(b);
        }
    }
    out.push(b'\'');
    out
}

/// Whether `name` can be a shell variable name.
pub fn is_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

/// `export NAME='value'`. Names are constants; one that is not a shell name would be a bug,
/// and gives a line that only fails in the shell (`false`), never one that runs something.
pub fn export(name: &str, value: impl AsRef<OsStr>) -> Vec<u8> {
    if !is_name(name) {
        return b"false".to_vec();
    }
    let mut line = format!("export {name}=").into_bytes();
    line.extend(quote(value.as_ref().as_bytes()));
    line
}

/// `unset NAME`.
pub fn unset(name: &str) -> Vec<u8> {
    if !is_name(name) {
        return b"false".to_vec();
    }
    format!("unset {name}").into_bytes()
}

/// A piece of a value rebuilt by [`rebuild`].
pub enum Piece<'a> {
    /// Literal text, written into the script.
    Text(&'a [u8]),
    /// A byte range of the variable's current value, never written into the script.
    Kept(Range<usize>),
}

/// Lines that set and export `name` to `pieces`, taking each [`Piece::Kept`] range from the
/// variable's current value with `${v#??…}` and `${v%??…}`, so the script holds offsets, never
/// the value: neither the script nor a `set -x` trace shows what the variable holds (tracing
/// is off while the lines run). If the value is no longer `len` long, the variable is unset
/// instead, since the ranges would be wrong. Only for an ASCII value: `?` matches a
/// character, which is a byte only in ASCII whatever the locale.
pub fn rebuild(name: &str, len: usize, pieces: &[Piece]) -> Vec<u8> {
    if !is_name(name) {
        return b"false".to_vec();
    }
    let any = |n: usize| "?".repeat(n);
    let mut s = format!(
        "{{ __dch_x=$-; set +x; }} 2>/dev/null\ncase ${{#{name}}} in\n{len}) __dch_v=${name}; __dch_n=''\n"
    )
    .into_bytes();
    for piece in pieces {
        match piece {
            Piece::Text(t) => {
                s.extend_from_slice(b"  __dch_n=$__dch_n");
                s.extend(quote(t));
            }
            Piece::Kept(r) => {
                let (start, end) = (r.start.min(len), r.end.min(len).max(r.start.min(len)));
                s.extend_from_slice(b"  __dch_s=$__dch_v");
                if start > 0 {
                    s.extend(format!("; __dch_s=${{__dch_s#{}}}", any(start)).into_bytes());
                }
                if end < len {
                    s.extend(format!("; __dch_s=${{__dch_s%{}}}", any(len - end)).into_bytes());
                }
                s.extend_from_slice(b"; __dch_n=$__dch_n$__dch_s");
            }
        }
        s.push(b'\n');
    }
    s.extend(
        format!(
            "  {name}=$__dch_n; export {name} ;;\n*) unset {name} ;;\nesac\n\
             unset __dch_v __dch_s __dch_n\ncase $__dch_x in *x*) set -x ;; esac; unset __dch_x"
        )
        .into_bytes(),
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> String {
        String::from_utf8(quote(s.as_bytes())).unwrap()
    }

    #[test]
    fn quoting_is_inert_for_every_special_character() {
        assert_eq!(q(""), "''");
        assert_eq!(q("plain"), "'plain'");
        assert_eq!(q("robot$proj+ci"), "'robot$proj+ci'");
        assert_eq!(q("it's"), "'it'\\''s'");
        assert_eq!(q("a\nb"), "'a\nb'");
        assert_eq!(q("`id` $(id) \\ \" *"), "'`id` $(id) \\ \" *'");
        assert_eq!(quote(b"\xff\xfe/x"), b"'\xff\xfe/x'");
    }

    #[test]
    fn names() {
        assert!(is_name("HARBOR_URL") && is_name("_x1"));
        assert!(!is_name("1X") && !is_name("A-B") && !is_name("") && !is_name("A B"));
        assert_eq!(export("X", "a'b"), b"export X='a'\\''b'");
        assert_eq!(export("A;B", "x"), b"false");
        assert_eq!(unset("X"), b"unset X");
    }
}
