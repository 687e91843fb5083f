//! The `payments` table: creation, row locks, and every status change through the pure state
//! machine (`domain::payment_state`).
//!
//! Invariants:
//! - a change is applied under the payment's row lock (`FOR UPDATE`) and written as a
//!   compare-and-set on the status it was decided from, so two racing answers (a callback and a
//!   status check) produce exactly one final state and one final event;
//! - every announced change increments `last_sequence` and writes exactly one outbox event with
//!   that sequence, in the same transaction, so sequences are gap-free per payment;
//! - final states move only by an operator's `Resolve` (the state machine refuses the rest).

use super::audit::{self, AuditEntry};
use super::outbox::{self, NewEvent};
use crate::domain::payment_state::{self, PaymentEvent, PaymentRefusal, Transition};
use crate::domain::{PaymentStatus, ReviewReason};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use sqlx::PgConnection;

/// Every column the flows read.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PaymentRow {
    pub payment_id: String,
    pub provider: String,
    pub account: String,
    pub flow: String,
    pub amount_minor: i64,
    pub currency: String,
    pub down_payment_minor: i64,
    pub status: String,
    pub review_reason: Option<String>,
    pub command_hash: String,
    pub provider_reference: Option<String>,
    pub provider_request_id: Option<String>,
    pub provider_state: Value,
    pub action: Option<Value>,
    pub reason: Option<Value>,
    pub customer: Value,
    pub items: Value,
    pub description: Option<String>,
    pub return_url: Option<String>,
    pub metadata: Value,
    pub last_sequence: i64,
    pub created_at: DateTime<Utc>,
    pub threshold_at: DateTime<Utc>,
}

impl PaymentRow {
    /// The stored status; the CHECK constraint guarantees it parses.
    pub fn status(&self) -> PaymentStatus {
        self.status.parse().unwrap_or(PaymentStatus::NeedsReview)
    }
}

const COLUMNS: &str = "payment_id, provider, account, flow, amount_minor, currency, down_payment_minor, status,
    review_reason, command_hash, provider_reference, provider_request_id, provider_state, action, reason,
    customer, items, description, return_url, metadata, last_sequence, created_at, threshold_at";

/// A payment to create from `purchase.create`.
pub struct NewPayment<'a> {
    pub payment_id: &'a str,
    pub provider: &'a str,
    pub account: &'a str,
    pub flow: &'a str,
    pub amount_minor: i64,
    pub currency: &'a str,
    pub down_payment_minor: i64,
    pub command_hash: &'a str,
    pub customer: Value,
    pub items: Value,
    pub description: Option<&'a str>,
    pub return_url: Option<&'a str>,
    pub metadata: Value,
    pub threshold_at: DateTime<Utc>,
}

/// Inserts the payment in `accepted` with sequence 1 and its `payment.accepted` event; returns
/// None when the id exists already (the caller compares bodies for `conflict`).
pub async fn create(
    conn: &mut PgConnection,
    new: &NewPayment<'_>,
    reply_to: Option<&str>,
    correlation_id: Option<&str>,
) -> Result<Option<PaymentRow>, sqlx::Error> {
    let row: Option<PaymentRow> = sqlx::query_as(&format!(
        "INSERT INTO payments (payment_id, provider, account, flow, amount_minor, currency, down_payment_minor,
             status, command_hash, customer, items, description, return_url, metadata, threshold_at, last_sequence)
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'accepted', $8, $9, $10, $11, $12, $13, $14, 1)
         ON CONFLICT (payment_id) DO NOTHING
         RETURNING {COLUMNS}"
    ))
    .bind(new.payment_id)
    .bind(new.provider)
    .bind(new.account)
    .bind(new.flow)
    .bind(new.amount_minor)
    .bind(new.currency)
    .bind(new.down_payment_minor)
    .bind(new.command_hash)
    .bind(&new.customer)
    .bind(&new.items)
    .bind(new.description)
    .bind(new.return_url)
    .bind(&new.metadata)
    .bind(new.threshold_at)
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(row) = &row {
        audit::record(
            conn,
            &AuditEntry {
                payment_id: Some(&row.payment_id),
                refund_id: None,
                kind: "transition",
                actor: "intake",
                from_status: None,
                to_status: Some("accepted"),
                reason: Some("purchase.create"),
                detail: json!({}),
            },
        )
        .await?;
        announce(conn, row, "payment.accepted", None, reply_to, correlation_id).await?;
    }
    Ok(row)
}

/// Locks and reads a payment for a change in this transaction.
pub async fn lock(conn: &mut PgConnection, payment_id: &str) -> Result<Option<PaymentRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM payments WHERE payment_id = $1 FOR UPDATE"
    ))
    .bind(payment_id)
    .fetch_optional(conn)
    .await
}

/// Reads a payment without locking it.
pub async fn get(conn: &mut PgConnection, payment_id: &str) -> Result<Option<PaymentRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM payments WHERE payment_id = $1"))
        .bind(payment_id)
        .fetch_optional(conn)
        .await
}

/// A change to apply, with what it brings along.
#[derive(Debug, Clone, Default)]
pub struct Change {
    /// Who or what: `callback:ecommpay`, `job:status_check`, …
    pub actor: &'static str,
    /// Free text for the audit log.
    pub note: Option<String>,
    /// The customer's next step (`action` on the event).
    pub action: Option<Value>,
    /// `{code, message, provider_code, provider_message}` on declines and failures.
    pub reason: Option<Value>,
    pub provider_reference: Option<String>,
    pub provider_request_id: Option<String>,
    /// Merged into `provider_state` (valU transaction id, OTP attempts left, …).
    pub provider_state: Option<Value>,
}

/// What applying an event did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    Moved { from: PaymentStatus, to: PaymentStatus },
    Repeated(PaymentStatus),
    Flagged(ReviewReason),
    Ignored(PaymentStatus),
    Refused(PaymentRefusal),
}

/// Applies `event` to a payment locked in this transaction (see [`lock`]).
pub async fn apply(
    conn: &mut PgConnection,
    row: &PaymentRow,
    event: PaymentEvent,
    change: Change,
) -> Result<Applied, sqlx::Error> {
    let from = row.status();
    let (to, review) = match payment_state::transition(from, &event) {
        Transition::Move(to) => (to, None),
        Transition::Repeat => (from, None),
        Transition::FlagReview { reason } => (from, Some(reason)),
        Transition::Ignore => return Ok(Applied::Ignored(from)),
        Transition::Refuse(refusal) => return Ok(Applied::Refused(refusal)),
    };
    let review_reason = review.map(ReviewReason::as_str).or(match event {
        PaymentEvent::NoDefiniteAnswer => Some(ReviewReason::NoDefiniteAnswer.as_str()),
        PaymentEvent::Contradiction => Some(ReviewReason::Contradiction.as_str()),
        _ => None,
    });
    // The change and its audit entry in one statement (one round trip per state change).
    let updated: Option<PaymentRow> = sqlx::query_as(&format!(
        "WITH updated AS (
             UPDATE payments SET status = $3, last_sequence = last_sequence + 1, updated_at = now(),
                 final_at = CASE WHEN $4 THEN now() ELSE final_at END,
                 review_reason = COALESCE($5, review_reason),
                 action = COALESCE($6, action), reason = COALESCE($7, reason),
                 provider_reference = COALESCE($8, provider_reference),
                 provider_request_id = COALESCE($9, provider_request_id),
                 provider_state = provider_state || COALESCE($10, '{{}}'::jsonb)
             WHERE payment_id = $1 AND status = $2
             RETURNING {COLUMNS}),
         audited AS (
             INSERT INTO audit_log (payment_id, kind, actor, from_status, to_status, reason, detail)
             SELECT payment_id, 'transition', $11, $2, $3, $12, $13 FROM updated)
         SELECT * FROM updated"
    ))
    .bind(&row.payment_id)
    .bind(from.as_str())
    .bind(to.as_str())
    .bind(to.is_final() && to != from)
    .bind(review_reason)
    .bind(&change.action)
    .bind(&change.reason)
    .bind(&change.provider_reference)
    .bind(&change.provider_request_id)
    .bind(&change.provider_state)
    .bind(change.actor)
    .bind(review_reason.or(change.note.as_deref()))
    .bind(json!({ "event": format!("{event:?}"), "note": change.note }))
    .fetch_optional(&mut *conn)
    .await?;
    let Some(updated) = updated else {
        // Only possible without the row lock: someone else moved it first. Nothing to announce.
        return Ok(Applied::Ignored(from));
    };
    let event_type = match review {
        Some(_) => "payment.needs_review".to_owned(),
        None => format!("payment.{}", to.as_str()),
    };
    let extra = review_reason.map(|code| json!({ "reason": { "code": code, "message": change.note } }));
    announce(conn, &updated, &event_type, extra, None, None).await?;
    Ok(match review {
        Some(reason) => Applied::Flagged(reason),
        None if to == from => Applied::Repeated(to),
        None => Applied::Moved { from, to },
    })
}

/// Writes the contract §3 event for the payment's current row and sequence.
async fn announce(
    conn: &mut PgConnection,
    row: &PaymentRow,
    event_type: &str,
    overrides: Option<Value>,
    reply_to: Option<&str>,
    correlation_id: Option<&str>,
) -> Result<(), sqlx::Error> {
    let mut body = json!({
        "payment_id": row.payment_id,
        "provider": row.provider,
        "account": row.account,
        "status": row.status,
        "amount": { "minor": row.amount_minor, "currency": row.currency },
        "action": row.action,
        "provider_reference": row.provider_reference,
        "reason": row.reason,
        "metadata": row.metadata,
    });
    if let (Some(Value::Object(fields)), Some(target)) = (overrides, body.as_object_mut()) {
        target.extend(fields);
    }
    outbox::insert(
        conn,
        NewEvent {
            event_type,
            payment_id: Some(&row.payment_id),
            refund_id: None,
            sequence: Some(row.last_sequence),
            reply_to,
            correlation_id,
            body,
        },
    )
    .await
}
