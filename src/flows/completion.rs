//! The end of a job run: the job's completion (only while this worker still holds its lease: the
//! fencing check) and its effect on the payment, written together by the ledger, so a worker that
//! lost its lease can never commit a second effect.

use super::Services;
use crate::domain::payment_state::PaymentEvent;
use crate::domain::PaymentStatus;
use crate::jobs::{backoff, JobHandler, JobResult};
use crate::ledger::payment::{self, Change, Extras, Outcome};
use crate::store::jobs::{self, ClaimedJob};
use crate::store::payments::PaymentRow;
use sqlx::{Postgres, Transaction};
use std::time::Duration;

/// Opens the completing transaction; None when the lease was lost (nothing may be committed).
pub async fn begin(
    services: &Services,
    job: &ClaimedJob,
) -> Result<Option<Transaction<'static, Postgres>>, sqlx::Error> {
    let mut tx = services.pool.begin().await?;
    if jobs::complete(&mut tx, job).await?.is_err() {
        tx.rollback().await?;
        return Ok(None);
    }
    Ok(Some(tx))
}

/// Completes the job and applies `event` to its payment through the ledger, in one statement,
/// only while the job's lease holds. `known`: the payment as the job read it (it saves a read;
/// when it changed meanwhile the ledger decides again from what it is).
pub async fn settle(
    services: &Services,
    job: &ClaimedJob,
    known: Option<&PaymentRow>,
    event: Option<(PaymentEvent, Change)>,
) -> Result<JobResult, sqlx::Error> {
    let mut conn = services.pool.acquire().await?;
    let (Some((event, change)), Some(payment_id)) = (event, job.payment_id.as_deref()) else {
        return Ok(match jobs::complete(&mut conn, job).await? {
            Ok(()) => JobResult::Completed,
            Err(_) => JobResult::LeaseLost,
        });
    };
    // One autocommit statement: committed when it returns, so the relay is rung right after
    // (and the statement sends no `NOTIFY` while this process's relay leads).
    let extras = Extras {
        job: Some(job),
        wake: Some(&services.outbox_wake),
        ..Extras::default()
    };
    let outcome = payment::apply(&mut conn, payment_id, known, event, &change, extras).await;
    services.outbox_wake.ring();
    Ok(match outcome? {
        Outcome::LeaseLost => JobResult::LeaseLost,
        Outcome::Done { .. } | Outcome::Mismatch { .. } => JobResult::Completed,
        // The payment is gone (never, in practice): nothing to apply it to; done.
        Outcome::NotFound => match jobs::complete(&mut conn, job).await? {
            Ok(()) => JobResult::Completed,
            Err(_) => JobResult::LeaseLost,
        },
    })
}

/// Applies `event` to the payment inside the caller's transaction (one that also completes the
/// job and schedules what follows); the outcome when the payment exists.
pub async fn apply(
    conn: &mut sqlx::PgConnection,
    payment_id: &str,
    event: PaymentEvent,
    change: Change,
) -> Result<Option<payment::Applied>, sqlx::Error> {
    let outcome = payment::apply(conn, payment_id, None, event, &change, Extras::default()).await?;
    Ok(outcome.applied().cloned())
}

/// One run of a flow job. A database error (an outage, a lost connection) becomes a retry with
/// backoff; every flow job gets its `JobHandler` from this, so none repeats that rule.
#[async_trait::async_trait]
pub trait Attempt: Send + Sync + 'static {
    async fn attempt(&self, job: &ClaimedJob) -> Result<JobResult, sqlx::Error>;
}

#[async_trait::async_trait]
impl<T: Attempt> JobHandler for T {
    async fn run(&self, job: &ClaimedJob) -> JobResult {
        match self.attempt(job).await {
            Ok(result) => result,
            Err(error) => retry(job, format!("database: {error}")),
        }
    }
}

/// The job's payment when it is in one of `statuses`, read without a lock (provider calls happen
/// outside any transaction; the change is applied later under the lock, as a compare-and-set).
pub async fn payment_in(
    services: &Services,
    job: &ClaimedJob,
    statuses: &[PaymentStatus],
) -> Result<Option<PaymentRow>, sqlx::Error> {
    let Some(payment_id) = job.payment_id.as_deref() else {
        return Ok(None);
    };
    let mut conn = services.pool.acquire().await?;
    // Read fresh, never from the ledger's cache: a job skips work on a status it sees here, and
    // another process may have moved the payment since this one last wrote it.
    let row = crate::ledger::rows::reload(&mut conn, payment_id).await?;
    Ok(row.filter(|row| statuses.contains(&row.status())))
}

/// Another attempt later, with exponential backoff and jitter.
pub fn retry(job: &ClaimedJob, error: String) -> JobResult {
    JobResult::Retry {
        after: backoff::delay(job.attempts, Duration::from_millis(500), Duration::from_secs(60)),
        error,
    }
}
