//! The group committer's rules (design §1b, issue 16), on real PostgreSQL: units that arrive
//! together share one transaction; a poison unit fails alone and its neighbours apply; of two
//! changes to one row that arrive together, the second waits for the next batch, after the first
//! committed, also when it comes through a sibling committer; a batch whose connection dies before
//! its commit is re-applied and every unit lands exactly once; a unit hears `committed` once, only
//! for the run that committed; a lone unit whose statements stand alone runs in autocommit.

use crate::helpers::TestDb;
use bnpl::store::group_commit::{GroupCommitter, Unit};
use futures_util::future::{join_all, BoxFuture};
use sqlx::PgConnection;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Adds `delta` to the row `id` (creating it at 0), after sleeping `sleep_ms` in the database;
/// remembers the transaction it ran in, and counts the commits it was told of.
struct Add {
    id: &'static str,
    delta: i32,
    sleep_ms: u32,
    txid: Mutex<Option<i64>>,
    committed: AtomicUsize,
    /// When its last run started, and when it was told of its commit.
    started_at: Mutex<Option<Instant>>,
    committed_at: Mutex<Option<Instant>>,
}

fn add(id: &'static str, delta: i32) -> Arc<Add> {
    Arc::new(Add {
        id,
        delta,
        sleep_ms: 0,
        txid: Mutex::new(None),
        committed: AtomicUsize::new(0),
        started_at: Mutex::new(None),
        committed_at: Mutex::new(None),
    })
}

fn commits_told(unit: &Add) -> usize {
    unit.committed.load(Ordering::SeqCst)
}

impl Unit for Add {
    fn apply<'c>(&'c self, conn: &'c mut PgConnection) -> BoxFuture<'c, Result<(), sqlx::Error>> {
        Box::pin(async move {
            *self.started_at.lock().unwrap() = Some(Instant::now());
            if self.sleep_ms > 0 {
                sqlx::query("SELECT pg_sleep($1)")
                    .bind(f64::from(self.sleep_ms) / 1000.0)
                    .execute(&mut *conn)
                    .await?;
            }
            // `n >= 0` is a CHECK: a negative total is the poison.
            sqlx::query("INSERT INTO gc_rows (id, n) VALUES ($1, 0) ON CONFLICT (id) DO NOTHING")
                .bind(self.id)
                .execute(&mut *conn)
                .await?;
            sqlx::query("UPDATE gc_rows SET n = n + $2 WHERE id = $1")
                .bind(self.id)
                .bind(self.delta)
                .execute(&mut *conn)
                .await?;
            *self.txid.lock().unwrap() = Some(current_txid(conn).await?);
            Ok(())
        })
    }

    fn key(&self) -> Option<&str> {
        Some(self.id)
    }

    fn committed(&self) {
        *self.committed_at.lock().unwrap() = Some(Instant::now());
        self.committed.fetch_add(1, Ordering::SeqCst);
    }
}

/// The transaction `conn` is in.
async fn current_txid(conn: &mut PgConnection) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT txid_current()").fetch_one(conn).await
}

async fn setup() -> (TestDb, sqlx::PgPool) {
    let db = TestDb::create().await;
    let pool = db.pool().await;
    sqlx::query("CREATE TABLE gc_rows (id text PRIMARY KEY, n int NOT NULL CHECK (n >= 0))")
        .execute(&pool)
        .await
        .unwrap();
    (db, pool)
}

async fn value(pool: &sqlx::PgPool, id: &str) -> Option<i32> {
    sqlx::query_scalar("SELECT n FROM gc_rows WHERE id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await
        .unwrap()
}

/// Queues every unit before the committer runs (this test's runtime has one thread), so they form
/// one batch; returns each unit's result.
async fn apply_together(committer: &GroupCommitter, units: &[Arc<Add>]) -> Vec<bool> {
    join_all(
        units
            .iter()
            .map(|unit| committer.apply(Arc::clone(unit) as Arc<dyn Unit>)),
    )
    .await
    .into_iter()
    .map(|result| result.is_ok())
    .collect()
}

fn txid(unit: &Add) -> Option<i64> {
    *unit.txid.lock().unwrap()
}

#[tokio::test]
async fn units_that_arrive_together_share_one_transaction() {
    let (_db, pool) = setup().await;
    let committer = GroupCommitter::start(pool.clone(), 1, 32);
    let units: Vec<Arc<Add>> = ["a", "b", "c", "d", "e"].into_iter().map(|id| add(id, 1)).collect();
    assert_eq!(apply_together(&committer, &units).await, vec![true; 5]);
    let txids: std::collections::BTreeSet<Option<i64>> = units.iter().map(|u| txid(u)).collect();
    assert_eq!(txids.len(), 1, "one transaction for the five: {txids:?}");
    assert!(
        units.iter().all(|unit| commits_told(unit) == 1),
        "each told of the commit once"
    );
    for id in ["a", "b", "c", "d", "e"] {
        assert_eq!(value(&pool, id).await, Some(1));
    }
    // A lone unit goes at once, in a transaction of its own.
    let lone = add("f", 1);
    assert!(committer.apply(Arc::clone(&lone) as Arc<dyn Unit>).await.is_ok());
    assert_ne!(txid(&lone), txid(&units[0]));
}

#[tokio::test]
async fn a_poison_unit_fails_alone_and_its_neighbours_apply_once() {
    let (_db, pool) = setup().await;
    let committer = GroupCommitter::start(pool.clone(), 1, 32);
    let units = vec![add("a", 1), add("b", 1), add("poison", -1), add("c", 1)];
    let results = apply_together(&committer, &units).await;
    assert_eq!(results, vec![true, true, false, true], "only the poison fails");
    for id in ["a", "b", "c"] {
        assert_eq!(value(&pool, id).await, Some(1), "{id} applied exactly once");
    }
    assert_eq!(value(&pool, "poison").await, None, "the poison changed nothing");
    // Told of the commit once each (the failed batch's run was never committed), the poison never.
    let told: Vec<usize> = units.iter().map(|unit| commits_told(unit)).collect();
    assert_eq!(told, vec![1, 1, 0, 1]);
}

#[tokio::test]
async fn a_second_change_to_one_row_waits_for_the_next_batch_after_the_first_committed() {
    let (_db, pool) = setup().await;
    // Two committers: without the rule, the second would run at once beside the first's batch.
    let committer = GroupCommitter::start(pool.clone(), 2, 32);
    // +2 then -1 is fine in this order; the other order would go below zero and fail.
    let mut first = add("x", 2);
    Arc::get_mut(&mut first).unwrap().sleep_ms = 300;
    let units = vec![add("z", 5), first, add("x", -1), add("y", 1)];
    assert_eq!(apply_together(&committer, &units).await, vec![true; 4]);
    assert_eq!(value(&pool, "x").await, Some(1));
    assert_eq!(txid(&units[0]), txid(&units[1]), "z and the first x share a batch");
    assert_ne!(txid(&units[1]), txid(&units[2]), "the second x waits for another batch");
    let first_committed = units[1].committed_at.lock().unwrap().expect("first committed");
    let second_started = units[2].started_at.lock().unwrap().expect("second ran");
    assert!(
        second_started >= first_committed,
        "the second x started only once the first had committed"
    );
}

#[tokio::test]
async fn a_change_waits_while_a_sibling_committer_runs_a_batch_with_its_row() {
    let (_db, pool) = setup().await;
    let intake = GroupCommitter::start(pool.clone(), 1, 32);
    let callbacks = intake.sibling(1, 32);
    let mut first = add("x", 2);
    Arc::get_mut(&mut first).unwrap().sleep_ms = 300;
    let second = add("x", -1);
    let other = add("y", 1);
    // The sibling's units arrive once the batch holding x runs, whichever committer task the
    // runtime would have polled first.
    let sibling_units = async {
        while first.started_at.lock().unwrap().is_none() {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        tokio::join!(
            callbacks.apply(Arc::clone(&second) as Arc<dyn Unit>),
            callbacks.apply(Arc::clone(&other) as Arc<dyn Unit>),
        )
    };
    let (a, (b, c)) = tokio::join!(intake.apply(Arc::clone(&first) as Arc<dyn Unit>), sibling_units);
    assert!(a.is_ok() && b.is_ok() && c.is_ok(), "{a:?} {b:?} {c:?}");
    assert_eq!(value(&pool, "x").await, Some(1));
    let first_committed = first.committed_at.lock().unwrap().expect("first committed");
    let second_started = second.started_at.lock().unwrap().expect("second ran");
    assert!(
        second_started >= first_committed,
        "the sibling's change to x started only once the batch holding x had committed"
    );
    let other_started = other.started_at.lock().unwrap().expect("y ran");
    assert!(other_started < first_committed, "a change to another row did not wait");
}

/// On a runtime with several threads, two sibling committers of two tasks each, fed at once with
/// many changes to four rows: no two changes to one row ever run side by side (each starts only
/// after the one before it committed), whichever committer and thread runs them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn changes_to_one_row_never_overlap_across_sibling_committers_and_threads() {
    let (_db, pool) = setup().await;
    let intake = GroupCommitter::start(pool.clone(), 2, 8);
    let callbacks = intake.sibling(2, 8);
    let keys = ["k0", "k1", "k2", "k3"];
    let units: Vec<Arc<Add>> = (0..48)
        .map(|n| {
            let mut unit = add(keys[n % keys.len()], 1);
            Arc::get_mut(&mut unit).unwrap().sleep_ms = 5;
            unit
        })
        .collect();
    let runs: Vec<_> = units
        .iter()
        .enumerate()
        .map(|(n, unit)| {
            // Every row gets changes through both committers.
            let committer = if (n / keys.len()) % 2 == 0 {
                intake.clone()
            } else {
                callbacks.clone()
            };
            let unit = Arc::clone(unit) as Arc<dyn Unit>;
            tokio::spawn(async move { committer.apply(unit).await.is_ok() })
        })
        .collect();
    for run in join_all(runs).await {
        assert!(run.unwrap(), "every change applied");
    }
    for key in keys {
        assert_eq!(value(&pool, key).await, Some(12), "{key}: each of its changes once");
        let mut spans: Vec<(Instant, Instant)> = units
            .iter()
            .filter(|unit| unit.id == key)
            .map(|unit| {
                let started = unit.started_at.lock().unwrap().expect("ran");
                let committed = unit.committed_at.lock().unwrap().expect("committed");
                (started, committed)
            })
            .collect();
        spans.sort();
        for pair in spans.windows(2) {
            assert!(
                pair[1].0 >= pair[0].1,
                "{key}: a change started before the one before it had committed"
            );
        }
    }
}

#[tokio::test]
async fn a_batch_whose_connection_dies_before_commit_lands_every_unit_once() {
    let (db, pool) = setup().await;
    let committer = GroupCommitter::start(pool.clone(), 1, 32);
    let slow = Arc::new(Add {
        id: "slow",
        delta: 1,
        sleep_ms: 1500,
        txid: Mutex::new(None),
        committed: AtomicUsize::new(0),
        started_at: Mutex::new(None),
        committed_at: Mutex::new(None),
    });
    let units = vec![add("a", 1), Arc::clone(&slow), add("b", 1)];
    let killer = {
        let name = db.name.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(400)).await;
            crate::helpers::terminate_sessions_sleeping_in(&name).await
        })
    };
    let results = apply_together(&committer, &units).await;
    assert!(
        killer.await.unwrap() >= 1,
        "the batch's connection was killed mid-batch"
    );
    assert_eq!(results, vec![true; 3], "re-applied unit by unit after the lost batch");
    for id in ["a", "slow", "b"] {
        assert_eq!(value(&pool, id).await, Some(1), "{id} landed exactly once");
    }
}

/// Reads its transaction id twice; says whether it needs a transaction when alone.
struct TwoReads {
    needs_transaction: bool,
    txids: Mutex<Vec<i64>>,
}

impl Unit for TwoReads {
    fn apply<'c>(&'c self, conn: &'c mut PgConnection) -> BoxFuture<'c, Result<(), sqlx::Error>> {
        Box::pin(async move {
            let mut txids = Vec::new();
            for _ in 0..2 {
                txids.push(
                    sqlx::query_scalar("SELECT txid_current()")
                        .fetch_one(&mut *conn)
                        .await?,
                );
            }
            *self.txids.lock().unwrap() = txids;
            Ok(())
        })
    }

    fn alone_needs_transaction(&self) -> bool {
        self.needs_transaction
    }
}

fn two_reads(needs_transaction: bool) -> Arc<TwoReads> {
    Arc::new(TwoReads {
        needs_transaction,
        txids: Mutex::new(Vec::new()),
    })
}

/// Distinct transactions the unit's two statements ran in.
fn transactions_of(unit: &TwoReads) -> usize {
    let txids = unit.txids.lock().unwrap();
    assert_eq!(txids.len(), 2, "both statements ran");
    txids.iter().collect::<std::collections::BTreeSet<_>>().len()
}

#[tokio::test]
async fn a_lone_unit_whose_statements_stand_alone_runs_in_autocommit_and_together_it_shares() {
    let (_db, pool) = setup().await;
    let committer = GroupCommitter::start(pool.clone(), 1, 32);
    let standalone = two_reads(false);
    committer.apply(Arc::clone(&standalone) as Arc<dyn Unit>).await.unwrap();
    assert_eq!(transactions_of(&standalone), 2, "alone: one statement, one commit");
    let transactional = two_reads(true);
    committer
        .apply(Arc::clone(&transactional) as Arc<dyn Unit>)
        .await
        .unwrap();
    assert_eq!(transactions_of(&transactional), 1, "alone, in a transaction of its own");
    // In a batch, every unit shares the batch's transaction.
    let batch = [two_reads(false), two_reads(false)];
    let results = join_all(
        batch
            .iter()
            .map(|unit| committer.apply(Arc::clone(unit) as Arc<dyn Unit>)),
    )
    .await;
    assert!(results.iter().all(Result::is_ok));
    let txids: std::collections::BTreeSet<i64> = batch
        .iter()
        .flat_map(|unit| unit.txids.lock().unwrap().clone())
        .collect();
    assert_eq!(txids.len(), 1, "two units of one batch, one transaction: {txids:?}");
}

/// The reads of [`record_reads`]: the transaction each ran in and the keys it was given.
static BATCH_READS: Mutex<Vec<(i64, Vec<String>)>> = Mutex::new(Vec::new());

fn record_reads(conn: &mut PgConnection, keys: Vec<String>) -> BoxFuture<'_, Result<(), sqlx::Error>> {
    Box::pin(async move {
        let txid = current_txid(conn).await?;
        BATCH_READS.lock().unwrap().push((txid, keys));
        Ok(())
    })
}

/// A unit that remembers its transaction.
struct RemembersTxid {
    id: &'static str,
    txid: Mutex<Option<i64>>,
}

impl Unit for RemembersTxid {
    fn apply<'c>(&'c self, conn: &'c mut PgConnection) -> BoxFuture<'c, Result<(), sqlx::Error>> {
        Box::pin(async move {
            *self.txid.lock().unwrap() = Some(current_txid(conn).await?);
            Ok(())
        })
    }

    fn key(&self) -> Option<&str> {
        Some(self.id)
    }
}

#[tokio::test]
async fn a_batch_reads_first_in_one_go_what_its_units_would_each_read() {
    let (_db, pool) = setup().await;
    let committer = GroupCommitter::start(pool.clone(), 1, 32).sibling_reading_first(1, 32, record_reads);
    let unit = |id| {
        Arc::new(RemembersTxid {
            id,
            txid: Mutex::new(None),
        })
    };
    let units = [unit("rf-c"), unit("rf-b"), unit("rf-a")];
    let results = join_all(
        units
            .iter()
            .map(|unit| committer.apply(Arc::clone(unit) as Arc<dyn Unit>)),
    )
    .await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let reads: Vec<(i64, Vec<String>)> = BATCH_READS
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, keys)| keys.iter().any(|key| key.starts_with("rf-")))
        .cloned()
        .collect();
    assert_eq!(reads.len(), 1, "one read for the batch: {reads:?}");
    assert_eq!(
        reads[0].1,
        vec!["rf-a", "rf-b", "rf-c"],
        "the keys of the batch's units, in key order"
    );
    let batch = *units[0].txid.lock().unwrap();
    assert_eq!(Some(reads[0].0), batch, "read in the batch's own transaction");
    assert!(
        units.iter().all(|unit| *unit.txid.lock().unwrap() == batch),
        "one batch"
    );
    // A unit alone reads for itself.
    let alone = unit("rf-d");
    committer.apply(Arc::clone(&alone) as Arc<dyn Unit>).await.unwrap();
    assert!(!BATCH_READS
        .lock()
        .unwrap()
        .iter()
        .any(|(_, keys)| keys.contains(&"rf-d".to_owned())));
}
