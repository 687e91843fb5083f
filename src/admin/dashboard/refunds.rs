//! `GET /refunds?status=…`: refunds, newest first, optionally of one status, each with its
//! payment, queue position and the actions its status allows (issue 21). Finance reads what was
//! asked and what was paid; ops find a stuck head and release it on evidence.

use super::actions::Done;
use super::detail::refund_actions;
use super::html::{self, attr, maybe_time, money, payment_link, table, text, time, url_segment};
use super::session::Viewer;
use crate::admin::read::refunds as admin_refunds;
use crate::admin::AdminState;
use crate::domain::RefundStatus;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

/// How many refunds the page lists.
const LIMIT: i64 = 200;

#[derive(Debug, Default, Deserialize)]
pub struct RefundsQuery {
    #[serde(default)]
    status: Option<String>,
    /// The notice of an action just carried out (see `actions::Done`).
    #[serde(default)]
    done: Option<String>,
}

pub async fn refunds(viewer: Viewer, State(state): State<AdminState>, Query(query): Query<RefundsQuery>) -> Response {
    let name = viewer.0.name.as_str();
    let status = match query.status.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(raw) => match raw.parse::<RefundStatus>() {
            Ok(status) => Some(status),
            Err(_) => {
                let mut response = html::page(
                    "Refunds",
                    Some(name),
                    &format!(
                        "<p class=\"error\" id=\"refunds-error\">No refund status {}.</p>",
                        text(raw)
                    ),
                );
                *response.status_mut() = StatusCode::BAD_REQUEST;
                return response;
            }
        },
    };
    match admin_refunds::list(&state.pool, status, LIMIT).await {
        Ok(refunds) => {
            let notice = Done { done: query.done }.notice();
            let filters: String = std::iter::once(("all".to_owned(), "/refunds".to_owned(), status.is_none()))
                .chain(RefundStatus::ALL.iter().map(|s| {
                    (
                        s.as_str().to_owned(),
                        format!("/refunds?status={}", s.as_str()),
                        status == Some(*s),
                    )
                }))
                .map(|(label, href, current)| {
                    let current = if current { " aria-current=\"page\"" } else { "" };
                    format!("<a href=\"{}\"{current}>{}</a>", attr(&href), text(&label))
                })
                .collect::<Vec<_>>()
                .join(" · ");
            let rows: Vec<Vec<String>> = refunds
                .iter()
                .map(|r| {
                    vec![
                        format!(
                            "<span id=\"refund-{}\">{}</span>",
                            attr(&url_segment(&r.refund_id)),
                            text(&r.refund_id)
                        ),
                        payment_link(&r.payment_id),
                        format!("<span class=\"refund-status\">{}</span>", text(&r.status)),
                        money(r.amount_minor, &r.currency),
                        format!("{} #{}", text(&r.queue_key), r.position),
                        text(&r.requested_by),
                        time(r.created_at),
                        maybe_time(r.final_at),
                        refund_actions(&viewer, &r.refund_id, &r.status),
                    ]
                })
                .collect();
            let body = format!(
                "{notice}<section><h2>Refunds</h2><p class=\"filters\" id=\"refund-filters\">{filters}</p>{}\
                 <p class=\"hint\">The newest {LIMIT}.</p></section>",
                table(
                    "refund-list",
                    &[
                        "Refund",
                        "Payment",
                        "Status",
                        "Amount",
                        "Queue",
                        "Requested by",
                        "Created",
                        "Final",
                        ""
                    ],
                    &rows,
                    "No refunds."
                )
            );
            html::page("Refunds", Some(name), &body)
        }
        Err(error) => {
            tracing::error!(%error, "dashboard refunds page failed");
            html::unavailable(Some(name))
        }
    }
}
