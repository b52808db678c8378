//! The one way a subcommand tells a person what went wrong: every error type is a
//! [`Problem`] (what failed and why, plus an optional hint naming what to change, implemented
//! beside each type), and the functions here own the format (`docker-credential-harbor:
//! warning: …` with `  hint: …` on the next line). `doctor` puts the same hint under its check
//! lines. Also the panic hook, which never prints the panic's payload.
//!
//! A payload is formatted by whatever code panicked and could, through a mistake, hold a
//! secret; the location is enough to find the bug. Protocol verbs report on stdout instead
//! (clients read it there), in the core's `protocol`. Output passes `text::Escaped` in
//! `commands`, so nothing here escapes twice.

use std::fmt::{self, Display};
use std::io::{self, Write};

use docker_credential_harbor_core::problem::Problem;
use docker_credential_harbor_core::protocol::NAME;

/// A problem given as text, for what no error type describes.
pub(crate) struct Message<'a>(pub &'a str, pub Option<String>);

impl Display for Message<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl Problem for Message<'_> {
    fn hint(&self) -> Option<String> {
        self.1.clone()
    }
}

/// `problem`, and its hint on the next line, indented under it.
pub(crate) fn with_hint(problem: &dyn Problem) -> String {
    match problem.hint() {
        Some(h) => format!("{problem}\n  hint: {h}"),
        None => problem.to_string(),
    }
}

/// `docker-credential-harbor: …`: the start of every line a subcommand writes about itself,
/// for output that is put together before it is written (pre-build's summary).
pub(crate) fn line(text: impl Display) -> String {
    format!("{NAME}: {text}")
}

/// `docker-credential-harbor: …`: what a command did or found, when it is not a problem.
pub(crate) fn note(out: &mut dyn Write, text: impl Display) -> io::Result<()> {
    writeln!(out, "{}", line(text))
}

/// `docker-credential-harbor: warning: …` (and its hint).
pub(crate) fn warning(out: &mut dyn Write, problem: &dyn Problem) -> io::Result<()> {
    note(out, format_args!("warning: {}", with_hint(problem)))
}

/// `docker-credential-harbor: …` (and its hint), for a failure of the command itself.
pub(crate) fn error(out: &mut dyn Write, problem: &dyn Problem) -> io::Result<()> {
    note(out, with_hint(problem))
}

/// Replaces the default panic hook with one that prints only where the panic happened.
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let place = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_else(|| "an unknown place".to_owned());
        #[allow(clippy::print_stderr)]
        {
            eprintln!(
                "{NAME}: internal error at {place}; please report it (the message is withheld because it could contain a secret)"
            );
        }
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hint_goes_on_its_own_line_under_the_problem() {
        let mut out = Vec::new();
        warning(&mut out, &Message("it broke", Some("mend it".into()))).unwrap();
        error(&mut out, &Message("plain", None)).unwrap();
        note(&mut out, "done").unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "docker-credential-harbor: warning: it broke\n  hint: mend it\ndocker-credential-harbor: plain\n\
             docker-credential-harbor: done\n"
        );
    }
}
