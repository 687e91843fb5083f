//! Role `jobs`: the durable job runner with every job kind registered.

use super::WorkerContext;
use crate::flows::humm_sale::HummSale;
use crate::flows::schedule::{HUMM_SALE, STATUS_CHECK};
use crate::flows::status_check::StatusCheck;
use crate::jobs::{runner, Registry, RunnerConfig};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub fn spawn(context: &WorkerContext, tracker: &TaskTracker, shutdown: CancellationToken) {
    let services = Arc::clone(&context.services);
    let registry = Registry::default()
        .with(
            HUMM_SALE,
            Arc::new(HummSale {
                services: Arc::clone(&services),
            }),
        )
        .with(
            STATUS_CHECK,
            Arc::new(StatusCheck {
                services: Arc::clone(&services),
            }),
        );
    tracker.spawn(runner::run(
        context.pool.clone(),
        registry,
        context.database.subscribe(),
        RunnerConfig::default(),
        shutdown,
    ));
}
