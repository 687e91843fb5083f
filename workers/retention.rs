//! Part of role `jobs`: every hour, purges raw callbacks and masks personal data older than the
//! configured retention (`[retention]`), keeping amounts, references and states for finance.
//! Idempotent, so several processes running it at once do no harm.

use super::WorkerContext;
use crate::store::retention::purge_expired_personal_data;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

const EVERY: Duration = Duration::from_secs(3600);

pub fn spawn(context: &WorkerContext, tracker: &TaskTracker, shutdown: CancellationToken) {
    let pool = context.pool.clone();
    let retention = context.config.retention.clone();
    tracker.spawn(async move {
        loop {
            match purge_expired_personal_data(&pool, retention.raw_callbacks, retention.personal_data).await {
                // Only a run that changed something is news (the first run at start, and
                // every hour, mostly purge nothing).
                Ok(purged) if purged.is_empty() => tracing::debug!("retention: nothing past its age"),
                Ok(purged) => tracing::info!(
                    callbacks = purged.callbacks,
                    payments = purged.payments,
                    commands = purged.commands,
                    dead_letters = purged.dead_letters,
                    "retention: personal data past its age purged"
                ),
                Err(error) => tracing::warn!(%error, "retention run failed; the next one retries"),
            }
            tokio::select! {
                () = tokio::time::sleep(EVERY) => {}
                () = shutdown.cancelled() => return,
            }
        }
    });
}
