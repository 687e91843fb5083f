//! Scenario 4: timers at scale. D payments are created through the orchestrator (the customer
//! never finishes, so each has a status check scheduled at created + base time), then 1,000,000
//! not-yet-due status checks are bulk-inserted (`generate_series`; `payment_id` NULL: the claim
//! never reads it). Shown: `EXPLAIN (ANALYZE, BUFFERS)` of the runner's claim query, with none
//! and with D due. Measured: the orchestrator claiming and executing D due checks (claim, status
//! query to the sandbox, update) against straight-line code doing the same three steps with the
//! same concurrency (32), and the bare single-row UPDATE commit rate, in the same run.

use super::env::{self, BenchDb, Servers, AMOUNT, SECRET};
use super::load::{self, EventProbe};
use super::orch;
use bnpl::providers::ecommpay::account::EcommpayAccount;
use bnpl::providers::ecommpay::{request, response};
use bnpl::providers::executor::Executor;
use bnpl::providers::outcome::Expected;
use chrono::{DateTime, Utc};
use secrecy::SecretString;
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;
use std::sync::Arc;
use std::time::{Duration, Instant};
use url::Url;

/// The runner's claim query (`store::jobs::claim`), verbatim.
const CLAIM: &str = "UPDATE jobs SET state = 'running', attempts = attempts + 1, lease_token = gen_random_uuid(),
                         available_at = now() + interval '120 seconds', updated_at = now()
         WHERE id IN (
             SELECT id FROM jobs
             WHERE state IN ('scheduled', 'running') AND available_at <= now()
             ORDER BY available_at
             LIMIT 32
             FOR UPDATE SKIP LOCKED)
         RETURNING id, kind, payment_id, refund_id, payload, attempts, max_attempts, lease_token";

const WORKERS: usize = 32;

#[derive(Debug, Clone, Default)]
pub struct TimerReport {
    pub rows: i64,
    pub due: usize,
    pub insert_secs: f64,
    pub plan_none_due: String,
    pub plan_due: String,
    pub orchestrator_per_sec: f64,
    pub bare_per_sec: f64,
    pub update_per_sec: f64,
}

pub async fn run(servers: &Servers, sandbox_url: &str, due: usize, filler: i64) -> anyhow::Result<TimerReport> {
    let db = servers.create_database().await?;
    let prefix = env::random_prefix();
    let result = run_in(servers, &db, &prefix, sandbox_url, due, filler).await;
    servers.drop_database(&db).await;
    let topology = bnpl::messaging::Topology::new(prefix, 20);
    servers.delete_prefix(&topology, &[], &[]).await;
    result
}

async fn run_in(
    servers: &Servers,
    db: &BenchDb,
    prefix: &str,
    sandbox_url: &str,
    due: usize,
    filler: i64,
) -> anyhow::Result<TimerReport> {
    let mut report = TimerReport {
        due,
        ..TimerReport::default()
    };
    // D payments awaiting the customer, each with its status check scheduled.
    let app = orch::start(servers, db, prefix, sandbox_url).await?;
    let mut probe = EventProbe::subscribe(servers.amqp().await?, &app.topology.events()).await?;
    let publisher = servers.amqp().await?;
    let ids = load::payment_ids("t", due);
    let sent = load::publish_purchases(&publisher, &app.topology.commands(), &ids).await?;
    let waiting = probe
        .wait_for(
            &sent,
            |kind| kind == "payment.action_required",
            Duration::from_secs(120 + due as u64 / 10),
        )
        .await;
    app.stop().await;
    anyhow::ensure!(
        waiting.len() == due,
        "only {} of {due} payments reached action_required",
        waiting.len()
    );
    let pool = PgPoolOptions::new().max_connections(40).connect(&db.url).await?;
    let started = Instant::now();
    sqlx::query(
        "INSERT INTO jobs (kind, payload, state, available_at, max_attempts)
         SELECT 'status_check', '{\"round\": 0}'::jsonb, 'scheduled',
                now() + interval '1 hour' + g * interval '1 second', 1000
         FROM generate_series(1, $1) g",
    )
    .bind(filler)
    .execute(&pool)
    .await?;
    sqlx::query("ANALYZE jobs").execute(&pool).await?;
    report.insert_secs = started.elapsed().as_secs_f64();
    report.rows = sqlx::query_scalar("SELECT count(*) FROM jobs WHERE state = 'scheduled'")
        .fetch_one(&pool)
        .await?;
    report.plan_none_due = explain(&pool).await?;
    let job_ids: Vec<i64> = sqlx::query_scalar(
        "UPDATE jobs SET available_at = now() WHERE kind = 'status_check' AND state = 'scheduled'
         AND payment_id IS NOT NULL RETURNING id",
    )
    .fetch_all(&pool)
    .await?;
    report.plan_due = explain(&pool).await?;
    report.bare_per_sec = bare(&pool, sandbox_url, job_ids.len()).await?;
    report.update_per_sec = updates(&pool, &job_ids).await?;
    // The orchestrator: started, then the same checks fall due again.
    let app = orch::start(servers, db, prefix, sandbox_url).await?;
    let t0: DateTime<Utc> = sqlx::query_scalar(
        "WITH due AS (UPDATE jobs SET available_at = now(), state = 'scheduled', lease_token = NULL
                      WHERE id = ANY($1) RETURNING 1)
         SELECT now() FROM due LIMIT 1",
    )
    .bind(&job_ids)
    .fetch_one(&pool)
    .await?;
    sqlx::query("NOTIFY bnpl_jobs").execute(&pool).await?;
    let deadline = Instant::now() + Duration::from_secs(120 + due as u64 / 5);
    loop {
        let done: i64 = sqlx::query_scalar("SELECT count(*) FROM jobs WHERE id = ANY($1) AND state = 'done'")
            .bind(&job_ids)
            .fetch_one(&pool)
            .await?;
        if done as usize >= job_ids.len() || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let (done, end): (i64, Option<DateTime<Utc>>) =
        sqlx::query_as("SELECT count(*), max(updated_at) FROM jobs WHERE id = ANY($1) AND state = 'done'")
            .bind(&job_ids)
            .fetch_one(&pool)
            .await?;
    app.stop().await;
    if let Some(end) = end {
        let secs = (end - t0).num_microseconds().unwrap_or(1) as f64 / 1e6;
        report.orchestrator_per_sec = done as f64 / secs.max(1e-6);
    }
    pool.close().await;
    Ok(report)
}

/// `EXPLAIN (ANALYZE, BUFFERS)` of the claim, rolled back.
async fn explain(pool: &PgPool) -> anyhow::Result<String> {
    let mut tx = pool.begin().await?;
    let lines: Vec<String> = sqlx::query_scalar(&format!("EXPLAIN (ANALYZE, BUFFERS) {CLAIM}"))
        .fetch_all(&mut *tx)
        .await?;
    tx.rollback().await?;
    Ok(lines.join("\n"))
}

/// Straight-line claim (one row, SKIP LOCKED) → status query → update, 32 workers; per second.
async fn bare(pool: &PgPool, sandbox_url: &str, expected: usize) -> anyhow::Result<f64> {
    let mut account = EcommpayAccount::new(env::PROJECT, SecretString::from(SECRET))?;
    account.gate_base_url = Url::parse(&format!("{sandbox_url}/"))?;
    let account = Arc::new(account);
    let executor = Executor::new(Duration::from_secs(5))?;
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..WORKERS {
        let (pool, account, executor) = (pool.clone(), Arc::clone(&account), executor.clone());
        workers.spawn(async move {
            let mut count = 0usize;
            loop {
                let claimed: Option<(i64, Option<String>)> = sqlx::query_as(
                    "UPDATE jobs SET state = 'running', lease_token = gen_random_uuid(), attempts = attempts + 1,
                                     available_at = now() + interval '120 seconds'
                     WHERE id = (SELECT id FROM jobs WHERE state IN ('scheduled', 'running') AND available_at <= now()
                                 ORDER BY available_at LIMIT 1 FOR UPDATE SKIP LOCKED)
                     RETURNING id, payment_id",
                )
                .fetch_optional(&pool)
                .await
                .ok()
                .flatten();
                let Some((id, payment_id)) = claimed else {
                    return count;
                };
                let payment_id = payment_id.unwrap_or_default();
                if let Ok(query) = request::status(&account, &payment_id) {
                    if let Ok(raw) = executor.send(&query, Duration::from_secs(5)).await {
                        let _ = response::parse_status(&raw, &Expected::money(&payment_id, AMOUNT, "GBP"));
                    }
                }
                let _ = sqlx::query(
                    "UPDATE jobs SET state = 'scheduled', available_at = now() + interval '5 minutes',
                                     lease_token = NULL, updated_at = now() WHERE id = $1",
                )
                .bind(id)
                .execute(&pool)
                .await;
                count += 1;
            }
        });
    }
    let mut total = 0;
    while let Some(done) = workers.join_next().await {
        total += done.unwrap_or(0);
    }
    let secs = started.elapsed().as_secs_f64();
    if total != expected {
        eprintln!("bare timer run executed {total} checks, {expected} were due");
    }
    Ok(total as f64 / secs.max(1e-6))
}

/// Bare single-row UPDATE commits (one per due job id), 32 workers; per second.
async fn updates(pool: &PgPool, ids: &[i64]) -> anyhow::Result<f64> {
    let ids = Arc::new(ids.to_vec());
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..WORKERS {
        let (pool, ids, next) = (pool.clone(), Arc::clone(&ids), Arc::clone(&next));
        workers.spawn(async move {
            loop {
                let index = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(id) = ids.get(index) else { return };
                let _ = sqlx::query("UPDATE jobs SET updated_at = now() WHERE id = $1")
                    .bind(id)
                    .execute(&pool)
                    .await;
            }
        });
    }
    while workers.join_next().await.is_some() {}
    Ok(ids.len() as f64 / started.elapsed().as_secs_f64().max(1e-6))
}
