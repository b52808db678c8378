//! Reporting for subcommands: errors on stderr, and a panic hook that never prints the panic's
//! payload.
//!
//! A payload is formatted by whatever code panicked and could, through a mistake, hold a
//! secret; the location is enough to find the bug. Protocol verbs report on stdout instead
//! (clients read it there), in `protocol`.

use std::fmt::Display;

/// `docker-credential-harbor: <message>` on stderr.
pub fn error(message: impl Display) {
    #[allow(clippy::print_stderr)]
    {
        eprintln!(
            "docker-credential-harbor: {}",
            crate::text::escape(&message.to_string())
        );
    }
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
                "docker-credential-harbor: internal error at {place}; please report it (the message is withheld because it could contain a secret)"
            );
        }
    }));
}
