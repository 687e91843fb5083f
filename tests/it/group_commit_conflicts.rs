//! The group committer runs a unit again when PostgreSQL failed it to resolve a conflict with
//! another transaction (a deadlock's victim, 40P01, or a serialization failure, 40001), up to
//! `CONFLICT_ATTEMPTS` runs, and tells it of each rollback; any other error reaches the caller
//! after one run.

use crate::helpers::TestDb;
use bnpl::store::group_commit::{GroupCommitter, Unit, CONFLICT_ATTEMPTS};
use futures_util::future::BoxFuture;
use sqlx::PgConnection;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Fails its first `failures` runs with SQLSTATE `code`, then inserts a row.
struct FailsFirst {
    code: &'static str,
    failures: usize,
    runs: AtomicUsize,
    rolled_back: AtomicUsize,
    committed: AtomicUsize,
}

fn fails_first(code: &'static str, failures: usize) -> Arc<FailsFirst> {
    Arc::new(FailsFirst {
        code,
        failures,
        runs: AtomicUsize::new(0),
        rolled_back: AtomicUsize::new(0),
        committed: AtomicUsize::new(0),
    })
}

impl Unit for FailsFirst {
    fn apply<'c>(&'c self, conn: &'c mut PgConnection) -> BoxFuture<'c, Result<(), sqlx::Error>> {
        Box::pin(async move {
            let run = self.runs.fetch_add(1, Ordering::SeqCst) + 1;
            if run <= self.failures {
                let raise = format!(
                    "DO $$ BEGIN RAISE EXCEPTION 'run {run}' USING ERRCODE = '{}'; END $$",
                    self.code
                );
                sqlx::query(&raise).execute(&mut *conn).await?;
            }
            sqlx::query("INSERT INTO conflict_rows (run) VALUES ($1)")
                .bind(i32::try_from(run).unwrap())
                .execute(&mut *conn)
                .await?;
            Ok(())
        })
    }

    fn rolled_back(&self) {
        self.rolled_back.fetch_add(1, Ordering::SeqCst);
    }

    fn committed(&self) {
        self.committed.fetch_add(1, Ordering::SeqCst);
    }
}

async fn setup() -> (TestDb, sqlx::PgPool, GroupCommitter) {
    let db = TestDb::create().await;
    let pool = db.pool().await;
    sqlx::query("CREATE TABLE conflict_rows (run int NOT NULL)")
        .execute(&pool)
        .await
        .unwrap();
    let committer = GroupCommitter::start(pool.clone(), 1, 32);
    (db, pool, committer)
}

async fn rows(pool: &sqlx::PgPool) -> Vec<i32> {
    sqlx::query_scalar("SELECT run FROM conflict_rows ORDER BY run")
        .fetch_all(pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_deadlock_victim_or_a_serialization_failure_is_run_again_and_applies_once() {
    let (_db, pool, committer) = setup().await;
    for code in ["40P01", "40001"] {
        let unit = fails_first(code, CONFLICT_ATTEMPTS - 1);
        committer
            .apply(Arc::clone(&unit) as Arc<dyn Unit>)
            .await
            .unwrap_or_else(|error| panic!("{code}: the caller hears of no conflict: {error}"));
        assert_eq!(unit.runs.load(Ordering::SeqCst), CONFLICT_ATTEMPTS, "{code}");
        assert_eq!(unit.rolled_back.load(Ordering::SeqCst), CONFLICT_ATTEMPTS - 1, "{code}");
        assert_eq!(unit.committed.load(Ordering::SeqCst), 1, "{code}");
    }
    assert_eq!(rows(&pool).await, [3, 3], "each unit's last run, once");
}

#[tokio::test]
async fn conflicts_without_end_and_other_errors_reach_the_caller() {
    let (_db, pool, committer) = setup().await;
    let endless = fails_first("40P01", usize::MAX);
    assert!(committer.apply(Arc::clone(&endless) as Arc<dyn Unit>).await.is_err());
    assert_eq!(endless.runs.load(Ordering::SeqCst), CONFLICT_ATTEMPTS);
    // A refused value is the unit's own fault: one run.
    let refused = fails_first("22023", 1);
    assert!(committer.apply(Arc::clone(&refused) as Arc<dyn Unit>).await.is_err());
    assert_eq!(refused.runs.load(Ordering::SeqCst), 1);
    assert!(rows(&pool).await.is_empty());
}
