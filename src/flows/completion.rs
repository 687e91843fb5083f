//! The end of a job run: the job's completion (only while this worker still holds its lease: the
//! fencing check) and its effect on the payment, written together by the ledger, so a worker that
//! lost its lease can never commit a second effect. The results of jobs that finish together are
//! group-committed (design §1b): one transaction for the batch, each job hearing back only after
//! it committed.

use super::Services;
use crate::domain::payment_state::PaymentEvent;
use crate::domain::PaymentStatus;
use crate::jobs::{backoff, JobHandler, JobResult};
use crate::ledger::payment::{self, Change, Extras, Outcome};
use crate::store::group_commit::{GroupCommitter, LastRun, Unit};
use crate::store::jobs::{self, ClaimedJob};
use crate::store::outbox_wake::OutboxWake;
use crate::store::payments::PaymentRow;
use futures_util::future::BoxFuture;
use sqlx::{PgConnection, Postgres, Transaction};
use std::sync::Arc;
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
/// when it changed meanwhile the ledger decides again from what it is). Results of jobs that
/// finish together share one transaction (the job committer, design §1b); a lone one runs at once,
/// in autocommit.
pub async fn settle(
    services: &Services,
    job: &ClaimedJob,
    known: Option<PaymentRow>,
    event: Option<(PaymentEvent, Change)>,
) -> Result<JobResult, sqlx::Error> {
    let (Some((event, change)), Some(payment_id)) = (event, job.payment_id.as_deref()) else {
        let mut conn = services.pool.acquire().await?;
        return Ok(match jobs::complete(&mut conn, job).await? {
            Ok(()) => JobResult::Completed,
            Err(_) => JobResult::LeaseLost,
        });
    };
    let settlement = Settlement {
        registration: None,
        known: known.map(Arc::new),
        event,
        change,
    };
    apply_in_batch(services, job, payment_id, settlement).await
}

/// [`settle`] for an event a provider's answer about the payment brings (the answer knows it):
/// a humm Gate payment still `accepted` first announces the registration that implies
/// (`settle::implied_registration`), in the same transaction.
pub async fn settle_known(
    services: &Services,
    job: &ClaimedJob,
    known: PaymentRow,
    event: PaymentEvent,
    change: Change,
) -> Result<JobResult, sqlx::Error> {
    let Some(payment_id) = job.payment_id.as_deref() else {
        return settle(services, job, None, None).await;
    };
    let settlement = Settlement {
        registration: super::settle::implied_registration(&known, event, &change.actor),
        known: Some(Arc::new(known)),
        event,
        change,
    };
    apply_in_batch(services, job, payment_id, settlement).await
}

/// What a job's result does to its payment: the change, after the registration its answer
/// implies when it implies one.
struct Settlement {
    registration: Option<Change>,
    known: Option<Arc<PaymentRow>>,
    event: PaymentEvent,
    change: Change,
}

/// Hands `settlement` to the job committer's next batch and returns the job's result once that
/// batch committed.
async fn apply_in_batch(
    services: &Services,
    job: &ClaimedJob,
    payment_id: &str,
    settlement: Settlement,
) -> Result<JobResult, sqlx::Error> {
    let unit = Arc::new(JobSettlement {
        job: job.clone(),
        payment_id: payment_id.to_owned(),
        registration: settlement.registration,
        known: settlement.known,
        event: settlement.event,
        change: settlement.change,
        wake: Arc::clone(&services.outbox_wake),
        result: LastRun::default(),
        written: LastRun::default(),
    });
    services.job_committer.apply(Arc::clone(&unit) as Arc<dyn Unit>).await?;
    Ok(unit.result.take().unwrap_or(JobResult::Completed))
}

/// Applies the registration a provider's answer implies (`settle::implied_registration`) in the
/// caller's transaction, before the answer's own change; the payment as it is then (`row` when
/// nothing moved). Not cached until the transaction commits: it may still roll back.
pub async fn register_implied(
    conn: &mut PgConnection,
    row: Arc<PaymentRow>,
    registration: &Change,
    wake: Option<&OutboxWake>,
) -> Result<Arc<PaymentRow>, sqlx::Error> {
    let extras = Extras {
        wake,
        cache_after_commit: true,
        ..Extras::default()
    };
    let registered = payment::apply(
        conn,
        &row.payment_id,
        Some(&row),
        PaymentEvent::Registered,
        registration,
        extras,
    )
    .await?;
    Ok(match registered {
        Outcome::Done { row: after, .. } => after,
        _ => row,
    })
}

/// Committer tasks for job results: two, like intake's, so one batch commits while the next fills.
const JOB_COMMITTERS: usize = 2;
/// At most this many job results per transaction: the job runner's default concurrency.
const JOB_BATCH: usize = 32;

/// The committer behind [`settle`], for a process's [`Services`].
pub fn job_committer(pool: sqlx::PgPool) -> GroupCommitter {
    GroupCommitter::start(pool, JOB_COMMITTERS, JOB_BATCH)
}

/// A job's effect on its payment, applied in the job committer's next batch.
struct JobSettlement {
    job: ClaimedJob,
    payment_id: String,
    /// The registration the provider's answer implies, applied first (`settle_known`).
    registration: Option<Change>,
    known: Option<Arc<PaymentRow>>,
    event: PaymentEvent,
    change: Change,
    /// Rung after the commit: the change sends no `NOTIFY` while this process's relay leads.
    wake: Arc<OutboxWake>,
    /// What the last run decided; read once the transaction committed.
    result: LastRun<JobResult>,
    /// The payment as the last run wrote it: cached for the next writer once committed, never
    /// before (the batch may still roll back).
    written: LastRun<Arc<PaymentRow>>,
}

impl Unit for JobSettlement {
    fn apply<'c>(&'c self, conn: &'c mut PgConnection) -> BoxFuture<'c, Result<(), sqlx::Error>> {
        Box::pin(async move {
            let mut known = self.known.clone();
            if let (Some(registration), Some(row)) = (&self.registration, &self.known) {
                known = Some(register_implied(conn, Arc::clone(row), registration, Some(&self.wake)).await?);
            }
            let extras = Extras {
                job: Some(&self.job),
                wake: Some(&self.wake),
                cache_after_commit: true,
                ..Extras::default()
            };
            let outcome =
                payment::apply(conn, &self.payment_id, known.as_ref(), self.event, &self.change, extras).await?;
            let written = match &outcome {
                Outcome::Done { row, .. } => Some(Arc::clone(row)),
                _ => None,
            };
            self.written.set(written);
            let result = match outcome {
                Outcome::LeaseLost => JobResult::LeaseLost,
                Outcome::Done { .. } | Outcome::Mismatch { .. } => JobResult::Completed,
                // The payment is gone (never, in practice): nothing to apply it to; done.
                Outcome::NotFound => match jobs::complete(conn, &self.job).await? {
                    Ok(()) => JobResult::Completed,
                    Err(_) => JobResult::LeaseLost,
                },
            };
            self.result.set(result);
            Ok(())
        })
    }

    fn key(&self) -> Option<&str> {
        Some(&self.payment_id)
    }

    fn rolled_back(&self) {
        crate::ledger::rows::forget(&self.payment_id);
        // A commit whose outcome was unknown may have landed without its `NOTIFY`.
        self.wake.ring();
    }

    fn committed(&self) {
        if let Some(row) = self.written.take() {
            crate::ledger::rows::remember(row);
        }
        self.wake.ring();
    }

    /// Alone, each of the ledger's statements is a compare-and-set that stands by itself (a stale
    /// one is decided again from a fresh read), exactly as without batching; an implied
    /// registration and the answer's own change land together or not at all.
    fn alone_needs_transaction(&self) -> bool {
        self.registration.is_some()
    }
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
) -> Result<Option<Arc<PaymentRow>>, sqlx::Error> {
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
