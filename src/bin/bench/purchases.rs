//! Scenario 1: humm Gate purchases end to end through the orchestrator: N `purchase.create`
//! published → intake → `humm_sale` job → sandbox (auto-customer finishes at once) → two
//! callbacks → final event consumed. Throughput, latency, CPU, RSS and I/O per payment.

use super::env::{self, BenchDb, Servers};
use super::load::{self, EventProbe, RunFigures};
use super::orch;
use serde_json::Value;
use std::time::{Duration, Instant};

/// How long PostgreSQL may keep an idle backend's statistics before flushing them.
const STATS_LAG: Duration = Duration::from_millis(10_500);

/// Everything scenario 1 measured.
#[derive(Debug, Clone, Default)]
pub struct PurchaseReport {
    pub figures: RunFigures,
    pub cpu_secs: f64,
    /// CPU seconds of PostgreSQL's and RabbitMQ's processes over the same span.
    pub postgres_cpu_secs: f64,
    pub rabbitmq_cpu_secs: f64,
    pub machine_busy: f64,
    pub rss_mib: f64,
    pub peak_rss_mib: f64,
    pub commits_per_payment: f64,
    pub idle_commits_per_sec: f64,
    pub sales_per_payment: f64,
    pub callbacks_per_payment: f64,
    pub status_queries_per_payment: f64,
    pub events_per_payment: f64,
    /// pg_stat_statements of the run, per payment (None without the extension).
    pub statements: Option<super::statements::Statements>,
}

impl PurchaseReport {
    pub fn http_per_payment(&self) -> f64 {
        self.sales_per_payment + self.callbacks_per_payment + self.status_queries_per_payment
    }
}

/// Runs N purchases through a started orchestrator or baseline, publishing to `exchanges.0` and
/// reading events from `exchanges.1` (auto-customer on at the sandbox).
pub async fn run(
    servers: &Servers,
    db: &BenchDb,
    exchanges: (&str, &str),
    sandbox_url: &str,
    n: usize,
) -> anyhow::Result<(PurchaseReport, Vec<String>)> {
    let http = reqwest::Client::new();
    let mut probe = EventProbe::subscribe(servers.amqp().await?, exchanges.1).await?;
    let publisher = servers.amqp().await?;
    let ids = load::payment_ids("p", n);
    // Idle background commits (relay and runner polls, health checks), measured before the load.
    // PostgreSQL 15 backends flush their statistics up to 10 s late when they go idle (the
    // PGSTAT_IDLE_INTERVAL), hence the waits before each reading.
    tokio::time::sleep(STATS_LAG).await;
    let settle = Duration::from_secs(4);
    let c0 = servers.commits(db).await?;
    tokio::time::sleep(settle).await;
    let c1 = servers.commits(db).await?;
    let idle_rate = (c1 - c0) as f64 / settle.as_secs_f64();
    let counting = super::statements::reset(servers).await;
    let status_before = orch::metric("bnpl_jobs_run_total", &["kind=\"status_check\""])
        + orch::metric("bnpl_jobs_run_total", &["kind=\"humm_sale\"", "outcome=\"retry\""]);
    let cpu0 = env::process_cpu_secs();
    let servers0 = env::ServerCpu::snapshot();
    let (busy0, total0) = env::machine_cpu();
    let started = Instant::now();
    let sent = load::publish_purchases(&publisher, exchanges.0, &ids).await?;
    let done = probe
        .wait_for(&sent, load::is_final, Duration::from_secs(60 + n as u64 / 10))
        .await;
    let elapsed = started.elapsed();
    let cpu = env::process_cpu_secs() - cpu0;
    let (postgres_cpu, rabbitmq_cpu) = env::ServerCpu::snapshot().since(&servers0);
    let (busy1, total1) = env::machine_cpu();
    let (rss, peak) = env::rss_mib("self");
    let figures = load::figures(&sent, &done);
    // Let late events (none expected) and statistics arrive.
    tokio::time::sleep(STATS_LAG).await;
    let c2 = servers.commits(db).await?;
    let statements = match counting {
        true => Some(super::statements::read(servers, db, n).await?),
        false => None,
    };
    let ledger: Value = http
        .get(format!("{sandbox_url}/sandbox/ledger?lists=false"))
        .send()
        .await?
        .json()
        .await?;
    let sales: u64 = ledger["sales_per_payment_id"]
        .as_object()
        .map(|map| {
            map.iter()
                .filter(|(id, _)| sent.contains_key(*id))
                .filter_map(|(_, count)| count.as_u64())
                .sum()
        })
        .unwrap_or(0);
    let callbacks = ledger["callback_counters"]["ecommpay"]["attempts"]
        .as_u64()
        .unwrap_or(0);
    let status_after = orch::metric("bnpl_jobs_run_total", &["kind=\"status_check\""])
        + orch::metric("bnpl_jobs_run_total", &["kind=\"humm_sale\"", "outcome=\"retry\""]);
    let per = |value: f64| value / n.max(1) as f64;
    let background = idle_rate * (elapsed + STATS_LAG).as_secs_f64();
    let report = PurchaseReport {
        figures,
        cpu_secs: cpu,
        postgres_cpu_secs: postgres_cpu,
        rabbitmq_cpu_secs: rabbitmq_cpu,
        machine_busy: (busy1 - busy0) / (total1 - total0).max(1.0),
        rss_mib: rss,
        peak_rss_mib: peak,
        commits_per_payment: per((c2 - c1) as f64 - background),
        idle_commits_per_sec: idle_rate,
        sales_per_payment: per(sales as f64),
        callbacks_per_payment: per(callbacks as f64),
        status_queries_per_payment: per(status_after - status_before),
        events_per_payment: per(probe.consumed.load(std::sync::atomic::Ordering::Relaxed) as f64),
        statements,
    };
    let succeeded: Vec<String> = ids.into_iter().filter(|id| done.contains_key(id)).collect();
    Ok((report, succeeded))
}
