//! The sandbox playing Amazon Payment Services for valU (providers.md Part 2): one endpoint,
//! `POST /FortAPI/paymentApi`, dispatched on `service_command` (valU steps), `command`
//! (PURCHASE, REFUND) or `query_command` (CHECK_STATUS).
//!
//! Files: `reply` (intake, authentication, answer shape), `order` (the order record), `valu`
//! (CUSTOMER_VERIFY, OTP_GENERATE, OTP_VERIFY), `purchase`, `maintenance` (REFUND,
//! CHECK_STATUS), `feedback` (signed form notifications).

pub(crate) mod feedback;
pub(crate) mod maintenance;
pub(crate) mod order;
pub(crate) mod purchase;
pub(crate) mod reply;
pub(crate) mod valu;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::json;

use super::faults::{Fault, FaultSet};
use super::respond::after_register;
use super::state::Shared;
use reply::{answer, authenticate, parse, Answer};

/// The APS route.
pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new().route("/FortAPI/paymentApi", post(payment_api))
}

async fn payment_api(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let Some(params) = parse(&body) else {
        let body = json!({"response_code": "00002", "status": "00",
                          "response_message": "Invalid request format"});
        return Json(body).into_response();
    };
    let request = match authenticate(&shared.config, params) {
        Ok(request) => request,
        Err(answer) => return answer.into_response(),
    };
    let command = ["service_command", "command", "query_command"]
        .iter()
        .find_map(|name| request.param(name))
        .unwrap_or_default();
    // Marker request faults (5xx, stall) hit only the commands that register something, so a
    // `fault-timeout-after-register` reference stalls its PURCHASE, not its OTP steps.
    let registers = matches!(command.as_str(), "PURCHASE" | "REFUND");
    let maintenance = request.param("maintenance_reference").unwrap_or_default();
    let sources: Vec<&str> = if registers {
        vec![&request.reference, &maintenance]
    } else {
        Vec::new()
    };
    let op_key = format!(
        "aps:{command}:{}:{}:{maintenance}",
        request.merchant.merchant_identifier, request.reference
    );
    let mut faults = shared.request_faults(&op_key, &sources).await;
    if FaultSet::from_markers([request.reference.as_str()]).has(Fault::Slow) {
        faults.insert(Fault::Slow);
    }
    if shared.applies(faults, Fault::ServerError) {
        return (StatusCode::BAD_GATEWAY, "502 Bad Gateway").into_response();
    }
    let result = match command.as_str() {
        "CUSTOMER_VERIFY" => valu::customer_verify(&shared, &request),
        "OTP_GENERATE" => valu::otp_generate(&shared, &request).await,
        "OTP_VERIFY" => valu::otp_verify(&shared, &request).await,
        "PURCHASE" => purchase::purchase(&shared, &request).await,
        "REFUND" => maintenance::refund(&shared, &request).await,
        "CHECK_STATUS" => maintenance::check_status(&shared, &request).await,
        _ => Answer::invalid("command"),
    };
    after_register(&shared, faults, answer(&request, result).into_response()).await
}
