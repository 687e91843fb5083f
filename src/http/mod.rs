//! The HTTP surface (axum): provider callbacks, health, readiness, metrics and the AsyncAPI
//! document; the admin API joins
//! the same router. Handlers never leak internals in error bodies.

pub mod callback_guard;
pub mod callbacks;
pub mod health;

use crate::flows::Services;
use crate::messaging::Broker;
use crate::store::DatabaseMonitor;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;
use metrics_exporter_prometheus::PrometheusHandle;
use sqlx::PgPool;
use std::sync::Arc;

/// What every handler may need.
#[derive(Clone)]
pub struct HttpState {
    pub pool: PgPool,
    pub database: DatabaseMonitor,
    pub broker: Broker,
    pub metrics: PrometheusHandle,
    /// The database-derived gauges, refreshed on a timer (`admin::metrics`).
    pub snapshot: crate::admin::metrics::Snapshot,
    pub services: Arc<Services>,
    /// Throttles senders whose callbacks keep failing verification.
    pub callback_guard: callback_guard::CallbackGuard,
    /// Verified callbacks that arrive together are applied in one transaction.
    pub callback_committer: crate::store::group_commit::GroupCommitter,
    /// The built-in provider sandbox plays the providers (shown on `/readyz`).
    pub sandbox: bool,
    /// How the dashboard meets browsers.
    pub web: crate::admin::WebSettings,
    /// How the providers' settlement reports read.
    pub settlements: Arc<crate::settlement::Mappings>,
}

const CALLBACK_BODY_LIMIT: usize = 256 * 1024;

/// `GET /asyncapi.json` (no auth, contract §4): the broker interface, schemas inlined. Built once.
async fn asyncapi() -> axum::Json<serde_json::Value> {
    static DOCUMENT: std::sync::OnceLock<serde_json::Value> = std::sync::OnceLock::new();
    axum::Json(DOCUMENT.get_or_init(crate::contract::asyncapi::self_contained).clone())
}

/// The orchestrator's router.
pub fn router(state: HttpState) -> Router {
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .route("/asyncapi.json", get(asyncapi))
        .route("/callbacks/ecommpay", post(callbacks::ecommpay))
        .route("/callbacks/aps", post(callbacks::aps))
        // Provider callbacks are a few kilobytes; anything far larger is not one.
        .layer(DefaultBodyLimit::max(CALLBACK_BODY_LIMIT))
        .with_state(state.clone())
        .merge(crate::admin::router(crate::admin::AdminState::new(
            state.pool,
            state.broker,
            state.web,
            state.services,
            state.settlements,
        )))
        // Last, so it wraps every route of the merged router (and sees its matched template).
        .layer(axum::middleware::from_fn(crate::telemetry::http::record))
}
