//! The dashboard at `/` (contract §4): server-rendered pages over the same data and tokens as
//! the admin API, for people, with the API's actions behind a confirmation step.
//!
//! - [`session`]: sign-in with a token, kept as an HttpOnly session cookie.
//! - [`overview`]: queues, payments by status, accounts, refund queues, reviews, dead letters.
//! - [`detail`]: one payment with its history; [`refunds`]: the refunds; [`dead_letter`]: one
//!   dead letter with its body; [`search`]: by payment or refund id.
//! - [`actions`]: what can be done and by whom; [`confirm`]: the confirmation step;
//!   [`perform`]: the action, behind the `Origin` check and the [`csrf`] token.
//! - [`html`]: escaping and layout.

pub mod actions;
pub mod confirm;
pub mod csrf;
pub mod dead_letter;
pub mod detail;
pub mod html;
pub mod overview;
pub mod perform;
pub mod refunds;
pub mod search;
pub mod session;

use super::AdminState;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;

const CSS: &str = include_str!("assets/dashboard.css");
const JS: &str = include_str!("assets/dashboard.js");

/// The dashboard's routes.
pub fn router(state: AdminState) -> Router {
    Router::new()
        .route("/", get(overview::overview))
        .route("/signin", get(session::sign_in_page).post(session::sign_in))
        .route("/signout", post(session::sign_out))
        .route("/payments/{payment_id}", get(detail::payment))
        .route("/search", get(search::search))
        .route("/dead-letters/{id}", get(dead_letter::dead_letter))
        .route("/refunds", get(refunds::refunds))
        .route("/actions/{slug}", get(confirm::confirm).post(perform::perform))
        .route("/assets/dashboard.css", get(|| async { asset("text/css", CSS) }))
        .route("/assets/dashboard.js", get(|| async { asset("text/javascript", JS) }))
        .with_state(state)
}

fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "max-age=300"),
        ],
        body,
    )
}
