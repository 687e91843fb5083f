//! The circuit breaker per account (issue 19), with two `bnpl serve` processes sharing one
//! database: the sandbox plays a total outage of the humm account (every request 503). The
//! circuit opens within its window; during each cool-down the sandbox receives nothing, and each
//! half-open sends exactly one request, a status query; jobs keep their attempts; after the outage
//! the probe closes the circuit and every purchase completes with exactly one sale.

use crate::harness::*;
use crate::helpers::*;
use crate::processes::{sandbox_json, Process, TwoProcessSetup};
use chrono::{DateTime, Utc};
use lapin::BasicProperties;
use serde_json::{json, Value};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);
const COOL_DOWN: Duration = Duration::from_secs(2);
const PAYMENTS: usize = 8;

async fn set_outage(sandbox: &bnpl::sandbox::SandboxHandle, down: bool) {
    let answer = reqwest::Client::new()
        .post(sandbox.url("/sandbox/outage"))
        .json(&json!({"account": format!("ecommpay:{PROJECT}"), "down": down}))
        .send()
        .await
        .unwrap();
    assert!(answer.status().is_success());
}

/// The humm account's circuit state and since when, as stored.
async fn circuit(pool: &sqlx::PgPool) -> Option<(String, DateTime<Utc>)> {
    sqlx::query_as("SELECT state, since FROM account_states WHERE account_key = 'humm:default'")
        .fetch_optional(pool)
        .await
        .unwrap()
}

async fn account_events(pool: &sqlx::PgPool) -> Vec<String> {
    sqlx::query_scalar("SELECT event_type FROM outbox WHERE event_type LIKE 'account.%' ORDER BY id")
        .fetch_all(pool)
        .await
        .unwrap()
}

/// `(attempts, state)` of every humm job.
async fn humm_jobs(pool: &sqlx::PgPool) -> Vec<(i64, i32, String)> {
    sqlx::query_as("SELECT id, attempts, state FROM jobs WHERE account_key = 'humm:default' ORDER BY id")
        .fetch_all(pool)
        .await
        .unwrap()
}

/// Every humm job row as last written: a job claimed and put back (its attempt given back)
/// still shows in `updated_at`.
async fn humm_job_rows(pool: &sqlx::PgPool) -> Vec<(i64, i32, String, DateTime<Utc>)> {
    sqlx::query_as("SELECT id, attempts, state, updated_at FROM jobs WHERE account_key = 'humm:default' ORDER BY id")
        .fetch_all(pool)
        .await
        .unwrap()
}

async fn openings(pool: &sqlx::PgPool) -> usize {
    account_events(pool)
        .await
        .iter()
        .filter(|t| *t == "account.circuit_opened")
        .count()
}

#[tokio::test]
async fn an_outage_opens_the_circuit_everywhere_probes_once_per_half_open_and_recovers() {
    let TwoProcessSetup {
        ports: (port_a, port_b),
        sandbox,
        db,
        prefix,
        config,
    } = TwoProcessSetup::new().await;
    // The outage must not outlast the payments: their threshold is far away here.
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace(r#"threshold_time = "8s""#, r#"threshold_time = "120s""#)
        .replace(r#"refund_threshold = "8s""#, r#"refund_threshold = "120s""#)
        + &format!(
            "[accounts.humm.default.limits.breaker]\nfailure_ratio = 0.5\nmin_calls = 3\nwindow = \"20s\"\ncool_down = \"{}s\"\n",
            COOL_DOWN.as_secs()
        );
    std::fs::write(&config, text).unwrap();
    let mut a = Process::start(&db, &prefix, &config, port_a, None).await;
    let mut b = Process::start(&db, &prefix, &config, port_b, None).await;
    let pool = db.pool().await;

    set_outage(&sandbox, true).await;
    let probe = BrokerProbe::new(prefix.topology()).await;
    let ids: Vec<String> = (0..PAYMENTS).map(|n| format!("cb-{n}")).collect();
    for id in &ids {
        let body = humm_purchase(id, 15000).to_string();
        probe
            .publish_command("purchase.create", body.as_bytes(), BasicProperties::default())
            .await;
    }

    // The failures open the circuit within the window.
    eventually(WAIT, "the circuit opens", || async {
        matches!(circuit(&pool).await, Some((state, _)) if state == "open" || state == "half_open")
    })
    .await;
    let opened_at: DateTime<Utc> =
        sqlx::query_scalar("SELECT min(created_at) FROM outbox WHERE event_type = 'account.circuit_opened'")
            .fetch_one(&pool)
            .await
            .unwrap();
    let jobs_when_open = humm_jobs(&pool).await;
    // Two cool-downs and more pass with the provider still down: probes fail and reopen. From
    // the first failed probe on, calls that were on the wire at the opening are long over, and
    // no job row is touched again: none is claimed (and put back) while the circuit is not closed.
    eventually(WAIT, "a probe failed", || async { openings(&pool).await >= 2 }).await;
    let jobs_waiting = humm_job_rows(&pool).await;
    eventually(WAIT, "two probes failed", || async { openings(&pool).await >= 3 }).await;
    assert_eq!(
        humm_job_rows(&pool).await,
        jobs_waiting,
        "jobs of an open circuit were claimed"
    );
    let jobs_later = humm_jobs(&pool).await;
    let exhausted = jobs_later.iter().filter(|(_, _, state)| state == "exhausted").count();
    assert_eq!(
        exhausted, 0,
        "no job spends its budget on an open circuit: {jobs_later:?}"
    );
    let attempts = |jobs: &[(i64, i32, String)]| jobs.iter().map(|(id, n, _)| (*id, *n)).collect::<Vec<_>>();
    let before: std::collections::BTreeMap<i64, i32> = attempts(&jobs_when_open).into_iter().collect();
    for (id, n) in attempts(&jobs_later) {
        if let Some(earlier) = before.get(&id) {
            assert!(
                n <= *earlier,
                "job {id} spent attempts while the circuit was open ({earlier} → {n})"
            );
        }
    }

    // What reached the sandbox after the circuit opened: only probes, one per half-open, each
    // a status query, none within a cool-down of the one before.
    let log = sandbox_json(&sandbox, "/sandbox/requests").await;
    let entries = log["accounts"][format!("ecommpay:{PROJECT}")]["entries"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(entries.len() >= 3, "{log}");
    // Calls already on the wire in the other process when it opened may land just after.
    let settle = opened_at + chrono::Duration::milliseconds(500);
    let after_open: Vec<&Value> = entries
        .iter()
        .filter(|e| {
            e["at"]
                .as_str()
                .and_then(|t| t.parse::<DateTime<Utc>>().ok())
                .is_some_and(|at| at > settle)
        })
        .collect();
    assert!(after_open.len() >= 2, "probes were sent: {after_open:#?}");
    for entry in &after_open {
        assert_eq!(
            entry["path"], "/v2/payment/status",
            "only status queries while open: {entry}"
        );
        assert_eq!(
            entry["payment_id"],
            bnpl::accounts::circuit::PROBE_PAYMENT_ID,
            "{entry}"
        );
        assert_eq!(entry["status"], 503, "{entry}");
    }
    let times: Vec<DateTime<Utc>> = after_open
        .iter()
        .filter_map(|e| e["at"].as_str()?.parse().ok())
        .collect();
    for pair in times.windows(2) {
        let gap = (pair[1] - pair[0]).to_std().unwrap_or_default();
        assert!(
            gap >= COOL_DOWN - Duration::from_millis(100),
            "two probes {gap:?} apart: one per half-open, after a full cool-down"
        );
    }
    let opened = openings(&pool).await;
    let probes = sandbox_json(&sandbox, "/sandbox/requests").await["accounts"][format!("ecommpay:{PROJECT}")]
        ["entries"]
        .as_array()
        .map_or(0, |entries| {
            entries
                .iter()
                .filter(|e| e["payment_id"] == bnpl::accounts::circuit::PROBE_PAYMENT_ID)
                .count()
        });
    assert!(
        probes == opened - 1 || probes == opened,
        "each failed probe reopened the circuit: {probes} probes, {opened} openings"
    );

    // The provider recovers: the next probe closes the circuit, and every purchase completes.
    set_outage(&sandbox, false).await;
    eventually(WAIT, "the circuit closes", || async {
        account_events(&pool)
            .await
            .contains(&"account.circuit_closed".to_owned())
    })
    .await;
    for id in &ids {
        eventually(WAIT, "the payment succeeds", || async {
            sqlx::query_scalar::<_, String>("SELECT status FROM payments WHERE payment_id = $1")
                .bind(id)
                .fetch_optional(&pool)
                .await
                .unwrap()
                .as_deref()
                == Some("succeeded")
        })
        .await;
    }
    let ledger = sandbox_json(&sandbox, "/sandbox/ledger?lists=false").await;
    for id in &ids {
        assert_eq!(
            ledger["sales_per_payment_id"][id], 1,
            "{id}: one sale, never two: {ledger}"
        );
    }
    assert_eq!(circuit(&pool).await.map(|(state, _)| state).as_deref(), Some("active"));
    let listed: Value = sqlx::query_scalar("SELECT count(*)::int8 FROM jobs WHERE state = 'exhausted'")
        .fetch_one(&pool)
        .await
        .map(|n: i64| json!(n))
        .unwrap();
    assert_eq!(listed, json!(0));
    a.kill().await;
    b.kill().await;
}
