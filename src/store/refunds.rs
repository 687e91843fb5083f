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
//! - every refund status change goes through `domain::refund_state` as a compare-and-set, writes
//!   one event numbered in the payment's sequence, and notifies the dispatcher when it frees the
//!   queue.

use super::outbox;
use crate::domain::refund_state::{self, RefundEvent, RefundRefusal, RefundTransition};
use crate::domain::{RefundStatus, ReviewReason};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
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

pub(super) const COLUMNS: &str =
    "refund_id, payment_id, queue_key, position, amount_minor, currency, status, review_reason, reason,
    requested_by, provider_request_id, provider_reference, attempts, created_at, submitted_at";

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

/// Takes the next position of the queue (under its lock) and inserts the refund as `queued`.
/// The caller holds the payment's lock and has checked the balance.
pub async fn enqueue(conn: &mut PgConnection, new: &NewRefund<'_>) -> Result<RefundRow, sqlx::Error> {
    sqlx::query(
        "INSERT INTO refund_queues (queue_key, provider, account) VALUES ($1, $2, $3) ON CONFLICT (queue_key) DO NOTHING",
    )
    .bind(new.queue_key)
    .bind(new.provider)
    .bind(new.account)
    .execute(&mut *conn)
    .await?;
    let position: i64 = sqlx::query_scalar(
        "UPDATE refund_queues SET next_position = next_position + 1 WHERE queue_key = $1 RETURNING next_position - 1",
    )
    .bind(new.queue_key)
    .fetch_one(&mut *conn)
    .await?;
    sqlx::query_as(&format!(
        "INSERT INTO refunds (refund_id, payment_id, queue_key, position, amount_minor, currency, status, reason, requested_by)
         VALUES ($1, $2, $3, $4, $5, $6, 'queued', $7, $8)
         RETURNING {COLUMNS}"
    ))
    .bind(new.refund_id)
    .bind(new.payment_id)
    .bind(new.queue_key)
    .bind(position)
    .bind(new.amount_minor)
    .bind(new.currency)
    .bind(new.reason)
    .bind(new.requested_by)
    .fetch_one(conn)
    .await
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

/// Queues that have refunds waiting (the dispatcher's fallback poll).
pub async fn queues_with_waiting(conn: &mut PgConnection) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT DISTINCT queue_key FROM refunds WHERE status = 'queued'")
        .fetch_all(conn)
        .await
}

/// What the change brings along.
#[derive(Debug, Clone, Default)]
pub struct RefundChange {
    pub actor: &'static str,
    pub note: Option<String>,
    pub provider_request_id: Option<String>,
    pub provider_reference: Option<String>,
    /// `{code, message, provider_code, provider_message}` on declines and failures.
    pub decline: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefundApplied {
    Moved { from: RefundStatus, to: RefundStatus },
    Stayed,
    Flagged(ReviewReason),
    Ignored,
    Refused(RefundRefusal),
}

/// Applies `event` to a refund. The caller holds the payment's row lock (every refund change
/// takes it, so a payment's events stay in sequence).
pub async fn apply(
    conn: &mut PgConnection,
    refund: &RefundRow,
    event: RefundEvent,
    change: RefundChange,
) -> Result<RefundApplied, sqlx::Error> {
    let from = refund.status();
    let (to, review) = match refund_state::transition(from, &event) {
        RefundTransition::Move(to) => (to, None),
        RefundTransition::FlagReview { reason } => (from, Some(reason)),
        RefundTransition::Stay => {
            record_details(conn, refund, &change).await?;
            return Ok(RefundApplied::Stayed);
        }
        RefundTransition::Ignore => return Ok(RefundApplied::Ignored),
        RefundTransition::Refuse(refusal) => return Ok(RefundApplied::Refused(refusal)),
    };
    let review_reason = review.map(ReviewReason::as_str).or(match event {
        RefundEvent::NoDefiniteAnswer => Some(ReviewReason::NoDefiniteAnswer.as_str()),
        _ => None,
    });
    // The change, its audit entry and (when it frees the queue) the dispatchers' wake-up, delivered
    // at commit, in one statement. `final_at` is when the refund became final, not when its
    // transaction began.
    let updated: Option<RefundRow> = sqlx::query_as(&format!(
        "WITH updated AS (
             UPDATE refunds SET status = $3, updated_at = now(),
                 final_at = CASE WHEN $4 THEN clock_timestamp() ELSE final_at END,
                 review_reason = COALESCE($5, review_reason),
                 provider_request_id = COALESCE($6, provider_request_id),
                 provider_reference = COALESCE($7, provider_reference),
                 decline = COALESCE($8, decline)
             WHERE refund_id = $1 AND status = $2
             RETURNING {COLUMNS}),
         audited AS (
             INSERT INTO audit_log (payment_id, refund_id, kind, actor, from_status, to_status, reason, detail)
             SELECT payment_id, refund_id, 'transition', $9, $2, $3, $10, $11 FROM updated)
         SELECT updated.*, CASE WHEN $4 THEN pg_notify($12, queue_key)::text END AS woken FROM updated"
    ))
    .bind(&refund.refund_id)
    .bind(from.as_str())
    .bind(to.as_str())
    .bind(to.is_final() && to != from)
    .bind(review_reason)
    .bind(&change.provider_request_id)
    .bind(&change.provider_reference)
    .bind(&change.decline)
    .bind(change.actor)
    .bind(review_reason.or(change.note.as_deref()))
    .bind(json!({ "event": format!("{event:?}"), "note": change.note }))
    .bind(NOTIFY_CHANNEL)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(updated) = updated else {
        return Ok(RefundApplied::Ignored);
    };
    let event_type = match review {
        Some(_) => "refund.needs_review".to_owned(),
        None if to == RefundStatus::InFlight => "refund.submitted".to_owned(),
        None => format!("refund.{}", to.as_str()),
    };
    let extra = json!({
        "reason": change.decline.clone().or_else(|| review_reason.map(|code| json!({"code": code, "message": change.note})))
    });
    announce(conn, &updated, &event_type, extra, None, None).await?;
    Ok(match review {
        Some(reason) => RefundApplied::Flagged(reason),
        None => RefundApplied::Moved { from, to },
    })
}

/// Keeps what a provider told us about a refund that stays in flight (its request id).
async fn record_details(conn: &mut PgConnection, refund: &RefundRow, change: &RefundChange) -> Result<(), sqlx::Error> {
    if change.provider_request_id.is_none() && change.provider_reference.is_none() {
        return Ok(());
    }
    sqlx::query(
        "UPDATE refunds SET provider_request_id = COALESCE($2, provider_request_id),
             provider_reference = COALESCE($3, provider_reference), updated_at = now()
         WHERE refund_id = $1",
    )
    .bind(&refund.refund_id)
    .bind(&change.provider_request_id)
    .bind(&change.provider_reference)
    .execute(conn)
    .await?;
    Ok(())
}

/// The contract §3 refund event's own fields, over a refund row `r` and `s`, the payment's new
/// sequence and refunded total (used by [`announce`] and [`super::refund_promote`]).
pub(super) const EVENT_BODY: &str = "jsonb_build_object(
    'refund_id', r.refund_id, 'payment_id', r.payment_id, 'status', r.status,
    'amount', jsonb_build_object('minor', r.amount_minor, 'currency', r.currency),
    'refunded_total_minor', s.refunded_total, 'position', r.position, 'queue', r.queue_key,
    'requested_by', r.requested_by, 'provider_reference', r.provider_reference)";

/// The next sequence number of the refund's payment and its refunded total, over a refund row
/// `r`; the update also takes the payment's row lock, which keeps the payment's events in order.
pub(super) const NEXT_SEQUENCE: &str = "UPDATE payments p SET last_sequence = p.last_sequence + 1, updated_at = now()
    FROM r WHERE p.payment_id = r.payment_id
    RETURNING p.last_sequence,
        (SELECT COALESCE(sum(x.amount_minor), 0)::bigint FROM refunds x
          WHERE x.payment_id = r.payment_id AND x.status = 'succeeded') AS refunded_total";

/// Writes the refund's event with the payment's next sequence and the refunded total, and wakes
/// the relay: one statement. `extra` fields are added to (or override) the refund's own.
pub async fn announce(
    conn: &mut PgConnection,
    refund: &RefundRow,
    event_type: &str,
    extra: Value,
    reply_to: Option<&str>,
    correlation_id: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(&format!(
        "WITH r AS (
             SELECT $1::text AS refund_id, $2::text AS payment_id, $3::text AS status, $4::bigint AS amount_minor,
                    $5::text AS currency, $6::bigint AS position, $7::text AS queue_key, $8::text AS requested_by,
                    $9::text AS provider_reference),
         s AS ({NEXT_SEQUENCE}),
         announced AS (
             INSERT INTO outbox (event_id, event_type, payment_id, refund_id, sequence, reply_to, correlation_id, body)
             SELECT $10, $11, r.payment_id, r.refund_id, s.last_sequence, $12, $13,
                    {EVENT_BODY} || $14 || {envelope}
             FROM r, s)
         SELECT pg_notify($15, '') FROM s",
        envelope = outbox::envelope_sql("$10", "$11", "s.last_sequence"),
    ))
    .bind(&refund.refund_id)
    .bind(&refund.payment_id)
    .bind(&refund.status)
    .bind(refund.amount_minor)
    .bind(&refund.currency)
    .bind(refund.position)
    .bind(&refund.queue_key)
    .bind(&refund.requested_by)
    .bind(&refund.provider_reference)
    .bind(uuid::Uuid::now_v7())
    .bind(event_type)
    .bind(reply_to)
    .bind(correlation_id)
    .bind(if extra.is_object() { extra } else { json!({}) })
    .bind(outbox::NOTIFY_CHANNEL)
    .execute(conn)
    .await?;
    Ok(())
}
