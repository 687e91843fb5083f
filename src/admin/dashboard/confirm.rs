//! `GET /actions/{slug}?target=…`: an action's confirmation step. It changes nothing: it says
//! what confirming will do, asks for what the action needs (a reason, a final status, an
//! outcome and its evidence), and holds the form that posts the action with the session's CSRF
//! token (`perform`).

use super::actions::{Action, TargetKind};
use super::html::{self, attr, text};
use super::session::Viewer;
use crate::domain::PaymentStatus;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

/// The longest target id the dashboard takes (payment and refund ids are at most 64
/// characters, contract §2; an account key is two such names).
pub const MAX_TARGET: usize = 160;

/// What a button or the evidence page passes to the confirmation page.
#[derive(Debug, Default, Deserialize)]
pub struct Prefill {
    #[serde(default)]
    pub target: String,
    /// A release's outcome, proposed by a stored answer.
    #[serde(default)]
    pub outcome: Option<String>,
    /// A release's evidence: a stored provider answer's id.
    #[serde(default)]
    pub answer_id: Option<String>,
    /// A resolution's starting point: the status the payment had on the page it came from.
    #[serde(default)]
    pub from: Option<String>,
}

pub async fn confirm(viewer: Viewer, Path(slug): Path<String>, Query(prefill): Query<Prefill>) -> Response {
    let name = viewer.0.name.clone();
    let Some(action) = Action::from_slug(&slug) else {
        return problem(&name, StatusCode::NOT_FOUND, "There is no such action.");
    };
    if !viewer.may(action.scope()) {
        return problem(
            &name,
            StatusCode::FORBIDDEN,
            &format!("This needs a token with the {} scope.", action.scope().as_str()),
        );
    }
    let target = prefill.target.trim();
    if target.is_empty() || target.len() > MAX_TARGET {
        return problem(&name, StatusCode::BAD_REQUEST, "The action names no record.");
    }
    let body = format!(
        "<section class=\"confirm\"><h2>Confirm: {label}</h2>\
         <p id=\"consequence\">{consequence}</p>\
         <form method=\"post\" action=\"/actions/{slug}\" id=\"confirm-form\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <input type=\"hidden\" name=\"target\" value=\"{target_attr}\">\
         {fields}\
         <button type=\"submit\" id=\"confirm\">Confirm: {label}</button> \
         <a id=\"cancel-action\" href=\"{back}\">Cancel</a></form></section>",
        label = text(action.label()),
        consequence = action.consequence(target),
        slug = action.slug(),
        csrf = attr(viewer.csrf().as_str()),
        target_attr = attr(target),
        fields = fields(action, &prefill),
        back = attr(&back_to(action.target_kind(), target)),
    );
    html::page(&format!("Confirm: {}", action.label()), Some(&name), &body)
}

/// The inputs the action needs beyond its target.
fn fields(action: Action, prefill: &Prefill) -> String {
    let mut out = String::new();
    match action {
        Action::Resolve => {
            let options: String = PaymentStatus::ALL
                .iter()
                .filter(|status| status.is_final())
                .map(|status| format!("<option value=\"{0}\">{0}</option>", status.as_str()))
                .collect();
            out.push_str(&format!(
                "<label for=\"to\">Final status</label><select id=\"to\" name=\"to\" required>{options}</select>"
            ));
            // Only a status name is carried: the decision is refused if the payment moved on.
            if let Some(from) = prefill
                .from
                .as_deref()
                .and_then(|from| from.parse::<PaymentStatus>().ok())
            {
                out.push_str(&format!(
                    "<input type=\"hidden\" name=\"from\" value=\"{}\">",
                    from.as_str()
                ));
            }
        }
        Action::ReleaseRefund => {
            let proposed = prefill.outcome.as_deref().unwrap_or("");
            let options: String = ["succeeded", "declined"]
                .iter()
                .map(|outcome| {
                    let selected = if *outcome == proposed { " selected" } else { "" };
                    format!("<option value=\"{outcome}\"{selected}>{outcome}</option>")
                })
                .collect();
            let answer = prefill.answer_id.as_deref().unwrap_or("");
            out.push_str(&format!(
                "<label for=\"outcome\">Outcome</label><select id=\"outcome\" name=\"outcome\" required>{options}</select>\
                 <label for=\"answer_id\">Provider answer (its id; ask the provider first)</label>\
                 <input id=\"answer_id\" name=\"answer_id\" inputmode=\"numeric\" maxlength=\"19\" value=\"{}\">",
                attr(answer)
            ));
        }
        _ => {}
    }
    if action.needs_reason() {
        out.push_str(
            "<label for=\"reason\">Reason (kept in the audit log)</label>\
             <textarea id=\"reason\" name=\"reason\" maxlength=\"2000\" required></textarea>",
        );
    }
    out
}

/// The page an action on `target` starts from and returns to.
pub fn back_to(kind: TargetKind, target: &str) -> String {
    match kind {
        TargetKind::Payment => format!("/payments/{}", html::url_segment(target)),
        // The search opens the refund's payment at the refund, wherever it is in the lists.
        TargetKind::Refund => format!("/search?q={}", html::url_segment(target)),
        TargetKind::DeadLetter => format!("/dead-letters/{}", html::url_segment(target)),
        TargetKind::Job => "/#exhausted-jobs".to_owned(),
        TargetKind::Account => "/#provider-accounts".to_owned(),
    }
}

/// A page that says why the action cannot go ahead, with `status`.
pub fn problem(viewer: &str, status: StatusCode, message: &str) -> Response {
    let mut response = html::page(
        "Action refused",
        Some(viewer),
        &html::answer_to_post(&format!(
            "<p class=\"error\" id=\"action-error\">{}</p><p><a href=\"/\">← Overview</a></p>",
            text(message)
        )),
    );
    *response.status_mut() = status;
    response
}
