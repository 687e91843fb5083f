//! The refund queue's one rule on real PostgreSQL: a refund whose outcome is unknown (in flight
//! or in review) blocks its queue. Two layers hold it, and each is tested alone: the promote
//! finds no free head (it does not even try, so no dispatcher meets a constraint error on every
//! poll), and the database refuses a second such refund of a queue whatever the code does.

use crate::helpers::{create_humm_payment, TestDb};
use bnpl::domain::PaymentEvent;
use bnpl::ledger::payment::{self, Change, Extras};
use bnpl::ledger::refund as ledger_refund;
use bnpl::ledger::Origin;
use bnpl::store::refunds::NewRefund;
use sqlx::PgPool;
use std::time::Duration;

const QUEUE: &str = "humm:default";

/// A succeeded payment `ord-q` with refunds `rf-q1` (promoted, then sent to review) and `rf-q2`
/// (queued behind it).
async fn a_queue_blocked_by_a_review() -> (TestDb, PgPool) {
    let (db, pool) = TestDb::migrated().await;
    let mut conn = pool.acquire().await.unwrap();
    create_humm_payment(&mut conn, "ord-q").await;
    for event in [PaymentEvent::Registered, PaymentEvent::Succeeded] {
        payment::apply(&mut conn, "ord-q", None, event, &Change::by("test"), Extras::default())
            .await
            .unwrap();
    }
    for refund_id in ["rf-q1", "rf-q2"] {
        let row = bnpl::store::payments::lock(&mut conn, "ord-q").await.unwrap().unwrap();
        let refund = NewRefund {
            refund_id,
            payment_id: "ord-q",
            provider: "humm",
            account: "default",
            queue_key: QUEUE,
            amount_minor: 1_000,
            currency: "GBP",
            reason: None,
            requested_by: "finance",
        };
        ledger_refund::enqueue(&mut conn, &refund, &row, Origin::default())
            .await
            .unwrap();
    }
    let first = ledger_refund::promote(&pool, QUEUE, "test", "refund_send", Duration::from_secs(60))
        .await
        .unwrap()
        .expect("the head promoted");
    assert_eq!(first.refund.refund_id, "rf-q1");
    sqlx::query(
        "UPDATE refunds SET status = 'needs_review', review_reason = 'no_definite_answer' WHERE refund_id = 'rf-q1'",
    )
    .execute(&mut *conn)
    .await
    .unwrap();
    drop(conn);
    (db, pool)
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
