//! The journal's statements: audit notes, `command.rejected` into the outbox, replays.

use super::journal::Note;
use crate::domain::events::Event;
use crate::store::outbox;
use serde_json::json;
use sqlx::PgConnection;

pub(super) async fn note(conn: &mut PgConnection, note: &Note<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO audit_log (payment_id, refund_id, kind, actor, reason, detail)
         VALUES ($1, $2, 'note', $3, $4, $5)",
    )
    .bind(note.payment_id)
    .bind(note.refund_id)
    .bind(note.actor)
    .bind(note.reason)
    .bind(&note.detail)
    .execute(conn)
    .await?;
    Ok(())
}

/// Stores an event that belongs to no payment (no sequence): `command.rejected`, `account.*`.
pub(super) async fn unsequenced(
    conn: &mut PgConnection,
    event: &Event,
    origin: super::Origin<'_>,
) -> Result<(), sqlx::Error> {
    let envelope = event.envelope();
    sqlx::query(
        "WITH inserted AS (
             INSERT INTO outbox (event_id, event_type, reply_to, correlation_id, body, traceparent)
             VALUES ($1, $2, $3, $4, $5, $7)
             RETURNING id)
         SELECT pg_notify($6, '') FROM inserted",
    )
    .bind(envelope.event_id)
    .bind(envelope.event_type.as_str())
    .bind(origin.reply_to)
    .bind(origin.correlation_id)
    .bind(event.to_json())
    .bind(outbox::NOTIFY_CHANNEL)
    .bind(origin.traceparent)
    .execute(conn)
    .await?;
    Ok(())
}

pub(super) async fn replay_events(conn: &mut PgConnection, payment_id: &str, actor: &str) -> Result<u64, sqlx::Error> {
    let replayed = sqlx::query("UPDATE outbox SET published_at = NULL WHERE payment_id = $1")
        .bind(payment_id)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    sqlx::query(
        "INSERT INTO audit_log (payment_id, kind, actor, detail)
         SELECT $1, 'note', $2, $3 FROM (SELECT pg_notify($4, '')) woken",
    )
    .bind(payment_id)
    .bind(actor)
    .bind(json!({ "action": "replay_events", "events": replayed }))
    .bind(outbox::NOTIFY_CHANNEL)
    .execute(conn)
    .await?;
    Ok(replayed)
}
