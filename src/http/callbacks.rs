//! `POST /callbacks/ecommpay` and `POST /callbacks/aps` (contract §4). Open to the internet but
//! signature-checked; bodies are capped in size. The answer codes follow what ecommpay's own
//! plugins return: 200 once stored (or stale), 400 on a bad signature, 404 for an unknown payment.

use super::HttpState;
use crate::flows::callbacks::{self, Reply};
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use std::net::SocketAddr;

pub async fn ecommpay(
    State(state): State<HttpState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    body: Bytes,
) -> (StatusCode, &'static str) {
    if state.callback_guard.is_blocked(peer.ip()) {
        return (StatusCode::TOO_MANY_REQUESTS, "too many refused callbacks");
    }
    let result = callbacks::ecommpay(&state.services, &body).await;
    charge(&state, peer, &result);
    answer(result)
}

pub async fn aps(
    State(state): State<HttpState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    body: Bytes,
) -> (StatusCode, &'static str) {
    if state.callback_guard.is_blocked(peer.ip()) {
        return (StatusCode::TOO_MANY_REQUESTS, "too many refused callbacks");
    }
    let result = callbacks::aps(&state.services, &body).await;
    charge(&state, peer, &result);
    answer(result)
}

/// Refused callbacks count against their sender (see `callback_guard`).
fn charge(state: &HttpState, peer: SocketAddr, result: &Result<Reply, sqlx::Error>) {
    if matches!(result, Ok(Reply::Forged | Reply::Malformed)) {
        state.callback_guard.refused(peer.ip());
    }
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
