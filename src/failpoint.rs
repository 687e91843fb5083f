//! Failpoints for crash tests (design §1: test a crash at an exact point with failpoints, not
//! timing). Compiled in only with the `failpoints` feature, which the test command enables; a
//! failpoint is armed by the `FAILPOINTS` environment variable, e.g.
//! `FAILPOINTS=humm_sale.after_send=return` (the `fail` crate's syntax).
//!
//! Invariant: without the feature these functions compile to nothing.

/// After the sale request got its answer, before the answer is committed.
pub const HUMM_SALE_AFTER_SEND: &str = "humm_sale.after_send";
/// After the refund request got its answer, before the answer is committed.
pub const REFUND_AFTER_SEND: &str = "refund_send.after_send";

/// Reads `FAILPOINTS` (once, at start-up of the binary).
pub fn setup() {
    #[cfg(feature = "failpoints")]
    std::mem::forget(fail::FailScenario::setup());
}

/// Kills the process on the spot, like SIGKILL would, when the failpoint `name` is armed.
pub fn crash_if_armed(name: &str) {
    #[cfg(feature = "failpoints")]
    if fail::eval(name, |_| ()).is_some() {
        tracing::error!(failpoint = name, "failpoint armed: aborting the process");
        std::process::abort();
    }
    #[cfg(not(feature = "failpoints"))]
    let _ = name;
}
