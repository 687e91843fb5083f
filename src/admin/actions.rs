//! An operator's actions on a payment: resolve it manually, force a status check, replay its
//! events. Shared by the admin API and `bnpl admin`.
//!
//! Invariants:
//! - a resolution is the ledger's `Resolve` change: the domain machine decides, the change is a
//!   compare-and-set, and its audit row and `payment.resolved` event go with it; a provider
//!   answer landing meanwhile is decided again from the new status (and a resolution to the
//!   status it reached is refused), unless the operator named the status they decided from
//!   (`expected_from`): then a payment that moved on meanwhile is a conflict, never decided
//!   again; a flagged final payment may be resolved to the status it has, which clears the flag;
//!   the payment's scheduled jobs (not its refunds') are cancelled in the same transaction, so
//!   nothing acts on a payment an operator closed;
//! - a replay re-publishes the stored events unchanged (same `event_id`s and sequences): it only
//!   clears `published_at`, and the relay publishes them again in their original order.

use crate::domain::{PaymentEvent, PaymentRefusal, PaymentStatus};
use crate::ledger::journal::{self, Note};
use crate::ledger::payment::{self, Applied, Change, Extras, Outcome};
use crate::store::jobs::{self, NewJob};
use crate::store::payments;
use serde_json::json;
use sqlx::{PgConnection, PgPool};

/// Why an operator's action was not carried out.
#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    #[error("no such payment")]
    NotFound,
    #[error(transparent)]
    Refused(#[from] PaymentRefusal),
    #[error("the payment changed while the request was processed; look again and retry")]
    Conflict,
    #[error("the payment is {now} now, not {expected}; look again and decide on what it is")]
    MovedOn {
        expected: PaymentStatus,
        now: PaymentStatus,
    },
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

/// An operator's decision: the final status, and the status it was decided from when known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub to: PaymentStatus,
    /// The status the operator saw; a payment that has another one now is not resolved.
    pub expected_from: Option<PaymentStatus>,
}

impl Decision {
    /// A decision from its text, as the API, the dashboard and the CLI take it: `to`, and `from`
    /// when the operator's page or request named one. The error names the value not understood.
    pub fn parse(to: &str, from: Option<&str>) -> Result<Self, String> {
        let status = |value: &str, what: &str| {
            value
                .parse::<PaymentStatus>()
                .map_err(|_| format!("unknown status {value:?}{what}"))
        };
        Ok(Decision {
            to: status(to, "")?,
            expected_from: from.map(|from| status(from, " in from")).transpose()?,
        })
    }
}

/// Resolves `payment_id` as `decision` says, as `actor`, for `reason`.
pub async fn resolve(
    pool: &PgPool,
    payment_id: &str,
    decision: Decision,
    reason: &str,
    actor: &str,
) -> Result<Resolution, ActionError> {
    let Decision { to, expected_from } = decision;
    let mut tx = pool.begin().await?;
    let mut known = None;
    if let Some(expected) = expected_from {
        // Held to the commit: no provider answer can move the payment between this check and
        // the decision.
        let row = payments::lock(&mut tx, payment_id)
            .await?
            .ok_or(ActionError::NotFound)?;
        if row.status() != expected {
            return Err(ActionError::MovedOn {
                expected,
                now: row.status(),
            });
        }
        known = Some(std::sync::Arc::new(row));
    }
    let change = Change {
        note: Some(reason.to_owned()),
        ..Change::by(actor)
    };
    let outcome = payment::apply(
        &mut tx,
        payment_id,
        known.as_ref(),
        PaymentEvent::Resolve { to },
        &change,
        Extras::default(),
    )
    .await?;
    let (from, row) = match outcome {
        Outcome::Done {
            applied: Applied::Moved { from, .. },
            row,
        } => (from, row),
        // A flagged final payment kept as it is: the flag is cleared and the decision announced.
        Outcome::Done {
            applied: Applied::Repeated(status),
            row,
        } => (status, row),
        Outcome::Done {
            applied: Applied::Refused(refusal),
            ..
        } => return Err(refusal.into()),
        Outcome::NotFound => return Err(ActionError::NotFound),
        _ => return Err(ActionError::Conflict),
    };
    // The payment is final by an operator's decision: nothing scheduled may act on it any more
    // (a pending provider call would otherwise still create a sale).
    let cancelled = jobs::cancel_scheduled_of_payment(&mut tx, payment_id).await?;
    tx.commit().await?;
    Ok(Resolution {
        payment_id: payment_id.to_owned(),
        from: from.as_str().to_owned(),
        to: to.as_str().to_owned(),
        sequence: row.last_sequence,
        cancelled_jobs: cancelled,
    })
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
    let note = Note {
        payment_id: Some(payment_id),
        ..Note::by(actor, json!({ "action": "force_status_check", "job_id": job_id }))
    };
    journal::note(&mut tx, &note).await?;
    jobs::wake(&mut tx).await?;
    tx.commit().await?;
    Ok(job_id)
}

/// Marks every stored event of `payment_id` unpublished so the relay sends them again, with
/// their original `event_id`s. Returns how many.
pub async fn replay_events(pool: &PgPool, payment_id: &str, actor: &str) -> Result<u64, ActionError> {
    let mut tx = pool.begin().await?;
    ensure_exists(&mut tx, payment_id).await?;
    let replayed = journal::replay_events(&mut tx, payment_id, actor).await?;
    tx.commit().await?;
    Ok(replayed)
}

async fn ensure_exists(conn: &mut PgConnection, payment_id: &str) -> Result<(), ActionError> {
    payments::get(conn, payment_id)
        .await?
        .map(drop)
        .ok_or(ActionError::NotFound)
}
