//! Handler panics, made to fail the test: tokio catches a panic in a task, so a request
//! handler that panics only drops its connection and prints a message that a passing test
//! would hide. Each double names its runtime's threads `harbor-double-<port>`; a panic hook,
//! installed once per process and chained to the hook before it, records every panic on such a
//! thread under that name, and dropping the double panics when its name has records
//! (`impl Drop for Harbor`). It must never swallow a panic: the previous hook always runs too.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, Once, PoisonError};

const PREFIX: &str = "harbor-double-";

/// What panicked on which double's threads, keyed by thread name.
static PANICS: Mutex<BTreeMap<String, Vec<String>>> = Mutex::new(BTreeMap::new());
static HOOK: Once = Once::new();

fn panics() -> MutexGuard<'static, BTreeMap<String, Vec<String>>> {
    PANICS.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The name of every runtime thread of the double listening on `port`: unique among running
/// doubles, because the port stays bound while the double runs.
pub(crate) fn thread_name(port: u16) -> String {
    format!("{PREFIX}{port}")
}

/// Installs the hook (once per process) and forgets records of an earlier double that had the
/// same port, so that a new double starts clean.
pub(crate) fn watch(thread_name: &str) {
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let thread = std::thread::current();
            if let Some(name) = thread.name().filter(|n| n.starts_with(PREFIX)) {
                let what = info
                    .payload_as_str()
                    .unwrap_or("(a panic without a message)");
                let at = info
                    .location()
                    .map(|l| format!(" at {l}"))
                    .unwrap_or_default();
                panics()
                    .entry(name.to_owned())
                    .or_default()
                    .push(format!("{what}{at} (thread {name})"));
            }
            previous(info);
        }));
    });
    panics().remove(thread_name);
}

/// The panics recorded on these threads so far, removed from the record.
pub(crate) fn take(thread_name: &str) -> Vec<String> {
    panics().remove(thread_name).unwrap_or_default()
}
