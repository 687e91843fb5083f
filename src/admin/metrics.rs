//! Gauges computed from PostgreSQL and the broker: a snapshot refreshed on a timer by the `http`
//! role ([`refresh_every`], `[http] metrics_refresh`), rendered beside the recorder's families on every scrape. A scrape
//! never scans a table: with many scrapers or a slow database it still answers at once.
//!
//! Families (`telemetry::catalog`, with their HELP text): status checks due and overdue, dead
//! letters, payments and refunds in review, the outbox's backlog and lag, each refund queue's
//! depth and head age (no head-age sample for a queue without a head), each broker queue's
//! messages and consumers, and the snapshot's own age.
//!
//! Invariant: a refresh is bounded by [`REFRESH_TIMEOUT`]; when it fails the last snapshot stays
//! (its age says how old), and `bnpl_database_up` says why.

use super::ops;
use crate::admin::read::refunds as admin_refunds;
use crate::messaging::Broker;
use crate::telemetry::catalog;
use sqlx::{PgPool, Row as _};
use std::fmt::Write as _;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// The longest one refresh may take.
pub const REFRESH_TIMEOUT: Duration = Duration::from_secs(5);

/// How late a due status check must be to count as overdue.
const OVERDUE_AFTER_SECONDS: f64 = 60.0;

/// One reading of the database and the broker.
#[derive(Debug, Clone, Default)]
struct Reading {
    due: i64,
    overdue: i64,
    dead_letters: i64,
    payments_in_review: i64,
    refunds_in_review: i64,
    unpublished: i64,
    outbox_lag: f64,
    /// (queue, depth, head age when it has a head)
    refund_queues: Vec<(String, i64, Option<f64>)>,
    /// (queue, messages, consumers)
    broker_queues: Vec<(String, u32, u32)>,
    /// (provider, account, state) of every account with a stored state.
    accounts: Vec<(String, String, String)>,
}

/// The latest snapshot, shared by the refresher and the scrapes.
#[derive(Clone, Default)]
pub struct Snapshot {
    latest: Arc<RwLock<Option<(Instant, Reading)>>>,
}

impl Snapshot {
    /// Reads the database and the broker now, keeping the last reading when that fails.
    pub async fn refresh(&self, pool: &PgPool, broker: &Broker) {
        match tokio::time::timeout(REFRESH_TIMEOUT, read(pool, broker)).await {
            Ok(Ok(reading)) => {
                if let Ok(mut latest) = self.latest.write() {
                    *latest = Some((Instant::now(), reading));
                }
            }
            Ok(Err(error)) => tracing::warn!(%error, "metrics: database snapshot not refreshed"),
            Err(_) => tracing::warn!("metrics: database snapshot timed out"),
        }
    }

    /// The snapshot in Prometheus text format (nothing before the first reading).
    pub fn render(&self) -> String {
        let Ok(latest) = self.latest.read() else {
            return String::new();
        };
        let Some((at, reading)) = latest.as_ref() else {
            return String::new();
        };
        let mut out = String::new();
        let plain: [(&str, f64); 7] = [
            ("bnpl_status_checks_due", reading.due as f64),
            ("bnpl_status_checks_overdue", reading.overdue as f64),
            ("bnpl_dead_letters", reading.dead_letters as f64),
            ("bnpl_payments_needs_review", reading.payments_in_review as f64),
            ("bnpl_refunds_needs_review", reading.refunds_in_review as f64),
            ("bnpl_outbox_unpublished", reading.unpublished as f64),
            ("bnpl_outbox_lag_seconds", reading.outbox_lag),
        ];
        for (name, value) in plain {
            header(&mut out, name);
            let _ = writeln!(out, "{name} {value}");
        }
        header(&mut out, "bnpl_refund_queue_depth");
        for (queue, depth, _) in &reading.refund_queues {
            let _ = writeln!(out, "bnpl_refund_queue_depth{{queue=\"{}\"}} {depth}", escape(queue));
        }
        header(&mut out, "bnpl_refund_queue_head_age_seconds");
        for (queue, _, age) in &reading.refund_queues {
            if let Some(age) = age {
                let _ = writeln!(
                    out,
                    "bnpl_refund_queue_head_age_seconds{{queue=\"{}\"}} {age}",
                    escape(queue)
                );
            }
        }
        header(&mut out, "bnpl_broker_queue_messages");
        for (queue, messages, _) in &reading.broker_queues {
            let _ = writeln!(
                out,
                "bnpl_broker_queue_messages{{queue=\"{}\"}} {messages}",
                escape(queue)
            );
        }
        header(&mut out, "bnpl_broker_queue_consumers");
        for (queue, _, consumers) in &reading.broker_queues {
            let _ = writeln!(
                out,
                "bnpl_broker_queue_consumers{{queue=\"{}\"}} {consumers}",
                escape(queue)
            );
        }
        header(&mut out, "bnpl_account_state");
        for (provider, account, state) in &reading.accounts {
            let _ = writeln!(
                out,
                "bnpl_account_state{{provider=\"{}\",account=\"{}\",state=\"{}\"}} 1",
                escape(provider),
                escape(account),
                escape(state)
            );
        }
        header(&mut out, "bnpl_metrics_snapshot_age_seconds");
        let _ = writeln!(out, "bnpl_metrics_snapshot_age_seconds {}", at.elapsed().as_secs_f64());
        out
    }
}

/// Refreshes `snapshot` now and then every `interval` (`[http] metrics_refresh`, 15 s: about
/// Prometheus's usual scrape interval) until `stop`.
pub async fn refresh_every(
    snapshot: Snapshot,
    pool: PgPool,
    broker: Broker,
    interval: Duration,
    stop: CancellationToken,
) {
    loop {
        snapshot.refresh(&pool, &broker).await;
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            () = stop.cancelled() => return,
        }
    }
}

fn header(out: &mut String, name: &str) {
    let help = catalog::find(name).map_or("", |family| family.help);
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} gauge");
}

/// A label value in the text format: backslash, double quote and newline escaped.
fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

async fn read(pool: &PgPool, broker: &Broker) -> Result<Reading, sqlx::Error> {
    let row = sqlx::query(
        "SELECT
           (SELECT count(*) FROM jobs WHERE kind = 'status_check' AND state = 'scheduled'
              AND available_at <= now()) AS due,
           (SELECT count(*) FROM jobs WHERE kind = 'status_check' AND state = 'scheduled'
              AND available_at <= now() - make_interval(secs => $1)) AS overdue,
           (SELECT count(*) FROM dead_letters WHERE purged_at IS NULL) AS dead_letters,
           (SELECT count(*) FROM payments WHERE status = 'needs_review') AS payments_in_review,
           (SELECT count(*) FROM refunds WHERE status = 'needs_review') AS refunds_in_review,
           (SELECT count(*) FROM outbox WHERE published_at IS NULL) AS unpublished,
           (SELECT COALESCE(EXTRACT(EPOCH FROM now() - min(created_at)), 0)::float8
              FROM outbox WHERE published_at IS NULL) AS outbox_lag",
    )
    .bind(OVERDUE_AFTER_SECONDS)
    .fetch_one(pool)
    .await?;
    let refund_queues = admin_refunds::queues(pool)
        .await?
        .into_iter()
        .map(|queue| (queue.queue_key, queue.depth, queue.head_age_seconds))
        .collect();
    let broker_queues = ops::queue_depths(broker)
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|depth| (depth.queue, depth.messages, depth.consumers))
        .collect();
    let accounts = crate::store::account_states::all(pool)
        .await?
        .into_iter()
        .map(|row| (row.provider, row.account, row.state))
        .collect();
    Ok(Reading {
        accounts,
        due: row.try_get("due")?,
        overdue: row.try_get("overdue")?,
        dead_letters: row.try_get("dead_letters")?,
        payments_in_review: row.try_get("payments_in_review")?,
        refunds_in_review: row.try_get("refunds_in_review")?,
        unpublished: row.try_get("unpublished")?,
        outbox_lag: row.try_get("outbox_lag")?,
        refund_queues,
        broker_queues,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_queue_without_a_head_has_no_head_age_sample() {
        let snapshot = Snapshot::default();
        assert_eq!(snapshot.render(), "", "nothing before the first reading");
        let reading = Reading {
            refund_queues: vec![("humm:a".into(), 2, Some(12.5)), ("valu:b".into(), 0, None)],
            ..Reading::default()
        };
        *snapshot.latest.write().unwrap() = Some((Instant::now(), reading));
        let text = snapshot.render();
        assert!(text.contains("bnpl_refund_queue_head_age_seconds{queue=\"humm:a\"} 12.5"));
        assert!(!text.contains("bnpl_refund_queue_head_age_seconds{queue=\"valu:b\"}"));
        assert!(text.contains("bnpl_refund_queue_depth{queue=\"valu:b\"} 0"));
        assert!(text.contains("# HELP bnpl_refunds_needs_review Refunds waiting"));
    }
}
