//! An operator's decision on a payment against what happened meanwhile: a decision made from a
//! status the payment has left is refused, not decided again; a flagged final payment can be
//! kept as it is; a resolution leaves the payment's refunds' jobs alone.

use super::{post, seed_payment, seed_refund, token, Seed};
use crate::helpers::*;
use serde_json::json;
use sqlx::PgPool;
use std::time::Duration;

async fn payment(pool: &PgPool, id: &str) -> (String, i64, Option<String>) {
    sqlx::query_as("SELECT status, last_sequence, review_reason FROM payments WHERE payment_id = $1")
        .bind(id)
        .fetch_one(pool)
        .await
        .unwrap()
}

/// The operator decided `declined` from `needs_review`; a provider's success moved the payment to
/// `succeeded` meanwhile. With `from`, the decision is refused (409) and nothing changes; before,
/// it was decided again from `succeeded` and flipped a paid payment to `declined`.
#[tokio::test]
async fn a_decision_from_a_status_the_payment_left_is_refused() {
    let mut app = spawn_app().await;
    let pool = app.db.pool().await;
    let operate = token(&pool, "alice-ops", &["operate"]).await;
    seed_payment(&pool, &Seed::new("ord-moved", "humm", "succeeded")).await;
    let before = payment(&pool, "ord-moved").await;
    let path = "/admin/v1/payments/ord-moved/resolve";
    let decision = json!({"to": "declined", "reason": "no answer from humm", "from": "needs_review"});
    let (status, body) = post(&app, path, &operate, decision).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("conflict")),
        "{body}"
    );
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("succeeded"), "{message}");
    assert_eq!(payment(&pool, "ord-moved").await, before, "nothing changed");
    let (status, _) = post(
        &app,
        path,
        &operate,
        json!({"to": "declined", "reason": "x", "from": "paid"}),
    )
    .await;
    assert_eq!(status, 400, "an unknown from is a bad request");
    // Decided from what it is now, the same decision goes through.
    let decision = json!({"to": "declined", "reason": "refunded by phone", "from": "succeeded"});
    let (status, body) = post(&app, path, &operate, decision).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(payment(&pool, "ord-moved").await.0, "declined");
    pool.close().await;
    app.stop().await.unwrap();
}

/// A declined payment a provider's late success flagged (contract §3) is kept declined by ops:
/// the flag is cleared, the decision audited and announced as `payment.resolved` from and to
/// `declined`. An unflagged payment is still refused a resolution to the status it has.
#[tokio::test]
async fn a_flagged_final_payment_can_be_kept_as_it_is() {
    let mut app = spawn_app().await;
    let pool = app.db.pool().await;
    let operate = token(&pool, "alice-ops", &["operate"]).await;
    let mut seed = Seed::new("ord-kept", "humm", "declined");
    seed.review_reason = Some("contradiction");
    seed_payment(&pool, &seed).await;
    seed_payment(&pool, &Seed::new("ord-plain", "humm", "declined")).await;
    let probe = BrokerProbe::new(app.topology()).await;
    let mut events = probe.subscribe_events().await;

    let keep = json!({"to": "declined", "reason": "the success was a test transaction", "from": "declined"});
    let (status, body) = post(&app, "/admin/v1/payments/ord-plain/resolve", &operate, keep.clone()).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (422, Some("transition_refused")),
        "nothing to decide"
    );
    let (sequence_before, flagged) = {
        let (_, sequence, review) = payment(&pool, "ord-kept").await;
        (sequence, review)
    };
    assert_eq!(flagged.as_deref(), Some("contradiction"));
    let (status, resolution) = post(&app, "/admin/v1/payments/ord-kept/resolve", &operate, keep).await;
    assert_eq!(status, 200, "{resolution}");
    assert_eq!(
        (resolution["from"].as_str(), resolution["to"].as_str()),
        (Some("declined"), Some("declined"))
    );
    assert_eq!(
        payment(&pool, "ord-kept").await,
        ("declined".to_owned(), sequence_before + 1, None),
        "the flag is cleared"
    );
    let event = json_body(
        &next_delivery(&mut events, Duration::from_secs(15))
            .await
            .expect("payment.resolved published"),
    );
    assert_eq!(event["type"], "payment.resolved");
    assert_eq!(
        (event["from"].as_str(), event["to"].as_str()),
        (Some("declined"), Some("declined"))
    );
    assert_eq!(event["resolved_by"], "alice-ops");
    let audited: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE payment_id = 'ord-kept' AND kind = 'resolution' AND actor = 'alice-ops'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(audited, 1);
    pool.close().await;
    app.stop().await.unwrap();
}

/// A resolution cancels the payment's own scheduled jobs, not those of its refunds: a refund in
/// flight still needs its check, or it would hold its queue for ever.
#[tokio::test]
async fn a_resolution_leaves_the_refunds_jobs_alone() {
    let mut app = spawn_app().await;
    let pool = app.db.pool().await;
    let operate = token(&pool, "alice-ops", &["operate"]).await;
    let mut seed = Seed::new("ord-refunding", "humm", "succeeded");
    seed.review_reason = Some("contradiction");
    seed_payment(&pool, &seed).await;
    seed_refund(&pool, "rf-in-flight", "ord-refunding", "in_flight", 5_000).await;
    sqlx::query(
        "INSERT INTO jobs (kind, payment_id, refund_id, dedupe_key, available_at) VALUES
           ('status_check', 'ord-refunding', NULL, 'status_check:ord-refunding', now() + interval '1 hour'),
           ('refund_check', 'ord-refunding', 'rf-in-flight', 'refund_check:rf-in-flight', now() + interval '1 hour')",
    )
    .execute(&pool)
    .await
    .unwrap();
    let decision = json!({"to": "succeeded", "reason": "the captured sale stands"});
    let (status, resolution) = post(&app, "/admin/v1/payments/ord-refunding/resolve", &operate, decision).await;
    assert_eq!(status, 200, "{resolution}");
    assert_eq!(resolution["cancelled_jobs"], 1);
    let states: Vec<(String, String)> =
        sqlx::query_as("SELECT kind, state FROM jobs WHERE payment_id = 'ord-refunding' ORDER BY kind")
            .fetch_all(&pool)
            .await
            .unwrap();
    let expected = [("refund_check", "scheduled"), ("status_check", "cancelled")]
        .map(|(kind, state)| (kind.to_owned(), state.to_owned()));
    assert_eq!(states, expected);
    pool.close().await;
    app.stop().await.unwrap();
}
