//! Refund queues as ops see them (head, depth, age of the head), and the two manual refund
//! actions: recording the outcome of a stuck head, and cancelling a queued refund.
//!
//! Invariants (design §1): a stuck head is released only by recording its outcome, through the
//! domain machine (`RefundEvent::Release`), never skipped; only a queued refund can be cancelled.
//! Each action is the ledger's change (one compare-and-set with its audit row and its event), and
//! wakes the queue runner so the next refund goes out at once.

use crate::domain::{RefundEvent, RefundRefusal, RefundStatus};
use crate::ledger::{self, RefundApplied};
use crate::store::refunds;
use serde::Serialize;
use sqlx::{FromRow, PgPool};
use utoipa::ToSchema;

use super::history::{RefundEntry, REFUND_COLUMNS};

/// A refund queue: its head (the refund that blocks it, or the next to go) and depth.
#[derive(Debug, Clone, Serialize, FromRow, ToSchema)]
pub struct QueueView {
    pub queue_key: String,
    pub provider: String,
    pub account: String,
    /// Refunds not yet final: queued, in flight, needs review.
    pub depth: i64,
    pub head_refund_id: Option<String>,
    pub head_status: Option<String>,
    /// Seconds since the head was sent (or, while queued, accepted).
    pub head_age_seconds: Option<f64>,
}

/// Every refund queue with its head and depth.
pub async fn queues(pool: &PgPool) -> Result<Vec<QueueView>, sqlx::Error> {
    sqlx::query_as(
        "SELECT q.queue_key, q.provider, q.account,
                (SELECT count(*) FROM refunds r
                  WHERE r.queue_key = q.queue_key
                    AND r.status IN ('queued', 'in_flight', 'needs_review')) AS depth,
                h.refund_id AS head_refund_id, h.status AS head_status,
                EXTRACT(EPOCH FROM now() - COALESCE(h.submitted_at, h.created_at))::float8
                    AS head_age_seconds
         FROM refund_queues q
         LEFT JOIN LATERAL (
             SELECT refund_id, status, submitted_at, created_at FROM refunds r
             WHERE r.queue_key = q.queue_key AND r.status IN ('queued', 'in_flight', 'needs_review')
             -- The one in flight (or in review) is the head; otherwise the lowest position.
             ORDER BY (r.status = 'queued'), r.position
             LIMIT 1) h ON TRUE
         ORDER BY q.queue_key",
    )
    .fetch_all(pool)
    .await
}

/// Refunds, newest first, optionally only those of one status.
pub async fn list(pool: &PgPool, status: Option<RefundStatus>, limit: i64) -> Result<Vec<RefundEntry>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {REFUND_COLUMNS} FROM refunds r
         WHERE ($1::text IS NULL OR r.status = $1)
         ORDER BY r.created_at DESC, r.refund_id DESC LIMIT $2"
    ))
    .bind(status.map(RefundStatus::as_str))
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// Refunds an operator must look at: in `needs_review` (each blocks its queue), or closed and
/// flagged (a provider reported one we declined as succeeded: it still counts against its
/// payment's balance), oldest change first.
pub async fn in_review(pool: &PgPool) -> Result<Vec<RefundEntry>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {REFUND_COLUMNS} FROM refunds r
         WHERE r.status = 'needs_review' OR r.review_reason IS NOT NULL
         ORDER BY r.updated_at, r.refund_id LIMIT 1000"
    ))
    .fetch_all(pool)
    .await
}

/// Why a refund action was not carried out.
#[derive(Debug, thiserror::Error)]
pub enum RefundActionError {
    #[error("no such refund")]
    NotFound,
    #[error(transparent)]
    Refused(#[from] RefundRefusal),
    #[error("the refund is already in that state")]
    AlreadyDone,
    #[error("the refund changed while the request was processed; look again and retry")]
    Conflict,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// What a refund action did.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RefundChange {
    pub refund_id: String,
    pub payment_id: String,
    pub from: String,
    pub to: String,
    /// Sum of the payment's succeeded refunds after the change, in minor units.
    pub refunded_total_minor: i64,
}

/// Applies an operator's `event` (`Release` or `Cancel`) to `refund_id`, as `actor`, through the
/// ledger (the operator's words are the event's reason, the actor its `resolved_by`).
pub async fn apply(
    pool: &PgPool,
    refund_id: &str,
    event: RefundEvent,
    reason: &str,
    actor: &str,
) -> Result<RefundChange, RefundActionError> {
    let mut conn = pool.acquire().await?;
    let refund = refunds::get(&mut conn, refund_id)
        .await?
        .ok_or(RefundActionError::NotFound)?;
    let change = ledger::RefundChange {
        operator_reason: Some(reason.to_owned()),
        ..ledger::RefundChange::by(actor)
    };
    let (applied, after) = ledger::refund::apply(&mut conn, &refund, event, &change).await?;
    let (from, to) = match applied {
        RefundApplied::Moved { from, to } => (from, to),
        RefundApplied::Refused(refusal) => return Err(refusal.into()),
        RefundApplied::Ignored => return Err(RefundActionError::AlreadyDone),
        RefundApplied::Stayed | RefundApplied::Flagged(_) => return Err(RefundActionError::Conflict),
    };
    let refunded_total_minor = refunds::succeeded_total(&mut conn, &after.payment_id).await?;
    Ok(RefundChange {
        refund_id: refund_id.to_owned(),
        payment_id: after.payment_id,
        from: from.as_str().to_owned(),
        to: to.as_str().to_owned(),
        refunded_total_minor,
    })
}
