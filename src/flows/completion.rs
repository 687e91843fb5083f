//! The end of a job run: one transaction that completes the job (only while this worker still
//! holds its lease: the fencing check) and applies the job's effect, so a worker that lost its
//! lease can never commit a second effect.

use super::Services;
use crate::domain::payment_state::PaymentEvent;
use crate::domain::PaymentStatus;
use crate::jobs::{backoff, JobHandler, JobResult};
use crate::store::jobs::{self, ClaimedJob};
use crate::store::payments::{self, Applied, Change, Extras, PaymentRow};
use sqlx::{PgConnection, Postgres, Transaction};
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

/// Completes the job and applies `event` to its payment, in one commit: one statement when the
/// event plainly moves the payment ([`payments::apply_unlocked`]), else under the payment's lock.
pub async fn settle(
    services: &Services,
    job: &ClaimedJob,
    event: Option<(PaymentEvent, Change)>,
) -> Result<JobResult, sqlx::Error> {
    match (&event, job.payment_id.as_deref()) {
        (Some((event, change)), Some(payment_id)) => {
            let mut conn = services.pool.acquire().await?;
            let extras = Extras {
                job: Some(job),
                ..Extras::default()
            };
            if payments::apply_unlocked(&mut conn, payment_id, event, change, extras)
                .await?
                .is_some()
            {
                return Ok(JobResult::Completed);
            }
        }
        _ => {
            let mut conn = services.pool.acquire().await?;
            return Ok(match jobs::complete(&mut conn, job).await? {
                Ok(()) => JobResult::Completed,
                Err(_) => JobResult::LeaseLost,
            });
        }
    }
    let Some(mut tx) = begin(services, job).await? else {
        return Ok(JobResult::LeaseLost);
    };
    if let (Some((event, change)), Some(payment_id)) = (event, job.payment_id.as_deref()) {
        apply(&mut tx, payment_id, event, change).await?;
    }
    tx.commit().await?;
    Ok(JobResult::Completed)
}

/// Locks the payment and applies `event`; None if the payment does not exist.
pub async fn apply(
    conn: &mut PgConnection,
    payment_id: &str,
    event: PaymentEvent,
    change: Change,
) -> Result<Option<Applied>, sqlx::Error> {
    match payments::lock(conn, payment_id).await? {
        Some(row) => Ok(Some(payments::apply(conn, &row, event, change).await?)),
        None => Ok(None),
    }
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
    let row = payments::get(&mut conn, payment_id).await?;
    Ok(row.filter(|row| statuses.contains(&row.status())))
}

/// Another attempt later, with exponential backoff and jitter.
pub fn retry(job: &ClaimedJob, error: String) -> JobResult {
    JobResult::Retry {
        after: backoff::delay(job.attempts, Duration::from_millis(500), Duration::from_secs(60)),
        error,
    }
}
