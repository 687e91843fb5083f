//! A gated consumer: consumes one queue only while the broker AND PostgreSQL are reachable.
//!
//! Why gated: quorum queues count every redelivery toward the delivery limit, so nacking valid
//! commands during a database outage would dead-letter them (design §1). Instead, when the
//! database goes away the consumer is cancelled (`basic.cancel`), the deliveries already in hand
//! wait for the database and are then processed and acked, and consuming resumes when it is back.
//!
//! Invariants: a delivery is acked only after its handler returned Ok (its effect committed);
//! at most `concurrency` handlers run at once and at most `prefetch` deliveries are unacked; a
//! handler failing with a transient error is retried on the same delivery, never nacked, unless
//! it keeps failing while the database is healthy (a bug), when it is requeued so the queue's
//! delivery limit can dead-letter it. "Keeps failing" means many failures over a window longer
//! than the database monitor needs to notice an outage, so the first seconds of an outage (when
//! the monitor still says "up") never requeue a valid command.

use super::supervisor::{Broker, BrokerSession};
use futures_util::StreamExt as _;
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions};
use lapin::types::FieldTable;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// A failure that says nothing about the message itself: retry the same delivery later.
#[derive(Debug, thiserror::Error)]
#[error("transient failure: {0}")]
pub struct Transient(#[from] pub anyhow::Error);

/// Processes one delivery; returns Ok only once its effect is committed.
#[async_trait::async_trait]
pub trait DeliveryHandler: Send + Sync + 'static {
    async fn handle(&self, delivery: &Delivery) -> Result<(), Transient>;
}

/// How one queue is consumed.
#[derive(Debug, Clone)]
pub struct ConsumerSpec {
    pub queue: String,
    pub prefetch: u16,
    pub concurrency: usize,
}

/// Transient failures tolerated on one delivery while the database looks healthy…
const MAX_HEALTHY_FAILURES: u32 = 10;
/// …and for at least this long: several probe cycles of the database monitor, which may report an
/// outage only after its probe timed out.
const HEALTHY_FAILURE_WINDOW: Duration = Duration::from_secs(10);
const RETRY_PAUSE: Duration = Duration::from_millis(200);

/// Runs until `shutdown`; then stops consuming and lets in-flight handlers finish.
pub async fn run(
    broker: Broker,
    mut database_up: watch::Receiver<bool>,
    spec: ConsumerSpec,
    handler: Arc<dyn DeliveryHandler>,
    shutdown: CancellationToken,
) {
    let mut sessions = broker.subscribe();
    loop {
        let Some(session) = wait_until_ready(&mut sessions, &mut database_up, &shutdown).await else {
            return;
        };
        if let Err(error) = consume(&session, &mut database_up, &spec, &handler, &shutdown).await {
            tracing::warn!(%error, queue = %spec.queue, "consumer stopped; will resume");
            tokio::select! {
                () = tokio::time::sleep(Duration::from_millis(500)) => {}
                () = shutdown.cancelled() => return,
            }
        }
        if shutdown.is_cancelled() {
            return;
        }
    }
}

async fn wait_until_ready(
    sessions: &mut watch::Receiver<Option<BrokerSession>>,
    database_up: &mut watch::Receiver<bool>,
    shutdown: &CancellationToken,
) -> Option<BrokerSession> {
    loop {
        if shutdown.is_cancelled() {
            return None;
        }
        let session = sessions.borrow_and_update().clone();
        let database = *database_up.borrow_and_update();
        if let (Some(session), true) = (session, database) {
            if session.connection.status().connected() {
                return Some(session);
            }
        }
        tokio::select! {
            _ = sessions.changed() => {}
            _ = database_up.changed() => {}
            () = shutdown.cancelled() => return None,
        }
    }
}

/// One consuming period on one channel; returns when the database or broker goes away or on
/// shutdown, after every delivery in hand has been handled.
async fn consume(
    session: &BrokerSession,
    database_up: &mut watch::Receiver<bool>,
    spec: &ConsumerSpec,
    handler: &Arc<dyn DeliveryHandler>,
    shutdown: &CancellationToken,
) -> lapin::Result<()> {
    let channel = session.connection.create_channel().await?;
    channel.basic_qos(spec.prefetch, BasicQosOptions::default()).await?;
    let tag = format!("{}-{}", spec.queue, uuid::Uuid::new_v4());
    let mut consumer = channel
        .basic_consume(&spec.queue, &tag, BasicConsumeOptions::default(), FieldTable::default())
        .await?;
    tracing::info!(queue = %spec.queue, "consuming");
    let permits = Arc::new(Semaphore::new(spec.concurrency.max(1)));
    let mut in_flight = JoinSet::new();
    let mut cancelled = false;
    let mut outcome = Ok(());
    loop {
        tokio::select! {
            biased;
            () = shutdown.cancelled(), if !cancelled => {
                cancelled = true;
                channel.basic_cancel(&tag, BasicCancelOptions::default()).await?;
            }
            changed = database_up.changed(), if !cancelled => {
                if changed.is_err() || !*database_up.borrow_and_update() {
                    tracing::warn!(queue = %spec.queue, "database unreachable: stop consuming");
                    cancelled = true;
                    channel.basic_cancel(&tag, BasicCancelOptions::default()).await?;
                }
            }
            next = consumer.next() => {
                // The stream ends (None) after basic.cancel once the buffered deliveries are
                // taken, so every delivery in hand is handled before the channel closes.
                let delivery = match next {
                    Some(Ok(delivery)) => delivery,
                    Some(Err(error)) => {
                        outcome = Err(error);
                        break;
                    }
                    None => break,
                };
                // The handler waits for its slot in its own task, so this loop keeps watching the
                // database and shutdown while every slot is busy (at most `prefetch` tasks wait).
                let permits = Arc::clone(&permits);
                let handler = Arc::clone(handler);
                let database = database_up.clone();
                let stop = shutdown.clone();
                in_flight.spawn(async move {
                    let Ok(_permit) = permits.acquire_owned().await else { return };
                    handle_one(handler.as_ref(), delivery, database, stop).await;
                });
            }
        }
        // Reap finished handlers so the set does not grow with the queue's throughput.
        while in_flight.try_join_next().is_some() {}
    }
    while in_flight.join_next().await.is_some() {}
    if outcome.is_ok() {
        let _ = channel.close(200, "consumer stopped").await;
    }
    outcome
}

async fn handle_one(
    handler: &dyn DeliveryHandler,
    delivery: Delivery,
    mut database_up: watch::Receiver<bool>,
    shutdown: CancellationToken,
) {
    let mut healthy_failures = 0;
    let mut failing_since: Option<tokio::time::Instant> = None;
    loop {
        match handler.handle(&delivery).await {
            Ok(()) => {
                if let Err(error) = delivery.acker.ack(BasicAckOptions::default()).await {
                    // The channel is gone; the broker redelivers and intake is idempotent.
                    tracing::warn!(%error, "ack failed after commit; the command will be redelivered");
                }
                return;
            }
            Err(error) => {
                if *database_up.borrow_and_update() {
                    healthy_failures += 1;
                    failing_since.get_or_insert_with(tokio::time::Instant::now);
                } else {
                    // An outage explains the failures so far.
                    healthy_failures = 0;
                    failing_since = None;
                }
                tracing::warn!(%error, healthy_failures, "command handling failed; retrying the same delivery");
                let failing_for = failing_since.map(|since| since.elapsed()).unwrap_or_default();
                if healthy_failures >= MAX_HEALTHY_FAILURES && failing_for >= HEALTHY_FAILURE_WINDOW {
                    // Not an outage: something is wrong with this message or our code. Requeue so
                    // the quorum queue's delivery limit dead-letters it rather than spinning here.
                    let _ = delivery
                        .acker
                        .nack(BasicNackOptions {
                            requeue: true,
                            ..Default::default()
                        })
                        .await;
                    return;
                }
                tokio::select! {
                    () = wait_for_database(&mut database_up) => {}
                    () = shutdown.cancelled() => return,
                }
                tokio::time::sleep(RETRY_PAUSE).await;
            }
        }
    }
}

async fn wait_for_database(database_up: &mut watch::Receiver<bool>) {
    while !*database_up.borrow_and_update() {
        if database_up.changed().await.is_err() {
            return;
        }
    }
}
