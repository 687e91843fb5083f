//! The `payments` table: creation, row locks, and every status change through the pure state
//! machine (`domain::payment_state`).
//!
//! Invariants:
//! - a change is applied under the payment's row lock (`FOR UPDATE`) and written as a
//!   compare-and-set on the status it was decided from, so two racing answers (a callback and a
//!   status check) produce exactly one final state and one final event;
//! - every announced change increments `last_sequence` and writes exactly one outbox event with
//!   that sequence, in the same statement ([`super::payment_changes`]), so sequences are
//!   gap-free per payment;
//! - final states move only by an operator's `Resolve` (the state machine refuses the rest).

use super::outbox;
use crate::domain::PaymentStatus;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgConnection;

pub use super::payment_changes::{apply, apply_unlocked, Applied, Change, Extras, RawCallback, ReportedMoney};

/// Every column the flows read.
/// Also deserializable from `to_jsonb(payments)`, for statements that return a payment beside
/// another row.
#[derive(Debug, Clone, sqlx::FromRow, serde::Deserialize)]
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
    // The payment, its audit entry, its first event and the relay's wake-up: one statement.
    sqlx::query_as(&format!(
        "WITH updated AS (
             INSERT INTO payments (payment_id, provider, account, flow, amount_minor, currency, down_payment_minor,
                 status, command_hash, customer, items, description, return_url, metadata, threshold_at, last_sequence)
             VALUES ($1, $2, $3, $4, $5, $6, $7, 'accepted', $8, $9, $10, $11, $12, $13, $14, 1)
             ON CONFLICT (payment_id) DO NOTHING
             RETURNING {COLUMNS}),
         audited AS (
             INSERT INTO audit_log (payment_id, kind, actor, to_status, reason, detail)
             SELECT payment_id, 'transition', 'intake', 'accepted', 'purchase.create', '{{}}'::jsonb FROM updated),
         announced AS (
             INSERT INTO outbox (event_id, event_type, payment_id, sequence, reply_to, correlation_id, body)
             SELECT $15, 'payment.accepted', payment_id, last_sequence, $16, $17, {body} || {envelope}
             FROM updated)
         SELECT updated.*, pg_notify($18, '')::text AS woken FROM updated",
        body = super::payment_changes::EVENT_BODY,
        envelope = outbox::envelope_sql("$15", "'payment.accepted'", "last_sequence"),
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
    .bind(uuid::Uuid::now_v7())
    .bind(reply_to)
    .bind(correlation_id)
    .bind(outbox::NOTIFY_CHANNEL)
    .fetch_optional(&mut *conn)
    .await
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
