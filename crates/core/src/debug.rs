//! Debug lines on stderr, only when `DOCKER_CREDENTIAL_HARBOR_DEBUG=1`.
//!
//! Off by default because docker, BuildKit and the GitLab runner show a helper's stderr to
//! users. A debug line may name files, variables, hosts and user names; it must never carry a
//! secret, and callers pass only values that cannot hold one.

use std::sync::atomic::{AtomicBool, Ordering};

static ENABLED: AtomicBool = AtomicBool::new(false);

/// Turns debug output on or off for this process.
pub fn set_enabled(on: bool) {
    ENABLED.store(on, Ordering::Relaxed);
}

pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Writes one `docker-credential-harbor: debug: …` line to stderr when enabled.
#[macro_export]
macro_rules! debug {
    ($($arg:tt)*) => {
        if $crate::debug::enabled() {
            #[allow(clippy::print_stderr)]
            {
                eprintln!(
                    "docker-credential-harbor: debug: {}",
                    $crate::text::inline(&format!($($arg)*))
                );
            }
        }
    };
}
