//! Crash points for the reliability tests: with `CARAVAN_CRASH_AT=<point>` in its
//! environment, the process kills itself with SIGKILL the first time it reaches that
//! point — no destructors, no buffered writes, like a power cut. Without the variable a
//! crash point is one comparison against a value read once.
//!
//! Points are named `<area>.<step>`, e.g. `stripe.invoice.sent`: after Stripe answered a
//! request, before the answer is saved.

use std::sync::OnceLock;

/// The environment variable naming the crash point to die at.
pub const CRASH_AT_VAR: &str = "CARAVAN_CRASH_AT";

/// Dies here if `CARAVAN_CRASH_AT` names `point`.
pub fn crash_point(point: &str) {
    static TARGET: OnceLock<Option<String>> = OnceLock::new();
    let target = TARGET.get_or_init(|| std::env::var(CRASH_AT_VAR).ok().filter(|value| !value.is_empty()));
    if target.as_deref() == Some(point) {
        tracing::warn!(point, "crash point reached: killing the process");
        let _ = rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::KILL);
        std::process::abort();
    }
}
