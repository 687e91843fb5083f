//! A refund result taken by its amount alone (we held no request id for the refund) keeps the
//! callback's request id, so a late or repeated copy of it cannot end the next refund of the
//! payment with the same amount (found in review of the refund queue model, issue 22: a wrongly
//! declined refund frees its amount in the balance while the provider may still pay it).

use crate::helpers::{succeeded_humm_payment_with_refunds, TestDb};
use bnpl::flows::callbacks::refunds;
use bnpl::ledger::refund as ledger_refund;
use bnpl::providers::ecommpay::callback::Callback;
use serde_json::json;
use std::time::Duration;

const QUEUE: &str = "humm:default";

/// A signed-and-verified ecommpay decline of a refund of `ord-cb` for `amount`.
fn decline(request_id: &str, amount: i64) -> Callback {
    Callback::from_verified(json!({
        "project_id": 1,
        "payment": {"id": "ord-cb", "status": "success", "sum": {"amount": 10000, "currency": "GBP"}},
        "operation": {"id": 7, "type": "refund", "status": "decline", "request_id": request_id,
                      "code": "20000", "message": "General decline",
                      "sum_initial": {"amount": amount, "currency": "GBP"}},
    }))
    .unwrap()
}

async fn status_of(pool: &sqlx::PgPool, refund_id: &str) -> (String, Option<String>) {
    sqlx::query_as("SELECT status, provider_request_id FROM refunds WHERE refund_id = $1")
        .bind(refund_id)
        .fetch_one(pool)
        .await
        .unwrap()
}

/// rf-a's decline (request id `req-a`, 1,000 minor units) as ecommpay's signed callback delivers
/// it, applied to the payment as it is now; returns the callback's outcome.
async fn deliver_decline_of_req_a(conn: &mut sqlx::PgConnection) -> &'static str {
    let payment_row = bnpl::store::payments::get(&mut *conn, "ord-cb").await.unwrap().unwrap();
    refunds::ecommpay(conn, &payment_row, &decline("req-a", 1_000), "callback:ecommpay", None)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_repeated_decline_taken_by_amount_does_not_end_the_next_refund_of_that_amount() {
    let db = TestDb::create().await;
    let pool = db.pool().await;
    bnpl::store::migrate(&pool).await.unwrap();
    let mut conn = pool.acquire().await.unwrap();
    succeeded_humm_payment_with_refunds(&mut conn, "ord-cb", &["rf-a", "rf-b"]).await;
    let lease = Duration::from_secs(60);
    let first = ledger_refund::promote(&pool, QUEUE, "test", "refund_send", lease)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.refund.refund_id, "rf-a");

    // rf-a's send answer was lost (no request id held); its decline is taken by the amount.
    let outcome = deliver_decline_of_req_a(&mut conn).await;
    assert_eq!(outcome, "applied");
    assert_eq!(
        status_of(&pool, "rf-a").await,
        ("declined".to_owned(), Some("req-a".to_owned()))
    );

    // rf-b, same amount, is now in flight, its answer lost too; a copy of rf-a's decline comes.
    let second = ledger_refund::promote(&pool, QUEUE, "test", "refund_send", lease)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(second.refund.refund_id, "rf-b");
    let outcome = deliver_decline_of_req_a(&mut conn).await;
    assert_eq!(outcome, "stale", "a copy of rf-a's decline is rf-a's");
    assert_eq!(status_of(&pool, "rf-b").await, ("in_flight".to_owned(), None));
    drop(conn);
    pool.close().await;
}
