//! `POST /v2/payment/status`: the payment's status and every operation, refunds included
//! (providers.md §1.2, en_Gate_payment_status_request.html). A refunded payment reports
//! `payment.status` `refunded` / `partially refunded` and lists each refund operation with its
//! own status, so the orchestrator can settle an uncertain refund by comparing totals.
//! An unknown `payment_id` is 3061 (the status of a payment not registered yet is "not found").

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};

use super::reply::{bad_gateway, parse_signed, signed_ok, GateError};
use crate::sandbox::faults::Fault;
use crate::sandbox::respond::slow;
use crate::sandbox::state::Shared;

/// The status handler.
pub(crate) async fn status(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let request = match parse_signed(&shared.config, &body) {
        Ok(request) => request,
        Err(error) => return error.into_response(),
    };
    let faults = shared
        .request_faults(&format!("status:{}:{}", request.project_id, request.payment_id), &[])
        .await;
    if shared.applies(faults, Fault::ServerError) {
        return bad_gateway();
    }
    let found = {
        let store = shared.store.lock().await;
        store
            .ecommpay
            .get(&(request.project_id, request.payment_id.clone()))
            .map(|p| (p.status_json(), p.faults))
    };
    match found {
        Some((body, payment_faults)) => {
            slow(&shared, payment_faults).await;
            signed_ok(body, &request.secret)
        }
        None => GateError::new("3061", "Transaction not found")
            .about(&request)
            .into_response(),
    }
}
