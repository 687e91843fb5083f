//! Database reachability, watched continuously.
//!
//! A background task runs `SELECT 1` every [`PROBE_INTERVAL`] and publishes the answer on a watch
//! channel. Consumers stop while it says "down" (design §1: a database outage is not a poison
//! message) and `/readyz` reports it; nobody has to discover the outage by failing a command.

use sqlx::PgPool;
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

const PROBE_INTERVAL: Duration = Duration::from_millis(500);
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// The latest reachability of the database.
#[derive(Clone)]
pub struct DatabaseMonitor {
    up: watch::Receiver<bool>,
}

impl DatabaseMonitor {
    /// Probes once, then keeps probing in a task until `shutdown`.
    pub async fn start(pool: PgPool, tracker: &tokio_util::task::TaskTracker, shutdown: CancellationToken) -> Self {
        let (sender, up) = watch::channel(probe(&pool).await);
        tracker.spawn(async move {
            loop {
                tokio::select! {
                    () = tokio::time::sleep(PROBE_INTERVAL) => {}
                    () = shutdown.cancelled() => return,
                }
                let reachable = probe(&pool).await;
                let changed = sender.send_if_modified(|current| {
                    let changed = *current != reachable;
                    *current = reachable;
                    changed
                });
                if changed {
                    if reachable {
                        tracing::info!("database reachable again");
                    } else {
                        tracing::warn!("database unreachable");
                    }
                }
                metrics::gauge!("bnpl_database_up").set(if reachable { 1.0 } else { 0.0 });
            }
        });
        Self { up }
    }

    pub fn is_up(&self) -> bool {
        *self.up.borrow()
    }

    /// A receiver that sees every change.
    pub fn subscribe(&self) -> watch::Receiver<bool> {
        self.up.clone()
    }
}

async fn probe(pool: &PgPool) -> bool {
    matches!(
        tokio::time::timeout(PROBE_TIMEOUT, sqlx::query("SELECT 1").execute(pool)).await,
        Ok(Ok(_))
    )
}
