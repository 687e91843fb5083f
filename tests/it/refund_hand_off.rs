//! The refund hand-off without a hop (issue 16): the change that ends a refund promotes the next
//! refund of its queue in the same transaction, and this process sends it straight away, with no
//! `NOTIFY` → dispatcher round in between.

use crate::harness::*;
use serde_json::json;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);

#[tokio::test]
async fn the_change_that_ends_a_refund_promotes_the_next_in_its_own_transaction() {
    let mut env = spawn_sandboxed(fast_timing(), |config| {
        config.auto_customer.enabled = true;
        config.auto_customer.success_ratio = 1.0;
        config.auto_customer.delay_secs = 0.0;
        // The first refund's answer waits, so the second is queued behind it for sure.
        config.slow_response_ms = 600;
    })
    .await;
    for payment_id in ["ho-pay-1", "ho-pay-2"] {
        env.publish("purchase.create", &humm_purchase(payment_id, 5000)).await;
        env.wait_for_event(payment_id, "payment.succeeded", WAIT).await;
    }
    let refund = |refund_id: &str, payment_id: &str| {
        json!({"refund_id": refund_id, "payment_id": payment_id,
               "amount": {"minor": 5000, "currency": "GBP"}, "reason": "item returned"})
    };
    env.publish("refund.create", &refund("ho-1-fault-slow", "ho-pay-1"))
        .await;
    env.wait_for_event("ho-pay-1", "refund.submitted", WAIT).await;
    env.publish("refund.create", &refund("ho-2", "ho-pay-2")).await;
    env.wait_for_event("ho-pay-2", "refund.queued", WAIT).await;
    env.wait_for_event("ho-pay-1", "refund.succeeded", WAIT).await;
    env.wait_for_event("ho-pay-2", "refund.succeeded", WAIT).await;

    let pool = env.app.db.pool().await;
    // xmin: the transaction that inserted the audit row.
    let row = |refund_id: &'static str, to_status: &'static str| {
        let pool = pool.clone();
        async move {
            sqlx::query_as::<_, (String, String)>(
                "SELECT actor, xmin::text FROM audit_log WHERE refund_id = $1 AND to_status = $2",
            )
            .bind(refund_id)
            .bind(to_status)
            .fetch_one(&pool)
            .await
            .unwrap()
        }
    };
    let (_, ended_in) = row("ho-1-fault-slow", "succeeded").await;
    let (promoted_by, promoted_in) = row("ho-2", "in_flight").await;
    assert_eq!(
        promoted_by, "refund_hand_off",
        "the second refund was not promoted by the first one's end"
    );
    assert_eq!(
        ended_in, promoted_in,
        "the end and the promotion were not one transaction"
    );
    let sent: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM jobs WHERE refund_id = 'ho-2' AND kind = 'refund_send' AND state = 'done'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(sent, 1, "the promoted refund's send job ran once");
    // Sent at once, yet never while the provider still processed the first one.
    let ledger = env.ledger().await;
    assert_eq!(ledger["sequential_violations_total"], 0, "{ledger}");
    env.app.stop().await.unwrap();
}
