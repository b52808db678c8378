//! POSIX `sh` quoting and `export` lines that are safe for any byte a variable can hold.
//!
//! `pre-build`'s output is `eval`ed by the job's shell (dash, bash, busybox ash), so every value
//! goes in single quotes, where nothing is special, and each `'` becomes `'\''`. Newlines are
//! fine inside single quotes. Values are bytes, not text: a path that is not UTF-8 comes back
//! exactly as it was (docs/gitlab-runner.md#what-the-hooks-do). Pure: no I/O. Never called
//! with a secret: the password is never exported (it is already in the job's environment, and
//! `set -x` would echo it), and a variable that holds secrets is rebuilt from its own value by
//! offsets ([`rebuild`]), never written out.

use std::ffi::OsStr;
use std::ops::Range;
use std::os::unix::ffi::OsStrExt;

/// `value` as one single-quoted shell word. A NUL byte cannot be in a shell variable (nor in
/// an environment variable or a path), so none is ever passed; one would end the word early
/// in the shell, never escape it.
pub(crate) fn quote(value: &[u8]) -> Vec<u8> {
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
pub(crate) fn is_name(name: &str) -> bool {
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
pub(crate) fn unset(name: &str) -> Vec<u8> {
    if !is_name(name) {
        return b"false".to_vec();
    }
    format!("unset {name}").into_bytes()
}

/// A piece of a value rebuilt by [`rebuild`].
pub(crate) enum Piece<'a> {
    /// Literal text, written into the script.
    Text(&'a [u8]),
    /// A byte range of the variable's current value, never written into the script.
    Kept(Range<usize>),
}

/// How [`rebuild`] cuts a value in the job's shell: the value is split into fields at each
/// `sep` byte (`IFS`, globbing off), and one `printf` prints the new value with `format`:
/// `%s` for a field kept whole, `%.Ns` for the start of one, `%.0s` for one left out, `sep`
/// itself and the text pieces as literals. Each field and each `sep` costs a few bytes of
/// script and a step of the shell, so both are linear in the value, where cutting with
/// `${v#??…}` patterns is quadratic
/// (docs/gitlab-runner.md#how-pre-build-rewrites-docker_auth_config).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Cut {
    pub(crate) len: usize,
    pub(crate) sep: u8,
    /// How many fields the shell makes of the value, checked before `printf` runs.
    pub(crate) fields: usize,
    /// One directive per field, in order, ending with a `.` the script removes (`$(…)`
    /// would strip a last newline).
    pub(crate) format: Vec<u8>,
}

impl Cut {
    /// The cut of a `len`-byte value whose `sep` bytes are at `seps` into `pieces`. A kept
    /// range must start at a field or at a `sep`, and each must end before the next starts:
    /// `None` otherwise, and for a `sep` that is not printable ASCII or is blank (`IFS` would
    /// fold it).
    pub(crate) fn new(len: usize, sep: u8, seps: &[usize], pieces: &[Piece]) -> Option<Cut> {
        if !sep.is_ascii_graphic() {
            return None;
        }
        let format = Format::new(len, sep, seps)?.build(pieces)?;
        Some(Cut {
            len,
            sep,
            fields: format.fields,
            format: format.text,
        })
    }
}

/// Lines that set and export `name` to what `cut` prints from the variable's current value,
/// so the script holds offsets, never the value: neither the script nor a `set -x` trace
/// shows what the variable holds (tracing is off while the lines run). `printf` runs as a
/// builtin or not at all (`PATH` leads nowhere), so no field reaches a command line. If the
/// value is no longer `cut.len` long or no longer splits into `cut.fields` fields, the
/// variable is unset instead, since the offsets would be wrong. Only for an ASCII value:
/// `${#v}` and `%.Ns` count characters, which are bytes only in ASCII whatever the locale.
pub(crate) fn rebuild(name: &str, cut: &Cut) -> Vec<u8> {
    if !is_name(name) {
        return b"false".to_vec();
    }
    let Cut {
        len,
        sep,
        fields,
        format,
    } = cut;
    let mut s = format!(
        "{{ __dch_x=$-; set +x; }} 2>/dev/null\n\
         if [ \"${{#{name}}}\" = {len} ] && __dch_n=$(PATH=/nonexistent; set -f; IFS="
    )
    .into_bytes();
    s.extend(quote(&[*sep]));
    s.extend(format!("; set -- ${name}; [ \"$#\" = {fields} ] && command printf ").into_bytes());
    s.extend(quote(format));
    s.extend(
        format!(
            " \"$@\"); then\n  {name}=${{__dch_n%.}}; export {name}\nelse\n  unset {name}\nfi\n\
             unset __dch_n\ncase $__dch_x in *x*) set -x ;; esac; unset __dch_x"
        )
        .into_bytes(),
    );
    s
}

/// The `printf` format of a [`Cut`], built piece by piece.
struct Format<'a> {
    len: usize,
    sep: u8,
    seps: &'a [usize],
    /// How many fields the shell makes of the value: a `sep` at the very end ends the last
    /// field rather than starting an empty one.
    fields: usize,
    /// The next field without a directive.
    next: usize,
    text: Vec<u8>,
}

impl<'a> Format<'a> {
    fn new(len: usize, sep: u8, seps: &'a [usize]) -> Option<Format<'a>> {
        let ordered = seps.windows(2).all(|w| w[0] < w[1]) && seps.last().is_none_or(|&l| l < len);
        let fields = match seps.last() {
            _ if len == 0 => 0,
            Some(&l) if l + 1 == len => seps.len(),
            _ => seps.len() + 1,
        };
        ordered.then_some(Format {
            len,
            sep,
            seps,
            fields,
            next: 0,
            text: Vec::new(),
        })
    }

    /// Where field `i` starts and ends in the value.
    fn field(&self, i: usize) -> Range<usize> {
        let start = if i == 0 { 0 } else { self.seps[i - 1] + 1 };
        start..self.seps.get(i).copied().unwrap_or(self.len)
    }

    fn literal(&mut self, text: &[u8]) {
        for &b in text {
            // printf reads `%` and `\` in its format.
            if b == b'%' || b == b'\\' {
                self.text.push(b);
            }
            self.text.push(b);
        }
    }

    /// `%.0s` for every field before `field`.
    fn skip_to(&mut self, field: usize) {
        while self.next < field {
            self.text.extend_from_slice(b"%.0s");
            self.next += 1;
        }
    }

    fn build(mut self, pieces: &[Piece]) -> Option<Format<'a>> {
        // Where the last kept range ended: the next may not start before it.
        let mut done = 0;
        for piece in pieces {
            let r = match piece {
                Piece::Text(t) => {
                    self.literal(t);
                    continue;
                }
                Piece::Kept(r) if r.is_empty() => continue,
                Piece::Kept(r) => r.clone(),
            };
            if r.start < done || r.end > self.len {
                return None;
            }
            done = r.end;
            // The field it starts, after the `sep` it may start with.
            let mut i = self.seps.partition_point(|&q| q < r.start);
            let at_sep = self.seps.get(i) == Some(&r.start);
            if at_sep {
                i += 1;
            } else if self.field(i).start != r.start {
                return None;
            }
            if i < self.next {
                return None;
            }
            if at_sep {
                self.literal(&[self.sep]);
            }
            self.skip_to(i);
            while self.next < self.fields && self.field(self.next).start < r.end {
                let f = self.field(self.next);
                if f.end <= r.end {
                    self.text.extend_from_slice(b"%s");
                } else {
                    self.text
                        .extend(format!("%.{}s", r.end - f.start).into_bytes());
                }
                self.next += 1;
                if f.end < r.end {
                    self.literal(&[self.sep]);
                }
            }
        }
        self.skip_to(self.fields);
        // A last byte that is not a newline, which `$(…)` would strip; the script removes it.
        self.text.push(b'.');
        Some(self)
    }
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

    /// What the job's shell prints for `pieces` of `value`, cut at its quotes, as
    /// `crate::fuzz::sh_printf` has dash, bash and busybox do it (tests/auth_env.rs runs them).
    fn printed(value: &[u8], pieces: &[Piece]) -> Option<Vec<u8>> {
        let seps: Vec<usize> = (0..value.len()).filter(|&i| value[i] == b'"').collect();
        let cut = Cut::new(value.len(), b'"', &seps, pieces)?;
        let p = crate::fuzz::sh_printf(value, cut.sep, &cut.format).expect("a directive a field");
        assert_eq!(p.fields, cut.fields);
        Some(p.out.strip_suffix(b".").expect("the last byte").to_vec())
    }

    #[test]
    fn a_cut_prints_exactly_its_pieces_wherever_the_separators_are() {
        // Every value of up to 6 bytes of `a` and `"`, every range that starts at a field or
        // at a separator, alone and followed by another.
        for n in 0..=6usize {
            for bits in 0..1u32 << n {
                let v: Vec<u8> = (0..n)
                    .map(|i| if bits >> i & 1 == 1 { b'"' } else { b'a' })
                    .collect();
                let cuttable = |s: usize| s == 0 || v[s - 1] == b'"' || v.get(s) == Some(&b'"');
                let ranges = |from: usize| {
                    (from..n)
                        .filter(|&s| cuttable(s))
                        .flat_map(|s| (s + 1..=n).map(move |e| s..e))
                        .collect::<Vec<_>>()
                };
                for a in ranges(0) {
                    let one = [Piece::Text(b"<"), Piece::Kept(a.clone()), Piece::Text(b">")];
                    let want = [b"<", &v[a.clone()], b">"].concat();
                    assert_eq!(printed(&v, &one), Some(want), "{v:?} {a:?}");
                    for b in ranges(a.end) {
                        let two = [
                            Piece::Kept(a.clone()),
                            Piece::Text(b","),
                            Piece::Kept(b.clone()),
                        ];
                        let want = [&v[a.clone()], b",", &v[b.clone()]].concat();
                        assert_eq!(printed(&v, &two), Some(want), "{v:?} {a:?} {b:?}");
                    }
                }
                assert_eq!(printed(&v, &[Piece::Text(b"x")]), Some(b"x".to_vec()));
            }
        }
    }

    #[test]
    fn what_cannot_be_cut_is_refused() {
        let v = b"ab\"cd\"ef";
        // Inside a field, overlapping, backwards, past the end.
        for pieces in [
            vec![Piece::Kept(1..4)],
            vec![Piece::Kept(0..5), Piece::Kept(4..6)],
            vec![Piece::Kept(3..5), Piece::Kept(0..2)],
            vec![Piece::Kept(3..10)],
        ] {
            assert_eq!(printed(v, &pieces), None);
        }
        // Blank or unprintable separators fold or vanish in IFS.
        for sep in [b' ', b'\t', b'\n', 0, 0xff] {
            assert_eq!(Cut::new(1, sep, &[], &[]), None);
        }
        // Literal text that printf would read as a directive or an escape stays literal.
        assert_eq!(
            printed(v, &[Piece::Text(b"%s\\n%"), Piece::Kept(2..5)]),
            Some(b"%s\\n%\"cd".to_vec())
        );
    }

    #[test]
    fn the_script_checks_the_value_and_holds_no_byte_of_it() {
        let v = b"{\"auths\":{\"h\":{\"auth\":\"SECRET\"},\"g\":{\"auth\":\"OTHER\"}}}";
        let seps: Vec<usize> = (0..v.len()).filter(|&i| v[i] == b'"').collect();
        let pieces = [
            Piece::Text(b"{\"auths\":{"),
            Piece::Kept(29..47),
            Piece::Text(b"}}"),
        ];
        let cut = Cut::new(v.len(), b'"', &seps, &pieces).unwrap();
        let script = String::from_utf8(rebuild("V", &cut)).unwrap();
        assert!(
            !script.contains("SECRET") && !script.contains("OTHER"),
            "{script}"
        );
        assert!(
            script.contains(&format!("[ \"${{#V}}\" = {} ]", v.len())),
            "{script}"
        );
        assert!(
            script.contains(&format!("[ \"$#\" = {} ]", cut.fields)),
            "{script}"
        );
        assert_eq!(rebuild("A-B", &cut), b"false");
    }
}
