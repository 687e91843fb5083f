//! Quiescence: the run is over only when nothing is left to happen — every payment and refund
//! settled, every event published and consumed, every command stored, the intake queues empty,
//! nothing in flight at the sandbox — or when a bounded deadline passes.

use crate::cluster::Node;
use crate::Run;
use serde_json::Value;
use sqlx::PgPool;
use std::collections::HashSet;
use std::time::Duration;
use tokio::sync::Mutex;
use tokio::time::Instant;

/// Waits until nothing is left to happen, or `deadline`; returns how long it took and what was
/// still open when it gave up.
pub async fn quiesce(
    run: &Run,
    db_url: &str,
    queues: &[String],
    nodes: &[Mutex<Node>],
    deadline: Duration,
) -> (Duration, Vec<String>) {
    let started = Instant::now();
    let http = reqwest::Client::new();
    loop {
        crate::chaos::revive_exited(nodes, &http, &run.tally).await;
        let open = still_open(run, db_url, queues).await;
        if open.is_empty() || started.elapsed() > deadline {
            return (started.elapsed(), open);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn still_open(run: &Run, db_url: &str, queues: &[String]) -> Vec<String> {
    let mut open = Vec::new();
    let Ok(pool) = PgPool::connect(db_url).await else {
        return vec!["database unreachable".into()];
    };
    let counts = [
        ("open payments", "SELECT count(*) FROM payments WHERE status IN ('accepted','pending','action_required') OR (status = 'needs_review' AND review_reason IS NULL)"),
        ("open refunds", "SELECT count(*) FROM refunds WHERE status IN ('queued','in_flight')"),
        ("unpublished events", "SELECT count(*) FROM outbox WHERE published_at IS NULL"),
        ("unpublished dead letters", "SELECT count(*) FROM dead_letters WHERE published_at IS NULL"),
    ];
    for (what, sql) in counts {
        match sqlx::query_scalar::<_, i64>(sql).fetch_one(&pool).await {
            Ok(0) => {}
            Ok(n) => open.push(format!("{what}: {n}")),
            Err(e) => open.push(format!("{what}: {e}")),
        }
    }
    let ids: Vec<String> = sqlx::query_scalar("SELECT event_id::text FROM outbox")
        .fetch_all(&pool)
        .await
        .unwrap_or_default();
    let unseen = ids.iter().filter(|id| !run.events.has_id(id)).count();
    if unseen > 0 {
        open.push(format!("events not yet consumed: {unseen}"));
    }
    let stored: HashSet<String> = sqlx::query_scalar("SELECT message_id FROM commands WHERE message_id IS NOT NULL")
        .fetch_all(&pool)
        .await
        .unwrap_or_default()
        .into_iter()
        .collect();
    let missing = run
        .sent
        .lock()
        .unwrap()
        .iter()
        .filter(|s| !stored.contains(&s.message_id))
        .count();
    if missing > 0 {
        open.push(format!("commands not yet stored: {missing}"));
    }
    pool.close().await;
    for queue in queues {
        match crate::helpers::ready_messages(queue).await {
            Some(0) => {}
            other => open.push(format!("{queue}: {other:?} ready")),
        }
    }
    if let Ok(ledger) = ledger(run).await {
        for (account, state) in ledger["accounts"].as_object().cloned().unwrap_or_default() {
            if state["in_flight"].as_array().is_some_and(|a| !a.is_empty()) {
                open.push(format!("refunds in flight at {account}"));
            }
        }
    }
    if run.events.quiet_for() < Duration::from_secs(1) {
        open.push("events still arriving".into());
    }
    open
}

/// What is still open, in detail, for the report of a run that did not settle.
pub async fn diagnose(db_url: &str) -> Vec<String> {
    let Ok(pool) = PgPool::connect(db_url).await else {
        return vec!["database unreachable".into()];
    };
    let sql = "SELECT 'payment ' || payment_id || ' ' || status || coalesce(' review=' || review_reason, '') FROM payments
                 WHERE status IN ('accepted','pending','action_required','needs_review')
               UNION ALL
               SELECT 'refund ' || refund_id || ' of ' || payment_id || ' ' || status || ' queue=' || queue_key
                      || ' pos=' || position || ' attempts=' || attempts || coalesce(' review=' || review_reason, '')
                 FROM refunds WHERE status IN ('queued','in_flight','needs_review')
               UNION ALL
               SELECT 'job ' || kind || ' ' || coalesce(payment_id, '') || ' ' || coalesce(refund_id, '') || ' ' || state
                      || ' attempts=' || attempts || ' due=' || available_at::text || coalesce(' error=' || last_error, '')
                 FROM jobs WHERE state IN ('scheduled','running','exhausted')
               LIMIT 60";
    let lines = sqlx::query_scalar::<_, String>(sql)
        .fetch_all(&pool)
        .await
        .unwrap_or_default();
    pool.close().await;
    lines
}

pub async fn ledger(run: &Run) -> reqwest::Result<Value> {
    run.http
        .get(format!("{}/sandbox/ledger", run.sandbox_url))
        .send()
        .await?
        .json()
        .await
}
