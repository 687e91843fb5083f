//! `/healthz` (the process answers), `/readyz` (PostgreSQL and RabbitMQ are reachable right now,
//! checked with a live query, not a cached flag) and `/metrics` (Prometheus text format).

use super::HttpState;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde_json::json;
use std::time::Duration;

const READY_PROBE_TIMEOUT: Duration = Duration::from_secs(2);

pub async fn healthz() -> &'static str {
    "ok"
}

pub async fn readyz(State(state): State<HttpState>) -> impl IntoResponse {
    let database = matches!(
        tokio::time::timeout(READY_PROBE_TIMEOUT, sqlx::query("SELECT 1").execute(&state.pool)).await,
        Ok(Ok(_))
    );
    let broker = state.broker.is_connected();
    let status = if database && broker {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(json!({ "database": database, "broker": broker, "sandbox": state.sandbox })),
    )
}

pub async fn metrics(State(state): State<HttpState>) -> impl IntoResponse {
    // The recorder's families, then the database snapshot (refreshed on a timer, never here).
    let mut text = state.metrics.render();
    text.push_str(&state.snapshot.render());
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text)
}
