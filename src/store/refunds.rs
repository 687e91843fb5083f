//! The `refunds` and `refund_queues` tables: the strictly sequential refund queue per provider
//! account (design §1; contract §2).
//!
//! Invariants:
//! - a refund's queue position is taken under the queue row's lock in the transaction that
//!   accepts it, so positions are the order of acceptance;
//! - the balance check and the enqueue happen under the payment's row lock, so concurrent
//!   partial refunds can never exceed the captured amount;
//! - at most one refund per queue is `in_flight` or `needs_review`: the unique partial index
//!   `refunds_one_in_flight_per_queue` enforces it for every process at once, and [`super::refund_promote`]
//!   only ever promotes the lowest queued position when nothing else is in flight;
//! - every refund status change is the ledger's (`crate::ledger::refund`): a compare-and-set
//!   through `domain::refund_state` with one event numbered in the payment's sequence; this file
//!   reads refunds and keeps provider ids that change no status.

use super::payments::PaymentRow;
use crate::domain::RefundStatus;
use chrono::{DateTime, Utc};
use sqlx::PgConnection;

/// The channel that wakes refund dispatchers: the payload is the queue key that was freed.
pub const NOTIFY_CHANNEL: &str = "bnpl_refunds";

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RefundRow {
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
    pub provider_request_id: Option<String>,
    pub provider_reference: Option<String>,
    pub attempts: i32,
    pub created_at: DateTime<Utc>,
    pub submitted_at: Option<DateTime<Utc>>,
}

impl RefundRow {
    pub fn status(&self) -> RefundStatus {
        self.status.parse().unwrap_or(RefundStatus::NeedsReview)
    }
}

pub(crate) const COLUMNS: &str =
    "refund_id, payment_id, queue_key, position, amount_minor, currency, status, review_reason, reason,
    requested_by, provider_request_id, provider_reference, attempts, created_at, submitted_at";
/// [`COLUMNS`] of the refund aliased `r`.
const COLUMNS_R: &str =
    "r.refund_id, r.payment_id, r.queue_key, r.position, r.amount_minor, r.currency, r.status, r.review_reason,
    r.reason, r.requested_by, r.provider_request_id, r.provider_reference, r.attempts, r.created_at, r.submitted_at";

/// A refund to enqueue.
pub struct NewRefund<'a> {
    pub refund_id: &'a str,
    pub payment_id: &'a str,
    pub provider: &'a str,
    pub account: &'a str,
    pub queue_key: &'a str,
    pub amount_minor: i64,
    pub currency: &'a str,
    pub reason: Option<&'a str>,
    pub requested_by: &'a str,
}

/// Takes the next position of `queue_key` (creating the queue on its first refund). The queue
/// row stays locked until the caller's transaction ends, so positions are the order of
/// acceptance.
pub async fn take_position(
    conn: &mut PgConnection,
    queue_key: &str,
    provider: &str,
    account: &str,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO refund_queues (queue_key, provider, account, next_position) VALUES ($1, $2, $3, 2)
         ON CONFLICT (queue_key) DO UPDATE SET next_position = refund_queues.next_position + 1
         RETURNING next_position - 1",
    )
    .bind(queue_key)
    .bind(provider)
    .bind(account)
    .fetch_one(conn)
    .await
}

/// The queue's head when nothing of the queue is in flight or in review, with its payment.
pub async fn free_head(
    conn: &mut PgConnection,
    queue_key: &str,
) -> Result<Option<(RefundRow, PaymentRow)>, sqlx::Error> {
    #[derive(sqlx::FromRow)]
    struct Head {
        #[sqlx(flatten)]
        refund: RefundRow,
        payment: sqlx::types::Json<PaymentRow>,
    }
    let head: Option<Head> = sqlx::query_as(&format!(
        "SELECT {COLUMNS_R}, to_jsonb(p) AS payment FROM refunds r JOIN payments p ON p.payment_id = r.payment_id
         WHERE r.queue_key = $1 AND r.status = 'queued'
           AND NOT EXISTS (SELECT 1 FROM refunds WHERE queue_key = $1 AND status IN ('in_flight', 'needs_review'))
         ORDER BY r.position LIMIT 1",
        COLUMNS_R = COLUMNS_R,
    ))
    .bind(queue_key)
    .fetch_optional(conn)
    .await?;
    Ok(head.map(|head| (head.refund, head.payment.0)))
}

/// Keeps what a provider told us about a refund that stays in flight (its request id); no status
/// changes, so nothing is announced.
pub async fn record_provider_ids(
    conn: &mut PgConnection,
    refund: &RefundRow,
    request_id: &Option<String>,
    reference: &Option<String>,
) -> Result<(), sqlx::Error> {
    if request_id.is_none() && reference.is_none() {
        return Ok(());
    }
    sqlx::query(
        "UPDATE refunds SET provider_request_id = COALESCE($2, provider_request_id),
             provider_reference = COALESCE($3, provider_reference), updated_at = now()
         WHERE refund_id = $1",
    )
    .bind(&refund.refund_id)
    .bind(request_id)
    .bind(reference)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn get(conn: &mut PgConnection, refund_id: &str) -> Result<Option<RefundRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM refunds WHERE refund_id = $1"))
        .bind(refund_id)
        .fetch_optional(conn)
        .await
}

/// Every refund of a payment (for the balance check and the refunded totals).
pub async fn of_payment(conn: &mut PgConnection, payment_id: &str) -> Result<Vec<RefundRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM refunds WHERE payment_id = $1 ORDER BY position"
    ))
    .bind(payment_id)
    .fetch_all(conn)
    .await
}

/// The refund of a payment that is in flight (or blocked in review), if any.
pub async fn in_flight_of_payment(conn: &mut PgConnection, payment_id: &str) -> Result<Option<RefundRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM refunds WHERE payment_id = $1 AND status IN ('in_flight', 'needs_review')"
    ))
    .bind(payment_id)
    .fetch_optional(conn)
    .await
}

/// The refund of a payment that the provider registered under `request_id`, if any.
pub async fn by_request_id(
    conn: &mut PgConnection,
    payment_id: &str,
    request_id: &str,
) -> Result<Option<RefundRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM refunds WHERE payment_id = $1 AND provider_request_id = $2"
    ))
    .bind(payment_id)
    .bind(request_id)
    .fetch_optional(conn)
    .await
}

/// Sum of succeeded refunds of a payment, in minor units.
pub async fn succeeded_total(conn: &mut PgConnection, payment_id: &str) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT COALESCE(sum(amount_minor), 0)::bigint FROM refunds WHERE payment_id = $1 AND status = 'succeeded'",
    )
    .bind(payment_id)
    .fetch_one(conn)
    .await
}

/// The provider request ids of the other refunds of a payment (to tell which reported operation
/// can be a refund whose own request id we never learned).
pub async fn request_ids_of_others(
    conn: &mut PgConnection,
    payment_id: &str,
    refund_id: &str,
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT provider_request_id FROM refunds
         WHERE payment_id = $1 AND refund_id <> $2 AND provider_request_id IS NOT NULL",
    )
    .bind(payment_id)
    .bind(refund_id)
    .fetch_all(conn)
    .await
}

/// Queues that have refunds waiting (the dispatcher's fallback poll).
pub async fn queues_with_waiting(conn: &mut PgConnection) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT DISTINCT queue_key FROM refunds WHERE status = 'queued'")
        .fetch_all(conn)
        .await
}
