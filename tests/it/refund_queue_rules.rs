//! The refund queue's one rule on real PostgreSQL: a refund whose outcome is unknown (in flight
//! or in review) blocks its queue. Two layers hold it, and each is tested alone: the promote
//! finds no free head (it does not even try, so no dispatcher meets a constraint error on every
//! poll), and the database refuses a second such refund of a queue whatever the code does.

use crate::helpers::{succeeded_humm_payment_with_refunds, TestDb};
use bnpl::ledger::refund as ledger_refund;
use sqlx::PgPool;
use std::time::Duration;

const QUEUE: &str = "humm:default";

/// A succeeded payment `ord-q` with `refund_ids` queued on [`QUEUE`] in this order.
async fn queued_refunds(refund_ids: &[&str]) -> (TestDb, PgPool) {
    let (db, pool) = TestDb::migrated().await;
    let mut conn = pool.acquire().await.unwrap();
    succeeded_humm_payment_with_refunds(&mut conn, "ord-q", refund_ids).await;
    drop(conn);
    (db, pool)
}

async fn promote(pool: &PgPool) -> Option<ledger_refund::Promoted> {
    ledger_refund::promote(pool, QUEUE, "test", "refund_send", Duration::from_secs(60))
        .await
        .unwrap()
}

/// A succeeded payment `ord-q` with refunds `rf-q1` (promoted, then sent to review) and `rf-q2`
/// (queued behind it).
async fn a_queue_blocked_by_a_review() -> (TestDb, PgPool) {
    let (db, pool) = queued_refunds(&["rf-q1", "rf-q2"]).await;
    let first = promote(&pool).await.expect("the head promoted");
    assert_eq!(first.refund.refund_id, "rf-q1");
    sqlx::query(
        "UPDATE refunds SET status = 'needs_review', review_reason = 'no_definite_answer' WHERE refund_id = 'rf-q1'",
    )
    .execute(&pool)
    .await
    .unwrap();
    (db, pool)
}

/// Refunds leave their queue in the order they were accepted, whatever order the table keeps
/// them in (the first one, changed after the others came, is stored last) and whatever plan the
/// database picks: with index scans off, only the query's own order can put it first.
#[tokio::test]
async fn the_head_is_the_earliest_queued_refund_whatever_the_tables_order() {
    let (db, pool) = queued_refunds(&["rf-o1", "rf-o2", "rf-o3"]).await;
    sqlx::query("UPDATE refunds SET reason = 'moved to the end of the table' WHERE refund_id = 'rf-o1'")
        .execute(&pool)
        .await
        .unwrap();
    for setting in ["enable_indexscan", "enable_bitmapscan", "enable_indexonlyscan"] {
        sqlx::query(&format!(
            "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET {setting} = off', current_database()); END $$"
        ))
        .execute(&pool)
        .await
        .unwrap();
    }
    pool.close().await;
    // New connections take the settings.
    let pool = db.pool().await;
    let stored: Vec<String> = sqlx::query_scalar("SELECT refund_id FROM refunds")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(
        stored.last().map(String::as_str),
        Some("rf-o1"),
        "the table's own order"
    );
    let mut sent = Vec::new();
    for _ in 0..3 {
        let promoted = promote(&pool).await.expect("the next head");
        sqlx::query("UPDATE refunds SET status = 'succeeded', final_at = now() WHERE refund_id = $1")
            .bind(&promoted.refund.refund_id)
            .execute(&pool)
            .await
            .unwrap();
        sent.push(promoted.refund.refund_id);
    }
    assert_eq!(sent, ["rf-o1", "rf-o2", "rf-o3"]);
    pool.close().await;
}

#[tokio::test]
async fn a_refund_in_review_blocks_its_queue_and_the_promote_does_not_try() {
    let (_db, pool) = a_queue_blocked_by_a_review().await;
    let promoted = ledger_refund::promote(&pool, QUEUE, "test", "refund_send", Duration::from_secs(60)).await;
    assert!(
        matches!(promoted, Ok(None)),
        "nothing to promote, and no error: {promoted:?}"
    );
    let queued: String = sqlx::query_scalar("SELECT status FROM refunds WHERE refund_id = 'rf-q2'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(queued, "queued");
    pool.close().await;
}

#[tokio::test]
async fn the_database_refuses_a_second_unfinished_refund_in_a_queue() {
    let (_db, pool) = a_queue_blocked_by_a_review().await;
    for status in ["in_flight", "needs_review"] {
        let refused = sqlx::query("UPDATE refunds SET status = $1 WHERE refund_id = 'rf-q2'")
            .bind(status)
            .execute(&pool)
            .await
            .expect_err("a second unfinished refund in the queue");
        assert_eq!(
            refused.as_database_error().and_then(|e| e.code()).as_deref(),
            Some("23505"),
            "{status}: {refused}"
        );
    }
    pool.close().await;
}

/// A refund queued from a payment row another writer has moved on from writes nothing and
/// fails, so its transaction rolls back and is tried again: never a refund in the queue without
/// its `refund.queued` (the sequence is what the event takes).
#[tokio::test]
async fn a_refund_queued_from_a_stale_payment_writes_nothing() {
    let (_db, pool) = queued_refunds(&[]).await;
    let mut conn = pool.acquire().await.unwrap();
    let stale = bnpl::store::payments::get(&mut conn, "ord-q").await.unwrap().unwrap();
    sqlx::query("UPDATE payments SET last_sequence = last_sequence + 1 WHERE payment_id = 'ord-q'")
        .execute(&mut *conn)
        .await
        .unwrap();
    let refund = bnpl::store::refunds::NewRefund {
        refund_id: "rf-stale",
        payment_id: "ord-q",
        provider: "humm",
        account: "default",
        queue_key: QUEUE,
        amount_minor: 1_000,
        currency: "GBP",
        reason: None,
        requested_by: "finance",
    };
    let queued = ledger_refund::enqueue(&mut conn, &refund, &stale, bnpl::ledger::Origin::default()).await;
    assert!(queued.is_err(), "{queued:?}");
    let written: (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM refunds), (SELECT count(*) FROM outbox WHERE event_type = 'refund.queued')",
    )
    .fetch_one(&mut *conn)
    .await
    .unwrap();
    assert_eq!(written, (0, 0), "no refund, no event");
    drop(conn);
    pool.close().await;
}

/// An operator's release of a stuck head to `declined` is announced with a reason object like any
/// decline (contract §3: `{code, message, provider_code, provider_message}`), the operator's
/// words its message, and who released it in `resolved_by`.
#[tokio::test]
async fn a_head_released_as_declined_is_announced_with_a_reason_object() {
    let (_db, pool) = a_queue_blocked_by_a_review().await;
    let mut conn = pool.acquire().await.unwrap();
    let head = bnpl::store::refunds::get(&mut conn, "rf-q1").await.unwrap().unwrap();
    let change = bnpl::ledger::RefundChange {
        operator_reason: Some("ecommpay status: refund declined".to_owned()),
        ..bnpl::ledger::RefundChange::by("alice-ops")
    };
    let release = bnpl::domain::RefundEvent::Release {
        outcome: bnpl::domain::ReleaseOutcome::Declined,
    };
    let (applied, _) = ledger_refund::apply(&mut conn, &head, release, &change).await.unwrap();
    assert!(matches!(applied, bnpl::ledger::RefundApplied::Moved { .. }));
    let body: serde_json::Value =
        sqlx::query_scalar("SELECT body FROM outbox WHERE refund_id = 'rf-q1' AND event_type = 'refund.declined'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(body["reason"]["code"], "declined", "{body}");
    assert_eq!(body["reason"]["message"], "ecommpay status: refund declined", "{body}");
    assert_eq!(body["resolved_by"], "alice-ops", "{body}");
}
