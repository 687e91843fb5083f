//! Group commit (design §1b, issue 16): units of work that arrive together share one transaction,
//! so the `BEGIN`, the `COMMIT` and its WAL flush are paid once per batch instead of once per
//! unit.
//!
//! Invariants:
//! - a unit's caller hears back only after the transaction holding the unit committed (or was
//!   rolled back), so an AMQP delivery is acked only once its effect is durable;
//! - a lone unit is never delayed: a batch is what is already queued when a committer is free,
//!   with no lingering (while one batch commits, the next fills up by itself);
//! - a batch that fails as a whole is rolled back and re-applied unit by unit, each in its own
//!   transaction, so only the culprit meets the bad-command rules and its neighbours apply;
//! - units run one after another inside the transaction, in key order (rows locked in one order,
//!   so concurrent batches do not deadlock);
//! - at most one unit per key (payment) per batch, and none while a batch holding its key is
//!   running, in this committer or a sibling ([`GroupCommitter::sibling`]: a process's intake,
//!   callbacks and job results): a second unit about the same row waits for the next batch, so
//!   units of one key apply in arrival order and each reads what the one before it committed;
//! - a commit whose outcome is unknown (the connection died during it) is treated as failed: the
//!   units are re-applied one by one, and one whose effect did land finds it there (intake's
//!   dedupe, the ledger's compare-and-set), so it is applied once;
//! - a unit alone that PostgreSQL picked as a deadlock's victim (or failed to keep transactions
//!   serializable) is run again, up to [`CONFLICT_ATTEMPTS`] runs: the other transaction went
//!   on, so its caller (a provider's callback, a delivery) does not hear of a conflict it did
//!   not cause;
//! - a rolled-back unit forgets what it cached ([`Unit::rolled_back`]) before it runs again;
//! - a unit alone runs in a transaction of its own unless it says its statements stand alone
//!   ([`Unit::alone_needs_transaction`]): then it runs in autocommit, as it would without batching.

use futures_util::future::BoxFuture;
use futures_util::FutureExt as _;
use sqlx::{PgConnection, PgPool};
use std::collections::{HashSet, VecDeque};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, Mutex, Notify};

/// A piece of work that can run inside a shared transaction, and again alone if its batch fails.
/// It keeps its own result; the caller reads it after [`GroupCommitter::apply`] returned Ok.
pub trait Unit: Send + Sync + 'static {
    fn apply<'c>(&'c self, conn: &'c mut PgConnection) -> BoxFuture<'c, Result<(), sqlx::Error>>;

    /// The row the unit changes (a payment id), if any: a batch runs its units in key order, so
    /// two batches that touch the same rows lock them in the same order and never deadlock.
    fn key(&self) -> Option<&str> {
        None
    }

    /// The transaction the unit ran in was rolled back: forget anything it remembered of rows it
    /// wrote there (the ledger's row cache), so its re-run starts from what is committed.
    fn rolled_back(&self) {}

    /// The transaction the unit ran in committed: act on it (hand over what it promoted) before
    /// the caller hears back, even when the caller has gone away meanwhile.
    fn committed(&self) {}

    /// Whether the unit, run alone, needs a transaction of its own. A unit whose every statement
    /// stands on its own (one compare-and-set, retried from a fresh read) runs alone in
    /// autocommit: one round trip instead of three, so a lone change is not slowed by batching.
    fn alone_needs_transaction(&self) -> bool {
        true
    }
}

/// What a unit's last run left for its caller (or for its own `committed` hook): each run sets it
/// (a re-run after a failed batch replaces what the rolled-back run left), and it is taken once.
pub struct LastRun<T>(std::sync::Mutex<Option<T>>);

impl<T> Default for LastRun<T> {
    fn default() -> Self {
        Self(std::sync::Mutex::new(None))
    }
}

impl<T> LastRun<T> {
    /// Replaces what an earlier run left (`None` clears it).
    pub fn set(&self, value: impl Into<Option<T>>) {
        *self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = value.into();
    }

    /// What the last run left, once.
    pub fn take(&self) -> Option<T> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take()
    }
}

struct Queued {
    unit: Arc<dyn Unit>,
    done: oneshot::Sender<Result<(), sqlx::Error>>,
}

/// Reads, in a batch's transaction before its units run, the rows of the batch's keys, which its
/// units would each read first: one statement for the batch instead of one per unit.
pub type BatchReader = for<'c> fn(&'c mut PgConnection, Vec<String>) -> BoxFuture<'c, Result<(), sqlx::Error>>;

/// Applies units in shared transactions; cheap to clone.
#[derive(Clone)]
pub struct GroupCommitter {
    queue: mpsc::UnboundedSender<Queued>,
    pool: PgPool,
    keys: Arc<BusyKeys>,
}

impl std::fmt::Debug for GroupCommitter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupCommitter").finish_non_exhaustive()
    }
}

/// The keys of the batches running now, shared by sibling committers (a process's intake,
/// callbacks and job results): a unit whose key is running waits, whichever committer runs it.
#[derive(Default)]
struct BusyKeys {
    running: std::sync::Mutex<HashSet<String>>,
    /// Rung when a batch ends, so a held unit is taken up even when nothing new arrives.
    freed: Notify,
}

impl BusyKeys {
    fn running(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.running.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Why a unit was not applied.
#[derive(Debug, thiserror::Error)]
pub enum GroupError {
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error("the group committer stopped")]
    Stopped,
}

/// To a caller, a stopped committer is a closed pool: transient, and retried like one.
impl From<GroupError> for sqlx::Error {
    fn from(error: GroupError) -> Self {
        match error {
            GroupError::Database(error) => error,
            GroupError::Stopped => sqlx::Error::PoolClosed,
        }
    }
}

impl GroupCommitter {
    /// Starts `committers` tasks that take batches of at most `max_batch` units from one queue.
    /// They end when every clone of the committer is dropped.
    pub fn start(pool: PgPool, committers: usize, max_batch: usize) -> Self {
        Self::start_with(pool, committers, max_batch, Arc::default(), None)
    }

    /// Starts another committer on the same pool whose units wait for the same keys: a change to
    /// a payment never runs beside a batch of this one that changes it too, so it reads what that
    /// batch committed instead of deciding from a row about to move.
    pub fn sibling(&self, committers: usize, max_batch: usize) -> Self {
        Self::start_with(self.pool.clone(), committers, max_batch, Arc::clone(&self.keys), None)
    }

    /// [`sibling`](Self::sibling) for units that each start by reading the row of their key:
    /// its batches of more than one unit first run `reader` with their keys.
    pub fn sibling_reading_first(&self, committers: usize, max_batch: usize, reader: BatchReader) -> Self {
        Self::start_with(
            self.pool.clone(),
            committers,
            max_batch,
            Arc::clone(&self.keys),
            Some(reader),
        )
    }

    fn start_with(
        pool: PgPool,
        committers: usize,
        max_batch: usize,
        keys: Arc<BusyKeys>,
        reader: Option<BatchReader>,
    ) -> Self {
        let (queue, receiver) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            inbox: Mutex::new(Inbox {
                receiver,
                held: VecDeque::new(),
            }),
            keys: Arc::clone(&keys),
            reader,
        });
        for _ in 0..committers.max(1) {
            tokio::spawn(commit_batches(pool.clone(), Arc::clone(&shared), max_batch.max(1)));
        }
        Self { queue, pool, keys }
    }

    /// Applies `unit` in the next batch; returns once that batch committed (Ok) or the unit
    /// failed alone (Err: its own error, never a neighbour's).
    pub async fn apply(&self, unit: Arc<dyn Unit>) -> Result<(), GroupError> {
        let (done, answer) = oneshot::channel();
        self.queue
            .send(Queued { unit, done })
            .map_err(|_| GroupError::Stopped)?;
        answer
            .await
            .map_err(|_| GroupError::Stopped)?
            .map_err(GroupError::Database)
    }
}

/// What the committer tasks of one committer share.
struct Shared {
    inbox: Mutex<Inbox>,
    /// A unit whose key is running here or in a sibling waits (in `held`).
    keys: Arc<BusyKeys>,
    reader: Option<BatchReader>,
}

struct Inbox {
    receiver: mpsc::UnboundedReceiver<Queued>,
    /// Units that arrived while a unit of their key was batched or running, in arrival order.
    held: VecDeque<Queued>,
}

impl Shared {
    /// The next batch, with the keys it now holds: held units first, then what is queued, never
    /// two of one key nor one whose key is running; waits only while there is nothing to take.
    /// None once every sender is gone.
    async fn next_batch(&self, max_batch: usize) -> Option<(Vec<Queued>, RunningKeys)> {
        let mut inbox = self.inbox.lock().await;
        loop {
            // Listening before looking: a batch that ends after the look still wakes this one.
            let freed = self.keys.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            let mut batch = Vec::new();
            let mut claimed = Vec::new();
            {
                // Held for the whole scan: a key is found free and claimed in one step, so a
                // sibling scanning at the same moment cannot claim it too.
                let mut running = self.keys.running();
                let mut waiting = VecDeque::new();
                let mut consider = |queued: Queued, batch: &mut Vec<Queued>, waiting: &mut VecDeque<Queued>| {
                    let free = batch.len() < max_batch
                        && match queued.unit.key() {
                            None => true,
                            Some(key) => {
                                running.insert(key.to_owned()) && {
                                    claimed.push(key.to_owned());
                                    true
                                }
                            }
                        };
                    if free {
                        batch.push(queued);
                    } else {
                        waiting.push_back(queued);
                    }
                };
                while let Some(queued) = inbox.held.pop_front() {
                    consider(queued, &mut batch, &mut waiting);
                }
                while batch.len() < max_batch {
                    match inbox.receiver.try_recv() {
                        Ok(queued) => consider(queued, &mut batch, &mut waiting),
                        Err(_) => break,
                    }
                }
                inbox.held = waiting;
            }
            let running = RunningKeys {
                busy: Arc::clone(&self.keys),
                keys: claimed,
            };
            if !batch.is_empty() {
                return Some((batch, running));
            }
            drop(running);
            tokio::select! {
                arrived = inbox.receiver.recv() => match arrived {
                    Some(queued) => inbox.held.push_back(queued),
                    None if inbox.held.is_empty() => return None,
                    // Every sender is gone but held units remain: wait for their keys to free.
                    None => freed.await,
                },
                () = &mut freed => {}
            }
        }
    }
}

/// The keys a running batch holds: released, and the units waiting for them woken, when this is
/// dropped, however the batch ended (a panic included), so no key stays busy for good.
struct RunningKeys {
    busy: Arc<BusyKeys>,
    keys: Vec<String>,
}

impl Drop for RunningKeys {
    fn drop(&mut self) {
        if self.keys.is_empty() {
            return;
        }
        let mut running = self.busy.running();
        for key in &self.keys {
            running.remove(key);
        }
        drop(running);
        self.busy.freed.notify_waiters();
    }
}

async fn commit_batches(pool: PgPool, shared: Arc<Shared>, max_batch: usize) {
    while let Some((batch, _running)) = shared.next_batch(max_batch).await {
        metrics::counter!("bnpl_group_commit_batches_total").increment(1);
        metrics::counter!("bnpl_group_commit_units_total").increment(batch.len() as u64);
        // A unit that panics fails its batch's callers (their answers are dropped: `Stopped`, a
        // transient error they retry), never the committer: the next batch runs as usual. Every
        // unit of it hears of the rollback, so none leaves a cached row that never committed.
        let units: Vec<Arc<dyn Unit>> = batch.iter().map(|queued| Arc::clone(&queued.unit)).collect();
        if AssertUnwindSafe(run(&pool, batch, shared.reader))
            .catch_unwind()
            .await
            .is_err()
        {
            tracing::error!("a group-committed unit panicked; its batch was rolled back");
            for unit in &units {
                unit.rolled_back();
            }
        }
    }
}

/// Applies `batch` in one transaction; on any failure, each unit alone.
async fn run(pool: &PgPool, mut batch: Vec<Queued>, reader: Option<BatchReader>) {
    // Keys are distinct within a batch: the order is the lock order.
    batch.sort_by(|a, b| a.unit.key().cmp(&b.unit.key()));
    if batch.len() > 1 {
        match together(pool, &batch, reader).await {
            Ok(()) => {
                for queued in batch {
                    queued.unit.committed();
                    let _ = queued.done.send(Ok(()));
                }
                return;
            }
            Err(error) => {
                tracing::debug!(%error, size = batch.len(), "batch failed; applying its units one by one");
                for queued in &batch {
                    queued.unit.rolled_back();
                }
            }
        }
    }
    for queued in batch {
        let result = alone_again_after_conflicts(pool, queued.unit.as_ref()).await;
        match &result {
            Ok(()) => queued.unit.committed(),
            Err(_) => queued.unit.rolled_back(),
        }
        let _ = queued.done.send(result);
    }
}

async fn together(pool: &PgPool, batch: &[Queued], reader: Option<BatchReader>) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    if let Some(reader) = reader {
        let keys: Vec<String> = batch
            .iter()
            .filter_map(|queued| queued.unit.key().map(str::to_owned))
            .collect();
        if !keys.is_empty() {
            reader(&mut tx, keys).await?;
        }
    }
    for queued in batch {
        queued.unit.apply(&mut tx).await?;
    }
    tx.commit().await
}

/// Runs of a unit alone when each ends as the victim of a conflict with another transaction.
pub const CONFLICT_ATTEMPTS: usize = 3;

/// [`alone`], run again while PostgreSQL fails it to resolve a conflict (a deadlock between two
/// writers of one payment's jobs, say), at most [`CONFLICT_ATTEMPTS`] times in all.
async fn alone_again_after_conflicts(pool: &PgPool, unit: &dyn Unit) -> Result<(), sqlx::Error> {
    let mut runs = 1;
    loop {
        match alone(pool, unit).await {
            Err(error) if runs < CONFLICT_ATTEMPTS && super::sqlstate::lost_a_conflict(&error) => {
                tracing::warn!(%error, runs, "a unit lost a conflict with another transaction; running it again");
                metrics::counter!("bnpl_group_commit_conflict_retries_total").increment(1);
                unit.rolled_back();
                runs += 1;
            }
            result => return result,
        }
    }
}

async fn alone(pool: &PgPool, unit: &dyn Unit) -> Result<(), sqlx::Error> {
    if !unit.alone_needs_transaction() {
        let mut conn = pool.acquire().await?;
        return unit.apply(&mut conn).await;
    }
    let mut tx = pool.begin().await?;
    unit.apply(&mut tx).await?;
    tx.commit().await
}
