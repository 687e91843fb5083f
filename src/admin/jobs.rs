//! An operator's decisions about jobs that used up their retries (contract §4, added 2026-11-29):
//! retry with a fresh attempt budget, or discard with a reason. Both are audited in the same
//! transaction, and both apply only to an `exhausted` job, so a running or finished job is never
//! touched.

use crate::ledger::journal::{self, Note};
use crate::store::jobs::{self, ReopenedJob};
use crate::store::sqlstate;
use sqlx::PgPool;

/// Why a decision was not taken.
#[derive(Debug, thiserror::Error)]
pub enum JobActionError {
    #[error("no such job")]
    NotFound,
    #[error("the job is not exhausted (only exhausted jobs can be retried or discarded)")]
    NotExhausted,
    #[error("a live job of the same kind exists for its payment or refund")]
    LiveTwin,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// What an operator can decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Retry,
    Discard,
}

impl Decision {
    fn action(self) -> &'static str {
        match self {
            Decision::Retry => "retry_job",
            Decision::Discard => "discard_job",
        }
    }
}

/// Applies `decision` to job `id`, audited under `actor` with `reason`.
pub async fn decide(
    pool: &PgPool,
    id: i64,
    decision: Decision,
    reason: &str,
    actor: &str,
) -> Result<ReopenedJob, JobActionError> {
    let mut tx = pool.begin().await?;
    let changed = match decision {
        Decision::Retry => jobs::reopen_exhausted(&mut tx, id).await,
        Decision::Discard => jobs::discard_exhausted(&mut tx, id, reason).await,
    };
    let job = match changed {
        Ok(Some(job)) => job,
        Ok(None) if jobs::exists(&mut tx, id).await? => return Err(JobActionError::NotExhausted),
        Ok(None) => return Err(JobActionError::NotFound),
        Err(error) if matches!(sqlstate::classify(&error), sqlstate::Verdict::Duplicate) => {
            return Err(JobActionError::LiveTwin)
        }
        Err(error) => return Err(error.into()),
    };
    let detail = serde_json::json!({"action": decision.action(), "job_id": job.id, "kind": job.kind});
    journal::note(
        &mut tx,
        &Note {
            payment_id: job.payment_id.as_deref(),
            refund_id: job.refund_id.as_deref(),
            actor,
            reason: Some(reason),
            detail,
        },
    )
    .await?;
    if decision == Decision::Retry {
        jobs::wake(&mut tx).await?;
    }
    tx.commit().await?;
    Ok(job)
}
