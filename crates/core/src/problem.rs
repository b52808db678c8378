//! What to do next about an error: [`Problem`], implemented by each error type a person reads,
//! in the type's own module, so a type and its hints are read together. The format (the
//! `hint:` line under the message) belongs to the binary's `report`; this only says what the
//! hint is. Never puts a secret in a hint.

use std::fmt::Display;

/// An error a person reads: `Display` says what failed and why; `hint` what to change (the
/// variable, file or Harbor setting), when there is something to say.
pub trait Problem: Display {
    fn hint(&self) -> Option<String> {
        None
    }
}
