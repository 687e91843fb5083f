//! The job runner: claims due jobs with `FOR UPDATE SKIP LOCKED`, runs them with bounded
//! concurrency, and reschedules failures with backoff. Several processes may run it at once.
//!
//! It sleeps until the next due time (or a `NOTIFY bnpl_jobs` from a transaction that scheduled a
//! job due now, or a one-second poll), so timers fire on time without a tight polling loop.
//! Every job runs under a short lease that [`LeaseKeeper`] renews while it runs, and no run may
//! take longer than [`MAX_RUN`]: a wedged handler is dropped (rolling back whatever it held) and
//! the job retried, so one stuck call cannot hold a job forever.

use super::lease::LeaseKeeper;
use crate::store::jobs::{self, ClaimedJob};
use sqlx::postgres::PgListener;
use sqlx::PgPool;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

/// The channel a transaction notifies when it schedules a job that is due at once.
pub const NOTIFY_CHANNEL: &str = "bnpl_jobs";

/// The longest one run of a job may take: far beyond any bounded provider call (seconds) and
/// database wait, so reaching it means the handler is wedged.
pub const MAX_RUN: Duration = Duration::from_secs(300);

/// What became of one run of a job.
#[derive(Debug)]
pub enum JobResult {
    /// The handler committed its effect together with `jobs::complete`.
    Completed,
    /// Try again after `after` (or give up once the job's attempts are used up).
    Retry { after: Duration, error: String },
    /// The lease was lost; the handler rolled back and another worker owns the job.
    LeaseLost,
    /// Not run at all (its provider account is paused or its circuit open): back to scheduled,
    /// due now, with its attempt given back; it is claimed again once the account is active.
    Deferred,
}

/// One job kind's logic.
#[async_trait::async_trait]
pub trait JobHandler: Send + Sync + 'static {
    async fn run(&self, job: &ClaimedJob) -> JobResult;
}

/// Handlers by job kind.
#[derive(Default, Clone)]
pub struct Registry {
    handlers: HashMap<&'static str, Arc<dyn JobHandler>>,
}

impl Registry {
    pub fn with(mut self, kind: &'static str, handler: Arc<dyn JobHandler>) -> Self {
        self.handlers.insert(kind, handler);
        self
    }
}

/// Runner limits.
#[derive(Debug, Clone)]
pub struct RunnerConfig {
    pub concurrency: usize,
    pub poll: Duration,
}

impl Default for RunnerConfig {
    fn default() -> Self {
        Self {
            concurrency: 32,
            poll: Duration::from_secs(1),
        }
    }
}

/// Runs jobs until `shutdown`, then lets the running ones finish.
pub async fn run(
    pool: PgPool,
    registry: Registry,
    mut database_up: watch::Receiver<bool>,
    config: RunnerConfig,
    leases: LeaseKeeper,
    shutdown: CancellationToken,
) {
    let registry = Arc::new(registry);
    let permits = Arc::new(Semaphore::new(config.concurrency.max(1)));
    let mut running = JoinSet::new();
    let mut listener = None;
    while !shutdown.is_cancelled() {
        while running.try_join_next().is_some() {}
        if !*database_up.borrow_and_update() {
            listener = None;
            tokio::select! {
                _ = database_up.changed() => {}
                () = shutdown.cancelled() => break,
            }
            continue;
        }
        if listener.is_none() {
            listener = listen(&pool).await;
        }
        let free = permits.available_permits();
        let claimed = if free == 0 {
            Vec::new()
        } else {
            claim(&pool, free, leases.lease()).await
        };
        let claimed_all = !claimed.is_empty() && claimed.len() == free;
        let claimed_any = !claimed.is_empty();
        for job in claimed {
            let Ok(permit) = Arc::clone(&permits).acquire_owned().await else {
                break;
            };
            let registry = Arc::clone(&registry);
            let pool = pool.clone();
            let leases = leases.clone();
            running.spawn(async move {
                execute(&pool, &registry, job, &leases).await;
                drop(permit);
            });
        }
        if claimed_all {
            continue;
        }
        // Only an idle pass asks when the next job falls due; a busy one waits for a finished job
        // or a notification, which saves a query per pass under load.
        let wait = if claimed_any {
            config.poll
        } else {
            until_next_due(&pool, config.poll).await
        };
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            Some(_) = running.join_next(), if !running.is_empty() => {}
            () = notified(&mut listener) => {}
            _ = database_up.changed() => {}
            () = shutdown.cancelled() => {}
        }
    }
    while running.join_next().await.is_some() {}
}

async fn claim(pool: &PgPool, free: usize, lease: Duration) -> Vec<ClaimedJob> {
    match jobs::claim(pool, i64::try_from(free).unwrap_or(i64::MAX), lease).await {
        Ok(jobs) => jobs,
        Err(error) => {
            tracing::warn!(%error, "claiming jobs failed");
            Vec::new()
        }
    }
}

async fn execute(pool: &PgPool, registry: &Registry, job: ClaimedJob, leases: &LeaseKeeper) {
    let Some(handler) = registry.handlers.get(job.kind.as_str()) else {
        tracing::error!(job = job.id, kind = %job.kind, "no handler for this job kind");
        let _ = jobs::retry(pool, &job, Duration::from_secs(300), "no handler for this job kind").await;
        return;
    };
    execute_claimed(pool, handler.as_ref(), &job, leases).await;
}

/// Runs one claimed job with `handler` and reschedules it on failure; also used to run a job
/// inline right after the transaction that created it claimed (`ledger::payment::create` with its first jobs).
pub async fn execute_claimed(pool: &PgPool, handler: &dyn JobHandler, job: &ClaimedJob, leases: &LeaseKeeper) {
    // Every line logged while the job runs (provider calls included) names it and its subject.
    let span = tracing::info_span!(
        "job",
        job = %job.kind,
        job_id = job.id,
        payment_id = job.payment_id.as_deref(),
        refund_id = job.refund_id.as_deref()
    );
    execute_in_span(pool, handler, job, leases).instrument(span).await;
}

async fn execute_in_span(pool: &PgPool, handler: &dyn JobHandler, job: &ClaimedJob, leases: &LeaseKeeper) {
    // A claim counts an attempt, so this one began past the last: the previous holder's lease
    // ran out on it (its process stopped, or the job panicked). Run again, a job that kills its
    // runner would be taken over every lease for ever; it is exhausted for ops instead.
    if job.attempts > job.max_attempts {
        tracing::error!(job = job.id, kind = %job.kind, attempts = job.attempts, "job's last attempt never finished: exhausted");
        metrics::counter!("bnpl_jobs_run_total", "kind" => job.kind.clone(), "outcome" => "exhausted").increment(1);
        let error = "its last attempt never finished (the process stopped or the job panicked)";
        if let Err(db_error) = jobs::retry(pool, job, Duration::ZERO, error).await {
            tracing::warn!(%db_error, job = job.id, "could not exhaust job");
        }
        return;
    }
    let held = leases.hold(job);
    let outcome = match tokio::time::timeout(MAX_RUN, handler.run(job)).await {
        Ok(outcome) => outcome,
        Err(_) => {
            tracing::error!(job = job.id, kind = %job.kind, payment_id = job.payment_id.as_deref(), "job ran past {MAX_RUN:?}; dropped and retried");
            JobResult::Retry {
                after: Duration::from_secs(1),
                error: format!("ran past {MAX_RUN:?}"),
            }
        }
    };
    drop(held);
    metrics::counter!("bnpl_jobs_run_total", "kind" => job.kind.clone(), "outcome" => outcome_label(&outcome))
        .increment(1);
    if let JobResult::Deferred = outcome {
        if let Err(db_error) = jobs::defer(pool, job).await {
            // The lease expires by itself and the job is claimed again: nothing is lost.
            tracing::warn!(%db_error, job = job.id, "could not defer job");
        }
        return;
    }
    if let JobResult::Retry { after, error } = outcome {
        tracing::info!(job = job.id, kind = %job.kind, payment_id = job.payment_id.as_deref(), attempt = job.attempts, %error, "job will be retried");
        if let Err(db_error) = jobs::retry(pool, job, after, &error).await {
            // The lease expires by itself and the job is claimed again: nothing is lost.
            tracing::warn!(%db_error, job = job.id, "could not reschedule job");
        }
    }
}

fn outcome_label(outcome: &JobResult) -> &'static str {
    match outcome {
        JobResult::Completed => "completed",
        JobResult::Retry { .. } => "retry",
        JobResult::LeaseLost => "lease_lost",
        JobResult::Deferred => "deferred",
    }
}

async fn until_next_due(pool: &PgPool, poll: Duration) -> Duration {
    match jobs::next_due(pool).await {
        Ok(Some(due)) => {
            let until = (due - chrono::Utc::now()).to_std().unwrap_or(Duration::ZERO);
            until.min(poll).max(Duration::from_millis(5))
        }
        _ => poll,
    }
}

async fn listen(pool: &PgPool) -> Option<PgListener> {
    let mut listener = PgListener::connect_with(pool).await.ok()?;
    listener.listen(NOTIFY_CHANNEL).await.ok()?;
    Some(listener)
}

async fn notified(listener: &mut Option<PgListener>) {
    match listener {
        Some(active) => {
            if active.recv().await.is_err() {
                *listener = None;
                return;
            }
            // Many commits in a burst are one wake-up.
            while active.next_buffered().is_some() {}
        }
        None => std::future::pending().await,
    }
}
