//! `GET /payments/{payment_id}`: one payment and its history, merged into one timeline: audit
//! log entries (transitions, callbacks, provider calls, resolutions), events, stored callbacks;
//! then its refunds and jobs.

use super::actions::{Action, Done};
use super::html::{self, maybe_time, money, table, text, time, words};
use super::session::Viewer;
use crate::admin::read::payments::{self as admin_payments, PaymentDetail};
use crate::admin::{personal, AdminState};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};

/// The payment detail page.
pub async fn payment(
    viewer: Viewer,
    State(state): State<AdminState>,
    Path(payment_id): Path<String>,
    Query(done): Query<Done>,
) -> Response {
    let name = viewer.0.name.as_str();
    // An id that could never be ours (a NUL fails the query) is no such payment.
    let lookup = match crate::domain::PaymentId::new(payment_id.as_str()) {
        Ok(_) => admin_payments::detail(&state.pool, &payment_id).await,
        Err(_) => Ok(None),
    };
    match lookup {
        Ok(Some(mut detail)) => {
            if !personal::sees_personal_data(&viewer.0.scopes) {
                personal::mask_payment(&mut detail);
            }
            let body = format!("{}{}", done.notice(), render(&detail, &viewer));
            html::page(&format!("Payment {payment_id}"), Some(name), &body)
        }
        Ok(None) => {
            let mut response = html::page(
                "Not found",
                Some(name),
                &format!("<p id=\"not-found\">No payment {}.</p>", text(&payment_id)),
            );
            *response.status_mut() = StatusCode::NOT_FOUND;
            response
        }
        Err(error) => {
            tracing::error!(%error, payment_id, "dashboard payment page failed");
            html::unavailable(Some(name))
        }
    }
}

fn render(detail: &PaymentDetail, viewer: &Viewer) -> String {
    let p = &detail.summary;
    let facts = [
        ("Payment", text(&p.payment_id)),
        (
            "Status",
            format!("<span id=\"payment-status\">{}</span>", text(&p.status)),
        ),
        (
            "Review reason",
            p.review_reason.as_deref().map(text).unwrap_or_else(|| "–".to_owned()),
        ),
        (
            "Provider / account",
            format!("{} / {}", text(&p.provider), text(&p.account)),
        ),
        ("Flow", text(&p.flow)),
        ("Amount", money(p.amount_minor, &p.currency)),
        (
            "Provider reference",
            p.provider_reference
                .as_deref()
                .map(text)
                .unwrap_or_else(|| "–".to_owned()),
        ),
        ("Created", time(p.created_at)),
        ("Threshold", time(p.threshold_at)),
        ("Final", maybe_time(p.final_at)),
        ("Last sequence", p.last_sequence.to_string()),
        (
            "Customer",
            match detail.personal_data_purged_at {
                Some(at) => format!("purged {}", time(at)),
                None => text(&words(&detail.customer)),
            },
        ),
    ];
    let facts: String = facts
        .iter()
        .map(|(label, value)| format!("<dt>{}</dt><dd>{value}</dd>", text(label)))
        .collect();

    let mut timeline: Vec<(DateTime<Utc>, Vec<String>)> = Vec::new();
    for entry in &detail.audit {
        let change = match (&entry.from_status, &entry.to_status) {
            (Some(from), Some(to)) => format!("{} → {}", text(from), text(to)),
            _ => String::new(),
        };
        let detail_text = entry.reason.clone().unwrap_or_else(|| words(&entry.detail));
        timeline.push((
            entry.at,
            vec![
                time(entry.at),
                "audit".to_owned(),
                format!("<span class=\"kind\">{}</span> {change}", text(&entry.kind)),
                text(&entry.actor),
                text(&detail_text),
            ],
        ));
    }
    for event in &detail.events {
        let published = match event.published_at {
            Some(at) => format!("published {}", time(at)),
            None => "not yet published".to_owned(),
        };
        let sequence = event.sequence.map(|s| format!(" #{s}")).unwrap_or_default();
        timeline.push((
            event.created_at,
            vec![
                time(event.created_at),
                "event".to_owned(),
                format!("<span class=\"kind\">{}</span>{sequence}", text(&event.event_type)),
                "relay".to_owned(),
                format!("{} · {published}", text(&event.event_id.to_string())),
            ],
        ));
    }
    for callback in &detail.callbacks {
        let verified = if callback.verified { "verified" } else { "NOT verified" };
        let body = callback.body.as_deref().unwrap_or("(body purged)");
        timeline.push((
            callback.received_at,
            vec![
                time(callback.received_at),
                "callback".to_owned(),
                format!("<span class=\"kind\">{}</span> {verified}", text(&callback.provider)),
                text(callback.outcome.as_deref().unwrap_or("")),
                format!("<code>{}</code>", text(&truncate(body, 400))),
            ],
        ));
    }
    timeline.sort_by_key(|(at, _)| *at);
    let timeline: Vec<Vec<String>> = timeline.into_iter().map(|(_, row)| row).collect();

    let refunds: Vec<Vec<String>> = detail
        .refunds
        .iter()
        .map(|r| {
            vec![
                // The anchor a search by refund id lands on.
                format!(
                    "<span id=\"refund-{}\">{}</span>",
                    html::attr(&html::url_segment(&r.refund_id)),
                    text(&r.refund_id)
                ),
                text(&r.status),
                money(r.amount_minor, &r.currency),
                format!("{} #{}", text(&r.queue_key), r.position),
                text(&r.requested_by),
                time(r.created_at),
                maybe_time(r.final_at),
                refund_actions(viewer, &r.refund_id, &r.status),
            ]
        })
        .collect();
    let jobs: Vec<Vec<String>> = detail
        .jobs
        .iter()
        .map(|j| {
            vec![
                j.id.to_string(),
                text(&j.kind),
                text(&j.state),
                time(j.available_at),
                format!("{}/{}", j.attempts, j.max_attempts),
                j.last_error.as_deref().map(text).unwrap_or_default(),
                job_actions(viewer, j.id, &j.state),
            ]
        })
        .collect();
    format!(
        "<p><a href=\"/\">← Overview</a></p><h2 id=\"payment-title\">Payment {}</h2>\
         <dl class=\"facts\">{facts}</dl><div class=\"actions\">{}{}{}</div>\
         <section><h2>History</h2>{}</section>\
         <section><h2>Refunds</h2>{}</section>\
         <section><h2>Jobs</h2>{}</section>",
        text(&p.payment_id),
        Action::StatusCheck.button(viewer, &p.payment_id),
        Action::Resolve.button_with(viewer, &p.payment_id, &[("from", &p.status)]),
        Action::ReplayEvents.button(viewer, &p.payment_id),
        table(
            "history",
            &["At", "Source", "What", "Actor / outcome", "Detail"],
            &timeline,
            "No history recorded."
        ),
        table(
            "refunds",
            &[
                "Refund",
                "Status",
                "Amount",
                "Queue",
                "Requested by",
                "Created",
                "Final",
                ""
            ],
            &refunds,
            "No refunds."
        ),
        table(
            "jobs",
            &["Id", "Kind", "State", "Due", "Attempts", "Last error", ""],
            &jobs,
            "No jobs."
        ),
    )
}

/// The actions a refund in `status` offers: a queued one can be cancelled; one in flight or in
/// review can be looked up at the provider and released on that evidence.
pub fn refund_actions(viewer: &Viewer, refund_id: &str, status: &str) -> String {
    match status {
        "queued" => Action::CancelRefund.button(viewer, refund_id),
        "in_flight" | "needs_review" => format!(
            "{}{}",
            Action::AskRefund.button(viewer, refund_id),
            Action::ReleaseRefund.button(viewer, refund_id)
        ),
        _ => String::new(),
    }
}

/// An exhausted job can be retried or discarded.
pub fn job_actions(viewer: &Viewer, job_id: i64, state: &str) -> String {
    if state != "exhausted" {
        return String::new();
    }
    let id = job_id.to_string();
    format!(
        "{}{}",
        Action::RetryJob.button(viewer, &id),
        Action::DiscardJob.button(viewer, &id)
    )
}

fn truncate(text: &str, max_chars: usize) -> String {
    let mut out: String = text.chars().take(max_chars).collect();
    if text.chars().count() > max_chars {
        out.push('…');
    }
    out
}
