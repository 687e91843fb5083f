//! Logs, traces and metrics set-up, once per process.
//!
//! Logs are structured `tracing` events (JSON when `BNPL_LOG_FORMAT=json`), filtered by
//! `RUST_LOG` (default `info`), inside spans per command, callback, job and provider call. With
//! the cargo feature `otel` and `BNPL_OTLP_ENDPOINT` set, the spans are also exported over OTLP
//! ([`otel`]). Metrics go to one process-wide Prometheus recorder, rendered by `GET /metrics`;
//! installing it is idempotent so several in-process apps (tests) share it.

pub mod catalog;
pub mod http;
#[cfg(feature = "otel")]
pub mod otel;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::io::IsTerminal as _;
use std::sync::OnceLock;
use tracing_subscriber::EnvFilter;

/// Installs the tracing subscriber (a no-op if one is already installed): `filter` in
/// `RUST_LOG` syntax (default `info`), JSON lines when `json`. Colours only on a terminal, so a
/// log redirected to a file or a collector carries no escape codes.
pub fn init_logging(filter: Option<&str>, json: bool) {
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let ansi = std::io::stdout().is_terminal();
    let text = (!json).then(|| tracing_subscriber::fmt::layer().with_target(false).with_ansi(ansi));
    let json = json.then(|| {
        tracing_subscriber::fmt::layer()
            .json()
            .with_target(false)
            .with_ansi(false)
    });
    let registry = tracing_subscriber::registry()
        .with(env_filter(filter, "info"))
        .with(text)
        .with(json);
    #[cfg(feature = "otel")]
    let registry = registry.with(otel::layer());
    #[cfg(not(feature = "otel"))]
    if std::env::var_os("BNPL_OTLP_ENDPOINT").is_some() {
        eprintln!("bnpl: BNPL_OTLP_ENDPOINT is set, but this build has no OTLP exporter (cargo feature `otel`)");
    }
    let _ = registry.try_init();
}

/// `filter` (`RUST_LOG` syntax), or `default`; PostgreSQL's NOTICEs (which sqlx logs at INFO:
/// "relation already exists, skipping" on every start) only at WARN unless the filter names sqlx.
pub fn env_filter(filter: Option<&str>, default: &str) -> EnvFilter {
    let text = filter.filter(|text| !text.trim().is_empty()).unwrap_or(default);
    let text = if text.contains("sqlx") {
        text.to_owned()
    } else {
        format!("{text},sqlx::postgres::notice=warn")
    };
    EnvFilter::try_new(&text).unwrap_or_else(|_| EnvFilter::new(default))
}

/// Bucket bounds, in seconds, of every `*_seconds` histogram.
const DURATION_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// The process-wide Prometheus handle, installing the recorder on first use.
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            // Histograms, not summaries: buckets aggregate across replicas, quantiles do not.
            // The buckets span a fast local call (1 ms) to a provider's timeout (30 s).
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), DURATION_BUCKETS)
                .map(PrometheusBuilder::build_recorder)
                .unwrap_or_else(|_| PrometheusBuilder::new().build_recorder());
            let handle = recorder.handle();
            // Fails only if another recorder is installed already; then ours just renders nothing
            // new, which is visible in tests rather than a crash in production.
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("a metrics recorder was already installed");
            }
            catalog::describe_all();
            metrics::gauge!("bnpl_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
            handle
        })
        .clone()
}
