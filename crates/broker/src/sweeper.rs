//! The sweeper loop: every `sweep_interval_seconds`, give or take a tenth so replicas spread
//! out, [`Broker::sweep_once`] deletes the robots whose intended expiry has passed, on the
//! blocking pool. Idempotent, so every replica runs one and none coordinates.
//!
//! What it must never do: stop (a failed sweep is audited and counted, and the next one comes
//! at the next interval), or run a Harbor call on an async thread.

use std::sync::Arc;
use std::time::Duration;

use ring::rand::{SecureRandom, SystemRandom};

use crate::server::Broker;

/// A random fraction in [0, 1): jitter needs no more than 16 bits, and no secret depends on it.
fn fraction(random: &SystemRandom) -> f64 {
    let mut bytes = [0; 2];
    // The system's generator does not fail on Linux; 0.5 would only lose the spread.
    if random.fill(&mut bytes).is_err() {
        return 0.5;
    }
    f64::from(u16::from_le_bytes(bytes)) / 65536.0
}

/// Sweeps forever: first after a random part of `every` (replicas started together spread at
/// once), then every `every` ± 10 %.
pub(crate) async fn run(broker: Arc<Broker>, every: Duration) {
    let random = SystemRandom::new();
    let mut delay = every.mul_f64(fraction(&random));
    loop {
        tokio::time::sleep(delay).await;
        let broker = broker.clone();
        // A panic in a sweep is a bug; it ends that sweep, not the loop.
        let _ = tokio::task::spawn_blocking(move || broker.sweep_once()).await;
        delay = every.mul_f64(0.9 + 0.2 * fraction(&random));
    }
}
