//! humm refunds: `POST /v2/payment/bnpl/humm/refund` and the generic `POST /v2/payment/refund`.
//!
//! humm processes refund applications strictly one after another per project, each taking up to
//! a working day (vendor-docs/ecommpay-humm-bnpl.txt "Notes"; providers.md §1.6). So a refund that
//! arrives while another refund of the same project is processing is refused with 3285 and
//! counted as a sequential-refund violation in the ledger. Other checks: the payment exists
//! (3061) and succeeded (3060); `merchant_refund_id` is new in the project (3230); the amount
//! fits what is left after succeeded and processing refunds (3283). After `refund_processing_secs`
//! (scaled) the refund completes and a callback carries the payment's `payment.id`,
//! `operation.type = "refund"`, `payment.status` refunded / partially refunded, the refund's own
//! `operation.sum_initial` and `operation.request_id`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use chrono::Utc;

use super::flow::{outgoing, send_final};
use super::payment::{EcRefund, RefundStatus, SaleStatus};
use super::reply::{bad_gateway, integer, invalid, missing, parse_signed, registered, text, GateError, SignedRequest};
use super::sale::request_id;
use crate::sandbox::faults::Fault;
use crate::sandbox::ledger::RefundEntry;
use crate::sandbox::respond::after_register;
use crate::sandbox::state::{EcKey, Shared};

/// The refund handler (both paths).
pub(crate) async fn refund(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let request = match parse_signed(&shared.config, &body) {
        Ok(request) => request,
        Err(error) => return error.into_response(),
    };
    let merchant_refund_id = text(&request.body, "/payment/merchant_refund_id").map(str::to_owned);
    if let Some(refund_id) = &merchant_refund_id {
        shared.store.lock().await.ledger.refund_requested(refund_id);
    }
    let refund_id = merchant_refund_id.unwrap_or_else(|| format!("auto-{}", shared.next_number()));
    let op_key = format!("refund:{}:{}", request.project_id, refund_id);
    let faults = shared.request_faults(&op_key, &[&refund_id]).await;
    if shared.applies(faults, Fault::ServerError) {
        return bad_gateway();
    }
    match accept(&shared, &request, refund_id).await {
        Ok((request_id, key, index)) => {
            schedule(&shared, key, index);
            after_register(&shared, faults, registered(&request, &request_id)).await
        }
        Err(error) => error.about(&request).into_response(),
    }
}

/// A refund filed by the merchant in ecommpay's dashboard (manual refund mode, issue 20): the same
/// rules and callback as an API refund, without our refund id; returns the refund operation's
/// `request_id`, what the merchant's dashboard shows and finance records.
pub(crate) async fn manual(
    shared: &Arc<Shared>,
    project_id: u64,
    payment_id: String,
    amount: i64,
    currency: String,
) -> Result<String, GateError> {
    let project = shared
        .config
        .project(project_id)
        .ok_or_else(|| GateError::new("3261", "Invalid signature").field("general.project_id"))?;
    let request = SignedRequest {
        body: serde_json::json!({ "payment": { "amount": amount, "currency": currency } }),
        project_id,
        payment_id,
        secret: project.secret_key,
    };
    let refund_id = format!("manual-{}", shared.next_number());
    let (request_id, key, index) = accept(shared, &request, refund_id).await?;
    schedule(shared, key, index);
    Ok(request_id)
}

async fn accept(
    shared: &Arc<Shared>,
    request: &SignedRequest,
    refund_id: String,
) -> Result<(String, EcKey, usize), GateError> {
    let amount = request
        .body
        .pointer("/payment/amount")
        .and_then(integer)
        .ok_or_else(|| missing("payment.amount"))?;
    if amount <= 0 {
        return Err(invalid("payment.amount", "Amount must be positive"));
    }
    let currency = text(&request.body, "/payment/currency").ok_or_else(|| missing("payment.currency"))?;
    let record_faults = shared.record_faults(&[&refund_id]).await;
    let key: EcKey = (request.project_id, request.payment_id.clone());
    let account = format!("ecommpay:{}", request.project_id);
    let request_id = request_id(shared);
    let mut store = shared.store.lock().await;
    let store = &mut *store;
    let payment = store
        .ecommpay
        .get_mut(&key)
        .ok_or_else(|| GateError::new("3061", "Transaction not found"))?;
    if payment.status != SaleStatus::Success {
        return Err(GateError::new("3060", "Payment status does not allow the action"));
    }
    if currency != payment.currency {
        return Err(invalid("payment.currency", "Currency does not match the payment"));
    }
    if store.ec_refund_ids.contains(&(request.project_id, refund_id.clone())) {
        store.ledger.refund_id_reused();
        return Err(GateError::new("3230", "merchant_refund_id already exists").field("payment.merchant_refund_id"));
    }
    if !store.ledger.in_flight(&account).is_empty() {
        store
            .ledger
            .refund_rejected_in_flight(&account, &request.payment_id, &refund_id);
        return Err(GateError::new("3285", "Refund blocked: timeout before repeat refund"));
    }
    if amount > payment.amount - payment.refunded() - payment.refunding() {
        return Err(GateError::new("3283", "Refund amount more than initial amount").field("payment.amount"));
    }
    let now = Utc::now();
    let ledger_seq = store.ledger.refund_accepted(RefundEntry {
        provider: "ecommpay",
        account,
        payment_id: request.payment_id.clone(),
        refund_id: refund_id.clone(),
        amount,
        status: "processing",
        at: now,
    });
    store.ec_refund_ids.insert((request.project_id, refund_id.clone()));
    payment.refunds.push(EcRefund {
        operation_id: 29_741_010_000_000 + shared.next_number(),
        request_id: request_id.clone(),
        merchant_refund_id: refund_id,
        amount,
        status: RefundStatus::Processing,
        created: now,
        finished: None,
        faults: record_faults,
        ledger_seq,
        callback_url: text(&request.body, "/general/merchant_callback_url").map(str::to_owned),
    });
    Ok((request_id, key, payment.refunds.len() - 1))
}

/// Completes refund `index` of payment `key` after the processing time, then calls back.
fn schedule(shared: &Arc<Shared>, key: EcKey, index: usize) {
    let task_shared = Arc::clone(shared);
    let processing = shared.config.scaled(shared.config.humm.refund_processing_secs);
    shared.spawn(async move {
        let shared = task_shared;
        if !shared.sleep(processing).await {
            return;
        }
        let prepared = {
            let mut store = shared.store.lock().await;
            let store = &mut *store;
            let Some(payment) = store.ecommpay.get_mut(&key) else {
                return;
            };
            let Some(refund) = payment.refunds.get_mut(index) else {
                return;
            };
            let (status, outcome) = if shared.applies(refund.faults, Fault::ProviderError) {
                (RefundStatus::Error, "error")
            } else if shared.applies(refund.faults, Fault::Decline) {
                (RefundStatus::Decline, "declined")
            } else {
                (RefundStatus::Success, "succeeded")
            };
            refund.status = status;
            refund.finished = Some(Utc::now());
            let (faults, seq, refund_id) = (refund.faults, refund.ledger_seq, refund.merchant_refund_id.clone());
            let status = outcome;
            store
                .ledger
                .refund_final(seq, &format!("ecommpay:{}", key.0), &refund_id, status);
            let payment = &*payment;
            payment.refunds.get(index).map(|r| {
                let body = payment.callback_json(payment.refund_operation_json(r));
                (
                    outgoing(&shared, payment, r.callback_url.as_ref(), "refund", body),
                    faults,
                )
            })
        };
        if let Some((out, faults)) = prepared {
            send_final(&shared, out, faults).await;
        }
    });
}
