//! OTLP trace export (cargo feature `otel`, off by default and not built in CI): when
//! `BNPL_OTLP_ENDPOINT` names a collector (`http://collector:4318/v1/traces`), every span
//! (command, callback, job, provider call) is exported over OTLP/HTTP in batches, as service
//! `bnpl-orchestrator`. Without the variable the layer does nothing.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use std::sync::OnceLock;
use tracing_subscriber::registry::LookupSpan;

static PROVIDER: OnceLock<SdkTracerProvider> = OnceLock::new();

/// The export layer, or `None` (no endpoint, or an exporter that cannot be built: said on stderr).
pub fn layer<S>() -> Option<tracing_opentelemetry::OpenTelemetryLayer<S, opentelemetry_sdk::trace::Tracer>>
where
    S: tracing::Subscriber + for<'span> LookupSpan<'span>,
{
    let endpoint = std::env::var("BNPL_OTLP_ENDPOINT")
        .ok()
        .filter(|e| !e.trim().is_empty())?;
    let exporter = match opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_endpoint(endpoint.trim())
        .build()
    {
        Ok(exporter) => exporter,
        Err(error) => {
            eprintln!("bnpl: BNPL_OTLP_ENDPOINT: cannot build the OTLP exporter: {error}");
            return None;
        }
    };
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name("bnpl-orchestrator")
        .build();
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource)
        .build();
    let tracer = provider.tracer("bnpl");
    let _ = PROVIDER.set(provider);
    Some(tracing_opentelemetry::layer().with_tracer(tracer))
}

/// Flushes the spans still buffered (at shutdown).
pub fn shutdown() {
    if let Some(provider) = PROVIDER.get() {
        let _ = provider.shutdown();
    }
}
