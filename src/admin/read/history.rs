//! One payment with its full history, for the admin API's payment page and the dashboard: the
//! row itself, its refunds, every audit log entry (transitions, callbacks, provider calls,
//! resolutions), every event in the outbox, every stored callback and every job.
//!
//! Invariant: read-only. Callback bodies are returned as text (lossy UTF-8) and are `null` once
//! the retention job purged them.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::{FromRow, PgPool, Row as _};
use utoipa::ToSchema;

use super::payments::{PaymentSummary, SUMMARY_COLUMNS};

/// A payment and everything recorded about it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PaymentDetail {
    #[serde(flatten)]
    pub summary: PaymentSummary,
    pub down_payment_minor: i64,
    /// Personal data: masked by the retention job once older than the retention period.
    pub customer: Value,
    pub items: Value,
    pub description: Option<String>,
    pub metadata: Value,
    pub action: Option<Value>,
    pub reason: Option<Value>,
    pub provider_state: Value,
    pub personal_data_purged_at: Option<DateTime<Utc>>,
    pub refunds: Vec<RefundEntry>,
    pub audit: Vec<AuditEntry>,
    pub events: Vec<EventEntry>,
    pub callbacks: Vec<CallbackEntry>,
    pub jobs: Vec<JobEntry>,
}

/// A refund of the payment.
#[derive(Debug, Clone, Serialize, FromRow, ToSchema)]
pub struct RefundEntry {
    pub refund_id: String,
    pub payment_id: String,
    pub queue_key: String,
    pub position: i64,
    pub amount_minor: i64,
    pub currency: String,
    pub status: String,
    pub review_reason: Option<String>,
    pub reason: Option<String>,
    pub requested_by: String,
    pub provider_reference: Option<String>,
    pub created_at: DateTime<Utc>,
    pub submitted_at: Option<DateTime<Utc>>,
    pub final_at: Option<DateTime<Utc>>,
}

/// Columns of [`RefundEntry`].
pub const REFUND_COLUMNS: &str = "r.refund_id, r.payment_id, r.queue_key, r.position, \
    r.amount_minor, r.currency, r.status, r.review_reason, r.reason, r.requested_by, \
    r.provider_reference, r.created_at, r.submitted_at, r.final_at";

/// An audit log entry: a transition, callback, provider call, resolution, command or note.
#[derive(Debug, Clone, Serialize, FromRow, ToSchema)]
pub struct AuditEntry {
    pub id: i64,
    pub refund_id: Option<String>,
    pub kind: String,
    pub actor: String,
    pub from_status: Option<String>,
    pub to_status: Option<String>,
    pub reason: Option<String>,
    pub detail: Value,
    pub at: DateTime<Utc>,
}

/// An event announced (or still to be announced) for the payment.
#[derive(Debug, Clone, Serialize, FromRow, ToSchema)]
pub struct EventEntry {
    pub event_id: uuid::Uuid,
    pub event_type: String,
    pub sequence: Option<i64>,
    pub refund_id: Option<String>,
    pub created_at: DateTime<Utc>,
    /// Null while the relay has not published it (yet, or again after a replay).
    pub published_at: Option<DateTime<Utc>>,
    /// The event exactly as published.
    pub body: Value,
}

/// A callback received for the payment.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CallbackEntry {
    pub id: i64,
    pub provider: String,
    pub received_at: DateTime<Utc>,
    pub verified: bool,
    pub outcome: Option<String>,
    pub content_type: Option<String>,
    /// The raw body as text; null once purged by retention.
    pub body: Option<String>,
    pub body_purged_at: Option<DateTime<Utc>>,
}

/// A job of the payment (status checks, provider calls, expiries).
#[derive(Debug, Clone, Serialize, FromRow, ToSchema)]
pub struct JobEntry {
    pub id: i64,
    pub kind: String,
    pub state: String,
    pub payment_id: Option<String>,
    pub refund_id: Option<String>,
    pub available_at: DateTime<Utc>,
    pub attempts: i32,
    pub max_attempts: i32,
    pub last_error: Option<String>,
    pub updated_at: DateTime<Utc>,
}

/// Columns of [`JobEntry`].
pub const JOB_COLUMNS: &str =
    "id, kind, state, payment_id, refund_id, available_at, attempts, max_attempts, last_error, updated_at";

/// The payment with its history, or None when there is no such payment.
pub async fn detail(pool: &PgPool, payment_id: &str) -> Result<Option<PaymentDetail>, sqlx::Error> {
    let row = sqlx::query(&format!(
        "SELECT {SUMMARY_COLUMNS}, p.down_payment_minor, p.customer, p.items, p.description,
                p.metadata, p.action, p.reason, p.provider_state, p.personal_data_purged_at
         FROM payments p WHERE p.payment_id = $1"
    ))
    .bind(payment_id)
    .fetch_optional(pool)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let summary = PaymentSummary::from_row(&row)?;
    let refunds = sqlx::query_as(&format!(
        "SELECT {REFUND_COLUMNS} FROM refunds r WHERE r.payment_id = $1 ORDER BY r.created_at, r.refund_id"
    ))
    .bind(payment_id)
    .fetch_all(pool)
    .await?;
    let audit = sqlx::query_as(
        "SELECT id, refund_id, kind, actor, from_status, to_status, reason, detail, at
         FROM audit_log WHERE payment_id = $1 ORDER BY id",
    )
    .bind(payment_id)
    .fetch_all(pool)
    .await?;
    let events = sqlx::query_as(
        "SELECT event_id, event_type, sequence, refund_id, created_at, published_at, body
         FROM outbox WHERE payment_id = $1 ORDER BY id",
    )
    .bind(payment_id)
    .fetch_all(pool)
    .await?;
    let callbacks = sqlx::query(
        "SELECT id, provider, received_at, verified, outcome, content_type, body, body_purged_at
         FROM inbound_callbacks WHERE payment_id = $1 ORDER BY received_at, id",
    )
    .bind(payment_id)
    .fetch_all(pool)
    .await?
    .iter()
    .map(|row| {
        let body: Option<Vec<u8>> = row.try_get("body")?;
        Ok(CallbackEntry {
            id: row.try_get("id")?,
            provider: row.try_get("provider")?,
            received_at: row.try_get("received_at")?,
            verified: row.try_get("verified")?,
            outcome: row.try_get("outcome")?,
            content_type: row.try_get("content_type")?,
            body: body.map(|bytes| String::from_utf8_lossy(&bytes).into_owned()),
            body_purged_at: row.try_get("body_purged_at")?,
        })
    })
    .collect::<Result<_, sqlx::Error>>()?;
    let jobs = sqlx::query_as(&format!(
        "SELECT {JOB_COLUMNS} FROM jobs WHERE payment_id = $1 ORDER BY id"
    ))
    .bind(payment_id)
    .fetch_all(pool)
    .await?;
    Ok(Some(PaymentDetail {
        summary,
        down_payment_minor: row.try_get("down_payment_minor")?,
        customer: row.try_get("customer")?,
        items: row.try_get("items")?,
        description: row.try_get("description")?,
        metadata: row.try_get("metadata")?,
        action: row.try_get("action")?,
        reason: row.try_get("reason")?,
        provider_state: row.try_get("provider_state")?,
        personal_data_purged_at: row.try_get("personal_data_purged_at")?,
        refunds,
        audit,
        events,
        callbacks,
        jobs,
    }))
}
