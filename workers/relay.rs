//! Role `relay`: publishes the outbox and the dead letters (one active relay across processes).

use super::WorkerContext;
use crate::messaging::relay;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub fn spawn(context: &WorkerContext, tracker: &TaskTracker, shutdown: CancellationToken) {
    tracker.spawn(relay::run(
        context.pool.clone(),
        Arc::clone(&context.publisher),
        Arc::clone(&context.services.outbox_wake),
        shutdown,
    ));
}
