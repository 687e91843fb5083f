//! Every admin endpoint refuses callers without a live token (401) and callers whose token
//! lacks the endpoint's scope (403), for every scope (contract §4).

use super::token;
use crate::helpers::*;
use serde_json::{json, Value};

/// Every route of the admin API: method, path (template), a concrete path, body, scope.
pub const ENDPOINTS: &[(&str, &str, &str, &str)] = &[
    ("GET", "/admin/v1/payments", "/admin/v1/payments", "read"),
    (
        "GET",
        "/admin/v1/payments/{payment_id}",
        "/admin/v1/payments/nope",
        "read",
    ),
    ("GET", "/admin/v1/reviews", "/admin/v1/reviews", "read"),
    (
        "POST",
        "/admin/v1/payments/{payment_id}/status-check",
        "/admin/v1/payments/nope/status-check",
        "operate",
    ),
    (
        "POST",
        "/admin/v1/payments/{payment_id}/resolve",
        "/admin/v1/payments/nope/resolve",
        "operate",
    ),
    (
        "POST",
        "/admin/v1/payments/{payment_id}/replay-events",
        "/admin/v1/payments/nope/replay-events",
        "operate",
    ),
    ("GET", "/admin/v1/refunds", "/admin/v1/refunds", "read"),
    ("GET", "/admin/v1/refund-queues", "/admin/v1/refund-queues", "read"),
    (
        "POST",
        "/admin/v1/refunds/{refund_id}/release",
        "/admin/v1/refunds/nope/release",
        "operate",
    ),
    (
        "POST",
        "/admin/v1/refunds/{refund_id}/status-check",
        "/admin/v1/refunds/nope/status-check",
        "operate",
    ),
    (
        "POST",
        "/admin/v1/refunds/{refund_id}/cancel",
        "/admin/v1/refunds/nope/cancel",
        "finance",
    ),
    ("GET", "/admin/v1/dead-letters", "/admin/v1/dead-letters", "read"),
    (
        "POST",
        "/admin/v1/dead-letters/{id}/replay",
        "/admin/v1/dead-letters/999999/replay",
        "operate",
    ),
    (
        "POST",
        "/admin/v1/dead-letters/{id}/purge",
        "/admin/v1/dead-letters/999999/purge",
        "operate",
    ),
    ("GET", "/admin/v1/jobs/exhausted", "/admin/v1/jobs/exhausted", "read"),
    ("GET", "/admin/v1/accounts", "/admin/v1/accounts", "read"),
    (
        "POST",
        "/admin/v1/accounts/{provider}/{account}/pause",
        "/admin/v1/accounts/humm/nope/pause",
        "operate",
    ),
    (
        "POST",
        "/admin/v1/accounts/{provider}/{account}/resume",
        "/admin/v1/accounts/humm/nope/resume",
        "operate",
    ),
    (
        "POST",
        "/admin/v1/accounts/reload-secrets",
        "/admin/v1/accounts/reload-secrets",
        "operate",
    ),
    (
        "POST",
        "/admin/v1/refunds/{refund_id}/record",
        "/admin/v1/refunds/nope/record",
        "finance",
    ),
    (
        "POST",
        "/admin/v1/settlements",
        "/admin/v1/settlements?provider=humm",
        "finance",
    ),
    (
        "GET",
        "/admin/v1/settlements/{id}/mismatches",
        "/admin/v1/settlements/1/mismatches",
        "finance",
    ),
    ("POST", "/admin/v1/jobs/{id}/retry", "/admin/v1/jobs/1/retry", "operate"),
    (
        "POST",
        "/admin/v1/jobs/{id}/discard",
        "/admin/v1/jobs/1/discard",
        "operate",
    ),
    ("GET", "/admin/v1/broker/queues", "/admin/v1/broker/queues", "read"),
    (
        "GET",
        "/admin/v1/reports/reconciliation.csv",
        "/admin/v1/reports/reconciliation.csv?from=2026-01-01&to=2027-01-01",
        "finance",
    ),
];

/// A body every POST accepts as far as its shape goes.
fn body_for(path: &str) -> Value {
    if path.ends_with("/resolve") {
        json!({"to": "succeeded", "reason": "test"})
    } else if path.ends_with("/release") {
        json!({"outcome": "succeeded", "reason": "test"})
    } else {
        json!({"reason": "test"})
    }
}

async fn call(app: &TestApp, method: &str, path: &str, auth: Option<&str>) -> reqwest::Response {
    let mut request = match method {
        "GET" => app.http.get(app.url(path)),
        _ => app.http.post(app.url(path)).json(&body_for(path)),
    };
    if let Some(auth) = auth {
        request = request.header("Authorization", auth);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn every_endpoint_needs_a_live_token_with_its_scope() {
    let mut app = spawn_app().await;
    let pool = app.db.pool().await;
    let read = token(&pool, "reader", &["read"]).await;
    let operate = token(&pool, "operator", &["operate"]).await;
    let finance = token(&pool, "finance", &["finance"]).await;
    let revoked = token(&pool, "gone", &["read", "operate", "finance"]).await;
    assert!(bnpl::store::tokens::revoke(&pool, "gone").await.unwrap());
    // Right shape, wrong secret: found by its lookup part, refused by the hash comparison.
    let forged = format!("{}{}", &read[..17], "0".repeat(read.len() - 17));

    for (method, _, path, scope) in ENDPOINTS {
        let unauthenticated = [
            None,
            Some("Bearer".to_owned()),
            Some("Bearer not-a-token".to_owned()),
            Some(format!("Bearer {forged}")),
            Some(format!("Bearer {revoked}")),
            Some(format!("Basic {read}")),
        ];
        for auth in &unauthenticated {
            let response = call(&app, method, path, auth.as_deref()).await;
            assert_eq!(response.status(), 401, "{method} {path} with {auth:?}");
            assert_eq!(response.headers()["www-authenticate"], "Bearer");
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["error"]["code"], "unauthenticated");
        }
        for (name, token) in [("read", &read), ("operate", &operate), ("finance", &finance)] {
            let allowed = *scope == "read" || *scope == name;
            let response = call(&app, method, path, Some(&format!("Bearer {token}"))).await;
            let status = response.status().as_u16();
            if allowed {
                assert!(
                    status != 401 && status != 403,
                    "{method} {path} with scope {name}: {status}"
                );
            } else {
                assert_eq!(status, 403, "{method} {path} with scope {name}");
                let body: Value = response.json().await.unwrap();
                assert_eq!(body["error"]["code"], "forbidden");
            }
        }
    }
    pool.close().await;
    app.stop().await.unwrap();
}

#[tokio::test]
async fn tokens_are_stored_hashed_and_revocable() {
    let mut app = spawn_app().await;
    let pool = app.db.pool().await;
    let raw = token(&pool, "ops-1", &["read", "operate"]).await;
    assert!(raw.starts_with("bnpl_") && raw.len() == 5 + 64);
    let stored: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM admin_tokens WHERE position(convert_to($1, 'UTF8') in token_hash) > 0
            OR lookup = $1",
    )
    .bind(&raw)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(stored, 0, "the raw token is not stored");
    let (status, _) = super::get(&app, "/admin/v1/payments", &raw).await;
    assert_eq!(status, 200);
    let listed = bnpl::store::tokens::list(&pool).await.unwrap();
    assert_eq!(listed[0].name, "ops-1");
    assert!(listed[0].last_used_at.is_some());
    assert!(bnpl::store::tokens::revoke(&pool, "ops-1").await.unwrap());
    let (status, _) = super::get(&app, "/admin/v1/payments", &raw).await;
    assert_eq!(status, 401);
    pool.close().await;
    app.stop().await.unwrap();
}

#[tokio::test]
async fn request_bodies_are_limited() {
    let mut app = spawn_app().await;
    let pool = app.db.pool().await;
    let operate = token(&pool, "op", &["operate"]).await;
    let huge = "x".repeat(bnpl::admin::BODY_LIMIT + 1);
    let response = app
        .http
        .post(app.url("/admin/v1/payments/p1/resolve"))
        .bearer_auth(&operate)
        .header("content-type", "application/json")
        .body(format!("{{\"to\":\"succeeded\",\"reason\":\"{huge}\"}}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    pool.close().await;
    app.stop().await.unwrap();
}
