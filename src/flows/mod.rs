//! The payment flows: what intake, job handlers and callbacks do to payments, on top of the pure
//! domain, the pure provider connectors and the store.
//!
//! - [`purchase_create`]: `purchase.create` → a stored payment, its first event and first jobs.
//! - [`humm_sale`]: the Gate sale call (job), classified as design §1 says.
//! - [`status_check`]: status queries after the base time, up to the threshold decision (job).
//! - [`callbacks`]: applying verified provider callbacks.
//! - [`settle`]: turning a provider's view of a payment into a state-machine event.
//! - [`schedule`]: the job kinds and when they fall due.

pub mod callbacks;
pub mod humm_sale;
pub mod purchase_create;
pub mod schedule;
pub mod settle;
pub mod status_check;

use crate::accounts::Accounts;
use crate::providers::executor::Executor;
use sqlx::PgPool;

/// What the flows need: the database, the accounts and the one HTTP executor.
pub struct Services {
    pub pool: PgPool,
    pub accounts: Accounts,
    pub executor: Executor,
}
