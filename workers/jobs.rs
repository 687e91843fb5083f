//! Role `jobs`: the durable job runner with every job kind registered, and the refund dispatcher.

use super::WorkerContext;
use crate::flows::humm_sale::HummSale;
use crate::flows::otp_expiry::OtpExpiry;
use crate::flows::refund_check::RefundCheck;
use crate::flows::refund_dispatch;
use crate::flows::refund_send::RefundSend;
use crate::flows::schedule::{
    HUMM_SALE, OTP_EXPIRY, REFUND_CHECK, REFUND_SEND, STATUS_CHECK, VALU_CONFIRM, VALU_RESEND, VALU_START,
};
use crate::flows::status_check::StatusCheck;
use crate::flows::valu_confirm::ValuConfirm;
use crate::flows::valu_resend::ValuResend;
use crate::flows::valu_start::ValuStart;
use crate::jobs::{runner, Registry, RunnerConfig};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub fn spawn(context: &WorkerContext, tracker: &TaskTracker, shutdown: CancellationToken) {
    let services = &context.services;
    let refund_send = Arc::new(RefundSend {
        services: Arc::clone(services),
    });
    let registry = Registry::default()
        .with(REFUND_SEND, refund_send.clone())
        .with(
            REFUND_CHECK,
            Arc::new(RefundCheck {
                services: Arc::clone(services),
            }),
        )
        .with(
            HUMM_SALE,
            Arc::new(HummSale {
                services: Arc::clone(services),
            }),
        )
        .with(
            STATUS_CHECK,
            Arc::new(StatusCheck {
                services: Arc::clone(services),
            }),
        )
        .with(
            VALU_START,
            Arc::new(ValuStart {
                services: Arc::clone(services),
            }),
        )
        .with(
            VALU_CONFIRM,
            Arc::new(ValuConfirm {
                services: Arc::clone(services),
            }),
        )
        .with(
            VALU_RESEND,
            Arc::new(ValuResend {
                services: Arc::clone(services),
            }),
        )
        .with(
            OTP_EXPIRY,
            Arc::new(OtpExpiry {
                services: Arc::clone(services),
            }),
        );
    tracker.spawn(runner::run(
        context.pool.clone(),
        registry,
        context.database.subscribe(),
        RunnerConfig {
            concurrency: context.config.jobs.concurrency,
            ..RunnerConfig::default()
        },
        services.leases.clone(),
        shutdown.clone(),
    ));
    tracker.spawn(refund_dispatch::run(
        Arc::clone(services),
        refund_send,
        context.database.subscribe(),
        tracker.clone(),
        shutdown,
    ));
}
