//! Gauges computed from PostgreSQL and the broker, refreshed when Prometheus scrapes `/metrics`
//! (the collector pattern: always current, no background task to keep alive).
//!
//! Names: `bnpl_status_checks_due`, `bnpl_status_checks_overdue`, `bnpl_refund_queue_depth`,
//! `bnpl_refund_queue_head_age_seconds` (per queue), `bnpl_dead_letters` (not purged),
//! `bnpl_payments_needs_review`, `bnpl_outbox_unpublished`, `bnpl_outbox_lag_seconds` (age of the
//! oldest unpublished event), `bnpl_broker_queue_messages` and `bnpl_broker_queue_consumers`.
//!
//! Invariant: a refresh is bounded by [`REFRESH_TIMEOUT`]; when the database is slow or down the
//! scrape still answers with the last values (and `bnpl_database_up` says why).

use super::ops;
use crate::admin::read::refunds as admin_refunds;
use crate::messaging::Broker;
use sqlx::{PgPool, Row as _};
use std::time::Duration;

/// The longest a scrape waits for the gauges.
pub const REFRESH_TIMEOUT: Duration = Duration::from_secs(2);

/// How late a due status check must be to count as overdue.
const OVERDUE_AFTER_SECONDS: f64 = 60.0;

/// Refreshes every gauge; errors are logged, never returned (a scrape must not fail).
pub async fn refresh(pool: &PgPool, broker: &Broker) {
    let work = async {
        if let Err(error) = refresh_database(pool).await {
            tracing::warn!(%error, "metrics: database gauges not refreshed");
        }
        if let Some(depths) = ops::queue_depths(broker).await {
            for depth in depths {
                metrics::gauge!("bnpl_broker_queue_messages", "queue" => depth.queue.clone())
                    .set(f64::from(depth.messages));
                metrics::gauge!("bnpl_broker_queue_consumers", "queue" => depth.queue).set(f64::from(depth.consumers));
            }
        }
    };
    if tokio::time::timeout(REFRESH_TIMEOUT, work).await.is_err() {
        tracing::warn!("metrics: gauge refresh timed out");
    }
}

async fn refresh_database(pool: &PgPool) -> Result<(), sqlx::Error> {
    let row = sqlx::query(
        "SELECT
           (SELECT count(*) FROM jobs WHERE kind = 'status_check' AND state = 'scheduled'
              AND available_at <= now()) AS due,
           (SELECT count(*) FROM jobs WHERE kind = 'status_check' AND state = 'scheduled'
              AND available_at <= now() - make_interval(secs => $1)) AS overdue,
           (SELECT count(*) FROM dead_letters WHERE purged_at IS NULL) AS dead_letters,
           (SELECT count(*) FROM payments WHERE status = 'needs_review') AS needs_review,
           (SELECT count(*) FROM outbox WHERE published_at IS NULL) AS unpublished,
           (SELECT COALESCE(EXTRACT(EPOCH FROM now() - min(created_at)), 0)::float8
              FROM outbox WHERE published_at IS NULL) AS outbox_lag",
    )
    .bind(OVERDUE_AFTER_SECONDS)
    .fetch_one(pool)
    .await?;
    let count = |name: &str| row.try_get::<i64, _>(name).map(|n| n as f64);
    metrics::gauge!("bnpl_status_checks_due").set(count("due")?);
    metrics::gauge!("bnpl_status_checks_overdue").set(count("overdue")?);
    metrics::gauge!("bnpl_dead_letters").set(count("dead_letters")?);
    metrics::gauge!("bnpl_payments_needs_review").set(count("needs_review")?);
    metrics::gauge!("bnpl_outbox_unpublished").set(count("unpublished")?);
    metrics::gauge!("bnpl_outbox_lag_seconds").set(row.try_get::<f64, _>("outbox_lag")?);
    for queue in admin_refunds::queues(pool).await? {
        metrics::gauge!("bnpl_refund_queue_depth", "queue" => queue.queue_key.clone()).set(queue.depth as f64);
        metrics::gauge!("bnpl_refund_queue_head_age_seconds", "queue" => queue.queue_key)
            .set(queue.head_age_seconds.unwrap_or(0.0));
    }
    Ok(())
}
