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

pub mod announce;
pub mod journal;
mod journal_sql;
pub mod payment;
mod payment_sql;
pub mod refund;
mod refund_sql;
pub mod rows;

pub use payment::{Applied, Change, Extras, Outcome, RawCallback, ReportedMoney};
pub use refund::{RefundApplied, RefundChange};
