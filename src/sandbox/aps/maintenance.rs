//! `command=REFUND` and `query_command=CHECK_STATUS` (providers.md §2.2, pfdoc
//! maintenanceparameters.md / incommon.md).
//!
//! APS answers a refund synchronously: the call is held for `valu.refund_processing_secs`
//! (scaled) and then answered `06000` (or `07666` declined). While it is held the refund is in
//! flight for its `merchant_identifier`; another refund of the same merchant arriving meanwhile
//! is processed (APS does not refuse it) but counted as a sequential-refund violation. Over the
//! captured amount is `00042` (PayFort "operation amount exceeds captured amount"); a
//! `maintenance_reference` reused after a success or while processing is `00066` (a declined
//! refund may be retried with the same one, per the docs). CHECK_STATUS answers `12000` with
//! `transaction_code`/`transaction_status`/`transaction_message` and `refunded_amount`,
//! `captured_amount`, `authorized_amount`. An order with no PURCHASE reports its last valU step
//! (`88000` OTP generated, `92182` OTP verified; providers.md §2.3 statuses 88–93); one the
//! sandbox never saw is `12036`.

use std::sync::Arc;

use chrono::Utc;
use tokio::sync::oneshot;

use super::feedback;
use super::order::{ApsRefund, ApsRefundStatus};
use super::reply::{fields, Answer, ApsRequest};
use crate::sandbox::faults::Fault;
use crate::sandbox::ledger::RefundEntry;
use crate::sandbox::state::Shared;

/// REFUND.
pub(crate) async fn refund(shared: &Arc<Shared>, request: &ApsRequest) -> Answer {
    for name in ["amount", "currency"] {
        if request.param(name).is_none() {
            return Answer::missing(name);
        }
    }
    let Ok(amount) = request.param("amount").unwrap_or_default().parse::<i64>() else {
        return Answer::invalid("amount");
    };
    let maintenance_reference = request.param("maintenance_reference");
    if let Some(reference) = &maintenance_reference {
        shared.store.lock().await.ledger.refund_requested(reference);
    }
    let reference =
        maintenance_reference.unwrap_or_else(|| format!("{}-refund-{}", request.reference, shared.next_number()));
    let faults = shared.record_faults(&[&reference]).await;
    let (index, seq, fort_id) = {
        let mut store = shared.store.lock().await;
        let store = &mut *store;
        let order = match store.aps.get_mut(&request.key()) {
            Some(order) if order.captured() > 0 => order,
            _ => return Answer::new("00036", "Order not found"),
        };
        let fort_id = order.purchase.as_ref().map(|p| p.fort_id.clone()).unwrap_or_default();
        if request.param("fort_id").is_some_and(|f| f != fort_id) {
            return Answer::invalid("fort_id");
        }
        if request.param("currency").as_deref() != Some(order.currency.as_str()) {
            return Answer::invalid("currency");
        }
        if order
            .refunds
            .iter()
            .any(|r| r.maintenance_reference == reference && r.status != ApsRefundStatus::Decline)
        {
            store.ledger.refund_id_reused();
            return Answer::new("00066", "Maintenance reference already exists");
        }
        if amount <= 0 {
            return Answer::invalid("amount");
        }
        if amount > order.captured() - order.refunded() - order.refunding() {
            return Answer::new("00042", "Operation amount exceeds captured amount");
        }
        order.refunds.push(ApsRefund {
            maintenance_reference: reference.clone(),
            amount,
            status: ApsRefundStatus::Processing,
        });
        let index = order.refunds.len() - 1;
        let seq = store.ledger.refund_accepted(RefundEntry {
            provider: "aps",
            account: request.account(),
            payment_id: request.reference.clone(),
            refund_id: reference.clone(),
            amount,
            status: "processing",
            at: Utc::now(),
        });
        (index, seq, fort_id)
    };
    // Processing runs on its own task so that a stalled or dropped answer (faults) still lets
    // the refund complete, as it would at APS.
    let (tx, rx) = oneshot::channel();
    let task_shared = Arc::clone(shared);
    let key = request.key();
    let account = request.account();
    shared.spawn(async move {
        let shared = task_shared;
        if !shared
            .sleep(shared.config.scaled(shared.config.valu.refund_processing_secs))
            .await
        {
            return;
        }
        let declined = shared.applies(faults, Fault::Decline);
        let mut store = shared.store.lock().await;
        if let Some(r) = store.aps.get_mut(&key).and_then(|o| o.refunds.get_mut(index)) {
            r.status = if declined {
                ApsRefundStatus::Decline
            } else {
                ApsRefundStatus::Success
            };
        }
        let status = if declined { "declined" } else { "succeeded" };
        store.ledger.refund_final(seq, &account, &reference, status);
        let _receiver_gone = tx.send(declined);
    });
    let Ok(declined) = rx.await else {
        return Answer::new("00006", "Technical problem");
    };
    let answer = if declined {
        Answer::new("07666", "Refund declined")
    } else {
        Answer::new("06000", "Success")
    }
    .with("fort_id", fort_id);
    feedback::send(
        shared,
        &request.merchant,
        &request.reference,
        "refund",
        fields(&request.params, answer.clone()),
        faults,
    );
    answer
}

/// CHECK_STATUS.
pub(crate) async fn check_status(shared: &Shared, request: &ApsRequest) -> Answer {
    let store = shared.store.lock().await;
    let Some(order) = store.aps.get(&request.key()) else {
        return Answer::new("12036", "Order not found");
    };
    let (code, message, fort_id, tenure) = match (&order.purchase, order.locked) {
        (Some(p), _) => (p.code, p.message, p.fort_id.clone(), p.tenure.clone()),
        (None, true) => ("13123", "Maximum attempts exceeded", String::new(), String::new()),
        (None, false) if order.otp_verified => ("92182", "OTP verified", String::new(), String::new()),
        (None, false) => ("88000", "OTP generated", String::new(), String::new()),
    };
    if request.param("fort_id").is_some_and(|f| f != fort_id) {
        return Answer::new("12036", "Order not found");
    }
    let mut answer = Answer::new("12000", "Success")
        .with("transaction_code", code)
        .with("transaction_status", code.get(..2).unwrap_or("00"))
        .with("transaction_message", message)
        .with("amount", order.amount)
        .with("currency", &order.currency)
        .with("authorized_amount", order.captured())
        .with("captured_amount", order.captured())
        .with("refunded_amount", order.refunded())
        .with("payment_option", "VALU");
    if !fort_id.is_empty() {
        answer = answer.with("fort_id", fort_id).with("tenure", tenure);
    }
    answer
}
