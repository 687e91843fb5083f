//! The outbox relay: publishes committed events to `bnpl.events` (and direct replies to a
//! command's `reply_to`) and dead letters to `bnpl.dlx`, with publisher confirms.
//!
//! Invariants:
//! - one active relay at a time across every process, by a PostgreSQL session advisory lock held
//!   on a dedicated connection (others stand by and take over when its session ends), so events
//!   leave in commit order per payment (design §1 "Events leave in order");
//! - a row is marked published only after the broker confirmed it, and only the confirmed
//!   prefix of a batch is marked: at least once, never out of order;
//! - it wakes on `NOTIFY bnpl_outbox` sent by the committing transaction, on this process's
//!   in-memory bell (`store::outbox_wake`: writers here skip the `NOTIFY` while it leads), and
//!   polls as a fallback;
//! - nothing it sends can exceed the broker's limits: header values are bounded (`x-bnpl-detail`
//!   at most 1 KiB, the full text stays in the database), and a row the broker can never take is
//!   parked with its error and counted (`bnpl_relay_parked_total`), never retried in a loop on the
//!   connection the consumers share; purged dead letters are never published.

use super::publisher::{Outgoing, Publisher};
use crate::domain::limits;
use crate::store::outbox::{self, RelayTable, DEAD_LETTER_NOTICE, NOTIFY_CHANNEL};
use crate::store::outbox_wake::OutboxWake;
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::BasicProperties;
use sqlx::postgres::PgListener;
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Advisory lock key of the single relay partition ("bnplrely" as bytes).
const RELAY_LOCK_KEY: i64 = 0x626e_706c_7265_6c79;
const BATCH: i64 = 500;
const POLL_INTERVAL: Duration = Duration::from_secs(1);
const RETRY_PAUSE: Duration = Duration::from_millis(500);
/// Group commit for the relay (design §1b): while events are flowing, a notification is held this
/// long so the commits right behind it are read and confirmed in the same batch, instead of one
/// read per commit.
const LINGER: Duration = Duration::from_millis(1);
/// Events are "flowing" when the last batch that published anything published more than one
/// event (commits overlap), this recently. A lone change's events (one per read, even when they
/// follow each other within milliseconds, as a lone purchase's do) are read at once, never
/// delayed: measured with `bench --scenarios latency`, a linger on each of them cost a lone
/// purchase about 1 ms.
const FLOWING: Duration = Duration::from_millis(20);

/// Runs the relay until `shutdown`.
pub async fn run(pool: PgPool, publisher: Arc<Publisher>, wake: Arc<OutboxWake>, shutdown: CancellationToken) {
    while !shutdown.is_cancelled() {
        if let Err(error) = lead(&pool, &publisher, &wake, &shutdown).await {
            tracing::warn!(%error, "outbox relay interrupted; retrying");
        }
        tokio::select! {
            () = tokio::time::sleep(RETRY_PAUSE) => {}
            () = shutdown.cancelled() => return,
        }
    }
}

/// Takes the relay lock (or waits for it) and publishes until shutdown or a database error.
async fn lead(
    pool: &PgPool,
    publisher: &Publisher,
    wake: &OutboxWake,
    shutdown: &CancellationToken,
) -> Result<(), sqlx::Error> {
    let mut lock_connection = pool.acquire().await?;
    loop {
        let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(RELAY_LOCK_KEY)
            .fetch_one(&mut *lock_connection)
            .await?;
        if locked {
            break;
        }
        tokio::select! {
            () = tokio::time::sleep(POLL_INTERVAL) => {}
            () = shutdown.cancelled() => return Ok(()),
        }
    }
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(NOTIFY_CHANNEL).await?;
    let mut notifications = Notifications::forward(listener);
    // From here on every commit is read: the first read below comes after this.
    wake.set_leading(true);
    let topology = publisher.broker().topology().clone();
    let result = async {
        // Dead letters are rare: look for them when one was announced, and on every poll.
        let mut check_dead = true;
        let (mut event_suspect, mut dead_suspect) = (Suspect::default(), Suspect::default());
        // When the last batch of more than one event went out (see `FLOWING`).
        let mut last_busy_batch: Option<tokio::time::Instant> = None;
        while !shutdown.is_cancelled() {
            let (events, published) = relay_events(pool, publisher, &topology.events(), &mut event_suspect).await?;
            if published > 1 {
                last_busy_batch = Some(tokio::time::Instant::now());
            } else if published == 1 {
                last_busy_batch = None;
            }
            let dead = if check_dead {
                relay_dead_letters(pool, publisher, &topology.dead_letter_exchange(), &mut dead_suspect).await?
            } else {
                Progress::Partial
            };
            check_dead = dead == Progress::Full;
            if events == Progress::Full || dead == Progress::Full {
                continue;
            }
            // Stuck (broker down) or idle: wait for a commit's notification, the poll, or shutdown.
            let woken = tokio::select! {
                heard = notifications.next() => {
                    check_dead |= heard?;
                    true
                }
                () = wake.rung() => true,
                () = tokio::time::sleep(POLL_INTERVAL) => { check_dead = true; false }
                () = shutdown.cancelled() => false,
            };
            if woken {
                if last_busy_batch.is_some_and(|at| at.elapsed() < FLOWING) {
                    // What commits meanwhile is in this batch too.
                    tokio::time::sleep(LINGER).await;
                }
                // A burst of commits is one batch: take every notification already here.
                while let Some(heard) = notifications.buffered() {
                    check_dead |= heard?;
                }
            }
        }
        Ok(())
    }
    .await;
    // Writers here notify again before another process can take the lead (the only way out of
    // leading: every early return above comes before `set_leading(true)`).
    wake.set_leading(false);
    drop(notifications);
    // Release explicitly; a broken connection releases it anyway when its session ends.
    let _ = sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(RELAY_LOCK_KEY)
        .execute(&mut *lock_connection)
        .await;
    result
}

/// The relay's `LISTEN`, in a task of its own that forwards what it hears (true: a dead letter
/// is waiting too). The relay's wait is cut short by every in-memory ring, and `PgListener::recv`
/// must not be: its reconnect is not cancel-safe. The task ends with this value.
struct Notifications {
    heard: mpsc::UnboundedReceiver<Result<bool, sqlx::Error>>,
    task: tokio::task::JoinHandle<()>,
}

impl Notifications {
    fn forward(mut listener: PgListener) -> Self {
        let (sender, heard) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            loop {
                let notification = listener.recv().await;
                let failed = notification.is_err();
                let sent = sender.send(notification.map(|n| n.payload() == DEAD_LETTER_NOTICE));
                if failed || sent.is_err() {
                    return;
                }
            }
        });
        Self { heard, task }
    }

    /// The next notification (cancel-safe).
    async fn next(&mut self) -> Result<bool, sqlx::Error> {
        self.heard.recv().await.unwrap_or(Err(sqlx::Error::WorkerCrashed))
    }

    /// A notification already here, if any.
    fn buffered(&mut self) -> Option<Result<bool, sqlx::Error>> {
        self.heard.try_recv().ok()
    }
}

impl Drop for Notifications {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Progress {
    /// A whole batch went out: there may be more right away.
    Full,
    /// Less than a batch, or the broker stopped confirming.
    Partial,
}

/// The largest message body the relay sends; RabbitMQ refuses larger ones by default
/// (`max_message_size`, 16 MiB since 4.0) by closing the channel.
const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;
/// `x-bnpl-detail` at most (contract §7); the full text stays in `dead_letters.detail`.
pub const DETAIL_HEADER_MAX_BYTES: usize = 1024;
/// Other header values; the reason is a short code and the routing key an AMQP short string.
const HEADER_MAX_BYTES: usize = 255;
/// A row that stops its batch this many times in a row while the broker stays connected is the
/// row's own fault, not an outage's: it is parked.
const MAX_FAILURES_WHILE_CONNECTED: u32 = 3;

/// The row that last stopped a batch of one table, and how often in a row it did.
#[derive(Debug, Default)]
struct Suspect {
    id: Option<i64>,
    failures: u32,
}

impl Suspect {
    /// Records that `id` stopped its batch; true when it has done so often enough to park.
    fn stopped(&mut self, id: i64) -> bool {
        if self.id == Some(id) {
            self.failures += 1;
        } else {
            self.id = Some(id);
            self.failures = 1;
        }
        self.failures >= MAX_FAILURES_WHILE_CONNECTED
    }
}

/// Why a message can never be published, checked before it is sent: such a row is parked, since
/// sending it would only make the broker close the channel (or the connection, for a header over
/// the frame size) again and again.
fn unpublishable(message: &Outgoing) -> Option<String> {
    if message.body.len() > MAX_BODY_BYTES {
        return Some(format!(
            "body of {} bytes is over the {MAX_BODY_BYTES}-byte limit",
            message.body.len()
        ));
    }
    if message.routing_key.len() > HEADER_MAX_BYTES {
        return Some(format!("routing key of {} bytes", message.routing_key.len()));
    }
    None
}

/// A row to publish as one or two messages (an event and its direct reply).
struct Row {
    id: i64,
    messages: Vec<Outgoing>,
}

async fn relay_events(
    pool: &PgPool,
    publisher: &Publisher,
    exchange: &str,
    suspect: &mut Suspect,
) -> Result<(Progress, usize), sqlx::Error> {
    let pending = outbox::pending_events(pool, BATCH).await?;
    let fetched = pending.len();
    let rows = pending
        .into_iter()
        .map(|event| {
            let bytes = serde_json::to_vec(&event.body).unwrap_or_default();
            let mut properties = BasicProperties::default()
                .with_content_type(ShortString::from("application/json"))
                .with_message_id(ShortString::from(event.event_id.to_string()))
                .with_type(ShortString::from(event.event_type.clone()));
            // The trace of the command behind the event continues in whoever consumes it.
            if let Some(traceparent) = event.traceparent {
                let mut headers = FieldTable::default();
                headers.insert(
                    ShortString::from("traceparent"),
                    AMQPValue::LongString(traceparent.into()),
                );
                properties = properties.with_headers(headers);
            }
            let mut messages = vec![Outgoing {
                exchange: exchange.to_owned(),
                routing_key: event.event_type,
                body: bytes.clone(),
                properties: properties.clone(),
            }];
            if let Some(reply_to) = event.reply_to {
                let mut reply_properties = properties;
                if let Some(correlation_id) = event.correlation_id {
                    reply_properties = reply_properties.with_correlation_id(ShortString::from(correlation_id));
                }
                // The default exchange routes by queue name: the direct reply of contract §1.
                messages.push(Outgoing {
                    exchange: String::new(),
                    routing_key: reply_to,
                    body: bytes,
                    properties: reply_properties,
                });
            }
            Row { id: event.id, messages }
        })
        .collect();
    let done = publish_rows(pool, publisher, RelayTable::Outbox, rows, suspect).await?;
    metrics::counter!("bnpl_events_published_total").increment(done as u64);
    Ok((progress(fetched, done), done))
}

async fn relay_dead_letters(
    pool: &PgPool,
    publisher: &Publisher,
    exchange: &str,
    suspect: &mut Suspect,
) -> Result<Progress, sqlx::Error> {
    let pending = outbox::pending_dead_letters(pool, BATCH).await?;
    let fetched = pending.len();
    let rows = pending
        .into_iter()
        .map(|dead| {
            let mut headers = FieldTable::default();
            for (name, value, max) in [
                ("x-bnpl-reason", &dead.reason, HEADER_MAX_BYTES),
                ("x-bnpl-detail", &dead.detail, DETAIL_HEADER_MAX_BYTES),
                ("x-bnpl-routing-key", &dead.routing_key, HEADER_MAX_BYTES),
            ] {
                let bounded = limits::clip(value, max);
                headers.insert(
                    ShortString::from(name),
                    AMQPValue::LongString(LongString::from(bounded)),
                );
            }
            Row {
                id: dead.id,
                messages: vec![Outgoing {
                    exchange: exchange.to_owned(),
                    routing_key: super::topology::DEAD_LETTER_KEY.to_owned(),
                    body: dead.body,
                    properties: BasicProperties::default().with_headers(headers),
                }],
            }
        })
        .collect();
    let done = publish_rows(pool, publisher, RelayTable::DeadLetters, rows, suspect).await?;
    metrics::counter!("bnpl_dead_letters_published_total").increment(done as u64);
    Ok(progress(fetched, done))
}

/// Publishes `rows` in order and marks the confirmed prefix; parks a row that can never be
/// published (checked before sending, or stopping its batch again and again while the broker
/// stays up). Returns how many rows are settled (published or parked).
async fn publish_rows(
    pool: &PgPool,
    publisher: &Publisher,
    table: RelayTable,
    rows: Vec<Row>,
    suspect: &mut Suspect,
) -> Result<usize, sqlx::Error> {
    let mut settled = 0;
    let mut sendable = Vec::with_capacity(rows.len());
    for row in rows {
        match row.messages.iter().find_map(unpublishable) {
            Some(error) => {
                park(pool, table, row.id, &error).await?;
                settled += 1;
            }
            None => sendable.push(row),
        }
    }
    let messages: Vec<Outgoing> = sendable.iter().flat_map(|row| row.messages.iter().cloned()).collect();
    let published = publisher.publish_all(&messages).await;
    // Rows whose every message was confirmed, from the start.
    let mut remaining = published.confirmed;
    let mut confirmed_ids = Vec::with_capacity(sendable.len());
    let mut stopping_row = None;
    for row in &sendable {
        if remaining >= row.messages.len() {
            remaining -= row.messages.len();
            confirmed_ids.push(row.id);
        } else {
            stopping_row = Some(row.id);
            break;
        }
    }
    outbox::mark_published(pool, table, &confirmed_ids).await?;
    settled += confirmed_ids.len();
    if let (Some(id), Some(error)) = (stopping_row, published.error) {
        // An outage stops batches too; only failures while the broker stays connected count, and
        // a nack never does: the broker took the message and refused it for its own state (a
        // queue full with `reject-publish`, a resource alarm), and a parked event would never
        // reach its consumers. It is sent again until the broker takes it.
        if publisher.broker().is_connected() && !published.nacked && suspect.stopped(id) {
            park(pool, table, id, &error).await?;
            *suspect = Suspect::default();
        }
    }
    Ok(settled)
}

async fn park(pool: &PgPool, table: RelayTable, id: i64, error: &str) -> Result<(), sqlx::Error> {
    let error = limits::clip(error, DETAIL_HEADER_MAX_BYTES);
    tracing::error!(table = table.name(), id, %error, "row parked: the broker cannot take it");
    metrics::counter!("bnpl_relay_parked_total", "table" => table.name()).increment(1);
    outbox::park(pool, table, id, &error).await
}

fn progress(fetched: usize, done: usize) -> Progress {
    if done == fetched && fetched as i64 == BATCH {
        Progress::Full
    } else {
        Progress::Partial
    }
}
