//! An operator's actions on one payment (scope `operate`): force a status check, resolve it
//! manually (audited, announced as `payment.resolved`), replay its events (same `event_id`s).

use crate::admin::actions::{self as admin_actions, Resolution};
use crate::admin::auth::{Caller, Scope};
use crate::admin::error::{ApiError, ErrorBody};
use crate::admin::AdminState;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The longest reason an operator may record.
const MAX_REASON: usize = 2000;

/// A status check scheduled.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatusCheckScheduled {
    pub payment_id: String,
    /// The new job; null when a check of this payment is running at this moment.
    pub job_id: Option<i64>,
}

/// Schedule a status check of the payment now.
#[utoipa::path(post, path = "/payments/{payment_id}/status-check", tag = "payments",
    params(("payment_id" = String, Path, description = "The merchant's payment id")),
    responses(
        (status = 202, description = "Scheduled, due now", body = StatusCheckScheduled),
        (status = 401, description = "No or bad token", body = ErrorBody),
        (status = 403, description = "Scope operate missing", body = ErrorBody),
        (status = 404, description = "No such payment", body = ErrorBody)))]
pub async fn force_status_check(
    caller: Caller,
    State(state): State<AdminState>,
    Path(payment_id): Path<String>,
) -> Result<(axum::http::StatusCode, Json<StatusCheckScheduled>), ApiError> {
    caller.require(Scope::Operate)?;
    let payment_id = super::path_ids::payment(payment_id)?;
    let job_id = admin_actions::force_status_check(&state.pool, &payment_id, caller.name()).await?;
    Ok((
        axum::http::StatusCode::ACCEPTED,
        Json(StatusCheckScheduled { payment_id, job_id }),
    ))
}

/// An operator's decision on a payment.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ResolveRequest {
    /// The final status decided on: `succeeded`, `declined`, `failed` or `expired`.
    #[schema(example = "succeeded")]
    pub to: String,
    /// Why (e.g. what the provider's status query showed); recorded and announced.
    #[schema(example = "status query shows the sale approved")]
    pub reason: String,
    /// The status the decision was made from (what the operator saw). Optional; when given and
    /// the payment has moved on meanwhile, nothing is resolved and the answer is 409.
    #[serde(default)]
    #[schema(example = "needs_review")]
    pub from: Option<String>,
}

/// Resolve a payment manually to a final status.
#[utoipa::path(post, path = "/payments/{payment_id}/resolve", tag = "payments",
    params(("payment_id" = String, Path, description = "The merchant's payment id")),
    request_body = ResolveRequest,
    responses(
        (status = 200, description = "Resolved; `payment.resolved` announced", body = Resolution),
        (status = 400, description = "Missing target or reason", body = ErrorBody),
        (status = 401, description = "No or bad token", body = ErrorBody),
        (status = 403, description = "Scope operate missing", body = ErrorBody),
        (status = 404, description = "No such payment", body = ErrorBody),
        (status = 409, description = "The payment changed meanwhile (or is not `from` any more)", body = ErrorBody),
        (status = 422, description = "Not a final target, or already that status and not flagged for review", body = ErrorBody)))]
pub async fn resolve_payment(
    caller: Caller,
    State(state): State<AdminState>,
    Path(payment_id): Path<String>,
    body: Result<Json<ResolveRequest>, JsonRejection>,
) -> Result<Json<Resolution>, ApiError> {
    caller.require(Scope::Operate)?;
    let payment_id = super::path_ids::payment(payment_id)?;
    let Json(request) = body?;
    let decision =
        admin_actions::Decision::parse(&request.to, request.from.as_deref()).map_err(ApiError::BadRequest)?;
    let reason = required_reason(&request.reason)?;
    let resolution = admin_actions::resolve(&state.pool, &payment_id, decision, reason, caller.name()).await?;
    tracing::info!(payment_id, from = %resolution.from, to = %resolution.to,
        actor = caller.name(), "payment resolved manually");
    Ok(Json(resolution))
}

/// Events queued again for publishing.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventsReplayed {
    pub payment_id: String,
    /// How many stored events will be published again, with their original `event_id`s.
    pub events: u64,
}

/// Publish the payment's events again, with their original `event_id`s and sequences.
#[utoipa::path(post, path = "/payments/{payment_id}/replay-events", tag = "payments",
    params(("payment_id" = String, Path, description = "The merchant's payment id")),
    responses(
        (status = 202, description = "The relay will publish them again", body = EventsReplayed),
        (status = 401, description = "No or bad token", body = ErrorBody),
        (status = 403, description = "Scope operate missing", body = ErrorBody),
        (status = 404, description = "No such payment", body = ErrorBody)))]
pub async fn replay_events(
    caller: Caller,
    State(state): State<AdminState>,
    Path(payment_id): Path<String>,
) -> Result<(axum::http::StatusCode, Json<EventsReplayed>), ApiError> {
    caller.require(Scope::Operate)?;
    let payment_id = super::path_ids::payment(payment_id)?;
    let events = admin_actions::replay_events(&state.pool, &payment_id, caller.name()).await?;
    Ok((
        axum::http::StatusCode::ACCEPTED,
        Json(EventsReplayed { payment_id, events }),
    ))
}

/// A reason is required for every manual decision, and bounded.
pub(crate) fn required_reason(reason: &str) -> Result<&str, ApiError> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(ApiError::BadRequest("a reason is required".to_owned()));
    }
    if reason.len() > MAX_REASON {
        return Err(ApiError::BadRequest(format!(
            "the reason is longer than {MAX_REASON} bytes"
        )));
    }
    // Recorded in the audit log and announced: line breaks may stay, other control characters
    // (a NUL fails the statement that records it) may not.
    if let Some((at, _)) = crate::domain::limits::forbidden_control(reason, true) {
        return Err(ApiError::BadRequest(format!(
            "the reason holds a control character at character {at}"
        )));
    }
    Ok(reason)
}
