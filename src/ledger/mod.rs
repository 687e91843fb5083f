//! The ledger writer (design §1b): the only code that changes the status of a payment or a
//! refund, inserts into `audit_log` or `outbox`, or assigns a payment's event sequence.
//!
//! Callers (intake, provider answers, callbacks, status checks, expiry, operators, the refund
//! queue) hand it a change as a value; it runs the pure transition of `domain` as a
//! compare-and-set, numbers and builds the typed event (`domain::events`), and tells the caller
//! what became of it, with the row as it is now, so no caller re-reads.
//!
//! - [`payment`]: payment changes, creation, resolution; [`payment_sql`] their statements.
//! - [`refund`]: enqueue, refund changes, the promotion of a queue's head; [`refund_sql`].
//! - [`journal`]: audit notes, `command.rejected`, event replays; [`journal_sql`].
//! - [`announce`]: the typed events, built from the rows about to be stored.
//! - [`rows`]: the payments this process wrote last, so the next change needs no read.
//! - [`storable`]: what a change carries from outside, made storable before it is written.

pub mod announce;
pub mod journal;
mod journal_sql;
pub mod payment;
mod payment_sql;
pub mod refund;
mod refund_sql;
pub mod rows;
mod storable;

pub use payment::{Applied, Change, Extras, Outcome, RawCallback};

/// Where the command behind a new payment, refund or rejection came from, for its events: the
/// AMQP `reply_to` and `correlation_id` of its first event (contract §1), and the W3C
/// `traceparent` every event about it carries (stored with the payment or refund).
#[derive(Debug, Clone, Copy, Default)]
pub struct Origin<'a> {
    pub reply_to: Option<&'a str>,
    pub correlation_id: Option<&'a str>,
    pub traceparent: Option<&'a str>,
}
pub use refund::{RefundApplied, RefundChange};
