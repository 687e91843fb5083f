//! The refund hand-off without a hop (issue 16): the change that frees a refund queue (its refund
//! in flight becomes final) promotes the queue's next refund in the same transaction, and once
//! that transaction committed the promoted refund goes straight to this process's refund
//! dispatcher, which sends it. No `NOTIFY`, no listener wake-up and no second transaction stand
//! between one refund's end and the next one's send.
//!
//! Invariants:
//! - promotions are asked for only while a dispatcher of this process takes them: otherwise the
//!   promoted refund's send job, inserted claimed, would wait for its lease to run out;
//! - a promoted refund is handed over only after its transaction committed (by the group
//!   committer's `committed` hook, or by the job after its commit), and a run of the transaction
//!   that rolled back hands over nothing (the owner clears its [`Promotions`] before each run);
//! - the promotion never waits for a lock inside the freeing transaction (`SKIP LOCKED`, one
//!   attempt): a head whose payment is busy is left to the dispatchers;
//! - a hand-off that is lost (the dispatcher stopped, the process died) costs time, not the
//!   refund: its send job is claimed under a lease, so the job runner sends it when the lease runs
//!   out, and the `NOTIFY bnpl_refunds` of the freeing change still wakes every other dispatcher.

use crate::ledger::refund::{Promoted, Promotions};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::sync::mpsc;

/// The audit actor of a promotion made by the change that freed the queue.
pub const ACTOR: &str = "refund_hand_off";

/// This process's way to its refund dispatcher; cheap to clone, shared through `Services`.
#[derive(Clone, Default)]
pub struct RefundHandOff {
    dispatcher: Arc<OnceLock<mpsc::UnboundedSender<Promoted>>>,
}

impl std::fmt::Debug for RefundHandOff {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RefundHandOff")
            .field("dispatcher", &self.taken())
            .finish()
    }
}

impl RefundHandOff {
    /// Called once by this process's dispatcher: it receives the promoted refunds from now on. A
    /// second dispatcher in the same process gets None and keeps to `NOTIFY`.
    pub fn take_over(&self) -> Option<mpsc::UnboundedReceiver<Promoted>> {
        let (sender, receiver) = mpsc::unbounded_channel();
        self.dispatcher.set(sender).ok().map(|()| receiver)
    }

    /// A collector for one transaction's promotions, or None when no dispatcher of this process
    /// would take them.
    pub fn collector(&self, lease: Duration) -> Option<Arc<Promotions>> {
        self.taken()
            .then(|| Arc::new(Promotions::new(ACTOR, super::schedule::REFUND_SEND, lease)))
    }

    /// Hands what `promotions` holds to the dispatcher; call only after the transaction that
    /// promoted them committed.
    pub fn deliver(&self, promotions: Option<&Arc<Promotions>>) {
        let Some(promotions) = promotions else {
            return;
        };
        for promoted in promotions.take() {
            let sent = self
                .dispatcher
                .get()
                .is_some_and(|dispatcher| dispatcher.send(promoted).is_ok());
            match sent {
                true => metrics::counter!("bnpl_refunds_dispatched_total").increment(1),
                false => tracing::warn!("refund dispatcher gone: the promoted refund is sent when its lease runs out"),
            }
        }
    }

    fn taken(&self) -> bool {
        self.dispatcher.get().is_some_and(|dispatcher| !dispatcher.is_closed())
    }
}
