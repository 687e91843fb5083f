//! The payment flows: what intake, job handlers and callbacks do to payments, on top of the pure
//! domain, the pure provider connectors and the store.
//!
//! - [`purchase_create`]: `purchase.create` → a stored payment, its first event and first jobs.
//! - [`humm_sale`]: the Gate sale call (job), classified as design §1 says.
//! - [`status_check`]: status queries after the base time, up to the threshold decision (job).
//! - [`valu_start`], [`valu_otp`], [`valu_confirm`], [`valu_resend`], [`otp_expiry`]: the valU
//!   steps (CUSTOMER_VERIFY, OTP_GENERATE, OTP_VERIFY, PURCHASE) and the OTP's lifetime.
//! - [`refund_create`], [`refund_dispatch`], [`refund_hand_off`], [`refund_send`],
//!   [`refund_check`], [`refund_settle`]: the strictly sequential refund queue per provider account.
//! - [`completion`]: completing a job and applying its effect in one transaction (fencing).
//! - [`callbacks`]: applying verified provider callbacks.
//! - [`settle`]: turning a provider's view of a payment into a state-machine event.
//! - [`schedule`]: the job kinds and when they fall due.

pub mod callbacks;
pub mod completion;
pub mod humm_sale;
pub mod otp_expiry;
pub mod purchase_create;
pub mod refund_check;
pub mod refund_create;
pub mod refund_dispatch;
pub mod refund_hand_off;
pub mod refund_send;
pub mod refund_settle;
pub mod schedule;
pub mod settle;
pub mod status_check;
pub mod valu_confirm;
pub mod valu_otp;
pub mod valu_resend;
pub mod valu_start;

use crate::accounts::Accounts;
use crate::providers::executor::Executor;
use sqlx::PgPool;

/// What the flows need: the database, the accounts and the one HTTP executor.
pub struct Services {
    pub pool: PgPool,
    pub accounts: Accounts,
    pub executor: Executor,
    /// Renews the leases of the jobs this process runs (`[jobs] lease`).
    pub leases: crate::jobs::LeaseKeeper,
    /// The way from a change that frees a refund queue to this process's refund dispatcher.
    pub refund_hand_off: refund_hand_off::RefundHandOff,
    /// This process's relay: woken in memory after the commits that skip the `NOTIFY`.
    pub outbox_wake: std::sync::Arc<crate::store::outbox_wake::OutboxWake>,
    /// Applies the results of jobs that finish together in one transaction (`completion::settle`).
    pub job_committer: crate::store::group_commit::GroupCommitter,
}

impl Services {
    /// A collector for the refunds one transaction promotes, when this process sends them itself.
    pub fn refund_promotions(&self) -> Option<std::sync::Arc<crate::ledger::refund::Promotions>> {
        self.refund_hand_off.collector(self.leases.lease())
    }
}
