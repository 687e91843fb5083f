//! An operator's actions on a payment: resolve it manually, force a status check, replay its
//! events.
//!
//! Invariants:
//! - a resolution goes through the domain machine (`payment_state::transition` with
//!   `PaymentEvent::Resolve`) and is a compare-and-set on the status read, so a provider answer
//!   landing meanwhile makes the operator's request fail (`Conflict`) instead of being
//!   overwritten; the status change, its audit row and its `payment.resolved` event are one
//!   transaction;
//! - a replay re-publishes the stored events unchanged (same `event_id`s and sequences): it only
//!   clears `published_at`, and the relay publishes them again in their original order.

use crate::domain::{payment_state, PaymentEvent, PaymentRefusal, PaymentStatus, Transition};
use crate::store::jobs::{self, NewJob};
use crate::store::outbox::{self, NewEvent};
use serde_json::{json, Value};
use sqlx::{PgConnection, PgPool, Row as _};

/// Why an operator's action was not carried out.
#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    #[error("no such payment")]
    NotFound,
    #[error(transparent)]
    Refused(#[from] PaymentRefusal),
    #[error("the payment changed while the request was processed; look again and retry")]
    Conflict,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// What a resolution did.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Resolution {
    pub payment_id: String,
    pub from: String,
    pub to: String,
    /// The sequence of the `payment.resolved` event.
    pub sequence: i64,
    /// Scheduled jobs of the payment that the resolution cancelled.
    pub cancelled_jobs: u64,
}

/// Resolves `payment_id` to the final status `to`, as `actor`, for `reason`.
pub async fn resolve(
    pool: &PgPool,
    payment_id: &str,
    to: PaymentStatus,
    reason: &str,
    actor: &str,
) -> Result<Resolution, ActionError> {
    let mut tx = pool.begin().await?;
    let row = sqlx::query("SELECT status, review_reason FROM payments WHERE payment_id = $1")
        .bind(payment_id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(ActionError::NotFound)?;
    let from_text: String = row.try_get("status")?;
    let review_reason: Option<String> = row.try_get("review_reason")?;
    let from: PaymentStatus = from_text.parse().map_err(|_| ActionError::Conflict)?;
    match payment_state::transition(from, &PaymentEvent::Resolve { to }) {
        Transition::Move(_) => {}
        Transition::Refuse(refusal) => return Err(refusal.into()),
        // Resolve only ever moves or refuses; anything else means the machine changed under us.
        Transition::Repeat | Transition::Ignore | Transition::FlagReview { .. } => return Err(ActionError::Conflict),
    }
    let updated = sqlx::query(
        "UPDATE payments SET status = $3, last_sequence = last_sequence + 1, final_at = now(),
                updated_at = now(), review_reason = NULL
         WHERE payment_id = $1 AND status = $2
         RETURNING last_sequence, provider, account, amount_minor, currency, provider_reference,
                   metadata",
    )
    .bind(payment_id)
    .bind(from.as_str())
    .bind(to.as_str())
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(ActionError::Conflict)?;
    let sequence: i64 = updated.try_get("last_sequence")?;
    sqlx::query(
        "INSERT INTO audit_log (payment_id, kind, actor, from_status, to_status, reason, detail)
         VALUES ($1, 'resolution', $2, $3, $4, $5, $6)",
    )
    .bind(payment_id)
    .bind(actor)
    .bind(from.as_str())
    .bind(to.as_str())
    .bind(reason)
    .bind(json!({ "sequence": sequence, "previous_review_reason": review_reason }))
    .execute(&mut *tx)
    .await?;
    let mut body = common_fields(payment_id, to, &updated)?;
    if let Value::Object(fields) = &mut body {
        fields.insert("from".into(), json!(from));
        fields.insert("to".into(), json!(to));
        fields.insert("resolved_by".into(), json!(actor));
        fields.insert("reason".into(), json!(reason));
    }
    outbox::insert(
        &mut tx,
        NewEvent {
            event_type: "payment.resolved",
            payment_id: Some(payment_id),
            refund_id: None,
            sequence: Some(sequence),
            reply_to: None,
            correlation_id: None,
            body,
        },
    )
    .await?;
    // The payment is final by an operator's decision: nothing scheduled may act on it any more
    // (a pending provider call would otherwise still create a sale).
    let cancelled = sqlx::query(
        "UPDATE jobs SET state = 'cancelled', lease_token = NULL, updated_at = now()
         WHERE payment_id = $1 AND state = 'scheduled'",
    )
    .bind(payment_id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    tx.commit().await?;
    Ok(Resolution {
        payment_id: payment_id.to_owned(),
        from: from.as_str().to_owned(),
        to: to.as_str().to_owned(),
        sequence,
        cancelled_jobs: cancelled,
    })
}

/// The fields every payment event carries (contract §3), from a `payments` row.
fn common_fields(payment_id: &str, status: PaymentStatus, row: &sqlx::postgres::PgRow) -> Result<Value, sqlx::Error> {
    let currency: String = row.try_get("currency")?;
    Ok(json!({
        "payment_id": payment_id,
        "provider": row.try_get::<String, _>("provider")?,
        "account": row.try_get::<String, _>("account")?,
        "status": status,
        "amount": { "minor": row.try_get::<i64, _>("amount_minor")?, "currency": currency.trim() },
        "provider_reference": row.try_get::<Option<String>, _>("provider_reference")?,
        "metadata": row.try_get::<Value, _>("metadata")?,
    }))
}

/// Schedules a status check of `payment_id` due now (merged with a live one, which is then
/// brought forward) and wakes the job runner. Returns the job id; None when a check of this
/// payment is running right now (it is the forced check).
pub async fn force_status_check(pool: &PgPool, payment_id: &str, actor: &str) -> Result<Option<i64>, ActionError> {
    let mut tx = pool.begin().await?;
    ensure_exists(&mut tx, payment_id).await?;
    let job_id = jobs::schedule(
        &mut tx,
        &NewJob {
            kind: "status_check",
            payment_id: Some(payment_id),
            refund_id: None,
            dedupe_key: Some(format!("status_check:{payment_id}")),
            payload: json!({ "forced_by": actor }),
            due_at: chrono::Utc::now(),
            max_attempts: 25,
        },
    )
    .await?;
    note(
        &mut tx,
        payment_id,
        actor,
        json!({ "action": "force_status_check", "job_id": job_id }),
    )
    .await?;
    sqlx::query("SELECT pg_notify('bnpl_jobs', '')")
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(job_id)
}

/// Marks every stored event of `payment_id` unpublished so the relay sends them again, with
/// their original `event_id`s. Returns how many.
pub async fn replay_events(pool: &PgPool, payment_id: &str, actor: &str) -> Result<u64, ActionError> {
    let mut tx = pool.begin().await?;
    ensure_exists(&mut tx, payment_id).await?;
    let replayed = sqlx::query("UPDATE outbox SET published_at = NULL WHERE payment_id = $1")
        .bind(payment_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    note(
        &mut tx,
        payment_id,
        actor,
        json!({ "action": "replay_events", "events": replayed }),
    )
    .await?;
    sqlx::query("SELECT pg_notify($1, '')")
        .bind(outbox::NOTIFY_CHANNEL)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(replayed)
}

async fn ensure_exists(conn: &mut PgConnection, payment_id: &str) -> Result<(), ActionError> {
    let found: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM payments WHERE payment_id = $1)")
        .bind(payment_id)
        .fetch_one(conn)
        .await?;
    found.then_some(()).ok_or(ActionError::NotFound)
}

/// An audit `note` recording an operator's action that changes no state.
pub(crate) async fn note(
    conn: &mut PgConnection,
    payment_id: &str,
    actor: &str,
    detail: Value,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO audit_log (payment_id, kind, actor, detail) VALUES ($1, 'note', $2, $3)")
        .bind(payment_id)
        .bind(actor)
        .bind(detail)
        .execute(conn)
        .await?;
    Ok(())
}
