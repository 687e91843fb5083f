//! A stuck refund head settled with evidence, against the sandbox over HTTP (contract §4, added
//! 2026-11-29): the operator's status check asks the provider now and stores its answer; a
//! release must point to a stored answer that supports the outcome it records.

use crate::harness::*;
use serde_json::{json, Value};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

#[tokio::test]
async fn a_head_is_released_only_with_a_stored_answer_that_supports_the_outcome() {
    // Long base and refund thresholds: our own checks stay out of the way of the operator's.
    let mut timing = fast_timing();
    timing.base_time = Duration::from_secs(120);
    timing.status_check_schedule = vec![Duration::from_secs(120)];
    timing.refund_threshold = Duration::from_secs(240);
    let mut env = spawn_sandboxed(timing, |config| {
        config.auto_customer.enabled = true;
        config.auto_customer.success_ratio = 1.0;
        config.auto_customer.delay_secs = 0.0;
    })
    .await;
    let pool = env.app.db.pool().await;
    let operator = bnpl::store::tokens::create(&pool, "ev-ops", &["operate".to_owned()])
        .await
        .unwrap();
    env.publish("purchase.create", &humm_purchase("ev-pay", 10_000)).await;
    env.wait_for_event("ev-pay", "payment.succeeded", WAIT).await;
    // The refund's callback is lost: it stays in flight with us after the provider made it.
    env.publish(
        "refund.create",
        &json!({"refund_id": "ev-rf-fault-lost-callback", "payment_id": "ev-pay",
                "amount": {"minor": 2500, "currency": "GBP"}}),
    )
    .await;
    env.wait_for_event("ev-pay", "refund.submitted", WAIT).await;
    let post = |path: String, body: Value| {
        let request = env.http.post(env.app.url(&path)).bearer_auth(&operator).json(&body);
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let refund = "/admin/v1/refunds/ev-rf-fault-lost-callback";
    // Ask until the provider has made it (its processing takes a moment).
    let deadline = tokio::time::Instant::now() + WAIT;
    let answer = loop {
        let (status, answer) = post(format!("{refund}/status-check"), json!({})).await;
        assert_eq!(status, 200, "{answer}");
        if answer["supports"] == "succeeded" {
            break answer;
        }
        assert_eq!(answer["supports"], "pending", "{answer}");
        assert!(tokio::time::Instant::now() < deadline, "never made: {answer}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert_eq!(answer["provider_answer"]["provider_refunded_minor"], 2500);

    let (status, body) = post(
        format!("{refund}/release"),
        json!({"outcome": "succeeded", "reason": "trust me"}),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("no_supporting_answer")),
        "no answer"
    );
    let (status, body) = post(
        format!("{refund}/release"),
        json!({"outcome": "declined", "reason": "x", "answer_id": answer["answer_id"]}),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("no_supporting_answer")),
        "it says succeeded"
    );
    // Another refund's answer, however it reads, is no evidence about this one.
    sqlx::query(
        "INSERT INTO refunds (refund_id, payment_id, queue_key, position, amount_minor, currency, status, requested_by)
         SELECT 'ev-other', 'ev-pay', queue_key, position + 100, 2500, 'GBP', 'succeeded', 'test'
         FROM refunds WHERE refund_id = 'ev-rf-fault-lost-callback'",
    )
    .execute(&pool)
    .await
    .unwrap();
    let mut conn = pool.acquire().await.unwrap();
    let others =
        bnpl::store::provider_answers::insert(&mut conn, "ev-other", "ev-pay", "succeeded", &json!({}), "test")
            .await
            .unwrap()
            .id;
    drop(conn);
    let (status, body) = post(
        format!("{refund}/release"),
        json!({"outcome": "succeeded", "reason": "x", "answer_id": others}),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("no_supporting_answer")),
        "another refund's answer"
    );
    let (status, change) = post(
        format!("{refund}/release"),
        json!({"outcome": "succeeded", "reason": "status query", "answer_id": answer["answer_id"]}),
    )
    .await;
    assert_eq!(status, 200, "{change}");
    assert_eq!(change["to"], "succeeded");
    env.wait_for_event("ev-pay", "refund.succeeded", WAIT).await;
    let audited: Vec<(String, Option<String>)> = sqlx::query_as(
        "SELECT actor, reason FROM audit_log WHERE refund_id = 'ev-rf-fault-lost-callback' AND to_status = 'succeeded'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(audited.len(), 1);
    assert_eq!(audited[0].0, "ev-ops");
    let reason = audited[0].1.clone().unwrap_or_default();
    assert!(
        reason.contains(&format!("provider answer {}", answer["answer_id"])),
        "{reason}"
    );
    pool.close().await;
    env.app.stop().await.unwrap();
}
