//! Scenario 3: callback ingestion. M payments wait for the customer (auto-customer off); then M
//! signed final sale callbacks are POSTed, 32 at a time, to the orchestrator's
//! `/callbacks/ecommpay` (stored, applied, announced: timed to the last final event consumed),
//! and the same callbacks to a bare axum handler that verifies and does one UPDATE.

use super::baseline::Baseline;
use super::env::{self, BenchDb, Servers};
use super::load::{self, EventProbe};
use super::statements::{self, Statements};
use futures_util::StreamExt as _;
use std::collections::HashMap;
use std::time::{Duration, Instant};

const IN_FLIGHT: usize = 32;

#[derive(Debug, Clone, Default)]
pub struct CallbackReport {
    pub callbacks: usize,
    pub orchestrator_per_sec: f64,
    pub orchestrator_http_per_sec: f64,
    pub bare_per_sec: f64,
    pub refused: usize,
    /// CPU per callback, ms, while the orchestrator took them, then while the bare handler did.
    pub orchestrator_cpu: CpuPerCallback,
    pub bare_cpu: CpuPerCallback,
    /// The statements per callback of each phase, when `pg_stat_statements` is loaded.
    pub orchestrator_statements: Option<Statements>,
    pub bare_statements: Option<Statements>,
}

/// Where a phase's CPU went, per callback (ms): this process (orchestrator or bare handler, and
/// the load generator), PostgreSQL and RabbitMQ.
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuPerCallback {
    pub process: f64,
    pub postgres: f64,
    pub rabbitmq: f64,
}

/// Brackets one phase of `callbacks` callbacks.
struct CpuMark {
    process: f64,
    servers: env::ServerCpu,
}

impl CpuMark {
    fn now() -> Self {
        Self {
            process: env::process_cpu_secs(),
            servers: env::ServerCpu::snapshot(),
        }
    }

    fn per_callback(&self, callbacks: usize) -> CpuPerCallback {
        let (postgres, rabbitmq) = env::ServerCpu::snapshot().since(&self.servers);
        let per = |secs: f64| secs * 1000.0 / callbacks.max(1) as f64;
        CpuPerCallback {
            process: per(env::process_cpu_secs() - self.process),
            postgres: per(postgres),
            rabbitmq: per(rabbitmq),
        }
    }
}

/// Creates M payments awaiting the customer at the orchestrator (`commands` / `events`).
pub async fn prepare(servers: &Servers, commands: &str, events: &str, m: usize) -> anyhow::Result<Vec<String>> {
    let mut probe = EventProbe::subscribe(servers.amqp().await?, events).await?;
    let publisher = servers.amqp().await?;
    let ids = load::payment_ids("c", m);
    let sent = load::publish_purchases(&publisher, commands, &ids).await?;
    let waiting = probe
        .wait_for(
            &sent,
            |kind| kind == "payment.action_required",
            Duration::from_secs(120 + m as u64 / 10),
        )
        .await;
    Ok(ids.into_iter().filter(|id| waiting.contains_key(id)).collect())
}

/// POSTs every callback to `url`, `IN_FLIGHT` at a time; returns how many were not 200.
async fn post_all(url: &str, bodies: Vec<String>) -> usize {
    let http = reqwest::Client::new();
    futures_util::stream::iter(bodies)
        .map(|body| {
            let request = http
                .post(url)
                .header("content-type", "application/json")
                .body(body)
                .send();
            async move { request.await.map(|r| r.status().as_u16()).unwrap_or(0) }
        })
        .buffer_unordered(IN_FLIGHT)
        .filter(|status| std::future::ready(*status != 200))
        .count()
        .await
}

/// `dbs`: the orchestrator's database, then the bare handler's.
pub async fn run(
    servers: &Servers,
    dbs: (&BenchDb, &BenchDb),
    orchestrator_url: &str,
    events: &str,
    ids: &[String],
    baseline: &Baseline,
) -> anyhow::Result<CallbackReport> {
    let bodies: Vec<String> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| env::sale_callback(id, 7_000_000 + i as u64).to_string())
        .collect();
    let mut probe = EventProbe::subscribe(servers.amqp().await?, events).await?;
    let counting = statements::reset(servers).await;
    let mark = CpuMark::now();
    let started = Instant::now();
    let wanted: HashMap<String, Instant> = ids.iter().map(|id| (id.clone(), started)).collect();
    let refused = post_all(orchestrator_url, bodies.clone()).await;
    let http_secs = started.elapsed().as_secs_f64();
    let done = probe.wait_for(&wanted, load::is_final, Duration::from_secs(60)).await;
    let end = done.values().max().copied().unwrap_or(started);
    let orchestrator_secs = end.duration_since(started).as_secs_f64().max(http_secs);
    let orchestrator_cpu = mark.per_callback(ids.len());
    let orchestrator_statements = match counting {
        true => Some(statements::read(servers, dbs.0, ids.len()).await?),
        false => None,
    };
    // The bare side: the same payments, awaiting the customer, in the baseline's table.
    sqlx::query(
        "INSERT INTO base_payments (payment_id, status, amount_minor, body)
         SELECT id, 'action_required', $2, '{}'::jsonb FROM unnest($1::text[]) id
         ON CONFLICT (payment_id) DO UPDATE SET status = 'action_required'",
    )
    .bind(ids)
    .bind(env::AMOUNT)
    .execute(&baseline.pool)
    .await?;
    let counting = statements::reset(servers).await;
    let mark = CpuMark::now();
    let started = Instant::now();
    let bare_refused = post_all(&baseline.url("/bare/ecommpay"), bodies).await;
    let bare_secs = started.elapsed().as_secs_f64();
    let bare_cpu = mark.per_callback(ids.len());
    let bare_statements = match counting {
        true => Some(statements::read(servers, dbs.1, ids.len()).await?),
        false => None,
    };
    Ok(CallbackReport {
        callbacks: ids.len(),
        orchestrator_per_sec: done.len() as f64 / orchestrator_secs.max(1e-6),
        orchestrator_http_per_sec: (ids.len() - refused) as f64 / http_secs.max(1e-6),
        bare_per_sec: (ids.len() - bare_refused) as f64 / bare_secs.max(1e-6),
        refused: refused + bare_refused,
        orchestrator_cpu,
        bare_cpu,
        orchestrator_statements,
        bare_statements,
    })
}
