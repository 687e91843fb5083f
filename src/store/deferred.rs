//! Work that the units of a group-committed batch leave for the end of their shared transaction
//! (design §1b): the ledger parks each payment write here and the batch writes them all with one
//! statement just before its commit, instead of one statement per unit.
//!
//! Invariants: a batch's deferred work lives only while the batch runs (a task-local scope set by
//! the group committer around the shared transaction; outside one, [`current`] is None and
//! writers write at once); it runs inside that transaction, so it commits or rolls back with the
//! units, and hears which ([`Deferred::committed`], [`Deferred::rolled_back`]); one kind of
//! deferred work per batch (the ledger's), created by the first unit that defers.

use futures_util::future::BoxFuture;
use sqlx::PgConnection;
use std::any::Any;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};

/// Work run once for the whole batch, in its transaction, just before the commit.
pub trait Deferred: Send + Sync + 'static {
    /// Runs what was left so far. An error fails the batch: it is rolled back and its units are
    /// re-applied one by one, each writing at once.
    fn flush<'c>(&'c self, conn: &'c mut PgConnection) -> BoxFuture<'c, Result<(), sqlx::Error>>;

    /// The batch's transaction committed.
    fn committed(&self);

    /// The batch's transaction rolled back: what was flushed never happened.
    fn rolled_back(&self);

    /// Whether the batch failed only because a write missed its compare-and-set (decided from a
    /// row that had moved): worth running together again, from the rows as they are now.
    fn missed(&self) -> bool;
}

/// The deferred work of one running batch.
#[derive(Default)]
pub struct Batch {
    slot: Mutex<Option<Slot>>,
    /// The batch runs again after a write missed: writers read every row afresh.
    fresh_reads: bool,
}

struct Slot {
    typed: Arc<dyn Any + Send + Sync>,
    work: Arc<dyn Deferred>,
}

tokio::task_local! {
    static CURRENT: Arc<Batch>;
}

/// The batch the calling unit runs in, when it runs in a shared transaction.
pub fn current() -> Option<Arc<Batch>> {
    CURRENT.try_with(Arc::clone).ok()
}

/// Runs `future` (a batch's units and its commit) with `batch` as the [`current`] one.
pub(crate) async fn scope<F: Future>(batch: Arc<Batch>, future: F) -> F::Output {
    CURRENT.scope(batch, future).await
}

impl Batch {
    /// A batch run again after a write missed its compare-and-set: its writers decide from rows
    /// read afresh, not from copies that may be what missed.
    pub(crate) fn reading_fresh() -> Self {
        Self {
            fresh_reads: true,
            ..Self::default()
        }
    }

    /// Whether writers must read every row afresh ([`Batch::reading_fresh`]).
    pub fn reads_fresh(&self) -> bool {
        self.fresh_reads
    }

    /// The batch's deferred work of type `T`, created on first use.
    pub fn work<T: Deferred + Default>(&self) -> Arc<T> {
        let mut slot = self.slot.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(existing) = slot.as_ref() {
            if let Ok(typed) = Arc::clone(&existing.typed).downcast::<T>() {
                return typed;
            }
        }
        let work = Arc::new(T::default());
        *slot = Some(Slot {
            typed: Arc::clone(&work) as Arc<dyn Any + Send + Sync>,
            work: Arc::clone(&work) as Arc<dyn Deferred>,
        });
        work
    }

    fn deferred(&self) -> Option<Arc<dyn Deferred>> {
        let slot = self.slot.lock().unwrap_or_else(PoisonError::into_inner);
        slot.as_ref().map(|slot| Arc::clone(&slot.work))
    }

    pub(crate) async fn flush(&self, conn: &mut PgConnection) -> Result<(), sqlx::Error> {
        match self.deferred() {
            Some(work) => work.flush(conn).await,
            None => Ok(()),
        }
    }

    pub(crate) fn committed(&self) {
        if let Some(work) = self.deferred() {
            work.committed();
        }
    }

    pub(crate) fn missed(&self) -> bool {
        self.deferred().is_some_and(|work| work.missed())
    }

    pub(crate) fn rolled_back(&self) {
        if let Some(work) = self.deferred() {
            work.rolled_back();
        }
    }
}
