//! Payments in the admin API: search, history, manual resolution (audited and announced),
//! forced status checks and event replays.

use super::{get, post, seed_payment, seed_refund, token, Seed};
use crate::helpers::*;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::time::Duration;

#[tokio::test]
async fn payments_are_searched_filtered_and_paged() {
    let mut app = spawn_app().await;
    let pool = app.db.pool().await;
    let read = token(&pool, "reader", &["read"]).await;
    for (id, provider, status, age) in [
        ("p-1", "humm", "succeeded", 5),
        ("p-2", "humm", "needs_review", 4),
        ("p-3", "valu", "pending", 3),
        ("p-4", "valu", "needs_review", 2),
        ("p-5", "humm", "declined", 1),
    ] {
        let mut seed = Seed::new(id, provider, status);
        seed.age_days = age;
        seed_payment(&pool, &seed).await;
    }
    let (status, page) = get(&app, "/admin/v1/payments", &read).await;
    assert_eq!(status, 200);
    let ids: Vec<&str> = page["payments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["payment_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["p-5", "p-4", "p-3", "p-2", "p-1"], "newest first");
    assert!(page["next_cursor"].is_null());

    let (_, page) = get(&app, "/admin/v1/payments?status=needs_review&provider=valu", &read).await;
    assert_eq!(page["payments"].as_array().unwrap().len(), 1);
    assert_eq!(page["payments"][0]["payment_id"], "p-4");
    assert_eq!(page["payments"][0]["amount_minor"], 15000);
    assert_eq!(page["payments"][0]["currency"], "EGP");

    let from = (chrono::Utc::now() - chrono::Duration::days(3) - chrono::Duration::hours(1)).to_rfc3339();
    let to = (chrono::Utc::now() - chrono::Duration::days(1) - chrono::Duration::hours(1)).to_rfc3339();
    let url = format!(
        "/admin/v1/payments?account=default&created_from={}&created_to={}",
        urlencode(&from),
        urlencode(&to)
    );
    let (status, page) = get(&app, &url, &read).await;
    assert_eq!(status, 200, "{page}");
    let ids: Vec<&str> = page["payments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["payment_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["p-4", "p-3"]);

    // Pages of two walk through everything exactly once.
    let mut seen = Vec::new();
    let mut path = "/admin/v1/payments?limit=2".to_owned();
    loop {
        let (status, page) = get(&app, &path, &read).await;
        assert_eq!(status, 200);
        for p in page["payments"].as_array().unwrap() {
            seen.push(p["payment_id"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/admin/v1/payments?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen, ["p-5", "p-4", "p-3", "p-2", "p-1"]);

    let (status, body) = get(&app, "/admin/v1/payments?limit=0", &read).await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("invalid")));
    let (status, _) = get(&app, "/admin/v1/payments?cursor=!!!", &read).await;
    assert_eq!(status, 400);

    // Refunds: one in review, one declined that a provider later reported succeeded (flagged),
    // one plainly declined.
    seed_refund(&pool, "rf-rev", "p-1", "needs_review", 1000).await;
    seed_refund(&pool, "rf-flag", "p-1", "declined", 1000).await;
    seed_refund(&pool, "rf-plain", "p-5", "declined", 1000).await;
    sqlx::query("UPDATE refunds SET review_reason = 'success_after_close' WHERE refund_id = 'rf-flag'")
        .execute(&pool)
        .await
        .unwrap();
    let (status, reviews) = get(&app, "/admin/v1/reviews", &read).await;
    assert_eq!(status, 200);
    let ids: HashSet<&str> = reviews["payments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["payment_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, HashSet::from(["p-2", "p-4"]));
    let refunds: HashSet<&str> = reviews["refunds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["refund_id"].as_str().unwrap())
        .collect();
    assert_eq!(refunds, HashSet::from(["rf-rev", "rf-flag"]));
    pool.close().await;
    app.stop().await.unwrap();
}

fn urlencode(text: &str) -> String {
    text.replace('+', "%2B").replace(':', "%3A")
}

#[tokio::test]
async fn a_payment_comes_with_its_full_history() {
    let mut app = spawn_app().await;
    let pool = app.db.pool().await;
    let read = token(&pool, "reader", &["read"]).await;
    seed_payment(&pool, &Seed::new("ord-77", "humm", "pending")).await;
    sqlx::query(
        "INSERT INTO inbound_callbacks (provider, verified, payment_id, outcome, content_type, body)
                 VALUES ('ecommpay', true, 'ord-77', 'applied', 'application/json', $1)",
    )
    .bind(br#"{"payment":{"id":"ord-77","status":"awaiting redirect result"}}"#.as_slice())
    .execute(&pool)
    .await
    .unwrap();
    super::seed_event(&pool, "payment.pending", "ord-77", 2, json!({"status": "pending"})).await;

    let (status, detail) = get(&app, "/admin/v1/payments/ord-77", &read).await;
    assert_eq!(status, 200);
    assert_eq!(detail["payment_id"], "ord-77");
    assert_eq!(detail["status"], "pending");
    // Personal data is masked for a read token (issue 21); the shape and the customer's id stay.
    let masked = bnpl::admin::personal::MASKED;
    assert_eq!(detail["customer"]["id"], "cust-42");
    for field in ["email", "first_name", "last_name", "phone", "ip_address"] {
        assert_eq!(detail["customer"][field], masked, "{field}");
    }
    assert_eq!(detail["callbacks"][0]["body"], masked);
    assert_eq!(detail["audit"][0]["kind"], "transition");
    assert_eq!(detail["audit"][0]["to_status"], "accepted");
    assert_eq!(detail["events"][0]["event_type"], "payment.pending");
    assert_eq!(detail["events"][0]["body"]["sequence"], 2);
    assert_eq!(detail["callbacks"][0]["verified"], true);
    assert_eq!(detail["refunds"], json!([]));
    // An operate token sees it in full.
    let operate = token(&pool, "operator", &["operate"]).await;
    let (status, full) = get(&app, "/admin/v1/payments/ord-77", &operate).await;
    assert_eq!(status, 200);
    assert_eq!(full["customer"]["email"], "jane@example.com");
    assert_eq!(full["customer"]["phone"], "01012345678");
    assert_eq!(full["customer"]["ip_address"], "203.0.113.7");
    assert!(full["callbacks"][0]["body"]
        .as_str()
        .unwrap()
        .contains("awaiting redirect"));

    let (status, body) = get(&app, "/admin/v1/payments/missing", &read).await;
    assert_eq!((status, body["error"]["code"].as_str()), (404, Some("not_found")));
    pool.close().await;
    app.stop().await.unwrap();
}

#[tokio::test]
async fn a_manual_resolution_is_audited_and_announced() {
    let mut app = spawn_app().await;
    let pool = app.db.pool().await;
    let operate = token(&pool, "alice-ops", &["operate"]).await;
    let mut seed = Seed::new("ord-9", "valu", "needs_review");
    seed.amount_minor = 420_000;
    seed_payment(&pool, &seed).await;
    sqlx::query(
        "INSERT INTO jobs (kind, payment_id, dedupe_key, available_at)
                 VALUES ('status_check', 'ord-9', 'status_check:ord-9', now() + interval '1 hour')",
    )
    .execute(&pool)
    .await
    .unwrap();
    let probe = BrokerProbe::new(app.topology()).await;
    let mut events = probe.subscribe_events().await;

    let path = "/admin/v1/payments/ord-9/resolve";
    let (status, body) = post(&app, path, &operate, json!({"to": "pending", "reason": "x"})).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (422, Some("transition_refused")),
        "only final targets"
    );
    let (status, _) = post(&app, path, &operate, json!({"to": "succeeded", "reason": "  "})).await;
    assert_eq!(status, 400, "a reason is required");
    let (status, _) = post(&app, path, &operate, json!({"to": "succeeded"})).await;
    assert_eq!(status, 400, "a reason is required");
    let (status, _) = post(&app, path, &operate, json!({"to": "paid", "reason": "x"})).await;
    assert_eq!(status, 400);
    let (status, _) = post(
        &app,
        "/admin/v1/payments/nope/resolve",
        &operate,
        json!({"to": "succeeded", "reason": "x"}),
    )
    .await;
    assert_eq!(status, 404);

    let reason = "APS status query shows the purchase captured";
    let (status, resolution) = post(&app, path, &operate, json!({"to": "succeeded", "reason": reason})).await;
    assert_eq!(status, 200, "{resolution}");
    assert_eq!(resolution["from"], "needs_review");
    assert_eq!(resolution["to"], "succeeded");
    assert_eq!(resolution["sequence"], 3);
    assert_eq!(resolution["cancelled_jobs"], 1);

    let event = json_body(
        &next_delivery(&mut events, Duration::from_secs(15))
            .await
            .expect("payment.resolved published"),
    );
    assert_eq!(event["type"], "payment.resolved");
    assert_eq!(event["payment_id"], "ord-9");
    assert_eq!(event["from"], "needs_review");
    assert_eq!(event["to"], "succeeded");
    assert_eq!(event["status"], "succeeded");
    assert_eq!(event["resolved_by"], "alice-ops");
    assert_eq!(event["reason"], reason);
    assert_eq!(event["sequence"], 3);
    assert_eq!(event["provider"], "valu");
    assert_eq!(event["account"], "default");
    assert_eq!(event["amount"], json!({"minor": 420000, "currency": "EGP"}));
    assert_eq!(event["metadata"]["order_ref"], "1001");
    assert!(event["event_id"].is_string() && event["occurred_at"].is_string());

    let audit: (String, String, String, String, String) = sqlx::query_as(
        "SELECT kind, actor, from_status, to_status, reason FROM audit_log
         WHERE payment_id = 'ord-9' AND kind = 'resolution'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        audit,
        (
            "resolution".into(),
            "alice-ops".into(),
            "needs_review".into(),
            "succeeded".into(),
            reason.into()
        )
    );
    let row: (String, i64, Option<String>, bool) = sqlx::query_as(
        "SELECT status, last_sequence, review_reason, final_at IS NOT NULL FROM payments WHERE payment_id = 'ord-9'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(row, ("succeeded".into(), 3, None, true));

    // Resolving to the status it already has records nothing.
    let (status, _) = post(&app, path, &operate, json!({"to": "succeeded", "reason": "again"})).await;
    assert_eq!(status, 422);
    let (_, detail) = get(&app, "/admin/v1/payments/ord-9", &operate).await;
    let kinds: Vec<&str> = detail["audit"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["transition", "resolution"]);
    pool.close().await;
    app.stop().await.unwrap();
}

#[tokio::test]
async fn status_checks_are_forced_and_events_replayed_with_their_ids() {
    let mut app = spawn_app().await;
    let pool = app.db.pool().await;
    let operate = token(&pool, "op", &["operate"]).await;
    seed_payment(&pool, &Seed::new("ord-5", "humm", "pending")).await;

    let (status, first) = post(&app, "/admin/v1/payments/ord-5/status-check", &operate, json!({})).await;
    assert_eq!(status, 202, "{first}");
    let (_, second) = post(&app, "/admin/v1/payments/ord-5/status-check", &operate, json!({})).await;
    assert!(
        first["job_id"].is_i64() || second["job_id"].is_i64(),
        "{first} {second}"
    );
    // The job runner may already have run the first forced check; never two live ones.
    let kinds: Vec<(String, String, String)> =
        sqlx::query_as("SELECT kind, dedupe_key, state FROM jobs WHERE payment_id = 'ord-5'")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert!(
        kinds
            .iter()
            .all(|(kind, key, _)| kind == "status_check" && key == "status_check:ord-5"),
        "{kinds:?}"
    );
    let live = kinds
        .iter()
        .filter(|(_, _, state)| state == "scheduled" || state == "running")
        .count();
    assert!(live <= 1, "one live status check per payment: {kinds:?}");
    let forced: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE payment_id = 'ord-5' AND detail->>'action' = 'force_status_check'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(forced, 2, "both forced checks are audited");
    let (status, _) = post(&app, "/admin/v1/payments/nope/status-check", &operate, json!({})).await;
    assert_eq!(status, 404);

    for (sequence, kind) in [(1, "payment.accepted"), (2, "payment.pending")] {
        super::seed_event(&pool, kind, "ord-5", sequence, json!({"payment_id": "ord-5"})).await;
    }
    eventually(Duration::from_secs(15), "first publication", || async {
        let left: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox WHERE published_at IS NULL")
            .fetch_one(&pool)
            .await
            .unwrap();
        left == 0
    })
    .await;
    let original: Vec<uuid::Uuid> =
        sqlx::query_scalar("SELECT event_id FROM outbox WHERE payment_id = 'ord-5' ORDER BY id")
            .fetch_all(&pool)
            .await
            .unwrap();

    let probe = BrokerProbe::new(app.topology()).await;
    let mut events = probe.subscribe_events().await;
    let (status, replay) = post(&app, "/admin/v1/payments/ord-5/replay-events", &operate, json!({})).await;
    assert_eq!((status, replay["events"].as_u64()), (202, Some(2)));
    let mut replayed = Vec::new();
    for _ in 0..2 {
        let event: Value = json_body(
            &next_delivery(&mut events, Duration::from_secs(15))
                .await
                .expect("replayed event"),
        );
        replayed.push(event["event_id"].as_str().unwrap().parse::<uuid::Uuid>().unwrap());
    }
    assert_eq!(replayed, original, "same event ids, same order");
    pool.close().await;
    app.stop().await.unwrap();
}
