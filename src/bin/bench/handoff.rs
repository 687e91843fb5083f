//! Scenario 6: the refund queue hand-off. K full refunds of K succeeded payments of one humm
//! account are queued at once; each waits for its predecessor. Measured per pair, from the commit
//! that made the predecessor final to the next refund's arrival at the sandbox (the ledger's
//! `at`). The commit is seen by a `LISTEN bnpl_refunds` of the bench: the first notification
//! received after the predecessor's `final_at` (`clock_timestamp()` inside that transaction's
//! statement). The older upper bound, from `final_at` itself, is printed beside it. A send that
//! reaches the sandbox before the bench's listener hears the commit counts as 0. Pairs whose queue
//! was freed while refunds were still being queued are left out (and counted): queueing notifies
//! the same channel, so the listener cannot tell their commit from a queueing one. Beside it, the
//! bare sum of design §4 in the same run: a NOTIFY → LISTEN round trip + one single-row commit +
//! one HTTP call to the sandbox.

use super::env::{self, BenchDb, Servers, AMOUNT, SECRET};
use bnpl::providers::ecommpay::account::EcommpayAccount;
use bnpl::providers::ecommpay::request;
use bnpl::providers::executor::Executor;
use chrono::{DateTime, Utc};
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::BasicProperties;
use secrecy::SecretString;
use serde_json::{json, Value};
use sqlx::postgres::{PgListener, PgPoolOptions};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use url::Url;

#[derive(Debug, Clone, Default)]
pub struct HandoffReport {
    pub pairs: usize,
    /// From the predecessor's commit (as the bench's listener heard it).
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// Pairs whose send arrived before the listener heard the commit (counted as 0).
    pub ahead_of_listener: usize,
    /// Pairs left out: their queue was freed before every refund was queued (see `run`).
    pub while_queueing: usize,
    /// From the predecessor's `final_at` (an upper bound), p50 and p99, over every pair.
    pub from_final_at: (f64, f64),
    /// The same over the pairs measured from the commit (those not left out).
    pub from_final_at_kept: (f64, f64),
    pub notify: (f64, f64),
    pub commit: (f64, f64),
    pub http: (f64, f64),
}

impl HandoffReport {
    pub fn bare_p50(&self) -> f64 {
        self.notify.0 + self.commit.0 + self.http.0
    }
    pub fn bare_p99(&self) -> f64 {
        self.notify.1 + self.commit.1 + self.http.1
    }
}

pub async fn run(
    servers: &Servers,
    db: &BenchDb,
    commands_exchange: &str,
    sandbox_url: &str,
    payments: &[String],
    k: usize,
) -> anyhow::Result<HandoffReport> {
    let payments = &payments[..k.min(payments.len())];
    let run = &uuid::Uuid::new_v4().simple().to_string()[..8];
    let refund_ids: Vec<String> = (0..payments.len()).map(|i| format!("r-{run}-{i}")).collect();
    let connection = servers.amqp().await?;
    let channel = connection.create_channel().await?;
    channel.confirm_select(ConfirmSelectOptions::default()).await?;
    let pool = PgPoolOptions::new().max_connections(2).connect(&db.url).await?;
    let (commits, listening) = listen_for_commits(&pool).await?;
    for (refund_id, payment_id) in refund_ids.iter().zip(payments) {
        let body = json!({
            "refund_id": refund_id, "payment_id": payment_id,
            "amount": {"minor": AMOUNT, "currency": "GBP"}, "reason": "bench"
        });
        let properties = BasicProperties::default()
            .with_content_type("application/json".into())
            .with_delivery_mode(2)
            .with_user_id("guest".into());
        channel
            .basic_publish(
                commands_exchange,
                "refund.create",
                BasicPublishOptions::default(),
                body.to_string().as_bytes(),
                properties,
            )
            .await?
            .await?;
    }
    let deadline = Instant::now() + Duration::from_secs(60 + refund_ids.len() as u64);
    let all_queued_at = all_queued(&pool, &refund_ids, deadline).await?;
    loop {
        let finals: i64 =
            sqlx::query_scalar("SELECT count(*) FROM refunds WHERE refund_id = ANY($1) AND final_at IS NOT NULL")
                .bind(&refund_ids)
                .fetch_one(&pool)
                .await?;
        if finals as usize >= refund_ids.len() {
            break;
        }
        if Instant::now() > deadline {
            anyhow::bail!("only {finals} of {} refunds final", refund_ids.len());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let rows: Vec<(String, DateTime<Utc>)> =
        sqlx::query_as("SELECT refund_id, final_at FROM refunds WHERE refund_id = ANY($1) ORDER BY position")
            .bind(&refund_ids)
            .fetch_all(&pool)
            .await?;
    let ledger: Value = reqwest::get(format!("{sandbox_url}/sandbox/ledger"))
        .await?
        .json()
        .await?;
    let arrivals: HashMap<String, DateTime<Utc>> = ledger["refunds"]["entries"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|entry| {
            let id = entry["refund_id"].as_str()?.to_owned();
            let at = entry["at"].as_str()?.parse::<DateTime<Utc>>().ok()?;
            Some((id, at))
        })
        .collect();
    listening.abort();
    let heard = commits
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    let mut from_final_at = Vec::new();
    let mut gaps = Vec::new();
    let mut ahead_of_listener = 0;
    let mut while_queueing = 0;
    let mut from_final_at_kept = Vec::new();
    for pair in rows.windows(2) {
        let Some(next_arrival) = arrivals.get(&pair[1].0) else {
            continue;
        };
        // The upper bound needs no listener: every pair counts.
        from_final_at.push((*next_arrival - pair[0].1).to_std().unwrap_or_default());
        // Queueing a refund notifies the same channel with the same payload as freeing a queue:
        // until every queueing commit has been heard, the first notification after `final_at` may
        // be one of those, earlier than the freeing commit, and the gap would be overstated.
        if pair[0].1 < all_queued_at + QUEUEING_HEARD_WITHIN {
            while_queueing += 1;
            continue;
        }
        let Some(committed) = heard.iter().find(|at| **at >= pair[0].1) else {
            continue;
        };
        from_final_at_kept.push((*next_arrival - pair[0].1).to_std().unwrap_or_default());
        match (*next_arrival - *committed).to_std() {
            Ok(gap) => gaps.push(gap),
            Err(_) => {
                ahead_of_listener += 1;
                gaps.push(Duration::ZERO);
            }
        }
    }
    gaps.sort();
    from_final_at.sort();
    from_final_at_kept.sort();
    let (notify, commit, http) =
        bare_steps(db, sandbox_url, payments.first().map_or("none", String::as_str), 300).await?;
    pool.close().await;
    let _ = connection.close(200, "done").await;
    Ok(HandoffReport {
        pairs: gaps.len(),
        p50_ms: env::percentile_ms(&gaps, 50.0),
        p99_ms: env::percentile_ms(&gaps, 99.0),
        max_ms: gaps.last().map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0),
        ahead_of_listener,
        while_queueing,
        from_final_at: (
            env::percentile_ms(&from_final_at, 50.0),
            env::percentile_ms(&from_final_at, 99.0),
        ),
        from_final_at_kept: (
            env::percentile_ms(&from_final_at_kept, 50.0),
            env::percentile_ms(&from_final_at_kept, 99.0),
        ),
        notify,
        commit,
        http,
    })
}

/// How long after the last refund became visible its queueing `NOTIFY` may still reach the
/// bench's listener: a local delivery takes well under a millisecond, but the listener's task
/// may wait for one of two busy cores; a wider margin only leaves a few more pairs out.
const QUEUEING_HEARD_WITHIN: chrono::TimeDelta = chrono::TimeDelta::milliseconds(20);

/// The instant every refund of `refund_ids` was seen queued (their queueing commits done).
async fn all_queued(pool: &sqlx::PgPool, refund_ids: &[String], deadline: Instant) -> anyhow::Result<DateTime<Utc>> {
    loop {
        let queued: i64 = sqlx::query_scalar("SELECT count(*) FROM refunds WHERE refund_id = ANY($1)")
            .bind(refund_ids)
            .fetch_one(pool)
            .await?;
        if queued as usize >= refund_ids.len() {
            return Ok(Utc::now());
        }
        if Instant::now() > deadline {
            anyhow::bail!("only {queued} of {} refunds queued", refund_ids.len());
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// When each `NOTIFY bnpl_refunds` reached a listener of the bench (a refund queued, or made
/// final: the commit that frees a queue notifies it), in order.
async fn listen_for_commits(pool: &sqlx::PgPool) -> anyhow::Result<(Heard, tokio::task::JoinHandle<()>)> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(bnpl::store::refunds::NOTIFY_CHANNEL).await?;
    let heard = Arc::new(Mutex::new(Vec::new()));
    let record = Arc::clone(&heard);
    let listening = tokio::spawn(async move {
        while listener.recv().await.is_ok() {
            record
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(Utc::now());
        }
    });
    Ok((heard, listening))
}

/// The instants the bench's listener heard a notification.
type Heard = Arc<Mutex<Vec<DateTime<Utc>>>>;

/// p50 and p99 (ms) of each bare step, `samples` times each, one after another.
async fn bare_steps(
    db: &BenchDb,
    sandbox_url: &str,
    payment_id: &str,
    samples: usize,
) -> anyhow::Result<((f64, f64), (f64, f64), (f64, f64))> {
    let pool = PgPoolOptions::new().max_connections(2).connect(&db.url).await?;
    sqlx::query("CREATE TABLE IF NOT EXISTS bench_row (id INT PRIMARY KEY, n BIGINT NOT NULL)")
        .execute(&pool)
        .await?;
    sqlx::query("INSERT INTO bench_row VALUES (1, 0) ON CONFLICT DO NOTHING")
        .execute(&pool)
        .await?;
    let mut listener = PgListener::connect_with(&pool).await?;
    listener.listen("bench_rtt").await?;
    let mut notify = Vec::with_capacity(samples);
    let mut commit = Vec::with_capacity(samples);
    let mut http = Vec::with_capacity(samples);
    let mut account = EcommpayAccount::new(env::PROJECT, SecretString::from(SECRET))?;
    account.gate_base_url = Url::parse(&format!("{sandbox_url}/"))?;
    let executor = Executor::new(Duration::from_secs(5))?;
    let query = request::status(&account, payment_id)?;
    for _ in 0..samples {
        let started = Instant::now();
        sqlx::query("SELECT pg_notify('bench_rtt', 'x')").execute(&pool).await?;
        listener.recv().await?;
        notify.push(started.elapsed());
        let started = Instant::now();
        sqlx::query("UPDATE bench_row SET n = n + 1 WHERE id = 1")
            .execute(&pool)
            .await?;
        commit.push(started.elapsed());
        let started = Instant::now();
        let _ = executor.send(&query, Duration::from_secs(5)).await;
        http.push(started.elapsed());
    }
    pool.close().await;
    let stats = |mut v: Vec<Duration>| {
        v.sort();
        (env::percentile_ms(&v, 50.0), env::percentile_ms(&v, 99.0))
    };
    Ok((stats(notify), stats(commit), stats(http)))
}
