//! The refund hand-off without a hop (issue 16): the change that ends a refund promotes the next
//! refund of its queue in the same transaction, and this process sends it straight away, with no
//! `NOTIFY` → dispatcher round in between.

use crate::harness::*;
use serde_json::json;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);

/// Two succeeded humm payments `{tag}-pay-1` and `-2` of one account (one refund queue), a refund
/// `{tag}-1-fault-slow` of the first in flight (the sandbox holds its answer for `slow_ms`), and a
/// refund `{tag}-2` of the second queued behind it.
async fn second_refund_queued_behind_a_slow_first(tag: &str, slow_ms: u64) -> Sandboxed {
    let mut env = spawn_sandboxed(fast_timing(), |config| {
        config.auto_customer.enabled = true;
        config.auto_customer.success_ratio = 1.0;
        config.auto_customer.delay_secs = 0.0;
        config.slow_response_ms = slow_ms;
    })
    .await;
    let (first, second) = (format!("{tag}-pay-1"), format!("{tag}-pay-2"));
    for payment_id in [&first, &second] {
        env.publish("purchase.create", &humm_purchase(payment_id, 5000)).await;
        env.wait_for_event(payment_id, "payment.succeeded", WAIT).await;
    }
    let refund = |refund_id: String, payment_id: &str| {
        json!({"refund_id": refund_id, "payment_id": payment_id,
               "amount": {"minor": 5000, "currency": "GBP"}, "reason": "item returned"})
    };
    env.publish("refund.create", &refund(format!("{tag}-1-fault-slow"), &first))
        .await;
    env.wait_for_event(&first, "refund.submitted", WAIT).await;
    env.publish("refund.create", &refund(format!("{tag}-2"), &second)).await;
    env.wait_for_event(&second, "refund.queued", WAIT).await;
    env
}

#[tokio::test]
async fn the_change_that_ends_a_refund_promotes_the_next_in_its_own_transaction() {
    // The first refund's answer waits, so the second is queued behind it (checked below).
    let mut env = second_refund_queued_behind_a_slow_first("ho", 2_000).await;
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
    let waited: bool = sqlx::query_scalar(
        "SELECT (SELECT at FROM audit_log WHERE refund_id = 'ho-2' AND to_status = 'queued')
              < (SELECT final_at FROM refunds WHERE refund_id = 'ho-1-fault-slow')",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(waited, "the second refund was queued before the first one ended");
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
    let attempts: Vec<i32> = sqlx::query_scalar(
        "SELECT attempts FROM jobs WHERE refund_id = 'ho-2' AND kind = 'refund_send' AND state = 'done'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        attempts,
        [1],
        "the promoted refund's send job ran once, on its first attempt"
    );
    // Sent once, at once, yet never while the provider still processed the first one.
    let ledger = env.ledger().await;
    let requests = ledger["refunds"]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|entry| entry["refund_id"] == "ho-2")
        .count();
    assert_eq!(requests, 1, "{ledger}");
    assert_eq!(ledger["sequential_violations_total"], 0, "{ledger}");
    env.app.stop().await.unwrap();
}

/// The promotion inside the freeing transaction never waits for a lock: when another transaction
/// holds the next refund's payment, the end commits at once and the dispatcher promotes the next
/// refund once the lock is gone (a wait there would take a payment lock out of the batch's key
/// order and could deadlock).
#[tokio::test]
async fn a_next_refund_whose_payment_is_locked_is_left_to_the_dispatcher() {
    let mut env = second_refund_queued_behind_a_slow_first("hl", 1_500).await;

    let pool = env.app.db.pool().await;
    let mut holder = pool.begin().await.unwrap();
    sqlx::query("SELECT 1 FROM payments WHERE payment_id = 'hl-pay-2' FOR UPDATE")
        .execute(&mut *holder)
        .await
        .unwrap();
    // The first refund ends while its successor's payment is locked: no waiting for it.
    env.wait_for_event("hl-pay-1", "refund.succeeded", WAIT).await;
    let status: String = sqlx::query_scalar("SELECT status FROM refunds WHERE refund_id = 'hl-2'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(
        status, "queued",
        "nothing could promote it while its payment was locked"
    );
    holder.commit().await.unwrap();

    env.wait_for_event("hl-pay-2", "refund.succeeded", WAIT).await;
    let promoted_by: String =
        sqlx::query_scalar("SELECT actor FROM audit_log WHERE refund_id = 'hl-2' AND to_status = 'in_flight'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(promoted_by, "refund_dispatcher");
    let ledger = env.ledger().await;
    assert_eq!(ledger["sequential_violations_total"], 0, "{ledger}");
    env.app.stop().await.unwrap();
}
