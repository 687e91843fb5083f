//! The payments this process wrote last, kept so the next change to a payment needs no read.
//!
//! Why: a change is a compare-and-set on the status and sequence it was decided from, so the
//! writer needs the row first; reading it costs a round trip per change, while most changes
//! (a sale's answer, then its callbacks) follow one this same process just wrote. A cached row
//! that another process has moved on from only makes the compare-and-set miss, and the writer
//! then reads the row and decides again: the cache can cost a round, never a wrong write.
//!
//! Invariants: bounded ([`CAPACITY`] rows, the oldest insertion evicted first), so memory stays
//! flat however many payments wait; only rows the ledger itself wrote or read go in.

use crate::store::payments::{self, PaymentRow};
use sqlx::PgConnection;
use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, OnceLock};

/// Rows kept at most (a few KiB each).
pub const CAPACITY: usize = 4_096;

#[derive(Default)]
struct Rows {
    by_id: HashMap<String, PaymentRow>,
    order: VecDeque<String>,
}

fn rows() -> &'static Mutex<Rows> {
    static ROWS: OnceLock<Mutex<Rows>> = OnceLock::new();
    ROWS.get_or_init(Mutex::default)
}

/// The payment as this process last wrote or read it, or else as the database has it now.
pub async fn load(conn: &mut PgConnection, payment_id: &str) -> Result<Option<PaymentRow>, sqlx::Error> {
    if let Some(row) = cached(payment_id) {
        return Ok(Some(row));
    }
    let row = payments::get(conn, payment_id).await?;
    if let Some(row) = &row {
        remember(row);
    }
    Ok(row)
}

/// The payment as the database has it now (after a compare-and-set missed).
pub async fn reload(conn: &mut PgConnection, payment_id: &str) -> Result<Option<PaymentRow>, sqlx::Error> {
    let row = payments::get(conn, payment_id).await?;
    match &row {
        Some(row) => remember(row),
        None => forget(payment_id),
    }
    Ok(row)
}

/// `known`, or the row this process wrote or read last when that one is further on (a job's copy,
/// read before its provider call, is often behind the callbacks committed meanwhile).
pub fn newer(known: &PaymentRow) -> PaymentRow {
    match cached(&known.payment_id) {
        Some(row) if row.last_sequence > known.last_sequence => row,
        _ => known.clone(),
    }
}

fn cached(payment_id: &str) -> Option<PaymentRow> {
    rows().lock().ok()?.by_id.get(payment_id).cloned()
}

/// Keeps `row` as the latest known state of its payment.
pub fn remember(row: &PaymentRow) {
    let Ok(mut rows) = rows().lock() else { return };
    if rows.by_id.insert(row.payment_id.clone(), row.clone()).is_none() {
        rows.order.push_back(row.payment_id.clone());
        while rows.order.len() > CAPACITY {
            if let Some(oldest) = rows.order.pop_front() {
                rows.by_id.remove(&oldest);
            }
        }
    }
}

/// Drops a payment's row (its writes now happen in a transaction that may roll back).
pub fn forget(payment_id: &str) {
    if let Ok(mut rows) = rows().lock() {
        // Its place in `order` stays until it comes up for eviction (scanning `order` here would
        // cost every batched change a pass over the whole cache); evicting an id that was
        // remembered again since then only costs a read later.
        rows.by_id.remove(payment_id);
    }
}
