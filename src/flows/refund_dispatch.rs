//! The refund dispatcher: promotes the head of a refund queue to in flight when the refund before
//! it is final, and sends it at once (design §1; issue 7's event-driven hand-off).
//!
//! It wakes on `NOTIFY bnpl_refunds` (sent by the commit that made a refund final or queued a new
//! one, with the queue key as payload) and polls every queue as a fallback. Any number of
//! dispatchers may run in any number of processes: the database lets exactly one promote a
//! queue's head (`ledger::refund::promote`), and the promoting statement also claims the send job, so
//! the send starts right after it without a round trip through the runner.
//!
//! It also sends the refunds that changes of this process promoted themselves, in the transaction
//! that freed their queue ([`super::refund_hand_off`]); the `NOTIFY` path then finds their queue
//! busy and does nothing.

use super::completion::Attempt;
use super::refund_send::RefundSend;
use super::{schedule, Services};
use crate::jobs::runner::execute_claimed;
use crate::jobs::JobResult;
use crate::ledger::refund::{self as refund_promote, Promoted};
use crate::store;
use crate::store::jobs::ClaimedJob;
use crate::store::payments::PaymentRow;
use crate::store::refunds::RefundRow;
use crate::store::refunds::{self, NOTIFY_CHANNEL};
use sqlx::postgres::PgListener;
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

const POLL_INTERVAL: Duration = Duration::from_secs(2);
const ACTOR: &str = "refund_dispatcher";

/// Runs until `shutdown`; sends run on `tracker` so shutdown waits for them.
pub async fn run(
    services: Arc<Services>,
    sender: Arc<RefundSend>,
    mut database_up: watch::Receiver<bool>,
    tracker: TaskTracker,
    shutdown: CancellationToken,
) {
    let promoter = store::pool::dedicated(&services.pool, 1);
    if let Some(handed) = services.refund_hand_off.take_over() {
        tracker.spawn(send_handed(
            Arc::clone(&services),
            Arc::clone(&sender),
            handed,
            tracker.clone(),
            shutdown.clone(),
        ));
    }
    let mut listener: Option<PgListener> = None;
    while !shutdown.is_cancelled() {
        if !*database_up.borrow_and_update() {
            listener = None;
            tokio::select! {
                _ = database_up.changed() => {}
                () = shutdown.cancelled() => return,
            }
            continue;
        }
        if listener.is_none() {
            listener = listen(&services).await;
            // Anything queued while we were not listening.
            sweep(&services, &promoter, &sender, &tracker).await;
        }
        let woken = match listener.as_mut() {
            Some(active) => tokio::select! {
                notification = active.recv() => match notification {
                    Ok(notification) => Some(notification.payload().to_owned()),
                    Err(_) => { listener = None; None }
                },
                () = tokio::time::sleep(POLL_INTERVAL) => None,
                () = shutdown.cancelled() => return,
            },
            None => {
                tokio::select! {
                    () = tokio::time::sleep(POLL_INTERVAL) => {}
                    () = shutdown.cancelled() => return,
                }
                None
            }
        };
        match woken {
            Some(queue_key) => dispatch(&services, &promoter, &sender, &tracker, &queue_key).await,
            None => sweep(&services, &promoter, &sender, &tracker).await,
        }
    }
}

async fn listen(services: &Services) -> Option<PgListener> {
    let mut listener = PgListener::connect_with(&services.pool).await.ok()?;
    listener.listen(NOTIFY_CHANNEL).await.ok()?;
    Some(listener)
}

async fn sweep(services: &Arc<Services>, promoter: &PgPool, sender: &Arc<RefundSend>, tracker: &TaskTracker) {
    let queues = match services.pool.acquire().await {
        Ok(mut conn) => refunds::queues_with_waiting(&mut conn).await.unwrap_or_default(),
        Err(_) => return,
    };
    for queue_key in queues {
        dispatch(services, promoter, sender, tracker, &queue_key).await;
    }
}

/// Promotes (on `promoter`, the dispatcher's own connection) and sends the queue's head, if the
/// queue is free.
async fn dispatch(
    services: &Arc<Services>,
    promoter: &PgPool,
    sender: &Arc<RefundSend>,
    tracker: &TaskTracker,
    queue_key: &str,
) {
    match promote(services, promoter, queue_key).await {
        Ok(Some(promoted)) => send_promoted(services, sender, tracker, promoted),
        Ok(None) => {}
        Err(error) if is_unique_violation(&error) => {
            // Another dispatcher promoted a refund of this queue first: nothing to do.
        }
        Err(error) => tracing::warn!(%error, queue_key, "refund dispatch failed; the poll retries"),
    }
}

/// Sends the refunds this process's changes promoted as they freed their queues, until shutdown.
async fn send_handed(
    services: Arc<Services>,
    sender: Arc<RefundSend>,
    mut handed: mpsc::UnboundedReceiver<Promoted>,
    tracker: TaskTracker,
    shutdown: CancellationToken,
) {
    loop {
        tokio::select! {
            promoted = handed.recv() => match promoted {
                Some(promoted) => send_promoted(&services, &sender, &tracker, promoted),
                None => return,
            },
            () = shutdown.cancelled() => {
                // What was handed over before the stop is sent (shutdown waits for the tracker);
                // a later hand-off is refused and waits for its lease to run out.
                handed.close();
                while let Ok(promoted) = handed.try_recv() {
                    send_promoted(&services, &sender, &tracker, promoted);
                }
                return;
            }
        }
    }
}

/// Starts the first send of a promoted refund, under the lease its promotion claimed.
fn send_promoted(services: &Arc<Services>, sender: &Arc<RefundSend>, tracker: &TaskTracker, promoted: Promoted) {
    let services = Arc::clone(services);
    let job = promoted.send_job;
    let send = SendPromoted {
        sender: Arc::clone(sender),
        refund: promoted.refund,
        payment: promoted.payment,
    };
    tracker.spawn(async move { execute_claimed(&services.pool, &send, &job, &services.leases).await });
}

async fn promote(services: &Services, promoter: &PgPool, queue_key: &str) -> Result<Option<Promoted>, sqlx::Error> {
    let lease = services.leases.lease();
    let promoted = refund_promote::promote(promoter, queue_key, ACTOR, schedule::REFUND_SEND, lease).await?;
    if promoted.is_some() {
        metrics::counter!("bnpl_refunds_dispatched_total").increment(1);
    }
    Ok(promoted)
}

/// The first send of a refund just promoted, with the rows the promoting statement returned.
struct SendPromoted {
    sender: Arc<RefundSend>,
    refund: RefundRow,
    payment: PaymentRow,
}

#[async_trait::async_trait]
impl Attempt for SendPromoted {
    async fn attempt(&self, job: &ClaimedJob) -> Result<JobResult, sqlx::Error> {
        let known = (self.refund.clone(), self.payment.clone());
        self.sender.attempt_with(job, Some(known)).await
    }
}

fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.code().as_deref() == Some("23505"))
}
