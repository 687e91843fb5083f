//! Job results are group-committed (design §1b, issue 16): the sale results of purchases that
//! arrive together share transactions, and each lands exactly once.

use crate::harness::*;
use futures_util::future::join_all;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);

#[tokio::test]
async fn sale_results_that_finish_together_share_a_transaction_and_each_lands_once() {
    let mut env = spawn_sandboxed(fast_timing(), |_| {}).await;
    let ids: Vec<String> = (0..30).map(|n| format!("jr-{n}")).collect();
    let bodies: Vec<_> = ids.iter().map(|id| humm_purchase(id, 15000)).collect();
    // All at once: one prefetch window, so the sales go out together and their results meet at
    // the job committer.
    join_all(bodies.iter().map(|body| env.publish("purchase.create", body))).await;
    for id in &ids {
        env.wait_for_event(id, "payment.pending", WAIT).await;
    }
    let pool = env.app.db.pool().await;
    // Registration comes from the sale's result or, when it is quicker, from ecommpay's callback:
    // either way exactly once per payment.
    let (pendings, payments): (i64, i64) = sqlx::query_as(
        "SELECT count(*), count(DISTINCT payment_id) FROM audit_log
         WHERE to_status = 'pending' AND payment_id = ANY($1)",
    )
    .bind(&ids)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!((pendings, payments), (30, 30), "registered once each");
    // `xmin`: the transaction that wrote each sale result's audit row.
    let (results, transactions): (i64, i64) = sqlx::query_as(
        "SELECT count(*), count(DISTINCT xmin::text) FROM audit_log
         WHERE actor = 'job:humm_sale' AND payment_id = ANY($1)",
    )
    .bind(&ids)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(results >= 10, "most registrations are the sale's result: {results}");
    assert!(
        transactions < results,
        "{results} sale results in {transactions} transactions: none shared one"
    );
    pool.close().await;
}
