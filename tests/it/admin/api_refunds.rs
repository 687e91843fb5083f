//! Refund queues in the admin API: head, depth and age; releasing a stuck head by recording its
//! outcome (never skipping it); cancelling a queued refund.

use super::{get, post, seed_payment, seed_refund, token, Seed};
use crate::helpers::*;
use serde_json::json;
use std::time::Duration;

#[tokio::test]
async fn a_stuck_head_is_released_by_its_outcome_and_a_queued_refund_cancelled() {
    let mut app = spawn_app().await;
    let pool = app.db.pool().await;
    let read = token(&pool, "reader", &["read"]).await;
    let operate = token(&pool, "bob-ops", &["operate"]).await;
    let finance = token(&pool, "carol-fin", &["finance"]).await;
    seed_payment(&pool, &Seed::new("ord-r", "humm", "succeeded")).await;
    seed_refund(&pool, "rf-1", "ord-r", "in_flight", 4000).await;
    seed_refund(&pool, "rf-2", "ord-r", "queued", 3000).await;
    seed_refund(&pool, "rf-3", "ord-r", "queued", 2000).await;
    let probe = BrokerProbe::new(app.topology()).await;
    let mut events = probe.subscribe_events().await;

    let (status, queues) = get(&app, "/admin/v1/refund-queues", &read).await;
    assert_eq!(status, 200);
    assert_eq!(queues[0]["queue_key"], "humm:default");
    assert_eq!(queues[0]["depth"], 3);
    assert_eq!(queues[0]["head_refund_id"], "rf-1");
    assert_eq!(queues[0]["head_status"], "in_flight");
    let age = queues[0]["head_age_seconds"].as_f64().unwrap();
    assert!((590.0..700.0).contains(&age), "head sent ten minutes ago: {age}");
    let (_, queued) = get(&app, "/admin/v1/refunds?status=queued", &read).await;
    assert_eq!(queued.as_array().unwrap().len(), 2);

    // The head can only be released by recording an outcome; a queued refund was never sent.
    let (status, body) = post(
        &app,
        "/admin/v1/refunds/rf-2/release",
        &operate,
        json!({"outcome": "succeeded", "reason": "x"}),
    )
    .await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("not_sent")));
    let (status, _) = post(
        &app,
        "/admin/v1/refunds/rf-1/release",
        &operate,
        json!({"outcome": "skipped", "reason": "x"}),
    )
    .await;
    assert_eq!(status, 400, "only succeeded or declined");
    let (status, _) = post(
        &app,
        "/admin/v1/refunds/rf-1/release",
        &operate,
        json!({"outcome": "succeeded", "reason": ""}),
    )
    .await;
    assert_eq!(status, 400, "a reason is required");
    let (status, body) = post(&app, "/admin/v1/refunds/rf-1/cancel", &finance, json!({"reason": "x"})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("not_cancellable")));

    // Evidence first: a release needs a stored provider answer that supports its outcome.
    let (status, body) = post(
        &app,
        "/admin/v1/refunds/rf-1/release",
        &operate,
        json!({"outcome": "succeeded", "reason": "ecommpay status: refund success"}),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("no_supporting_answer"))
    );
    // The built-in sandbox never saw this seeded payment: its answer supports nothing.
    let (status, answer) = post(&app, "/admin/v1/refunds/rf-1/status-check", &operate, json!({})).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["refund_id"], "rf-1");
    assert_eq!(answer["supports"], "unknown");
    let (status, body) = post(
        &app,
        "/admin/v1/refunds/rf-1/release",
        &operate,
        json!({"outcome": "succeeded", "reason": "x", "answer_id": answer["answer_id"]}),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("no_supporting_answer"))
    );
    let (status, _) = post(&app, "/admin/v1/refunds/rf-2/status-check", &operate, json!({})).await;
    assert_eq!(status, 409, "a queued refund has no outcome to establish");
    // An answer that does support it (as the provider would have given: see
    // refund_evidence.rs for the whole loop against the sandbox).
    let supporting: i64 = sqlx::query_scalar(
        "INSERT INTO provider_answers (refund_id, payment_id, supports, answer, asked_by)
         VALUES ('rf-1', 'ord-r', 'succeeded', '{\"outcome\": \"refunded_total\"}', 'bob-ops') RETURNING id",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    let (status, change) = post(
        &app,
        "/admin/v1/refunds/rf-1/release",
        &operate,
        json!({"outcome": "succeeded", "reason": "ecommpay status: refund success", "answer_id": supporting}),
    )
    .await;
    assert_eq!(status, 200, "{change}");
    assert_eq!(change["from"], "in_flight");
    assert_eq!(change["to"], "succeeded");
    assert_eq!(change["refunded_total_minor"], 4000);
    let event = json_body(
        &next_delivery(&mut events, Duration::from_secs(15))
            .await
            .expect("refund.succeeded"),
    );
    assert_eq!(event["type"], "refund.succeeded");
    assert_eq!(event["refund_id"], "rf-1");
    assert_eq!(event["payment_id"], "ord-r");
    assert_eq!(event["amount"], json!({"minor": 4000, "currency": "GBP"}));
    assert_eq!(event["refunded_total_minor"], 4000);
    assert_eq!(event["sequence"], 3);
    let (status, body) = post(
        &app,
        "/admin/v1/refunds/rf-1/release",
        &operate,
        json!({"outcome": "declined", "reason": "x"}),
    )
    .await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("already_final")));

    let (_, queues) = get(&app, "/admin/v1/refund-queues", &read).await;
    assert_eq!(queues[0]["depth"], 2);
    assert_eq!(queues[0]["head_refund_id"], "rf-2");
    // The released head frees the queue: the dispatcher sends the next refund at once.
    assert!(
        ["queued", "in_flight"].contains(&queues[0]["head_status"].as_str().unwrap()),
        "{queues}"
    );

    let (status, change) = post(
        &app,
        "/admin/v1/refunds/rf-3/cancel",
        &finance,
        json!({"reason": "customer kept the item"}),
    )
    .await;
    assert_eq!((status, change["to"].as_str()), (200, Some("cancelled")));
    // The dispatcher may announce rf-2's submission in between: look for the cancellation.
    let event = loop {
        let event = json_body(
            &next_delivery(&mut events, Duration::from_secs(15))
                .await
                .expect("refund.cancelled"),
        );
        if event["type"] == "refund.cancelled" {
            break event;
        }
    };
    assert_eq!(event["refund_id"], "rf-3");
    assert!(event["sequence"].as_i64().unwrap() >= 4, "{event}");
    let (status, body) = post(
        &app,
        "/admin/v1/refunds/rf-3/cancel",
        &finance,
        json!({"reason": "again"}),
    )
    .await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("already_done")));
    let (status, _) = post(&app, "/admin/v1/refunds/nope/cancel", &finance, json!({"reason": "x"})).await;
    assert_eq!(status, 404);

    let audit: Vec<(String, String, String, String)> = sqlx::query_as(
        "SELECT refund_id, actor, to_status, reason FROM audit_log WHERE kind = 'resolution' ORDER BY id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        audit,
        [
            (
                "rf-1".into(),
                "bob-ops".into(),
                "succeeded".into(),
                format!("ecommpay status: refund success (provider answer {supporting})")
            ),
            (
                "rf-3".into(),
                "carol-fin".into(),
                "cancelled".into(),
                "customer kept the item".into()
            ),
        ]
    );
    pool.close().await;
    app.stop().await.unwrap();
}
