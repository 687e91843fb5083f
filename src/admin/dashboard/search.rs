//! `GET /search?q=…`: find a payment or a refund by its id (issue 21). A payment id opens its
//! page; a refund id opens its payment's page at the refund; anything else says nothing was found.
//!
//! Invariant: the query is bounded and only ever compared for equality (never a pattern), so a
//! search cannot scan or enumerate ids.

use super::html::{self, text};
use super::session::Viewer;
use crate::admin::read::payments as admin_payments;
use crate::admin::AdminState;
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

/// Ids are at most 64 characters (contract §7); a longer query cannot be one.
const MAX_QUERY: usize = 64;

#[derive(Debug, Deserialize)]
pub struct Search {
    #[serde(default)]
    q: String,
}

pub async fn search(viewer: Viewer, State(state): State<AdminState>, Query(search): Query<Search>) -> Response {
    let name = viewer.0.name.as_str();
    let wanted = search.q.trim();
    let unsearchable = crate::domain::limits::forbidden_control(wanted, false).is_some();
    if wanted.is_empty() || wanted.chars().count() > MAX_QUERY || unsearchable {
        return not_found(name, wanted, StatusCode::BAD_REQUEST);
    }
    match admin_payments::find_by_id(&state.pool, wanted).await {
        Ok(Some(found)) => {
            let mut location = format!("/payments/{}", html::url_segment(&found.payment_id));
            if let Some(refund_id) = &found.refund_id {
                location.push_str(&format!("#refund-{}", html::url_segment(refund_id)));
            }
            (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response()
        }
        Ok(None) => not_found(name, wanted, StatusCode::NOT_FOUND),
        Err(error) => {
            tracing::error!(%error, "dashboard search failed");
            html::unavailable(Some(name))
        }
    }
}

fn not_found(viewer: &str, wanted: &str, status: StatusCode) -> Response {
    let shown: String = wanted.chars().take(MAX_QUERY).collect();
    let mut response = html::page(
        "Not found",
        Some(viewer),
        &format!(
            "<p id=\"search-empty\">No payment or refund with the id <code>{}</code>.</p>",
            text(&shown)
        ),
    );
    *response.status_mut() = status;
    response
}
