//! Refund queues as ops see them (head, depth, age of the head), and the two manual refund
//! actions: recording the outcome of a stuck head, and cancelling a queued refund.
//!
//! Invariants (design §1): a stuck head is released only by recording its outcome, through the
//! domain machine (`RefundEvent::Release`), never skipped; only a queued refund can be cancelled.
//! Each action is one compare-and-set with its audit row and its event, and wakes the queue
//! runner so the next refund goes out at once.

use crate::domain::{refund_state, RefundEvent, RefundRefusal, RefundStatus, RefundTransition};
use crate::store::outbox::{self, NewEvent};
use serde::Serialize;
use serde_json::json;
use sqlx::{FromRow, PgPool, Row as _};
use utoipa::ToSchema;

use super::admin_history::{RefundEntry, REFUND_COLUMNS};

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

/// Applies an operator's `event` (`Release` or `Cancel`) to `refund_id`, as `actor`.
pub async fn apply(
    pool: &PgPool,
    refund_id: &str,
    event: RefundEvent,
    reason: &str,
    actor: &str,
) -> Result<RefundChange, RefundActionError> {
    let mut tx = pool.begin().await?;
    let row = sqlx::query("SELECT status, payment_id FROM refunds WHERE refund_id = $1")
        .bind(refund_id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(RefundActionError::NotFound)?;
    let from_text: String = row.try_get("status")?;
    let payment_id: String = row.try_get("payment_id")?;
    let from: RefundStatus = from_text.parse().map_err(|_| RefundActionError::Conflict)?;
    let to = match refund_state::transition(from, &event) {
        RefundTransition::Move(to) => to,
        RefundTransition::Refuse(refusal) => return Err(refusal.into()),
        RefundTransition::Ignore => return Err(RefundActionError::AlreadyDone),
        RefundTransition::Stay | RefundTransition::FlagReview { .. } => return Err(RefundActionError::Conflict),
    };
    let updated = sqlx::query(
        "UPDATE refunds SET status = $3, final_at = now(), updated_at = now(), review_reason = NULL
         WHERE refund_id = $1 AND status = $2
         RETURNING amount_minor, currency, queue_key",
    )
    .bind(refund_id)
    .bind(from.as_str())
    .bind(to.as_str())
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(RefundActionError::Conflict)?;
    let amount_minor: i64 = updated.try_get("amount_minor")?;
    let currency: String = updated.try_get("currency")?;
    let refunded_total_minor: i64 = sqlx::query_scalar(
        "SELECT COALESCE(sum(amount_minor), 0)::bigint FROM refunds
         WHERE payment_id = $1 AND status = 'succeeded'",
    )
    .bind(&payment_id)
    .fetch_one(&mut *tx)
    .await?;
    // Refund events are numbered in their payment's sequence (contract §1: per payment).
    let sequence: i64 = sqlx::query_scalar(
        "UPDATE payments SET last_sequence = last_sequence + 1, updated_at = now()
         WHERE payment_id = $1 RETURNING last_sequence",
    )
    .bind(&payment_id)
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO audit_log (payment_id, refund_id, kind, actor, from_status, to_status, reason, detail)
         VALUES ($1, $2, 'resolution', $3, $4, $5, $6, $7)",
    )
    .bind(&payment_id)
    .bind(refund_id)
    .bind(actor)
    .bind(from.as_str())
    .bind(to.as_str())
    .bind(reason)
    .bind(json!({ "sequence": sequence, "queue_key": updated.try_get::<String, _>("queue_key")? }))
    .execute(&mut *tx)
    .await?;
    let event_type = format!("refund.{}", to.as_str());
    outbox::insert(
        &mut tx,
        NewEvent {
            event_type: &event_type,
            payment_id: Some(&payment_id),
            refund_id: Some(refund_id),
            sequence: Some(sequence),
            reply_to: None,
            correlation_id: None,
            body: json!({
                "refund_id": refund_id,
                "payment_id": payment_id,
                "status": to,
                "amount": { "minor": amount_minor, "currency": currency.trim() },
                "refunded_total_minor": refunded_total_minor,
                "resolved_by": actor,
                "reason": reason,
            }),
        },
    )
    .await?;
    // The queue's head is final now: wake the refund dispatchers so the next refund is sent.
    let queue_key: String = updated.try_get("queue_key")?;
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(crate::store::refunds::NOTIFY_CHANNEL)
        .bind(&queue_key)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(RefundChange {
        refund_id: refund_id.to_owned(),
        payment_id,
        from: from.as_str().to_owned(),
        to: to.as_str().to_owned(),
        refunded_total_minor,
    })
}
