//! `POST /callbacks/ecommpay` and `POST /callbacks/aps` (contract §4). Open to the internet but
//! signature-checked; bodies are capped in size. The answer codes follow what ecommpay's own
//! plugins return: 200 once stored (or stale), 400 on a bad signature, 404 for an unknown payment.

use super::HttpState;
use crate::flows::callbacks::{self, Reply};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;

pub async fn ecommpay(State(state): State<HttpState>, body: Bytes) -> (StatusCode, &'static str) {
    answer(callbacks::ecommpay(&state.services, &body).await)
}

pub async fn aps(State(state): State<HttpState>, body: Bytes) -> (StatusCode, &'static str) {
    answer(callbacks::aps(&state.services, &body).await)
}

fn answer(result: Result<Reply, sqlx::Error>) -> (StatusCode, &'static str) {
    match result {
        Ok(Reply::Accepted) => (StatusCode::OK, "OK"),
        Ok(Reply::Forged) => (StatusCode::BAD_REQUEST, "invalid signature"),
        Ok(Reply::Malformed) => (StatusCode::BAD_REQUEST, "malformed callback"),
        Ok(Reply::UnknownPayment) => (StatusCode::NOT_FOUND, "unknown payment"),
        Err(error) => {
            // Not stored: a 5xx makes the provider retry, which is what we want.
            tracing::error!(%error, "callback could not be stored");
            (StatusCode::SERVICE_UNAVAILABLE, "try again later")
        }
    }
}
