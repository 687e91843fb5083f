//! Lease renewal: while a process runs a job it extends the job's lease every third of the lease,
//! so the lease can be short. A process that dies (SIGKILL, OOM, lost host) stops renewing and its
//! jobs become claimable one lease later, not after the longest imaginable provider call.
//!
//! Renewal is fenced like completion: only a row still `running` under the holder's lease token is
//! extended, so a job another worker took over is never extended by the one that lost it. Every
//! job a process holds is renewed by one statement per period, whatever the number held.

use crate::store::jobs::{self, ClaimedJob};
use sqlx::PgPool;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// The jobs this process is running, by id, with their lease tokens.
#[derive(Clone)]
pub struct LeaseKeeper {
    lease: Duration,
    held: Arc<Mutex<HashMap<i64, Uuid>>>,
}

/// Holding a job's lease; dropping it stops the renewal (whatever became of the job).
pub struct Held {
    id: i64,
    held: Arc<Mutex<HashMap<i64, Uuid>>>,
}

impl Drop for Held {
    fn drop(&mut self) {
        self.held
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.id);
    }
}

impl LeaseKeeper {
    pub fn new(lease: Duration) -> Self {
        Self {
            lease,
            held: Arc::default(),
        }
    }

    /// The lease a claim is taken under.
    pub fn lease(&self) -> Duration {
        self.lease
    }

    /// Renews `job`'s lease until the returned guard is dropped.
    pub fn hold(&self, job: &ClaimedJob) -> Held {
        self.held
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(job.id, job.lease_token);
        Held {
            id: job.id,
            held: Arc::clone(&self.held),
        }
    }

    fn snapshot(&self) -> (Vec<i64>, Vec<Uuid>) {
        self.held
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(id, token)| (*id, *token))
            .unzip()
    }

    /// Renews every held lease each third of the lease until `shutdown`.
    pub async fn run(self, pool: PgPool, shutdown: CancellationToken) {
        let mut ticks = tokio::time::interval(self.lease / 3);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                () = shutdown.cancelled() => return,
            }
            let (ids, tokens) = self.snapshot();
            if ids.is_empty() {
                continue;
            }
            if let Err(error) = jobs::renew(&pool, &ids, &tokens, self.lease).await {
                // The next tick tries again; a lease that runs out meanwhile is fenced, not lost.
                tracing::warn!(%error, jobs = ids.len(), "renewing job leases failed");
            }
        }
    }
}

impl std::fmt::Debug for LeaseKeeper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeaseKeeper")
            .field("lease", &self.lease)
            .finish_non_exhaustive()
    }
}
