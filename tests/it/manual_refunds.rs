//! Manual refund mode (issue 20), against the sandbox over HTTP: on an account with
//! `refund_mode = "manual"` the head of the refund queue is announced as
//! `refund.action_required` for finance to file at the provider; it stays in flight, blocking its
//! queue; finance records the provider's reference; the provider's refund callback settles it,
//! and only then is the next refund taken.

use crate::admin::{post, token};
use crate::harness::*;
use serde_json::{json, Value};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);

fn refund(refund_id: &str, minor: i64) -> Value {
    json!({"refund_id": refund_id, "payment_id": "man-pay", "amount": {"minor": minor, "currency": "GBP"}, "reason": "returned"})
}

#[tokio::test]
async fn a_manual_refund_is_recorded_then_settled_by_callback_while_the_next_waits() {
    let mut env = spawn_sandboxed_configured(
        fast_timing(),
        |sandbox| {
            sandbox.auto_customer.enabled = true;
            sandbox.auto_customer.success_ratio = 1.0;
            sandbox.auto_customer.delay_secs = 0.0;
            // A filed refund takes 2 s at the provider: finance records it before the callback.
            sandbox.humm.refund_processing_secs = 20_000.0;
        },
        |config| {
            let humm = config.accounts.humm.get_mut("default").unwrap();
            humm.refund_mode = bnpl::config::RefundMode::Manual;
            // Our own checks find nothing filed before the refund threshold: keep them out of the
            // way of the callback (a long threshold, checks well apart).
            humm.timing.refund_threshold = Duration::from_secs(120);
        },
    )
    .await;
    let pool = env.app.db.pool().await;
    let finance = token(&pool, "finance-desk", &["finance"]).await;
    env.publish("purchase.create", &humm_purchase("man-pay", 10_000)).await;
    env.wait_for_event("man-pay", "payment.succeeded", WAIT).await;

    env.publish("refund.create", &refund("man-rf-1", 3_000)).await;
    let asked = env.wait_for_event("man-pay", "refund.action_required", WAIT).await;
    assert_eq!(asked["refund_id"], "man-rf-1");
    assert_eq!(asked["status"], "in_flight");
    assert_eq!(asked["filing"]["record_with"], "POST /admin/v1/refunds/man-rf-1/record");
    assert!(asked["filing"]["sale_reference"].is_string(), "{asked}");
    env.publish("refund.create", &refund("man-rf-2", 2_000)).await;
    env.wait_for_events("man-pay", "refund.queued", 2, WAIT).await;
    // Nothing went to the provider's refund API.
    let ledger = env.ledger().await;
    assert_eq!(ledger["refunds"]["entries"], json!([]), "{ledger}");

    // Finance files it in the provider's dashboard and records the provider's reference.
    let filed: Value = env
        .http
        .post(env.sandbox.url(&format!("/sandbox/ecommpay/{PROJECT}/manual-refund")))
        .json(&json!({"payment_id": "man-pay", "amount": 3000}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let reference = filed["request_id"]
        .as_str()
        .expect("the provider's reference")
        .to_owned();
    let (status, recorded) = post(
        &env.app,
        "/admin/v1/refunds/man-rf-1/record",
        &finance,
        json!({"provider_reference": reference, "reason": "filed in the humm dashboard"}),
    )
    .await;
    assert_eq!(status, 200, "{recorded}");
    assert_eq!(recorded["status"], "in_flight");
    // The second refund still waits behind it.
    assert_eq!(
        env.db_i64(
            "SELECT count(*) FROM refunds WHERE refund_id = $1 AND status = 'queued'",
            "man-rf-2"
        )
        .await,
        1
    );

    // The provider's callback settles it; then, and only then, the next one is taken.
    let done = env.wait_for_event("man-pay", "refund.succeeded", WAIT).await;
    assert_eq!(done["refund_id"], "man-rf-1");
    assert_eq!(done["refunded_total_minor"], 3000);
    let next = env.wait_for_events("man-pay", "refund.action_required", 2, WAIT).await;
    assert_eq!(next[1]["refund_id"], "man-rf-2");
    let settled_by: String =
        sqlx::query_scalar("SELECT actor FROM audit_log WHERE refund_id = 'man-rf-1' AND to_status = 'succeeded'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(settled_by, "callback:ecommpay");
    // Recording is for a refund in flight on a manual account only.
    let (status, body) = post(
        &env.app,
        "/admin/v1/refunds/man-rf-1/record",
        &finance,
        json!({"provider_reference": "again", "reason": "twice"}),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    let ledger = env.ledger().await;
    assert_eq!(ledger["sequential_violations_total"], 0, "{ledger}");
    pool.close().await;
}

#[tokio::test]
async fn two_references_recorded_at_once_for_one_refund_are_one_record_and_one_conflict() {
    let mut env = spawn_sandboxed_configured(
        fast_timing(),
        |sandbox| {
            sandbox.auto_customer.enabled = true;
            sandbox.auto_customer.success_ratio = 1.0;
            sandbox.auto_customer.delay_secs = 0.0;
        },
        |config| {
            let humm = config.accounts.humm.get_mut("default").unwrap();
            humm.refund_mode = bnpl::config::RefundMode::Manual;
            humm.timing.refund_threshold = Duration::from_secs(120);
        },
    )
    .await;
    let pool = env.app.db.pool().await;
    let finance = token(&pool, "finance-desk", &["finance"]).await;
    env.publish("purchase.create", &humm_purchase("man-pay", 10_000)).await;
    env.wait_for_event("man-pay", "payment.succeeded", WAIT).await;
    env.publish("refund.create", &refund("man-rf-1", 3_000)).await;
    env.wait_for_event("man-pay", "refund.action_required", WAIT).await;

    // Two finance users record different references at the same moment: the payment is held
    // locked while both requests arrive, so both read the refund before either writes.
    let mut holder = pool.begin().await.unwrap();
    sqlx::query("SELECT 1 FROM payments WHERE payment_id = 'man-pay' FOR NO KEY UPDATE")
        .execute(&mut *holder)
        .await
        .unwrap();
    let record = |reference: &'static str| {
        post(
            &env.app,
            "/admin/v1/refunds/man-rf-1/record",
            &finance,
            json!({"provider_reference": reference, "reason": "filed"}),
        )
    };
    let release = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        holder.commit().await.unwrap();
    };
    let ((first, first_body), (second, second_body), ()) = tokio::join!(record("ref-a"), record("ref-b"), release);
    let mut statuses = [first, second];
    statuses.sort();
    assert_eq!(statuses, [200, 409], "{first_body} {second_body}");
    let recorded: Option<String> =
        sqlx::query_scalar("SELECT provider_request_id FROM refunds WHERE refund_id = 'man-rf-1'")
            .fetch_one(&pool)
            .await
            .unwrap();
    let winner = if first == 200 { "ref-a" } else { "ref-b" };
    assert_eq!(recorded.as_deref(), Some(winner));
    pool.close().await;
}
