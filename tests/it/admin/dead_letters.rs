//! Dead letters from the admin API: listed with their reason, fixed and replayed to intake,
//! purged; exhausted jobs; broker queue depths; the gauges on `/metrics`.

use super::{get, post, seed_dead_letter, seed_payment, seed_refund, token, Seed};
use crate::helpers::*;
use lapin::BasicProperties;
use serde_json::json;
use std::time::Duration;

#[tokio::test]
async fn a_dead_lettered_command_is_fixed_and_replayed_to_intake() {
    let mut app = spawn_app().await;
    let pool = app.db.pool().await;
    let read = token(&pool, "reader", &["read"]).await;
    let operate = token(&pool, "op", &["operate"]).await;
    let probe = BrokerProbe::new(app.topology()).await;
    // A purchase.create whose sender forgot the payment_id: dead-lettered by intake.
    let broken = json!({"provider": "humm", "amount": {"minor": 15000, "currency": "GBP"}});
    probe
        .publish_command(
            "purchase.create",
            broken.to_string().as_bytes(),
            BasicProperties::default(),
        )
        .await;
    eventually(Duration::from_secs(15), "dead letter recorded", || async {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM dead_letters")
            .fetch_one(&pool)
            .await
            .unwrap();
        n == 1
    })
    .await;

    let (status, letters) = get(&app, "/admin/v1/dead-letters", &read).await;
    assert_eq!(status, 200);
    let letter = &letters[0];
    assert_eq!(letter["routing_key"], "purchase.create");
    assert_eq!(letter["reason"], "invalid");
    assert!(letter["detail"].as_str().unwrap().contains("payment_id"));
    let id = letter["id"].as_i64().unwrap();

    let mut fixed = broken.clone();
    fixed["payment_id"] = json!("ord-fixed-1");
    let (status, replayed) = post(
        &app,
        &format!("/admin/v1/dead-letters/{id}/replay"),
        &operate,
        json!({"body": fixed}),
    )
    .await;
    assert_eq!(status, 202, "{replayed}");
    assert_eq!(replayed["routing_key"], "purchase.create");
    assert_eq!(replayed["fixed"], true);
    // The fixed command reaches intake again and is processed as a command of its own.
    eventually(Duration::from_secs(15), "replayed command reaches intake", || async {
        let outcome: Option<String> = sqlx::query_scalar(
            "SELECT outcome FROM commands WHERE subject_id = 'ord-fixed-1' AND command_type = 'purchase.create'",
        )
        .fetch_optional(&pool)
        .await
        .unwrap();
        outcome.is_some_and(|outcome| outcome != "dead_lettered")
    })
    .await;
    let (_, letters) = get(&app, "/admin/v1/dead-letters", &read).await;
    assert!(letters[0]["replayed_at"].is_string());
    let dead: i64 = sqlx::query_scalar("SELECT count(*) FROM dead_letters")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(dead, 1, "the fixed command was not dead-lettered again");

    // Purge: gone from the list, kept in the table; a purged letter cannot be replayed.
    let (status, _) = post(&app, &format!("/admin/v1/dead-letters/{id}/purge"), &operate, json!({})).await;
    assert_eq!(status, 200);
    let (_, letters) = get(&app, "/admin/v1/dead-letters", &read).await;
    assert_eq!(letters, json!([]));
    let (_, letters) = get(&app, "/admin/v1/dead-letters?include_purged=true", &read).await;
    assert!(letters[0]["purged_at"].is_string());
    let (status, _) = post(&app, &format!("/admin/v1/dead-letters/{id}/purge"), &operate, json!({})).await;
    assert_eq!(status, 404);
    let (status, body) = post(
        &app,
        &format!("/admin/v1/dead-letters/{id}/replay"),
        &operate,
        json!({}),
    )
    .await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("purged")));
    pool.close().await;
    app.stop().await.unwrap();
}

#[tokio::test]
async fn a_dead_letter_replays_unchanged_under_a_fixed_routing_key() {
    let mut app = spawn_app().await;
    let pool = app.db.pool().await;
    let operate = token(&pool, "op", &["operate"]).await;
    // An unknown command type (as the alternate exchange delivers it) with a good body.
    let body = json!({
        "payment_id": "ord-typo", "provider": "humm", "amount": {"minor": 15000, "currency": "GBP"},
        "customer": {"first_name": "Jane", "last_name": "Doe", "ip_address": "203.0.113.7"}
    });
    let id = seed_dead_letter(&pool, "purchase.creat", body.to_string().as_bytes()).await;
    // Replayed as it is, it would only be dead-lettered again: refused, with the allowed keys.
    let response = app
        .http
        .post(app.url(&format!("/admin/v1/dead-letters/{id}/replay")))
        .bearer_auth(&operate)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert!(response.text().await.unwrap().contains("purchase.create"));
    let response = app
        .http
        .post(app.url(&format!("/admin/v1/dead-letters/{id}/replay")))
        .bearer_auth(&operate)
        .json(&json!({"routing_key": "purchase.create"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    eventually(Duration::from_secs(15), "replayed command reaches intake", || async {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM commands WHERE subject_id = 'ord-typo' AND command_type = 'purchase.create'",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        n == 1
    })
    .await;
    // The original had no message id: the replay carries one of the dead letter's own, so a
    // replay sent twice is one message to intake.
    let message_id: Option<String> = sqlx::query_scalar(
        "SELECT message_id FROM commands WHERE subject_id = 'ord-typo' AND command_type = 'purchase.create'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(message_id, Some(format!("bnpl-dead-letter-{id}")));
    pool.close().await;
    app.stop().await.unwrap();
}

#[tokio::test]
async fn exhausted_jobs_broker_queues_and_gauges() {
    let mut app = spawn_app().await;
    let pool = app.db.pool().await;
    let read = token(&pool, "reader", &["read"]).await;
    seed_payment(&pool, &Seed::new("ord-j", "humm", "needs_review")).await;
    seed_refund(&pool, "rf-j", "ord-j", "in_flight", 100).await;
    seed_dead_letter(&pool, "purchase.create", b"{").await;
    sqlx::query(
        "INSERT INTO jobs (kind, payment_id, state, available_at, attempts, max_attempts, last_error)
                 VALUES ('status_check', 'ord-j', 'exhausted', now(), 25, 25, 'provider timeout')",
    )
    .execute(&pool)
    .await
    .unwrap();

    let (status, jobs) = get(&app, "/admin/v1/jobs/exhausted", &read).await;
    assert_eq!(status, 200);
    assert_eq!(jobs[0]["payment_id"], "ord-j");
    assert_eq!(jobs[0]["last_error"], "provider timeout");

    let topology = app.topology();
    let purchases = topology.purchases();
    eventually(Duration::from_secs(10), "intake consuming", || async {
        consumer_count(&purchases).await == Some(1)
    })
    .await;
    let (status, queues) = get(&app, "/admin/v1/broker/queues", &read).await;
    assert_eq!(status, 200);
    let purchases_depth = queues
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["queue"] == topology.purchases().as_str())
        .expect("purchases queue listed");
    assert_eq!(purchases_depth["consumers"], 1);
    assert_eq!(
        queues.as_array().unwrap().len(),
        4,
        "purchases, refunds, dead and unrouted"
    );

    let expected = [
        "bnpl_status_checks_due",
        "bnpl_status_checks_overdue",
        "bnpl_dead_letters",
        "bnpl_payments_needs_review",
        "bnpl_refunds_needs_review",
        "bnpl_outbox_lag_seconds",
        "bnpl_outbox_unpublished",
        "bnpl_refund_queue_depth{queue=\"humm:default\"}",
        "bnpl_refund_queue_head_age_seconds{queue=\"humm:default\"}",
        "bnpl_broker_queue_messages{queue=",
    ];
    // The database gauges come from a snapshot refreshed on a timer (200 ms in tests).
    eventually(Duration::from_secs(10), "the snapshot gauges", || async {
        let text = app.metrics_text().await;
        expected.iter().all(|name| text.contains(name))
    })
    .await;
    pool.close().await;
    app.stop().await.unwrap();
}
