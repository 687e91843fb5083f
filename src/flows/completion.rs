//! The end of a job run: one transaction that completes the job (only while this worker still
//! holds its lease: the fencing check) and applies the job's effect, so a worker that lost its
//! lease can never commit a second effect.

use super::Services;
use crate::domain::payment_state::PaymentEvent;
use crate::jobs::{backoff, JobResult};
use crate::store::jobs::{self, ClaimedJob};
use crate::store::payments::{self, Applied, Change};
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

/// Completes the job and applies `event` to its payment, in one commit.
pub async fn settle(
    services: &Services,
    job: &ClaimedJob,
    event: Option<(PaymentEvent, Change)>,
) -> Result<JobResult, sqlx::Error> {
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

/// Another attempt later, with exponential backoff and jitter.
pub fn retry(job: &ClaimedJob, error: String) -> JobResult {
    JobResult::Retry {
        after: backoff::delay(job.attempts, Duration::from_millis(500), Duration::from_secs(60)),
        error,
    }
}
