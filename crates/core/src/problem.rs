//! What to do next about an error: [`Problem`], implemented by each error type a person reads,
//! in the type's own module, so a type and its hints are read together. The format (the
//! `hint:` line under the message) belongs to the binary's `report`; this only says what the
//! hint is. Never puts a secret in a hint.
//!
//! The error model: typed errors derive `Display` and `Error` with `thiserror`; the rest is
//! `anyhow` with context, shown with `{:#}`. A typed error that wraps another either says the
//! wrapped one's words in its own text or returns it from `source()`, never both (the Rust API
//! guidelines' rule): `{:#}` prints every source after the text, so both would say it twice.
//! The texts are the contract (tests and fuzz targets compare them), so a wrapped error stays
//! in the text; `#[error(transparent)]` forwards both to the wrapped error.

use std::fmt::Display;

/// An error a person reads: `Display` says what failed and why; `hint` what to change (the
/// variable, file or Harbor setting), when there is something to say.
pub trait Problem: Display {
    fn hint(&self) -> Option<String> {
        None
    }
}
