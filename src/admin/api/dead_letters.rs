//! Dead letters (list with reason: scope `read`; replay, optionally fixed, and purge: scope
//! `operate`), jobs that exhausted their retries, and the broker's queue depths.

use crate::admin::auth::{Caller, Scope};
use crate::admin::error::{ApiError, ErrorBody};
use crate::admin::ops::{self, DeadLetterFix, QueueDepth, Replayed};
use crate::admin::personal;
use crate::admin::read::dead_letters::{self as admin_dead_letters, DeadLetter};
use crate::admin::read::history::JobEntry;
use crate::admin::AdminState;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Criteria of `GET /dead-letters`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeadLetterQuery {
    /// Include purged dead letters too (default false).
    pub include_purged: Option<bool>,
    /// At most this many (1–1000, default 100).
    pub limit: Option<i64>,
}

/// Dead letters with their reasons, newest first.
#[utoipa::path(get, path = "/dead-letters", tag = "operations", params(DeadLetterQuery),
    responses(
        (status = 200, description = "Dead letters", body = Vec<DeadLetter>),
        (status = 401, description = "No or bad token", body = ErrorBody),
        (status = 403, description = "Scope read missing", body = ErrorBody)))]
pub async fn list_dead_letters(
    caller: Caller,
    State(state): State<AdminState>,
    query: Result<Query<DeadLetterQuery>, QueryRejection>,
) -> Result<Json<Vec<DeadLetter>>, ApiError> {
    caller.require(Scope::Read)?;
    let Query(query) = query.map_err(|rejection| ApiError::BadRequest(rejection.body_text()))?;
    let limit = query.limit.unwrap_or(100).clamp(1, 1000);
    let include_purged = query.include_purged.unwrap_or(false);
    let mut dead_letters = admin_dead_letters::list(&state.pool, include_purged, limit).await?;
    if !personal::sees_personal_data(&caller.0.scopes) {
        dead_letters.iter_mut().for_each(personal::mask_dead_letter);
    }
    Ok(Json(dead_letters))
}

/// Publish a dead letter again to the command exchange, optionally with a fixed body or routing
/// key. The body is optional: an empty request replays the original. Only the five command
/// routing keys are replayed; an edited body must pass intake's checks (400 with the field's
/// JSON Pointer otherwise); editing a refund command needs scope `finance` too. The replay keeps
/// the original AMQP user (a refund passes the allow-list as its original sender) and names the
/// caller in the audit log.
#[utoipa::path(post, path = "/dead-letters/{id}/replay", tag = "operations",
    params(("id" = i64, Path, description = "The dead letter id")),
    request_body(content = Option<DeadLetterFix>, description = "Optional fix"),
    responses(
        (status = 202, description = "Published to the command exchange", body = Replayed),
        (status = 400, description = "Bad fix", body = ErrorBody),
        (status = 401, description = "No or bad token", body = ErrorBody),
        (status = 403, description = "Scope operate missing (or finance, to edit a refund)", body = ErrorBody),
        (status = 404, description = "No such dead letter", body = ErrorBody),
        (status = 409, description = "Purged", body = ErrorBody),
        (status = 503, description = "Broker unreachable", body = ErrorBody)))]
pub async fn replay_dead_letter(
    caller: Caller,
    State(state): State<AdminState>,
    Path(id): Path<i64>,
    body: Result<Json<DeadLetterFix>, JsonRejection>,
) -> Result<(axum::http::StatusCode, Json<Replayed>), ApiError> {
    caller.require(Scope::Operate)?;
    let fix = match body {
        Ok(Json(fix)) => fix,
        // No body at all: replay as it was.
        Err(JsonRejection::MissingJsonContentType(_)) => DeadLetterFix::default(),
        Err(rejection) => return Err(rejection.into()),
    };
    let letter = admin_dead_letters::get(&state.pool, id)
        .await?
        .ok_or(ApiError::NotFound("dead letter"))?;
    if ops::edits_a_refund(&letter.routing_key, &fix) {
        caller.require(Scope::Finance)?;
    }
    let replayed = ops::replay_dead_letter(&state.pool, &state.publisher, id, &fix, caller.name()).await?;
    Ok((axum::http::StatusCode::ACCEPTED, Json(replayed)))
}

/// A dead letter purged.
#[derive(Debug, Serialize, ToSchema)]
pub struct Purged {
    pub dead_letter_id: i64,
}

/// Purge a dead letter: it leaves the lists (it is kept, marked purged).
#[utoipa::path(post, path = "/dead-letters/{id}/purge", tag = "operations",
    params(("id" = i64, Path, description = "The dead letter id")),
    responses(
        (status = 200, description = "Purged", body = Purged),
        (status = 401, description = "No or bad token", body = ErrorBody),
        (status = 403, description = "Scope operate missing", body = ErrorBody),
        (status = 404, description = "No such dead letter, or already purged", body = ErrorBody)))]
pub async fn purge_dead_letter(
    caller: Caller,
    State(state): State<AdminState>,
    Path(id): Path<i64>,
) -> Result<Json<Purged>, ApiError> {
    caller.require(Scope::Operate)?;
    if admin_dead_letters::purge(&state.pool, id, caller.name()).await? {
        Ok(Json(Purged { dead_letter_id: id }))
    } else {
        Err(ApiError::NotFound("dead letter"))
    }
}

/// Jobs that used up their retries (status checks, provider calls, expiries), newest first.
#[utoipa::path(get, path = "/jobs/exhausted", tag = "operations",
    responses(
        (status = 200, description = "Exhausted jobs", body = Vec<JobEntry>),
        (status = 401, description = "No or bad token", body = ErrorBody),
        (status = 403, description = "Scope read missing", body = ErrorBody)))]
pub async fn exhausted_jobs(caller: Caller, State(state): State<AdminState>) -> Result<Json<Vec<JobEntry>>, ApiError> {
    caller.require(Scope::Read)?;
    Ok(Json(admin_dead_letters::exhausted_jobs(&state.pool, 500).await?))
}

/// Messages waiting and consumers on the intake and dead-letter queues.
#[utoipa::path(get, path = "/broker/queues", tag = "operations",
    responses(
        (status = 200, description = "Queue depths", body = Vec<QueueDepth>),
        (status = 401, description = "No or bad token", body = ErrorBody),
        (status = 403, description = "Scope read missing", body = ErrorBody),
        (status = 503, description = "Broker unreachable", body = ErrorBody)))]
pub async fn broker_queues(caller: Caller, State(state): State<AdminState>) -> Result<Json<Vec<QueueDepth>>, ApiError> {
    caller.require(Scope::Read)?;
    ops::queue_depths(&state.broker)
        .await
        .map(Json)
        .ok_or(ApiError::Unavailable)
}
