//! Scenario 7: a lone purchase's latency (issue 16). Purchases go one at a time, each published
//! only after the previous one's `payment.succeeded` arrived, with the sandbox's customer finishing
//! at once, so nothing else is in flight: what is measured is the path's own delay (intake, sale,
//! two callbacks, relay), which batching must not lengthen. Compare medians of two commits run in
//! one sitting; a single figure means little on a shared machine.

use super::env::{self, Servers};
use super::load::{self, EventProbe};
use std::time::Duration;

/// Purchases in one latency run.
pub const SAMPLES: usize = 50;

/// Publish → `payment.succeeded` of lone purchases.
#[derive(Debug, Clone, Default)]
pub struct LatencyReport {
    pub samples: usize,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub max_ms: f64,
}

/// Runs [`SAMPLES`] sequential purchases through a started orchestrator (commands to
/// `exchanges.0`, events from `exchanges.1`).
pub async fn run(servers: &Servers, exchanges: (&str, &str)) -> anyhow::Result<LatencyReport> {
    let mut probe = EventProbe::subscribe(servers.amqp().await?, exchanges.1).await?;
    let publisher = servers.amqp().await?;
    let mut latencies = Vec::with_capacity(SAMPLES);
    for id in load::payment_ids("lone", SAMPLES) {
        let sent = load::publish_purchases(&publisher, exchanges.0, std::slice::from_ref(&id)).await?;
        let done = probe
            .wait_for(&sent, |kind| kind == "payment.succeeded", Duration::from_secs(30))
            .await;
        let (Some(published), Some(succeeded)) = (sent.get(&id), done.get(&id)) else {
            anyhow::bail!("lone purchase {id} did not succeed within 30 s");
        };
        latencies.push(succeeded.saturating_duration_since(*published));
    }
    latencies.sort();
    Ok(LatencyReport {
        samples: latencies.len(),
        p50_ms: env::percentile_ms(&latencies, 50.0),
        p95_ms: env::percentile_ms(&latencies, 95.0),
        max_ms: latencies.last().map_or(f64::NAN, |last| last.as_secs_f64() * 1000.0),
    })
}
