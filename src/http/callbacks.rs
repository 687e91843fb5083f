//! `POST /callbacks/ecommpay` and `POST /callbacks/aps` (contract §4). Open to the internet but
//! signature-checked; bodies are capped in size. The answer codes follow what ecommpay's own
//! plugins return: 200 once stored (or stale, or about a payment we never created: contract §7, so
//! the provider stops retrying), 400 on a bad signature or a callback signed by another account
//! than the payment's, 429 for an unverified callback
//! from a sender that sent too many (verification comes first: a genuine callback is never
//! throttled).

use super::HttpState;
use crate::flows::callbacks::{self, Reply};
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use std::net::{IpAddr, SocketAddr};
use tracing::Instrument as _;

pub async fn ecommpay(
    State(state): State<HttpState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, &'static str) {
    let sender = state.callback_guard.client(peer.ip(), &headers);
    let blocked = state.callback_guard.is_blocked(sender);
    let span = callback_span("humm");
    let result = callbacks::ecommpay::handle(&state.services, &state.callback_committer, &body, blocked)
        .instrument(span)
        .await;
    charge(&state, sender, &result);
    answer(result)
}

pub async fn aps(
    State(state): State<HttpState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, &'static str) {
    let sender = state.callback_guard.client(peer.ip(), &headers);
    let blocked = state.callback_guard.is_blocked(sender);
    let span = callback_span("valu");
    let result = callbacks::aps::handle(&state.services, &state.callback_committer, &body, blocked)
        .instrument(span)
        .await;
    charge(&state, sender, &result);
    answer(result)
}

/// The span of one callback: its account and payment are recorded once it verifies.
fn callback_span(provider: &'static str) -> tracing::Span {
    tracing::info_span!(
        "callback",
        provider,
        account = tracing::field::Empty,
        payment_id = tracing::field::Empty
    )
}

/// Callbacks that failed verification count against their sender (see `callback_guard`).
fn charge(state: &HttpState, sender: IpAddr, result: &Result<Reply, sqlx::Error>) {
    if matches!(result, Ok(Reply::Forged | Reply::Malformed | Reply::Throttled)) {
        state.callback_guard.refused(sender);
    }
}

fn answer(result: Result<Reply, sqlx::Error>) -> (StatusCode, &'static str) {
    match result {
        Ok(Reply::Accepted) => (StatusCode::OK, "OK"),
        Ok(Reply::Forged) => (StatusCode::BAD_REQUEST, "invalid signature"),
        Ok(Reply::Malformed) => (StatusCode::BAD_REQUEST, "malformed callback"),
        Ok(Reply::AccountMismatch) => (StatusCode::BAD_REQUEST, "signed by another account than the payment's"),
        Ok(Reply::Throttled) => (StatusCode::TOO_MANY_REQUESTS, "too many refused callbacks"),
        Err(error) => {
            // Not stored: a 5xx makes the provider retry, which is what we want.
            tracing::error!(%error, "callback could not be stored");
            (StatusCode::SERVICE_UNAVAILABLE, "try again later")
        }
    }
}
