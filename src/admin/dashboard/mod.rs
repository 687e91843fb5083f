//! The dashboard at `/` (contract §4): server-rendered pages over the same data and tokens as
//! the admin API, for people. Read-only: actions go through the API or `bnpl admin`.
//!
//! - [`session`]: sign-in with a token, kept as an HttpOnly session cookie.
//! - [`overview`]: queues, payments by status, refund queues, reviews, dead letters.
//! - [`detail`]: one payment with its history.
//! - [`html`]: escaping and layout.

pub mod dead_letter;
pub mod detail;
pub mod html;
pub mod overview;
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
