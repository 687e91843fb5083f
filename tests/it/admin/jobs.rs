//! Exhausted jobs decided on by an operator (contract §4, added 2026-11-29): retried with a fresh
//! attempt budget, or discarded, each with a reason and audited, through the API and the CLI; only
//! an exhausted job can be decided on.

use super::{post, seed_payment, token, Seed};
use crate::helpers::*;
use serde_json::json;
use sqlx::PgPool;

async fn exhausted_job(pool: &PgPool, payment_id: &str, kind: &str) -> i64 {
    sqlx::query_scalar(
        "INSERT INTO jobs (kind, payment_id, dedupe_key, state, available_at, attempts, max_attempts, last_error)
         VALUES ($2, $1, $2 || ':' || $1, 'exhausted', now() - interval '1 hour', 25, 25, 'provider timeout')
         RETURNING id",
    )
    .bind(payment_id)
    .bind(kind)
    .fetch_one(pool)
    .await
    .unwrap()
}

async fn job(pool: &PgPool, id: i64) -> (String, i32, Option<String>) {
    sqlx::query_as("SELECT state, attempts, last_error FROM jobs WHERE id = $1")
        .bind(id)
        .fetch_one(pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn an_exhausted_job_is_retried_or_discarded_with_a_reason_and_audited() {
    let mut app = spawn_app().await;
    let pool = app.db.pool().await;
    let read = token(&pool, "reader", &["read"]).await;
    let operate = token(&pool, "ops", &["operate"]).await;
    // Final payments: the retried status check finds nothing to do and completes.
    seed_payment(&pool, &Seed::new("ord-jr", "humm", "succeeded")).await;
    seed_payment(&pool, &Seed::new("ord-jd", "humm", "succeeded")).await;
    let retried = exhausted_job(&pool, "ord-jr", "status_check").await;
    let discarded = exhausted_job(&pool, "ord-jd", "status_check").await;
    let path = |id: i64, action: &str| format!("/admin/v1/jobs/{id}/{action}");

    let (status, _) = post(&app, &path(retried, "retry"), &read, json!({"reason": "x"})).await;
    assert_eq!(status, 403, "read may not decide");
    let (status, body) = post(&app, &path(retried, "retry"), &operate, json!({"reason": "  "})).await;
    assert_eq!(status, 400, "{body}");
    let (status, _) = post(&app, &path(999_999, "retry"), &operate, json!({"reason": "x"})).await;
    assert_eq!(status, 404);

    let (status, body) = post(
        &app,
        &path(retried, "retry"),
        &operate,
        json!({"reason": "provider is back"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["state"], "scheduled");
    assert_eq!(body["payment_id"], "ord-jr");
    // It ran again (fresh budget) and finished: the runner was woken, not left to its poll.
    eventually(std::time::Duration::from_secs(10), "the retried job ran", || async {
        job(&pool, retried).await.0 == "done"
    })
    .await;
    let (status, body) = post(&app, &path(retried, "retry"), &operate, json!({"reason": "again"})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("not_exhausted")));

    let (status, body) = post(
        &app,
        &path(discarded, "discard"),
        &operate,
        json!({"reason": "payment settled by phone"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        job(&pool, discarded).await,
        (
            "cancelled".to_owned(),
            25,
            Some("discarded: payment settled by phone".to_owned())
        )
    );

    let audit: Vec<(String, Option<String>, String)> =
        sqlx::query_as("SELECT actor, reason, detail->>'action' FROM audit_log WHERE detail ? 'job_id' ORDER BY id")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(
        audit,
        [
            (
                "ops".to_owned(),
                Some("provider is back".to_owned()),
                "retry_job".to_owned()
            ),
            (
                "ops".to_owned(),
                Some("payment settled by phone".to_owned()),
                "discard_job".to_owned()
            ),
        ]
    );

    // A live job of the same key blocks a retry (it would run twice).
    let twin = exhausted_job(&pool, "ord-jd", "refund_check").await;
    sqlx::query(
        "INSERT INTO jobs (kind, payment_id, dedupe_key, state, available_at)
         VALUES ('refund_check', 'ord-jd', 'refund_check:ord-jd', 'scheduled', now() + interval '1 hour')",
    )
    .execute(&pool)
    .await
    .unwrap();
    let (status, body) = post(&app, &path(twin, "retry"), &operate, json!({"reason": "x"})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("live_twin")));

    // The CLI does the same.
    let cli = exhausted_job(&pool, "ord-jr", "otp_expiry").await;
    let (ok, _, stderr) = super::cli::bnpl(&app, &["jobs", "discard", &cli.to_string(), "--reason", "obsolete"]);
    assert!(ok, "{stderr}");
    assert_eq!(job(&pool, cli).await.0, "cancelled");
    pool.close().await;
    app.stop().await.unwrap();
}
