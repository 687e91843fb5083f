//! Response-side request faults shared by both providers: slow answers, an answer stalled past
//! the client's timeout after the request was registered, a 500 after registering.
//!
//! Invariant: these run only after the request's effect is committed to the store, so the client
//! sees an uncertain outcome for something that did happen: exactly the case the orchestrator
//! must settle by a status query with the same id, never by a resend under a new id.

use std::time::Duration;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::faults::{Fault, FaultSet};
use super::state::Shared;

/// Applies `faults` to an answer for a request that was registered.
pub(crate) async fn after_register(shared: &Shared, faults: FaultSet, answer: Response) -> Response {
    if shared.applies(faults, Fault::TimeoutAfterRegister) {
        shared.sleep(Duration::from_millis(shared.config.stall_ms)).await;
    }
    if shared.applies(faults, Fault::RegisterThenServerError) {
        return (StatusCode::INTERNAL_SERVER_ERROR, "500 Internal Server Error").into_response();
    }
    slow(shared, faults).await;
    answer
}

/// Delays the answer when the `slow` fault is on.
pub(crate) async fn slow(shared: &Shared, faults: FaultSet) {
    if shared.applies(faults, Fault::Slow) {
        shared
            .sleep(Duration::from_millis(shared.config.slow_response_ms))
            .await;
    }
}
