//! Payment changes parked until the end of their group-committed batch, then written together
//! with one statement (design §1b: "as one statement (`UNNEST`)").
//!
//! Why: a change decided from a row the writer already holds needs no statement of its own until
//! the batch commits; on this machine each statement costs PostgreSQL a wake-up and an executor
//! start, so one statement for a batch's changes is most of the saving (docs/benchmarks.md,
//! run 15).
//!
//! Invariants:
//! - a change is parked only inside a batch (`store::deferred::current`); alone, it is written at
//!   once, exactly as before;
//! - at most one parked change per payment: a second change to the same payment writes the
//!   parked ones first, so the statement never updates a row twice and sequences stay gap-free;
//! - before the ledger does anything else in the batch (a refund, a creation, a journal entry:
//!   statements that read or write the payments), the parked changes are written;
//! - a parked change is optimistic: its caller hears `Done` before the compare-and-set ran. When
//!   one misses (another process moved the payment), the batch fails and rolls back, its rows
//!   leave the cache, and it runs together once more, its changes decided from rows read afresh
//!   ([`reads_fresh`]); failing again, every unit
//!   is re-applied alone, where each change is written at once and decided again if stale;
//! - the row cache learns a parked change only once its batch committed.

use super::payment_sql::{self, PaymentWrite, Written};
use super::rows;
use crate::store::deferred::{self, Deferred};
use crate::store::payments::PaymentRow;
use futures_util::future::BoxFuture;
use sqlx::PgConnection;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// The payment changes a batch has parked, and those it wrote but has not committed yet.
#[derive(Default)]
pub struct PaymentWrites {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    parked: Vec<PaymentWrite>,
    /// Written in the batch's transaction, cached once it commits.
    written: Vec<PaymentRow>,
    /// A write missed its compare-and-set: the batch fails.
    missed: bool,
}

/// The current batch's parked payment changes, when the caller runs in a batch.
pub(super) fn current() -> Option<Arc<PaymentWrites>> {
    deferred::current().map(|batch| batch.work::<PaymentWrites>())
}

/// Whether the caller runs in a batch that runs again after a parked change missed: decide from
/// rows read afresh.
pub(super) fn reads_fresh() -> bool {
    deferred::current().is_some_and(|batch| batch.reads_fresh())
}

/// Writes the current batch's parked changes now (before a statement that reads or writes the
/// payments they change); nothing outside a batch.
pub(super) async fn write_parked(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    match deferred::current() {
        Some(batch) => batch.flush(conn).await,
        None => Ok(()),
    }
}

impl PaymentWrites {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether a change to `payment_id` is parked.
    pub(super) fn holds(&self, payment_id: &str) -> bool {
        self.state()
            .parked
            .iter()
            .any(|parked| parked.payment_id() == payment_id)
    }

    /// Parks `write` until the batch's end (after writing a parked change to the same payment).
    pub(super) async fn park(&self, conn: &mut PgConnection, write: PaymentWrite) -> Result<(), sqlx::Error> {
        if self.holds(write.payment_id()) {
            self.write_all(conn).await?;
        }
        rows::forget(write.payment_id());
        self.state().parked.push(write);
        Ok(())
    }

    async fn write_all(&self, conn: &mut PgConnection) -> Result<(), sqlx::Error> {
        let parked = std::mem::take(&mut self.state().parked);
        if parked.is_empty() {
            return Ok(());
        }
        let results = payment_sql::write_all(conn, &parked).await?;
        let missed = results.iter().filter(|written| **written != Written::Yes).count();
        self.state().written.extend(parked.into_iter().map(|write| write.after));
        if missed > 0 {
            self.state().missed = true;
            tracing::debug!(
                missed,
                "a parked payment change missed its compare-and-set; re-applying the batch"
            );
            return Err(sqlx::Error::Protocol(format!(
                "{missed} parked payment change(s) no longer matched the payment: the batch is re-applied unit by unit"
            )));
        }
        Ok(())
    }
}

impl Deferred for PaymentWrites {
    fn flush<'c>(&'c self, conn: &'c mut PgConnection) -> BoxFuture<'c, Result<(), sqlx::Error>> {
        Box::pin(self.write_all(conn))
    }

    fn committed(&self) {
        for row in std::mem::take(&mut self.state().written) {
            rows::remember(&row);
        }
    }

    fn missed(&self) -> bool {
        self.state().missed
    }

    fn rolled_back(&self) {
        let mut state = self.state();
        let parked = std::mem::take(&mut state.parked);
        let written = std::mem::take(&mut state.written);
        drop(state);
        for row in written.iter().chain(parked.iter().map(|write| &write.after)) {
            rows::forget(&row.payment_id);
        }
    }
}
