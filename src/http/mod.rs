//! The HTTP surface (axum): health, readiness and metrics now; callbacks and the admin API join
//! the same router. Handlers never leak internals in error bodies.

pub mod health;

use crate::messaging::Broker;
use crate::store::DatabaseMonitor;
use axum::routing::get;
use axum::Router;
use metrics_exporter_prometheus::PrometheusHandle;
use sqlx::PgPool;

/// What every handler may need.
#[derive(Clone)]
pub struct HttpState {
    pub pool: PgPool,
    pub database: DatabaseMonitor,
    pub broker: Broker,
    pub metrics: PrometheusHandle,
}

/// The orchestrator's router.
pub fn router(state: HttpState) -> Router {
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .with_state(state.clone())
        .merge(crate::admin::router(crate::admin::AdminState::new(
            state.pool,
            state.broker,
        )))
}
