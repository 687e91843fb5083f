//! Promoting a refund queue's head to in flight, in **one statement**: the head moves (only when
//! nothing of its queue is in flight or in review), its audit entry, its `refund.submitted` event
//! with the payment's next sequence, the relay's wake-up, and its send job inserted already
//! claimed. One round trip from "the previous refund is final" to "the next is ready to send" is
//! what keeps the hand-off close to the bare NOTIFY + commit + HTTP call (design §4).
//!
//! Invariant: one in flight per queue. A racing promoter of the same head re-checks
//! `status = 'queued'` on the winner's version and promotes nothing; a different refund of the
//! same queue is refused by the unique index on in-flight refunds, failing the whole statement.

use super::jobs::ClaimedJob;
use super::outbox;
use super::payments::PaymentRow;
use super::refunds::{RefundRow, COLUMNS, EVENT_BODY, NEXT_SEQUENCE};
use serde_json::Value;
use sqlx::types::Json;
use sqlx::PgPool;
use std::time::Duration;
use uuid::Uuid;

/// A promoted refund, its payment (as it was when the statement began: its sequence is behind)
/// and its send job, claimed under the caller's lease.
pub struct Promoted {
    pub refund: RefundRow,
    pub payment: PaymentRow,
    pub send_job: ClaimedJob,
}

#[derive(sqlx::FromRow)]
struct PromotedRow {
    #[sqlx(flatten)]
    refund: RefundRow,
    job_id: i64,
    job_kind: String,
    job_payload: Value,
    job_attempts: i32,
    job_max_attempts: i32,
    job_lease_token: Uuid,
    payment: Json<PaymentRow>,
}

/// Promotes the head of `queue_key`, if the queue is free; `send_kind` is the send job's kind.
pub async fn promote(
    pool: &PgPool,
    queue_key: &str,
    actor: &str,
    send_kind: &str,
    lease: Duration,
) -> Result<Option<Promoted>, sqlx::Error> {
    let row: Option<PromotedRow> = sqlx::query_as(&format!(
        "WITH r AS (
             UPDATE refunds SET status = 'in_flight', submitted_at = now(), updated_at = now()
             WHERE refund_id = (
                 SELECT refund_id FROM refunds WHERE queue_key = $1 AND status = 'queued' ORDER BY position LIMIT 1)
               AND status = 'queued'
               AND NOT EXISTS (SELECT 1 FROM refunds WHERE queue_key = $1 AND status IN ('in_flight', 'needs_review'))
             RETURNING {COLUMNS}),
         s AS ({NEXT_SEQUENCE}),
         audited AS (
             INSERT INTO audit_log (payment_id, refund_id, kind, actor, from_status, to_status, reason, detail)
             SELECT r.payment_id, r.refund_id, 'transition', $2, 'queued', 'in_flight', 'head of its queue',
                    jsonb_build_object('queue', r.queue_key, 'position', r.position)
             FROM r),
         announced AS (
             INSERT INTO outbox (event_id, event_type, payment_id, refund_id, sequence, body)
             SELECT $3, 'refund.submitted', r.payment_id, r.refund_id, s.last_sequence, {EVENT_BODY} || {envelope}
             FROM r, s),
         claimed AS (
             INSERT INTO jobs (kind, payment_id, refund_id, dedupe_key, payload, available_at, max_attempts,
                               state, attempts, lease_token)
             SELECT $4, r.payment_id, r.refund_id, $4 || ':' || r.refund_id, '{{}}'::jsonb, now() + $5, 1000,
                    'running', 1, gen_random_uuid()
             FROM r
             RETURNING id, kind, payload, attempts, max_attempts, lease_token)
         SELECT r.*, claimed.id AS job_id, claimed.kind AS job_kind, claimed.payload AS job_payload,
                claimed.attempts AS job_attempts, claimed.max_attempts AS job_max_attempts,
                claimed.lease_token AS job_lease_token, to_jsonb(p) AS payment,
                pg_notify($6, '')::text AS notified
         FROM r JOIN payments p ON p.payment_id = r.payment_id, claimed",
        envelope = outbox::envelope_sql("$3", "'refund.submitted'", "s.last_sequence"),
    ))
    .bind(queue_key)
    .bind(actor)
    .bind(Uuid::now_v7())
    .bind(send_kind)
    .bind(super::jobs::interval(lease))
    .bind(outbox::NOTIFY_CHANNEL)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|row| Promoted {
        send_job: ClaimedJob {
            id: row.job_id,
            kind: row.job_kind,
            payment_id: Some(row.refund.payment_id.clone()),
            refund_id: Some(row.refund.refund_id.clone()),
            payload: row.job_payload,
            attempts: row.job_attempts,
            max_attempts: row.job_max_attempts,
            lease_token: row.job_lease_token,
        },
        refund: row.refund,
        payment: row.payment.0,
    }))
}
