//! The payments this process wrote last, kept so the next change to a payment needs no read.
//!
//! Why: a change is a compare-and-set on the status and sequence it was decided from, so the
//! writer needs the row first; reading it costs a round trip per change, while most changes
//! (a sale's answer, then its callbacks) follow one this same process just wrote. A cached row
//! that another process has moved on from only makes the compare-and-set miss, and the writer
//! then reads the row and decides again: the cache can cost a round, never a wrong write.
//!
//! Invariants: bounded ([`CAPACITY`] rows, the oldest insertion evicted first; at most twice as
//! many ids in the eviction order), so memory stays flat however many payments wait; only rows
//! the ledger itself wrote or read go in. Rows are shared (`Arc`): the cache itself never copies
//! one. A payment row carries the customer, items and metadata as JSON, and copying it on every
//! look cost callbacks about as much CPU as their signature check (7.1% against 7.5% of this
//! process, docs/benchmarks.md run 19).

use crate::store::payments::{self, PaymentRow};
use futures_util::future::BoxFuture;
use sqlx::PgConnection;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock};

/// Rows kept at most (a few KiB each).
pub const CAPACITY: usize = 4_096;

#[derive(Default)]
struct Rows {
    /// Each row with the insertion it came in by.
    by_id: HashMap<String, (u64, Arc<PaymentRow>)>,
    /// Insertions, oldest first. One whose row was forgotten (or forgotten and inserted again)
    /// stays until it reaches the front and is skipped then: forgetting needs no scan.
    order: VecDeque<(String, u64)>,
    insertions: u64,
}

fn rows() -> &'static Mutex<Rows> {
    static ROWS: OnceLock<Mutex<Rows>> = OnceLock::new();
    ROWS.get_or_init(Mutex::default)
}

/// The payment as this process last wrote or read it, or else as the database has it now.
pub async fn load(conn: &mut PgConnection, payment_id: &str) -> Result<Option<Arc<PaymentRow>>, sqlx::Error> {
    if let Some(row) = cached(payment_id) {
        return Ok(Some(row));
    }
    let row = payments::get(conn, payment_id).await?.map(Arc::new);
    if let Some(row) = &row {
        remember(Arc::clone(row));
    }
    Ok(row)
}

/// The payment as the database has it now (after a compare-and-set missed).
pub async fn reload(conn: &mut PgConnection, payment_id: &str) -> Result<Option<Arc<PaymentRow>>, sqlx::Error> {
    let row = payments::get(conn, payment_id).await?.map(Arc::new);
    match &row {
        Some(row) => remember(Arc::clone(row)),
        None => forget(payment_id),
    }
    Ok(row)
}

/// Reads, in one statement, the payments of `payment_ids` this cache lacks, and keeps them: a
/// group-committed batch calls it with its units' payments, so that the units that then
/// [`load`] them find them here instead of each reading its own (the cache holds [`CAPACITY`]
/// rows, fewer than the payments that may wait for their callbacks).
/// (A `store::group_commit::BatchReader`.)
pub fn preload(conn: &mut PgConnection, payment_ids: Vec<String>) -> BoxFuture<'_, Result<(), sqlx::Error>> {
    Box::pin(async move {
        let missing = missing(payment_ids);
        // One missing row costs its unit one read either way.
        if missing.len() < 2 {
            return Ok(());
        }
        for row in payments::get_many(conn, &missing).await? {
            remember(Arc::new(row));
        }
        Ok(())
    })
}

/// Those of `payment_ids` with no row kept: one look under the lock, no row copied.
fn missing(payment_ids: Vec<String>) -> Vec<String> {
    let Ok(rows) = rows().lock() else {
        return payment_ids;
    };
    payment_ids
        .into_iter()
        .filter(|id| !rows.by_id.contains_key(id))
        .collect()
}

fn cached(payment_id: &str) -> Option<Arc<PaymentRow>> {
    rows()
        .lock()
        .ok()?
        .by_id
        .get(payment_id)
        .map(|(_, row)| Arc::clone(row))
}

/// Keeps `row` as the latest known state of its payment.
pub fn remember(row: Arc<PaymentRow>) {
    let Ok(mut rows) = rows().lock() else { return };
    let rows = &mut *rows;
    if let Some((_, cached)) = rows.by_id.get_mut(&row.payment_id) {
        *cached = row;
        return;
    }
    rows.insertions += 1;
    let insertion = rows.insertions;
    let payment_id = row.payment_id.clone();
    rows.order.push_back((payment_id.clone(), insertion));
    rows.by_id.insert(payment_id, (insertion, row));
    while rows.by_id.len() > CAPACITY || rows.order.len() > 2 * CAPACITY {
        let Some((oldest, insertion)) = rows.order.pop_front() else {
            break;
        };
        // Only the insertion the row is cached by evicts it; an earlier one was forgotten.
        if rows
            .by_id
            .get(&oldest)
            .is_some_and(|(current, _)| *current == insertion)
        {
            rows.by_id.remove(&oldest);
        }
    }
}

/// Drops a payment's row (its writes now happen in a transaction that may roll back).
pub fn forget(payment_id: &str) {
    if let Ok(mut rows) = rows().lock() {
        rows.by_id.remove(payment_id);
    }
}
