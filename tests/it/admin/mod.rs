//! The ops and finance surface (issue 8): admin API, OpenAPI document, dashboard in a real
//! browser, dead letters, reconciliation and retention. Data is seeded straight into the test's
//! database; the app under test is the real one (`spawn_app`).

mod api_auth;
mod api_payments;
mod api_refunds;
mod browser;
mod browser_actions;
mod browser_signin;
pub(crate) mod cli;
pub(crate) mod dashboard_actions;
mod dead_letters;
mod decisions;
mod holes;
mod jobs;
mod openapi;
mod refund_evidence;
mod reports;

use crate::helpers::TestApp;
use serde_json::{json, Value};
use sqlx::PgPool;

/// Creates a token with `scopes` directly in the app's database; returns the raw token.
pub async fn token(pool: &PgPool, name: &str, scopes: &[&str]) -> String {
    let scopes: Vec<String> = scopes.iter().map(|s| (*s).to_owned()).collect();
    bnpl::store::tokens::create(pool, name, &scopes).await.unwrap()
}

/// A payment row to seed.
pub struct Seed<'a> {
    pub payment_id: &'a str,
    pub provider: &'a str,
    pub status: &'a str,
    pub amount_minor: i64,
    pub review_reason: Option<&'a str>,
    /// How long ago it was created (and its threshold passed, when `past_threshold`).
    pub age_days: i64,
    pub past_threshold: bool,
}

impl<'a> Seed<'a> {
    pub fn new(payment_id: &'a str, provider: &'a str, status: &'a str) -> Self {
        Seed {
            payment_id,
            provider,
            status,
            amount_minor: 15_000,
            review_reason: None,
            age_days: 0,
            past_threshold: false,
        }
    }
}

/// Inserts a payment with a customer, as intake would have stored it.
pub async fn seed_payment(pool: &PgPool, seed: &Seed<'_>) {
    let currency = if seed.provider == "humm" { "GBP" } else { "EGP" };
    sqlx::query(
        "INSERT INTO payments (payment_id, provider, account, amount_minor, currency, status,
             review_reason, command_hash, provider_reference, customer, metadata, created_at,
             updated_at, threshold_at, last_sequence)
         VALUES ($1, $2, 'default', $3, $4, $5, $6, 'hash', $7, $8, '{\"order_ref\": \"1001\"}',
             now() - make_interval(days => $9), now() - make_interval(days => $9),
             CASE WHEN $10 THEN now() - interval '1 hour' ELSE now() + interval '1 day' END, 2)",
    )
    .bind(seed.payment_id)
    .bind(seed.provider)
    .bind(seed.amount_minor)
    .bind(currency)
    .bind(seed.status)
    .bind(seed.review_reason)
    .bind(format!("ref-{}", seed.payment_id))
    .bind(json!({"id": "cust-42", "first_name": "Jane", "last_name": "Doe",
                 "ip_address": "203.0.113.7", "phone": "01012345678", "email": "jane@example.com"}))
    .bind(i32::try_from(seed.age_days).unwrap())
    .bind(seed.past_threshold)
    .execute(pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO audit_log (payment_id, kind, actor, from_status, to_status, at)
         VALUES ($1, 'transition', 'intake', NULL, 'accepted', now() - make_interval(days => $2))",
    )
    .bind(seed.payment_id)
    .bind(i32::try_from(seed.age_days).unwrap())
    .execute(pool)
    .await
    .unwrap();
}

/// Inserts a refund of `payment_id` at the next position of its account's queue.
pub async fn seed_refund(pool: &PgPool, refund_id: &str, payment_id: &str, status: &str, amount: i64) {
    sqlx::query(
        "INSERT INTO refund_queues (queue_key, provider, account)
         SELECT provider || ':' || account, provider, account FROM payments WHERE payment_id = $1
         ON CONFLICT (queue_key) DO NOTHING",
    )
    .bind(payment_id)
    .execute(pool)
    .await
    .unwrap();
    sqlx::query(
        "WITH q AS (
             UPDATE refund_queues SET next_position = next_position + 1
             WHERE queue_key = (SELECT provider || ':' || account FROM payments WHERE payment_id = $2)
             RETURNING queue_key, next_position - 1 AS position)
         INSERT INTO refunds (refund_id, payment_id, queue_key, position, amount_minor, currency,
                              status, requested_by, provider_reference, submitted_at, created_at)
         SELECT $1, $2, q.queue_key, q.position, $4, p.currency, $3, 'finance-bot', 'rref-' || $1,
                CASE WHEN $3 = 'queued' THEN NULL ELSE now() - interval '10 minutes' END,
                p.created_at + interval '1 minute'
         FROM q, payments p WHERE p.payment_id = $2",
    )
    .bind(refund_id)
    .bind(payment_id)
    .bind(status)
    .bind(amount)
    .execute(pool)
    .await
    .unwrap();
}

/// Inserts a dead letter as intake records one; returns its id.
pub async fn seed_dead_letter(pool: &PgPool, routing_key: &str, body: &[u8]) -> i64 {
    sqlx::query_scalar(
        "INSERT INTO dead_letters (routing_key, reason, detail, body, published_at)
         VALUES ($1, 'invalid', 'body is not valid JSON', $2, now()) RETURNING id",
    )
    .bind(routing_key)
    .bind(body)
    .fetch_one(pool)
    .await
    .unwrap()
}

/// A GET with a bearer token.
pub async fn get(app: &TestApp, path: &str, token: &str) -> (u16, Value) {
    let response = app.http.get(app.url(path)).bearer_auth(token).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// A POST of JSON with a bearer token.
pub async fn post(app: &TestApp, path: &str, token: &str, body: Value) -> (u16, Value) {
    let response = app
        .http
        .post(app.url(path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Seeds a stored event as the ledger would have written it (a fixture: tests may write rows).
pub async fn seed_event(pool: &PgPool, event_type: &str, payment_id: &str, sequence: i64, mut body: Value) {
    let event_id = uuid::Uuid::now_v7();
    for (key, value) in [
        ("event_id", json!(event_id)),
        ("type", json!(event_type)),
        ("sequence", json!(sequence)),
        ("schema_version", json!(1)),
        ("occurred_at", json!("2026-11-29T10:00:00.000Z")),
    ] {
        body[key] = value;
    }
    sqlx::query("INSERT INTO outbox (event_id, event_type, payment_id, sequence, body) VALUES ($1, $2, $3, $4, $5)")
        .bind(event_id)
        .bind(event_type)
        .bind(payment_id)
        .bind(sequence)
        .bind(body)
        .execute(pool)
        .await
        .unwrap();
}
