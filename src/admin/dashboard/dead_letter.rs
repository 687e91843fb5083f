//! `GET /dead-letters/{id}`: one dead letter with its message body (issue 21), so ops can see
//! what was refused before replaying or purging it. The body is shown as received (JSON
//! pretty-printed when it parses); for a `read` token it is masked like every other personal
//! field (`admin::personal`).

use super::actions::{Action, Done};
use super::html::{self, maybe_time, text, time, words};
use super::session::Viewer;
use crate::admin::read::dead_letters::{self as admin_dead_letters, DeadLetter};
use crate::admin::{personal, AdminState};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;

pub async fn dead_letter(
    viewer: Viewer,
    State(state): State<AdminState>,
    Path(id): Path<i64>,
    Query(done): Query<Done>,
) -> Response {
    let name = viewer.0.name.as_str();
    match admin_dead_letters::get(&state.pool, id).await {
        Ok(Some(mut dead)) => {
            if !personal::sees_personal_data(&viewer.0.scopes) {
                personal::mask_dead_letter(&mut dead);
            }
            let body = format!("{}{}", done.notice(), render(&dead, &viewer));
            html::page(&format!("Dead letter {id}"), Some(name), &body)
        }
        Ok(None) => {
            let mut response = html::page(
                "Not found",
                Some(name),
                &format!("<p id=\"not-found\">No dead letter {id}.</p>"),
            );
            *response.status_mut() = StatusCode::NOT_FOUND;
            response
        }
        Err(error) => {
            tracing::error!(%error, id, "dashboard dead-letter page failed");
            html::unavailable(Some(name))
        }
    }
}

fn render(dead: &DeadLetter, viewer: &Viewer) -> String {
    let facts = [
        ("Id", dead.id.to_string()),
        (
            "Routing key",
            format!(
                "<span id=\"dead-letter-routing-key\">{}</span>",
                text(&dead.routing_key)
            ),
        ),
        ("Reason", text(&dead.reason)),
        ("Detail", text(&dead.detail)),
        ("Headers", text(&words(&dead.headers))),
        ("Received", time(dead.created_at)),
        ("Replayed", maybe_time(dead.replayed_at)),
        ("Purged", maybe_time(dead.purged_at)),
    ];
    let facts: String = facts
        .iter()
        .map(|(label, value)| format!("<dt>{}</dt><dd>{value}</dd>", text(label)))
        .collect();
    let body = match dead.body_purged_at {
        Some(at) => format!("(emptied by retention {})", time(at)),
        None => text(&readable(&dead.body)),
    };
    // A purged letter has nothing left to act on; one whose body retention emptied cannot be
    // replayed unchanged; a replayed one may be replayed again (commands are idempotent by id).
    let id = dead.id.to_string();
    let actions = match (dead.purged_at, dead.body_purged_at) {
        (Some(_), _) => String::new(),
        (None, Some(_)) => Action::PurgeDeadLetter.button(viewer, &id),
        (None, None) => format!(
            "{}{}",
            Action::ReplayDeadLetter.button(viewer, &id),
            Action::PurgeDeadLetter.button(viewer, &id)
        ),
    };
    let actions = format!("<div class=\"actions\">{actions}</div>");
    format!(
        "<section><h2>Dead letter {}</h2><dl class=\"facts\">{facts}</dl>{actions}</section>\
         <section><h2>Message body</h2><pre id=\"dead-letter-body\">{body}</pre></section>",
        dead.id
    )
}

/// JSON pretty-printed when the body parses as JSON, else the text as received.
fn readable(body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|value| serde_json::to_string_pretty(&value).ok())
        .unwrap_or_else(|| body.to_owned())
}
