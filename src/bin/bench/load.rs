//! The load side shared by the orchestrator and baseline runs: publishes `purchase.create`
//! commands with confirms and times each payment from its publish to its final event.

use anyhow::Context as _;
use futures_util::StreamExt as _;
use lapin::options::{
    BasicConsumeOptions, BasicPublishOptions, ConfirmSelectOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Final events arriving, by payment id.
pub struct EventProbe {
    finals: mpsc::UnboundedReceiver<(String, String, Instant)>,
    /// Every event consumed, final or not.
    pub consumed: Arc<AtomicU64>,
    _connection: Connection,
}

const FINAL_TYPES: [&str; 5] = [
    "payment.succeeded",
    "payment.declined",
    "payment.failed",
    "payment.expired",
    "payment.needs_review",
];

impl EventProbe {
    /// A private queue bound to every event of `exchange` (which must exist).
    pub async fn subscribe(connection: Connection, exchange: &str) -> anyhow::Result<Self> {
        let channel = connection.create_channel().await?;
        let options = QueueDeclareOptions {
            exclusive: true,
            auto_delete: true,
            ..Default::default()
        };
        let queue = channel.queue_declare("", options, FieldTable::default()).await?;
        channel
            .queue_bind(
                queue.name().as_str(),
                exchange,
                "#",
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .with_context(|| format!("binding to {exchange}"))?;
        let options = BasicConsumeOptions {
            no_ack: true,
            ..Default::default()
        };
        let mut consumer = channel
            .basic_consume(queue.name().as_str(), "", options, FieldTable::default())
            .await?;
        let (sender, finals) = mpsc::unbounded_channel();
        let consumed = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&consumed);
        tokio::spawn(async move {
            let _channel = channel;
            while let Some(Ok(delivery)) = consumer.next().await {
                let at = Instant::now();
                counter.fetch_add(1, Ordering::Relaxed);
                let Ok(event) = serde_json::from_slice::<Value>(&delivery.data) else {
                    continue;
                };
                let kind = event["type"].as_str().unwrap_or_default();
                if FINAL_TYPES.contains(&kind) || kind == "payment.action_required" {
                    let id = event["payment_id"].as_str().unwrap_or_default().to_owned();
                    if sender.send((id, kind.to_owned(), at)).is_err() {
                        break;
                    }
                }
            }
        });
        Ok(Self {
            finals,
            consumed,
            _connection: connection,
        })
    }

    /// Waits until every id in `wanted` has an event of a type `accept` takes (first one
    /// counts); returns the arrival times, or what arrived by `deadline`.
    pub async fn wait_for(
        &mut self,
        wanted: &HashMap<String, Instant>,
        accept: impl Fn(&str) -> bool,
        deadline: Duration,
    ) -> HashMap<String, Instant> {
        let mut seen = HashMap::with_capacity(wanted.len());
        let until = tokio::time::Instant::now() + deadline;
        while seen.len() < wanted.len() {
            match tokio::time::timeout_at(until, self.finals.recv()).await {
                Ok(Some((id, kind, at))) => {
                    if accept(&kind) && wanted.contains_key(&id) {
                        seen.entry(id).or_insert(at);
                    }
                }
                _ => break,
            }
        }
        seen
    }
}

/// Is this a final payment event?
pub fn is_final(kind: &str) -> bool {
    FINAL_TYPES.contains(&kind)
}

/// Publishes one `purchase.create` per id to `exchange` (persistent, confirmed, pipelined);
/// returns each id's publish instant.
pub async fn publish_purchases(
    connection: &Connection,
    exchange: &str,
    ids: &[String],
) -> anyhow::Result<HashMap<String, Instant>> {
    let channel = connection.create_channel().await?;
    channel.confirm_select(ConfirmSelectOptions::default()).await?;
    let mut sent = HashMap::with_capacity(ids.len());
    let mut confirms = Vec::with_capacity(ids.len());
    for id in ids {
        let body = super::env::humm_purchase(id).to_string();
        let properties = BasicProperties::default()
            .with_content_type("application/json".into())
            .with_delivery_mode(2)
            .with_user_id("guest".into());
        sent.insert(id.clone(), Instant::now());
        confirms.push(
            channel
                .basic_publish(
                    exchange,
                    "purchase.create",
                    BasicPublishOptions::default(),
                    body.as_bytes(),
                    properties,
                )
                .await?,
        );
    }
    for confirm in confirms {
        confirm.await?;
    }
    let _ = channel.close(200, "published").await;
    Ok(sent)
}

/// Payment ids for one run.
pub fn payment_ids(tag: &str, n: usize) -> Vec<String> {
    let run = &uuid::Uuid::new_v4().simple().to_string()[..8];
    (0..n).map(|i| format!("{tag}-{run}-{i}")).collect()
}

/// Throughput and latency of one run.
#[derive(Debug, Clone, Default)]
pub struct RunFigures {
    pub completed: usize,
    pub wall: Duration,
    pub per_sec: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
}

/// Figures from publish and final-event instants.
pub fn figures(sent: &HashMap<String, Instant>, done: &HashMap<String, Instant>) -> RunFigures {
    let start = sent.values().min().copied();
    let end = done.values().max().copied();
    let wall = match (start, end) {
        (Some(start), Some(end)) => end.saturating_duration_since(start),
        _ => Duration::ZERO,
    };
    let mut latencies: Vec<Duration> = done
        .iter()
        .filter_map(|(id, at)| sent.get(id).map(|s| at.saturating_duration_since(*s)))
        .collect();
    latencies.sort();
    RunFigures {
        completed: done.len(),
        wall,
        per_sec: done.len() as f64 / wall.as_secs_f64().max(1e-9),
        p50_ms: super::env::percentile_ms(&latencies, 50.0),
        p95_ms: super::env::percentile_ms(&latencies, 95.0),
        p99_ms: super::env::percentile_ms(&latencies, 99.0),
    }
}
