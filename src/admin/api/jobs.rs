//! `POST /jobs/{id}/retry` and `POST /jobs/{id}/discard` (scope `operate`, contract §4 added
//! 2026-11-29): an operator's decision about a job that used up its retries, with a reason,
//! audited. Only an exhausted job can be decided on (409 otherwise).

use super::actions::required_reason;
use crate::admin::auth::{Caller, Scope};
use crate::admin::error::{ApiError, ErrorBody};
use crate::admin::jobs::{self, Decision};
use crate::admin::AdminState;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Why the operator decides so.
#[derive(Debug, Deserialize, ToSchema)]
pub struct JobDecisionRequest {
    pub reason: String,
}

/// The job decided on.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobDecided {
    pub job_id: i64,
    pub kind: String,
    pub payment_id: Option<String>,
    pub refund_id: Option<String>,
    /// `scheduled` (retried, due now, with a fresh attempt budget) or `cancelled` (discarded).
    pub state: String,
}

async fn decide(
    caller: Caller,
    state: AdminState,
    id: i64,
    body: Result<Json<JobDecisionRequest>, JsonRejection>,
    decision: Decision,
) -> Result<Json<JobDecided>, ApiError> {
    caller.require(Scope::Operate)?;
    let Json(request) = body?;
    let reason = required_reason(&request.reason)?;
    let job = jobs::decide(&state.pool, id, decision, reason, caller.name()).await?;
    Ok(Json(JobDecided {
        job_id: job.id,
        kind: job.kind,
        payment_id: job.payment_id,
        refund_id: job.refund_id,
        state: match decision {
            Decision::Retry => "scheduled",
            Decision::Discard => "cancelled",
        }
        .to_owned(),
    }))
}

/// Retry an exhausted job now, with a fresh attempt budget.
#[utoipa::path(post, path = "/jobs/{id}/retry", tag = "operations",
    params(("id" = i64, Path, description = "The job id")),
    request_body = JobDecisionRequest,
    responses(
        (status = 200, description = "Scheduled now; audited", body = JobDecided),
        (status = 400, description = "Missing reason", body = ErrorBody),
        (status = 401, description = "No or bad token", body = ErrorBody),
        (status = 403, description = "Scope operate missing", body = ErrorBody),
        (status = 404, description = "No such job", body = ErrorBody),
        (status = 409, description = "Not exhausted (`not_exhausted`), or a live job of the same key exists (`live_twin`)", body = ErrorBody)))]
pub async fn retry_job(
    caller: Caller,
    State(state): State<AdminState>,
    Path(id): Path<i64>,
    body: Result<Json<JobDecisionRequest>, JsonRejection>,
) -> Result<Json<JobDecided>, ApiError> {
    decide(caller, state, id, body, Decision::Retry).await
}

/// Discard an exhausted job for good, with a reason.
#[utoipa::path(post, path = "/jobs/{id}/discard", tag = "operations",
    params(("id" = i64, Path, description = "The job id")),
    request_body = JobDecisionRequest,
    responses(
        (status = 200, description = "Discarded; audited", body = JobDecided),
        (status = 400, description = "Missing reason", body = ErrorBody),
        (status = 401, description = "No or bad token", body = ErrorBody),
        (status = 403, description = "Scope operate missing", body = ErrorBody),
        (status = 404, description = "No such job", body = ErrorBody),
        (status = 409, description = "Not exhausted (`not_exhausted`)", body = ErrorBody)))]
pub async fn discard_job(
    caller: Caller,
    State(state): State<AdminState>,
    Path(id): Path<i64>,
    body: Result<Json<JobDecisionRequest>, JsonRejection>,
) -> Result<Json<JobDecided>, ApiError> {
    decide(caller, state, id, body, Decision::Discard).await
}
