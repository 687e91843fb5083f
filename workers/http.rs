//! Role `http`: serves the router on the bound listener until shutdown, and keeps the metrics'
//! database snapshot fresh.

use super::WorkerContext;
use crate::http::{router, HttpState};
use std::net::SocketAddr;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub fn spawn(
    context: &WorkerContext,
    listener: tokio::net::TcpListener,
    tracker: &TaskTracker,
    shutdown: CancellationToken,
) -> anyhow::Result<SocketAddr> {
    let addr = listener.local_addr()?;
    let snapshot = crate::admin::metrics::Snapshot::default();
    tracker.spawn(crate::admin::metrics::refresh_every(
        snapshot.clone(),
        context.pool.clone(),
        context.broker.clone(),
        context.config.http.metrics_refresh,
        shutdown.clone(),
    ));
    let app = router(HttpState {
        pool: context.pool.clone(),
        database: context.database.clone(),
        broker: context.broker.clone(),
        metrics: context.metrics.clone(),
        snapshot,
        services: context.services.clone(),
        callback_guard: crate::http::callback_guard::CallbackGuard::new(context.config.http.trusted_proxies.clone()),
        // Two committers: one batch commits while the next fills up. A sibling of the job
        // results' committer: a callback waits for a running batch that changes its payment.
        // A callback starts from its payment's row: a batch of them reads the rows the row cache
        // lacks in one statement (more payments may wait for callbacks than the cache holds).
        callback_committer: context
            .services
            .job_committer
            .sibling_reading_first(2, 64, crate::ledger::rows::preload),
        sandbox: context.config.sandbox,
        web: crate::admin::WebSettings::from_config(&context.config),
        settlements: std::sync::Arc::new(context.config.settlements.clone()),
    });
    tracing::info!(%addr, "http listening");
    tracker.spawn(async move {
        let served = axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await;
        if let Err(error) = served {
            tracing::error!(%error, "http server failed");
        }
    });
    Ok(addr)
}
