//! The transactional outbox (contract §1): the ledger inserts each event with the state change it
//! announces; the relay reads here what to publish, marks what the broker confirmed, and parks
//! what it can never take.
//!
//! Invariant: the stored body is the complete event as published (the typed event of
//! `domain::events`, with its `event_id`, `occurred_at` and `sequence`), so a replay publishes
//! byte-for-byte the same event.

use serde_json::Value;

/// The LISTEN/NOTIFY channel that wakes the relay after a commit that wrote events.
pub const NOTIFY_CHANNEL: &str = "bnpl_outbox";
/// The notification payload that says a dead letter is waiting too.
pub const DEAD_LETTER_NOTICE: &str = "dead";

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
    /// The W3C trace context of the command behind the event.
    pub traceparent: Option<String>,
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
        "SELECT id, event_id, event_type, body, reply_to, correlation_id, traceparent
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
///
/// The mark commits without waiting for its WAL flush (`synchronous_commit` off for this one
/// transaction, set from inside the statement so it stays one round trip): the relay reads its
/// next batch at once instead of after a disk flush, and the flush is not one more in the queue
/// of the commits that matter. A mark lost to a crash only publishes its rows again, which the
/// contract allows (at least once; consumers dedupe by `event_id`).
pub async fn mark_published(pool: &sqlx::PgPool, table: RelayTable, ids: &[i64]) -> Result<(), sqlx::Error> {
    if ids.is_empty() {
        return Ok(());
    }
    // `table` names one of two constants, never input.
    sqlx::query(&format!(
        "UPDATE {} SET published_at = now()
         FROM (SELECT set_config('synchronous_commit', 'off', true)) AS asynchronous
         WHERE id = ANY($1)",
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
