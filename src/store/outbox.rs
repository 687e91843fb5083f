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
