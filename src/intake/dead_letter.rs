//! Recording refused commands: kept with their reason, announced as `command.rejected`, and (for
//! commands that cannot be processed at all) dead-lettered through the relay (contract §1).
//!
//! Invariant: each outcome is one transaction, so the command, its dead letter and its event are
//! committed together or not at all; a redelivery of a command already recorded adds nothing.

use super::envelope::{Envelope, Malformed, ParsedCommand};
use crate::domain::events::Reason;
use crate::domain::limits;
use crate::ledger::journal;
use crate::store::commands::{self, CommandOutcome, NewCommand};
use crate::store::outbox::{DEAD_LETTER_NOTICE, NOTIFY_CHANNEL};
use serde_json::json;
use sqlx::PgPool;

/// Records a malformed command: command row, dead letter and `command.rejected`, in one commit.
pub async fn record(pool: &PgPool, envelope: &Envelope, malformed: &Malformed) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    let body_hash = envelope.body_hash();
    // A redelivery (the broker says so) of a body already dead-lettered from the same message (by
    // its `message_id`, when the publisher set one) is that message again.
    if envelope.redelivered
        && commands::exists(
            &mut tx,
            &envelope.routing_key,
            &body_hash,
            envelope.message_id.as_deref(),
            CommandOutcome::DeadLettered,
        )
        .await?
    {
        return tx.commit().await;
    }
    let command_id = commands::insert(
        &mut tx,
        &NewCommand {
            command_type: &envelope.routing_key,
            subject_id: malformed.subject_id.as_deref(),
            envelope,
            body_hash: &body_hash,
            outcome: CommandOutcome::DeadLettered,
            reason_code: Some(malformed.code),
            reason_message: Some(&malformed.detail),
        },
    )
    .await?;
    sqlx::query(
        "INSERT INTO dead_letters (command_id, routing_key, reason, detail, headers, body)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(command_id)
    .bind(&envelope.routing_key)
    .bind(malformed.code)
    .bind(&malformed.detail)
    .bind(json!({
        "message_id": envelope.message_id,
        "user_id": envelope.user_id,
        "content_type": envelope.content_type,
    }))
    .bind(&envelope.body)
    .execute(&mut *tx)
    .await?;
    // The event names the subject so the sender can correlate it, even an id that failed its
    // syntax, as long as it is short printable text; the `commands` row keeps only valid ids.
    let named = malformed.subject_id.clone().or_else(|| quotable_subject(envelope));
    rejected_event(&mut tx, envelope, named.as_deref(), malformed.code, &malformed.detail).await?;
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(NOTIFY_CHANNEL)
        .bind(DEAD_LETTER_NOTICE)
        .execute(&mut *tx)
        .await?;
    tx.commit().await
}

/// The body's `payment_id` or `refund_id` when it is text of at most [`limits::QUOTE_MAX`]
/// characters with no control character: safe to echo, whatever its syntax.
fn quotable_subject(envelope: &Envelope) -> Option<String> {
    let body: serde_json::Value = serde_json::from_slice(&envelope.body).ok()?;
    let id = body.get(subject_field(&envelope.routing_key))?.as_str()?;
    let printable = limits::forbidden_control(id, false).is_none();
    (printable && id.chars().count() <= limits::QUOTE_MAX).then(|| id.to_owned())
}

/// Refuses a well-formed command (a business refusal: `conflict`, `unknown_account`, …): kept
/// and announced as `command.rejected`, not dead-lettered, because the command itself is fine.
pub async fn refuse(
    pool: &PgPool,
    envelope: &Envelope,
    command: &ParsedCommand,
    code: &str,
    message: &str,
) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    refuse_in(&mut tx, envelope, command, code, message).await?;
    tx.commit().await
}

/// [`refuse`] inside the caller's transaction. A redelivery of a command already refused (the
/// same body, from the same message when it has a `message_id`) adds nothing.
pub async fn refuse_in(
    tx: &mut sqlx::PgConnection,
    envelope: &Envelope,
    command: &ParsedCommand,
    code: &str,
    message: &str,
) -> Result<(), sqlx::Error> {
    let body_hash = envelope.body_hash();
    if envelope.redelivered
        && commands::exists(
            tx,
            command.command_type.as_str(),
            &body_hash,
            envelope.message_id.as_deref(),
            CommandOutcome::Rejected,
        )
        .await?
    {
        return Ok(());
    }
    commands::insert(
        tx,
        &NewCommand {
            command_type: command.command_type.as_str(),
            subject_id: Some(&command.subject_id),
            envelope,
            body_hash: &body_hash,
            outcome: CommandOutcome::Rejected,
            reason_code: Some(code),
            reason_message: Some(message),
        },
    )
    .await?;
    rejected_event(tx, envelope, Some(&command.subject_id), code, message).await
}

async fn rejected_event(
    tx: &mut sqlx::PgConnection,
    envelope: &Envelope,
    subject_id: Option<&str>,
    code: &str,
    message: &str,
) -> Result<(), sqlx::Error> {
    let reason = Reason::new(code, message);
    journal::rejected(tx, &envelope.routing_key, subject_id, reason, envelope.origin()).await
}

/// The field that names a command's subject (an unknown command is assumed to be about a payment).
fn subject_field(routing_key: &str) -> &'static str {
    if routing_key.starts_with("refund.") {
        "refund_id"
    } else {
        "payment_id"
    }
}
