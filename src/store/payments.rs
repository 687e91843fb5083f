//! The `payments` table, read: rows, row locks. Every change (creation included) is the ledger's
//! (`crate::ledger::payment`): a compare-and-set on the status and sequence it was decided from,
//! with its audit row and typed event in the same statement.

use crate::domain::PaymentStatus;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgConnection;

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
    /// The sum of the payment's succeeded refunds, in minor units.
    #[serde(default)]
    pub refunded_minor: i64,
    pub created_at: DateTime<Utc>,
    pub threshold_at: DateTime<Utc>,
    /// `orchestrator`, or `external`: made outside us and adopted from a callback; its state
    /// comes only from status queries (issue 20).
    #[serde(default = "orchestrator")]
    pub origin: String,
}

fn orchestrator() -> String {
    ORIGIN_ORCHESTRATOR.to_owned()
}

/// A payment created from a `purchase.create`.
pub const ORIGIN_ORCHESTRATOR: &str = "orchestrator";
/// A payment made outside the orchestrator, adopted from a verified callback.
pub const ORIGIN_EXTERNAL: &str = "external";

impl PaymentRow {
    /// Whether the payment was made outside the orchestrator (its state comes from status
    /// queries only).
    pub fn is_external(&self) -> bool {
        self.origin == ORIGIN_EXTERNAL
    }

    /// The stored status; the CHECK constraint guarantees it parses.
    pub fn status(&self) -> PaymentStatus {
        self.status.parse().unwrap_or(PaymentStatus::NeedsReview)
    }
}

pub(crate) const COLUMNS: &str =
    "payment_id, provider, account, flow, amount_minor, currency, down_payment_minor, status,
    review_reason, command_hash, provider_reference, provider_request_id, provider_state, action, reason,
    customer, items, description, return_url, metadata, last_sequence, refunded_minor, created_at, threshold_at, origin";

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

/// Locks and reads a payment for a change in this transaction. `FOR NO KEY UPDATE`, the lock an
/// `UPDATE` of the row takes itself: it excludes every other writer, yet lets through the
/// foreign-key checks of rows that reference the payment (jobs, refunds, audit rows), which a
/// `FOR UPDATE` would block. Blocking them closed a deadlock: a refund's callback scheduling its
/// check (dedupe key, then the payment's key-share) against the send job's transaction holding
/// the payment and scheduling the same check (payment, then dedupe key). No statement changes a
/// payment's id or deletes a payment.
pub async fn lock(conn: &mut PgConnection, payment_id: &str) -> Result<Option<PaymentRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM payments WHERE payment_id = $1 FOR NO KEY UPDATE"
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

/// The payments of `payment_ids` that exist, in one statement.
pub async fn get_many(conn: &mut PgConnection, payment_ids: &[String]) -> Result<Vec<PaymentRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM payments WHERE payment_id = ANY($1)"))
        .bind(payment_ids)
        .fetch_all(conn)
        .await
}
