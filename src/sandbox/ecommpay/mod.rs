//! The sandbox playing ecommpay Gate and Payment Page for method humm (providers.md Part 1).
//!
//! Files: `reply` (intake, signature check, error shape), `payment` (the payment record and its
//! JSON), `sale`, `refund`, `status`, `page` (one endpoint each), `flow` (intermediate and final
//! callbacks, customer finish, threshold decline).

pub(crate) mod flow;
pub(crate) mod page;
pub(crate) mod payment;
pub(crate) mod refund;
pub(crate) mod reply;
pub(crate) mod sale;
pub(crate) mod status;

use std::sync::Arc;

use axum::routing::{get, post};
use axum::Router;

use super::state::Shared;

/// Gate and Payment Page routes. The humm refund path is not confirmed by any public source, so
/// the generic `/v2/payment/refund` is served too (providers.md §1.6 "Refund path").
pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/v2/payment/bnpl/humm/sale", post(sale::sale))
        .route("/v2/payment/bnpl/humm/refund", post(refund::refund))
        .route("/v2/payment/refund", post(refund::refund))
        .route("/v2/payment/status", post(status::status))
        .route("/payment", get(page::page))
}
