//! The outbox relay: publishes committed events to `bnpl.events` (and direct replies to a
//! command's `reply_to`) and dead letters to `bnpl.dlx`, with publisher confirms.
//!
//! Invariants:
//! - one active relay at a time across every process, by a PostgreSQL session advisory lock held
//!   on a dedicated connection (others stand by and take over when its session ends), so events
//!   leave in commit order per payment (design §1 "Events leave in order");
//! - a row is marked published only after the broker confirmed it, and only the confirmed
//!   prefix of a batch is marked: at least once, never out of order;
//! - it wakes on `NOTIFY bnpl_outbox` sent by the committing transaction, and polls as a fallback.

use super::publisher::{Outgoing, Publisher};
use crate::store::outbox::{DEAD_LETTER_NOTICE, NOTIFY_CHANNEL};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::BasicProperties;
use sqlx::postgres::PgListener;
use sqlx::{PgPool, Row as _};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Advisory lock key of the single relay partition ("bnplrely" as bytes).
const RELAY_LOCK_KEY: i64 = 0x626e_706c_7265_6c79;
const BATCH: i64 = 500;
const POLL_INTERVAL: Duration = Duration::from_secs(1);
const RETRY_PAUSE: Duration = Duration::from_millis(500);

/// Runs the relay until `shutdown`.
pub async fn run(pool: PgPool, publisher: Arc<Publisher>, shutdown: CancellationToken) {
    while !shutdown.is_cancelled() {
        if let Err(error) = lead(&pool, &publisher, &shutdown).await {
            tracing::warn!(%error, "outbox relay interrupted; retrying");
        }
        tokio::select! {
            () = tokio::time::sleep(RETRY_PAUSE) => {}
            () = shutdown.cancelled() => return,
        }
    }
}

/// Takes the relay lock (or waits for it) and publishes until shutdown or a database error.
async fn lead(pool: &PgPool, publisher: &Publisher, shutdown: &CancellationToken) -> Result<(), sqlx::Error> {
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
    let topology = publisher.broker().topology().clone();
    let result = async {
        // Dead letters are rare: look for them when one was announced, and on every poll.
        let mut check_dead = true;
        while !shutdown.is_cancelled() {
            let events = relay_events(pool, publisher, &topology.events()).await?;
            let dead = if check_dead {
                relay_dead_letters(pool, publisher, &topology.dead_letter_exchange()).await?
            } else {
                Progress::Partial
            };
            check_dead = dead == Progress::Full;
            if events == Progress::Full || dead == Progress::Full {
                continue;
            }
            // Stuck (broker down) or idle: wait for a commit's notification, the poll, or shutdown.
            tokio::select! {
                notification = listener.recv() => {
                    check_dead |= notification?.payload() == DEAD_LETTER_NOTICE;
                    // A burst of commits is one batch: take every notification already here.
                    while let Some(more) = listener.next_buffered() {
                        check_dead |= more.payload() == DEAD_LETTER_NOTICE;
                    }
                }
                () = tokio::time::sleep(POLL_INTERVAL) => { check_dead = true; }
                () = shutdown.cancelled() => {}
            }
        }
        Ok(())
    }
    .await;
    // Release explicitly; a broken connection releases it anyway when its session ends.
    let _ = sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(RELAY_LOCK_KEY)
        .execute(&mut *lock_connection)
        .await;
    result
}

#[derive(Debug, PartialEq, Eq)]
enum Progress {
    /// A whole batch went out: there may be more right away.
    Full,
    /// Less than a batch, or the broker stopped confirming.
    Partial,
}

async fn relay_events(pool: &PgPool, publisher: &Publisher, exchange: &str) -> Result<Progress, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, event_id, event_type, body, reply_to, correlation_id
         FROM outbox WHERE published_at IS NULL ORDER BY id LIMIT $1",
    )
    .bind(BATCH)
    .fetch_all(pool)
    .await?;
    let mut ids = Vec::with_capacity(rows.len());
    let mut messages = Vec::with_capacity(rows.len());
    // Each row becomes one or two messages; remember which row each message closes.
    let mut closes_row = Vec::with_capacity(rows.len());
    for row in &rows {
        let id: i64 = row.try_get("id")?;
        let event_id: uuid::Uuid = row.try_get("event_id")?;
        let event_type: String = row.try_get("event_type")?;
        let body: serde_json::Value = row.try_get("body")?;
        let reply_to: Option<String> = row.try_get("reply_to")?;
        let correlation_id: Option<String> = row.try_get("correlation_id")?;
        let bytes = serde_json::to_vec(&body).unwrap_or_default();
        let properties = BasicProperties::default()
            .with_content_type(ShortString::from("application/json"))
            .with_message_id(ShortString::from(event_id.to_string()))
            .with_type(ShortString::from(event_type.clone()));
        messages.push(Outgoing {
            exchange: exchange.to_owned(),
            routing_key: event_type,
            body: bytes.clone(),
            properties: properties.clone(),
        });
        closes_row.push(reply_to.is_none());
        if let Some(reply_to) = reply_to {
            let mut reply_properties = properties;
            if let Some(correlation_id) = correlation_id {
                reply_properties = reply_properties.with_correlation_id(ShortString::from(correlation_id));
            }
            // The default exchange routes by queue name: the direct reply of contract §1.
            messages.push(Outgoing {
                exchange: String::new(),
                routing_key: reply_to,
                body: bytes,
                properties: reply_properties,
            });
            closes_row.push(true);
        }
        ids.push(id);
    }
    let confirmed = publisher.publish_all(&messages).await;
    let rows_done = closes_row[..confirmed].iter().filter(|closes| **closes).count();
    mark_published(pool, "outbox", &ids[..rows_done]).await?;
    metrics::counter!("bnpl_events_published_total").increment(rows_done as u64);
    Ok(progress(rows.len(), rows_done))
}

async fn relay_dead_letters(pool: &PgPool, publisher: &Publisher, exchange: &str) -> Result<Progress, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, routing_key, reason, detail, body FROM dead_letters
         WHERE published_at IS NULL ORDER BY id LIMIT $1",
    )
    .bind(BATCH)
    .fetch_all(pool)
    .await?;
    let mut ids = Vec::with_capacity(rows.len());
    let mut messages = Vec::with_capacity(rows.len());
    for row in &rows {
        ids.push(row.try_get::<i64, _>("id")?);
        let mut headers = FieldTable::default();
        for (name, column) in [
            ("x-bnpl-reason", "reason"),
            ("x-bnpl-detail", "detail"),
            ("x-bnpl-routing-key", "routing_key"),
        ] {
            let value: String = row.try_get(column)?;
            headers.insert(ShortString::from(name), AMQPValue::LongString(LongString::from(value)));
        }
        messages.push(Outgoing {
            exchange: exchange.to_owned(),
            routing_key: super::topology::DEAD_LETTER_KEY.to_owned(),
            body: row.try_get("body")?,
            properties: BasicProperties::default().with_headers(headers),
        });
    }
    let confirmed = publisher.publish_all(&messages).await;
    mark_published(pool, "dead_letters", &ids[..confirmed]).await?;
    metrics::counter!("bnpl_dead_letters_published_total").increment(confirmed as u64);
    Ok(progress(rows.len(), confirmed))
}

fn progress(fetched: usize, done: usize) -> Progress {
    if done == fetched && fetched as i64 == BATCH {
        Progress::Full
    } else {
        Progress::Partial
    }
}

async fn mark_published(pool: &PgPool, table: &'static str, ids: &[i64]) -> Result<(), sqlx::Error> {
    if ids.is_empty() {
        return Ok(());
    }
    // `table` is one of two constants, never input.
    sqlx::query(&format!("UPDATE {table} SET published_at = now() WHERE id = ANY($1)"))
        .bind(ids)
        .execute(pool)
        .await?;
    Ok(())
}
