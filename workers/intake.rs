//! Role `intake`: one gated consumer per intake queue (purchases, refunds, unrouted commands).

use super::WorkerContext;
use crate::intake::IntakeHandler;
use crate::messaging::consumer::{self, ConsumerSpec};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub fn spawn(context: &WorkerContext, tracker: &TaskTracker, shutdown: CancellationToken) {
    let topology = context.broker.topology();
    let handler = Arc::new(IntakeHandler::new(
        Arc::clone(&context.services),
        crate::intake::refund::Refunders {
            allowed: context.config.refunds.allowed_users.clone(),
            own_user: context.config.amqp_user(),
        },
        tracker.clone(),
    ));
    for queue in [topology.purchases(), topology.refunds(), topology.unrouted()] {
        let spec = ConsumerSpec {
            queue,
            prefetch: context.config.intake.prefetch,
            concurrency: context.config.intake.concurrency,
        };
        tracker.spawn(consumer::run(
            context.broker.clone(),
            context.database.subscribe(),
            spec,
            handler.clone(),
            shutdown.clone(),
        ));
    }
}
