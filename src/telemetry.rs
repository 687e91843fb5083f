//! Logs and metrics set-up, once per process.
//!
//! Logs are structured `tracing` events (JSON when `BNPL_LOG_FORMAT=json`), filtered by
//! `RUST_LOG` (default `info`). Metrics go to one process-wide Prometheus recorder, rendered by
//! `GET /metrics`; installing it is idempotent so several in-process apps (tests) share it.

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use tracing_subscriber::EnvFilter;

/// Installs the tracing subscriber (a no-op if one is already installed): `filter` in
/// `RUST_LOG` syntax (default `info`), JSON lines when `json`.
pub fn init_logging(filter: Option<&str>, json: bool) {
    let filter = filter
        .and_then(|filter| EnvFilter::try_new(filter).ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_target(false);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

/// The process-wide Prometheus handle, installing the recorder on first use.
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            // Fails only if another recorder is installed already; then ours just renders nothing
            // new, which is visible in tests rather than a crash in production.
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("a metrics recorder was already installed");
            }
            handle
        })
        .clone()
}
