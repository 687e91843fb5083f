//! Role `http`: binds the configured address and serves the router until shutdown.

use super::WorkerContext;
use crate::http::{router, HttpState};
use anyhow::Context as _;
use std::net::SocketAddr;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub async fn spawn(
    context: &WorkerContext,
    tracker: &TaskTracker,
    shutdown: CancellationToken,
) -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(context.config.http_addr)
        .await
        .with_context(|| format!("binding BNPL_HTTP_ADDR {}", context.config.http_addr))?;
    let addr = listener.local_addr()?;
    let app = router(HttpState {
        pool: context.pool.clone(),
        database: context.database.clone(),
        broker: context.broker.clone(),
        metrics: context.metrics.clone(),
    });
    tracing::info!(%addr, "http listening");
    tracker.spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await;
        if let Err(error) = served {
            tracing::error!(%error, "http server failed");
        }
    });
    Ok(addr)
}
