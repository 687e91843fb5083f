//! The statements that change a refund. Each locks the refund's payment first (checking its
//! sequence), then the refund (checking its status), and only when both still are what the change
//! was decided from writes the refund, the payment's sequence (and refunded total), the audit row
//! and the typed event: all or nothing, one statement.

use super::refund::RefundChange;
use crate::domain::events::{body_json, RefundEvent as Announced};
use crate::domain::refund_state::RefundEvent;
use crate::domain::ReviewReason;
use crate::store::jobs::{interval, ClaimedJob};
use crate::store::outbox;
use crate::store::payments::PaymentRow;
use crate::store::refunds::{RefundRow, NOTIFY_CHANNEL as REFUNDS_CHANNEL};
use serde_json::json;
use sqlx::PgConnection;
use std::time::Duration;
use uuid::Uuid;

/// Inserts a queued refund and its `refund.queued`, with the payment's next sequence (the caller
/// holds the payment's lock); an error, with nothing written, when that sequence is taken.
pub(super) async fn enqueue(
    conn: &mut PgConnection,
    refund: &RefundRow,
    payment: &PaymentRow,
    announced: &Announced,
    origin: super::Origin<'_>,
) -> Result<(), sqlx::Error> {
    let announced_rows: i64 = sqlx::query_scalar(
        "WITH sequenced AS (
             UPDATE payments SET last_sequence = $10, updated_at = now()
             WHERE payment_id = $2 AND last_sequence = $10 - 1
             RETURNING payment_id),
         -- Only with its event's sequence: never a refund nobody was told of.
         inserted AS (
             INSERT INTO refunds (refund_id, payment_id, queue_key, position, amount_minor, currency, status,
                                  reason, requested_by, created_at, traceparent)
             SELECT $1, $2, $3, $4, $5, $6, 'queued', $7, $8, $9, $16 FROM sequenced
             RETURNING refund_id, payment_id),
         audited AS (
             INSERT INTO audit_log (payment_id, refund_id, kind, actor, to_status, reason, detail)
             SELECT $2, $1, 'transition', 'intake', 'queued', 'refund.create', jsonb_build_object('position', $4::bigint)
             FROM sequenced),
         announced AS (
             INSERT INTO outbox (event_id, event_type, payment_id, refund_id, sequence, reply_to, correlation_id, body,
                                 traceparent)
             SELECT $11, 'refund.queued', $2, $1, $10, $12, $13, $14, $16 FROM sequenced)
         SELECT count(pg_notify($15, '')::text) FROM sequenced",
    )
    .bind(&refund.refund_id)
    .bind(&refund.payment_id)
    .bind(&refund.queue_key)
    .bind(refund.position)
    .bind(refund.amount_minor)
    .bind(&refund.currency)
    .bind(&refund.reason)
    .bind(&refund.requested_by)
    .bind(refund.created_at)
    .bind(payment.last_sequence + 1)
    .bind(announced.envelope.event_id)
    .bind(origin.reply_to)
    .bind(origin.correlation_id)
    .bind(body_json(announced))
    .bind(outbox::NOTIFY_CHANNEL)
    .bind(origin.traceparent)
    .fetch_one(conn)
    .await?;
    if announced_rows == 0 {
        // The payment's sequence moved since the caller read it (it should hold the payment's
        // lock): nothing was written, and the error rolls back what the caller's transaction did
        // before (the queue position taken); its retry reads the payment again.
        return Err(sqlx::Error::Protocol(format!(
            "refund {}: payment {} moved on from sequence {} while the refund was queued",
            refund.refund_id, refund.payment_id, payment.last_sequence
        )));
    }
    Ok(())
}

/// One decided refund change.
pub(super) struct Write<'a> {
    pub before: &'a RefundRow,
    pub after: &'a RefundRow,
    pub payment: &'a PaymentRow,
    pub refunded_minor: i64,
    pub change: &'a RefundChange,
    pub event: &'a RefundEvent,
    pub review: Option<ReviewReason>,
    pub announced: &'a Announced,
}

/// Writes a decided change; false when the refund or its payment moved meanwhile.
pub(super) async fn change(conn: &mut PgConnection, write: Write<'_>) -> Result<bool, sqlx::Error> {
    let Write {
        before,
        after,
        payment,
        refunded_minor,
        change,
        event,
        review,
        announced,
    } = write;
    let to = after.status();
    let becomes_final = to.is_final() && to != before.status();
    let audit_kind = if change.operator_reason.is_some() {
        "resolution"
    } else {
        "transition"
    };
    let body = body_json(announced);
    let written: Option<(bool, String, Option<String>)> = sqlx::query_as(
        "WITH payment AS (
             SELECT payment_id FROM payments WHERE payment_id = $2 AND last_sequence = $3 - 1 FOR NO KEY UPDATE),
         refund AS (
             SELECT refund_id FROM refunds WHERE refund_id = $1 AND status = $4 AND EXISTS (SELECT 1 FROM payment)
             FOR NO KEY UPDATE),
         updated AS (
             UPDATE refunds SET status = $5, updated_at = now(),
                 final_at = CASE WHEN $6 THEN clock_timestamp() ELSE final_at END,
                 review_reason = $7, provider_request_id = $8, provider_reference = $9,
                 decline = COALESCE($10, decline)
             WHERE refund_id IN (SELECT refund_id FROM refund)
             RETURNING refund_id, queue_key, traceparent),
         sequenced AS (
             UPDATE payments SET last_sequence = $3, refunded_minor = $11, updated_at = now()
             WHERE payment_id = $2 AND EXISTS (SELECT 1 FROM updated)),
         audited AS (
             INSERT INTO audit_log (payment_id, refund_id, kind, actor, from_status, to_status, reason, detail)
             SELECT $2, refund_id, $12, $13, $4, $5, $14, $15 FROM updated),
         announced AS (
             INSERT INTO outbox (event_id, event_type, payment_id, refund_id, sequence, body, traceparent)
             SELECT $16, $17, $2, refund_id, $3, $18, traceparent FROM updated)
         SELECT true, pg_notify($19, '')::text, CASE WHEN $6 THEN pg_notify($20, queue_key)::text END
         FROM updated",
    )
    .bind(&before.refund_id)
    .bind(&before.payment_id)
    .bind(payment.last_sequence + 1)
    .bind(&before.status)
    .bind(to.as_str())
    .bind(becomes_final)
    .bind(&after.review_reason)
    .bind(&after.provider_request_id)
    .bind(&after.provider_reference)
    .bind(
        change
            .decline
            .as_ref()
            .and_then(|reason| serde_json::to_value(reason).ok()),
    )
    .bind(refunded_minor)
    .bind(audit_kind)
    .bind(&change.actor)
    .bind(
        change
            .operator_reason
            .clone()
            .or(review.map(|review| review.as_str().to_owned()))
            .or(change.note.clone()),
    )
    .bind(json!({ "event": format!("{event:?}"), "note": change.note }))
    .bind(announced.envelope.event_id)
    .bind(announced.envelope.event_type.as_str())
    .bind(body)
    .bind(outbox::NOTIFY_CHANNEL)
    .bind(REFUNDS_CHANNEL)
    .fetch_optional(conn)
    .await?;
    Ok(written.is_some())
}

/// Whether a promotion waits for the head's payment lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Waiting {
    Wait,
    /// Leave a head whose payment another transaction holds (see `refund::promote_on`).
    SkipLocked,
}

/// One decided promotion.
pub(super) struct Promote<'a> {
    pub head: &'a RefundRow,
    pub payment: &'a PaymentRow,
    pub announced: &'a Announced,
    pub actor: &'a str,
    pub send_kind: &'a str,
    /// The send job's lease, counted from this statement (not from its transaction's start, which
    /// may have waited on locks).
    pub lease: Duration,
    pub waiting: Waiting,
}

/// The promoting statement, with `$payment_lock` the lock clause on the head's payment.
macro_rules! promote_statement {
    ($payment_lock:literal) => {
        concat!(
            "WITH payment AS (
             SELECT payment_id FROM payments WHERE payment_id = $2 AND last_sequence = $3 - 1 ",
            $payment_lock,
            "),
         refund AS (
             SELECT refund_id FROM refunds
             WHERE refund_id = $1 AND status = 'queued' AND EXISTS (SELECT 1 FROM payment)
               AND NOT EXISTS (SELECT 1 FROM refunds WHERE queue_key = $4 AND status IN ('in_flight', 'needs_review'))
             FOR NO KEY UPDATE),
         updated AS (
             UPDATE refunds SET status = 'in_flight', submitted_at = now(), updated_at = now()
             WHERE refund_id IN (SELECT refund_id FROM refund)
             RETURNING refund_id, payment_id, queue_key, position, traceparent),
         sequenced AS (
             UPDATE payments SET last_sequence = $3, updated_at = now()
             WHERE payment_id = $2 AND EXISTS (SELECT 1 FROM updated)),
         audited AS (
             INSERT INTO audit_log (payment_id, refund_id, kind, actor, from_status, to_status, reason, detail)
             SELECT payment_id, refund_id, 'transition', $5, 'queued', 'in_flight', 'head of its queue',
                    jsonb_build_object('queue', queue_key, 'position', position)
             FROM updated),
         announced AS (
             INSERT INTO outbox (event_id, event_type, payment_id, refund_id, sequence, body, traceparent)
             SELECT $6, 'refund.submitted', payment_id, refund_id, $3, $7, traceparent FROM updated),
         claimed AS (
             INSERT INTO jobs (kind, payment_id, refund_id, dedupe_key, payload, available_at, max_attempts,
                               state, attempts, lease_token, account_key)
             SELECT $8, payment_id, refund_id, $8 || ':' || refund_id, '{}'::jsonb, clock_timestamp() + $9, 1000,
                    'running', 1, gen_random_uuid(),
                    (SELECT p.provider || ':' || p.account FROM payments p WHERE p.payment_id = updated.payment_id)
             FROM updated
             RETURNING id, kind, payload, attempts, max_attempts, lease_token)
         SELECT claimed.*, pg_notify($10, '')::text AS woken FROM claimed"
        )
    };
}

/// The two texts of the promoting statement, by [`Waiting`].
// `FOR NO KEY UPDATE` everywhere here, as `store::payments::lock` explains: writers exclude each
// other, foreign-key checks of referencing rows (the send job, audit rows) pass.
const PROMOTE_WAIT: &str = promote_statement!("FOR NO KEY UPDATE");
const PROMOTE_SKIP_LOCKED: &str = promote_statement!("FOR NO KEY UPDATE SKIP LOCKED");

/// Moves `head` (still the queue's free head) to in flight, with `refund.submitted`, its audit row
/// and its send job inserted already claimed; None when the queue or the payment moved meanwhile.
pub(super) async fn promote(conn: &mut PgConnection, promote: Promote<'_>) -> Result<Option<ClaimedJob>, sqlx::Error> {
    let Promote {
        head,
        payment,
        announced,
        actor,
        send_kind,
        lease,
        waiting,
    } = promote;
    let body = body_json(announced);
    type ClaimedRow = (i64, String, serde_json::Value, i32, i32, Uuid, String);
    let claimed: Option<ClaimedRow> = sqlx::query_as(match waiting {
        Waiting::Wait => PROMOTE_WAIT,
        Waiting::SkipLocked => PROMOTE_SKIP_LOCKED,
    })
    .bind(&head.refund_id)
    .bind(&head.payment_id)
    .bind(payment.last_sequence + 1)
    .bind(&head.queue_key)
    .bind(actor)
    .bind(announced.envelope.event_id)
    .bind(body)
    .bind(send_kind)
    .bind(interval(lease))
    .bind(outbox::NOTIFY_CHANNEL)
    .fetch_optional(conn)
    .await?;
    Ok(claimed.map(
        |(id, kind, payload, attempts, max_attempts, lease_token, _woken)| ClaimedJob {
            id,
            kind,
            payment_id: Some(head.payment_id.clone()),
            refund_id: Some(head.refund_id.clone()),
            payload,
            attempts,
            max_attempts,
            lease_token,
        },
    ))
}
