//! The transactional outbox (contract §1): events are inserted in the same transaction as the
//! state change they announce, then published by the relay with confirms.
//!
//! Invariant: the stored body is the complete event as published (with its `event_id`,
//! `occurred_at` and `sequence`), so a replay publishes byte-for-byte the same event.

use serde_json::{json, Value};
use sqlx::PgConnection;

/// The LISTEN/NOTIFY channel that wakes the relay after a commit that wrote events.
pub const NOTIFY_CHANNEL: &str = "bnpl_outbox";
/// The notification payload that says a dead letter is waiting too.
pub const DEAD_LETTER_NOTICE: &str = "dead";

/// An event to announce.
pub struct NewEvent<'a> {
    pub event_type: &'a str,
    pub payment_id: Option<&'a str>,
    pub refund_id: Option<&'a str>,
    /// The payment's event sequence number, when the event belongs to a payment.
    pub sequence: Option<i64>,
    pub reply_to: Option<&'a str>,
    pub correlation_id: Option<&'a str>,
    /// The event's own fields; the envelope fields are added here.
    pub body: Value,
}

/// The envelope fields of an event built in SQL (`event_id`, `type`, `sequence`, `occurred_at`),
/// from SQL expressions; the same fields, in the same formats, as [`insert`] adds. Statements that
/// write a change and its event together build the body from the changed row and append this.
pub fn envelope_sql(event_id: &str, event_type: &str, sequence: &str) -> String {
    format!(
        "jsonb_build_object('event_id', {event_id}, 'type', {event_type}, 'sequence', {sequence},
            'occurred_at', to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'))"
    )
}

/// Inserts the event and notifies the relay (the notification is delivered at commit).
pub async fn insert(conn: &mut PgConnection, event: NewEvent<'_>) -> Result<(), sqlx::Error> {
    let event_id = uuid::Uuid::now_v7();
    let mut body = json!({
        "event_id": event_id,
        "type": event.event_type,
        "occurred_at": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    });
    if let Some(sequence) = event.sequence {
        body["sequence"] = json!(sequence);
    }
    if let (Some(target), Value::Object(fields)) = (body.as_object_mut(), event.body) {
        for (key, value) in fields {
            target.entry(key).or_insert(value);
        }
    }
    // One round trip: the insert and the relay's wake-up (delivered at commit) in one statement.
    sqlx::query(
        "WITH inserted AS (
             INSERT INTO outbox (event_id, event_type, payment_id, refund_id, sequence, reply_to, correlation_id, body)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             RETURNING id)
         SELECT pg_notify($9, '') FROM inserted",
    )
    .bind(event_id)
    .bind(event.event_type)
    .bind(event.payment_id)
    .bind(event.refund_id)
    .bind(event.sequence)
    .bind(event.reply_to)
    .bind(event.correlation_id)
    .bind(&body)
    .bind(NOTIFY_CHANNEL)
    .execute(conn)
    .await?;
    Ok(())
}

/// The two tables the relay publishes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelayTable {
    Outbox,
    DeadLetters,
}

impl RelayTable {
    pub fn name(self) -> &'static str {
        match self {
            RelayTable::Outbox => "outbox",
            RelayTable::DeadLetters => "dead_letters",
        }
    }
}

/// An event waiting to be published.
#[derive(Debug, sqlx::FromRow)]
pub struct PendingEvent {
    pub id: i64,
    pub event_id: uuid::Uuid,
    pub event_type: String,
    pub body: Value,
    pub reply_to: Option<String>,
    pub correlation_id: Option<String>,
}

/// A dead letter waiting to be published to the dead-letter exchange.
#[derive(Debug, sqlx::FromRow)]
pub struct PendingDeadLetter {
    pub id: i64,
    pub routing_key: String,
    pub reason: String,
    pub detail: String,
    pub body: Vec<u8>,
}

/// The oldest unpublished events, in commit order; parked rows are skipped.
pub async fn pending_events(pool: &sqlx::PgPool, limit: i64) -> Result<Vec<PendingEvent>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, event_id, event_type, body, reply_to, correlation_id
         FROM outbox WHERE published_at IS NULL AND parked_at IS NULL ORDER BY id LIMIT $1",
    )
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// The oldest unpublished dead letters; parked and purged ones are never published.
pub async fn pending_dead_letters(pool: &sqlx::PgPool, limit: i64) -> Result<Vec<PendingDeadLetter>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, routing_key, reason, detail, body FROM dead_letters
         WHERE published_at IS NULL AND parked_at IS NULL AND purged_at IS NULL ORDER BY id LIMIT $1",
    )
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// Marks rows the broker confirmed.
pub async fn mark_published(pool: &sqlx::PgPool, table: RelayTable, ids: &[i64]) -> Result<(), sqlx::Error> {
    if ids.is_empty() {
        return Ok(());
    }
    // `table` names one of two constants, never input.
    sqlx::query(&format!(
        "UPDATE {} SET published_at = now() WHERE id = ANY($1)",
        table.name()
    ))
    .bind(ids)
    .execute(pool)
    .await?;
    Ok(())
}

/// Parks a row the broker can never take, with the reason; the relay will not try it again.
pub async fn park(pool: &sqlx::PgPool, table: RelayTable, id: i64, error: &str) -> Result<(), sqlx::Error> {
    sqlx::query(&format!(
        "UPDATE {} SET parked_at = now(), publish_error = $2 WHERE id = $1 AND published_at IS NULL",
        table.name()
    ))
    .bind(id)
    .bind(error)
    .execute(pool)
    .await?;
    Ok(())
}
