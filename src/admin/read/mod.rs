//! What the admin API, the dashboard and `bnpl admin` read: payments with their history, refund
//! queues, dead letters, exhausted jobs. Read models only (their SQL is here, beside the screens
//! that need it); every change they offer goes through the ledger (`crate::ledger`).
//!
//! - [`payments`]: search and counts; [`history`]: one payment with everything that happened.
//! - [`refunds`]: refunds and their queues, and an operator's release or cancel.
//! - [`dead_letters`]: dead letters (list, body, replay mark, purge) and exhausted jobs.

pub mod dead_letters;
pub mod history;
pub mod payments;
pub mod refunds;
