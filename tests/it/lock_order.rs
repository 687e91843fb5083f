//! Row locks for a change let the foreign-key checks of referencing rows through (`FOR NO KEY
//! UPDATE`): a transaction that schedules a job for a payment another transaction holds locked is
//! not blocked by it, so the two cannot deadlock over the job's dedupe key (issue 16, run 17: a
//! refund's callback against its send job's transaction). A status check that settles a payment
//! takes the payment's row before its job's, as a callback bringing the check forward does.

use crate::harness::{fast_timing, humm_purchase, spawn_sandboxed};
use crate::helpers::TestDb;
use bnpl::store::jobs::{self, NewJob};
use bnpl::store::payments;
use sqlx::PgPool;
use std::time::Duration;

/// Long enough for an unblocked insert on a loaded box; a blocked one waits for good.
const UNBLOCKED_WITHIN: Duration = Duration::from_secs(5);

async fn migrated_with_payment(payment_id: &str) -> (TestDb, PgPool) {
    let (db, pool) = TestDb::migrated().await;
    let mut conn = pool.acquire().await.unwrap();
    crate::helpers::create_humm_payment(&mut conn, payment_id).await;
    (db, pool)
}

fn check_of(payment_id: &str) -> NewJob<'_> {
    NewJob {
        kind: "refund_check",
        payment_id: Some(payment_id),
        refund_id: None,
        dedupe_key: Some(format!("lock-order-check:{payment_id}")),
        payload: serde_json::json!({}),
        due_at: chrono::Utc::now(),
        max_attempts: 5,
    }
}

#[tokio::test]
async fn a_payment_locked_for_a_change_does_not_block_scheduling_its_job_elsewhere() {
    let (_db, pool) = migrated_with_payment("lock-order-1").await;
    // The send job's side: the payment locked for a change, its transaction still open.
    let mut holding = pool.begin().await.unwrap();
    payments::lock(&mut holding, "lock-order-1")
        .await
        .unwrap()
        .expect("payment");
    // The callback's side: schedules the payment's check (dedupe key first, then the foreign-key
    // check on the payment) in a transaction of its own.
    let mut scheduling = pool.begin().await.unwrap();
    let scheduled = tokio::time::timeout(
        UNBLOCKED_WITHIN,
        jobs::schedule(&mut scheduling, &check_of("lock-order-1")),
    )
    .await;
    assert!(
        matches!(scheduled, Ok(Ok(Some(_)))),
        "the job's foreign-key check waited on the change's lock: {scheduled:?}"
    );
    // The holder schedules the same check: it waits for the other transaction, which commits,
    // and then keeps the one live job (no deadlock on either side).
    let holder_schedules = async {
        let id = jobs::schedule(&mut holding, &check_of("lock-order-1")).await;
        holding.commit().await.unwrap();
        id
    };
    let other_commits = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        scheduling.commit().await
    };
    let (held, committed) = tokio::join!(holder_schedules, other_commits);
    committed.expect("the scheduling transaction commits");
    held.expect("the holder's schedule meets the committed job, no deadlock");
    let live: i64 = sqlx::query_scalar("SELECT count(*) FROM jobs WHERE dedupe_key = 'lock-order-check:lock-order-1'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(live, 1);
}

/// A callback's transaction holds the payment (its change) and then brings the payment's status
/// check forward, which touches the check's job row. The check, running and settling the same
/// payment at that moment, must not hold its job row while it waits for the payment. Its lost
/// callback (`fault-lost-callback`) makes the status check the one to settle the payment.
#[tokio::test]
async fn a_status_check_settling_a_payment_waits_for_it_before_taking_its_job_row() {
    const WAIT: Duration = Duration::from_secs(20);
    let mut env = spawn_sandboxed(fast_timing(), |_| {}).await;
    let id = "lock-order-fault-lost-callback";
    env.publish("purchase.create", &humm_purchase(id, 15000)).await;
    env.wait_for_event(id, "payment.action_required", WAIT).await;
    env.customer_finishes(id, "success").await;
    let pool = env.app.db.pool().await;
    // The callback's side, holding the payment as its change does.
    let mut callback = pool.begin().await.unwrap();
    // If the two sides cross, this side is the one PostgreSQL picks as the deadlock's victim, so
    // the crossing shows here rather than as a retried job.
    sqlx::query("SET LOCAL deadlock_timeout = '100ms'")
        .execute(&mut *callback)
        .await
        .unwrap();
    payments::lock(&mut callback, id).await.unwrap().expect("payment");
    // The status check (due at base time) learns the payment succeeded and waits for it.
    crate::helpers::wait_for_a_lock_wait(&pool, WAIT).await;
    // The callback brings the check forward (`check_now`), then commits.
    let forward = tokio::time::timeout(
        UNBLOCKED_WITHIN,
        bnpl::flows::schedule::status_check(&mut callback, id, chrono::Utc::now(), 0),
    )
    .await;
    assert!(
        matches!(forward, Ok(Ok(()))),
        "the check's job row was held by a check waiting for the payment: {forward:?}"
    );
    callback.commit().await.unwrap();
    env.wait_for_event(id, "payment.succeeded", WAIT).await;
    let settled_by_check = env
        .db_i64(
            "SELECT count(*) FROM audit_log WHERE payment_id = $1 AND to_status = 'succeeded' AND actor = 'job:status_check'",
            id,
        )
        .await;
    assert_eq!(settled_by_check, 1, "the waiting status check settled it once");
    env.app.stop().await.unwrap();
}
