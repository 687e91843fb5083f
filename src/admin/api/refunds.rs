//! Refunds and the sequential refund queues: list (scope `read`), release a stuck head by
//! recording its outcome (scope `operate`), cancel a queued refund (scope `finance`).

use super::actions::required_reason;
use crate::admin::auth::{Caller, Scope};
use crate::admin::error::{ApiError, ErrorBody};
use crate::admin::read::history::RefundEntry;
use crate::admin::read::refunds::{self as admin_refunds, QueueView, RefundChange};
use crate::admin::refund_evidence;
use crate::admin::refund_record::{self, RecordError};
use crate::admin::{filters, AdminState};
use crate::domain::{RefundEvent, ReleaseOutcome};
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Criteria of `GET /refunds`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RefundQuery {
    /// A refund status; another value is answered 400 with the allowed ones.
    #[param(value_type = Option<crate::domain::RefundStatus>, inline)]
    pub status: Option<String>,
    /// At most this many (1–1000, default 100).
    pub limit: Option<i64>,
}

/// Refunds, newest first.
#[utoipa::path(get, path = "/refunds", tag = "refunds", params(RefundQuery),
    responses(
        (status = 200, description = "Refunds", body = Vec<RefundEntry>),
        (status = 401, description = "No or bad token", body = ErrorBody),
        (status = 403, description = "Scope read missing", body = ErrorBody)))]
pub async fn list_refunds(
    caller: Caller,
    State(state): State<AdminState>,
    query: Result<Query<RefundQuery>, QueryRejection>,
) -> Result<Json<Vec<RefundEntry>>, ApiError> {
    caller.require(Scope::Read)?;
    let Query(query) = query.map_err(|rejection| ApiError::BadRequest(rejection.body_text()))?;
    let limit = query.limit.unwrap_or(100).clamp(1, 1000);
    Ok(Json(
        admin_refunds::list(&state.pool, filters::refund_status(query.status)?, limit).await?,
    ))
}

/// Every refund queue with its head, depth and the age of its head.
#[utoipa::path(get, path = "/refund-queues", tag = "refunds",
    responses(
        (status = 200, description = "Refund queues", body = Vec<QueueView>),
        (status = 401, description = "No or bad token", body = ErrorBody),
        (status = 403, description = "Scope read missing", body = ErrorBody)))]
pub async fn list_queues(caller: Caller, State(state): State<AdminState>) -> Result<Json<Vec<QueueView>>, ApiError> {
    caller.require(Scope::Read)?;
    Ok(Json(admin_refunds::queues(&state.pool).await?))
}

/// What a status query showed about a stuck refund.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The provider made the refund.
    Succeeded,
    /// The provider refused it, or never made it.
    Declined,
}

impl From<Outcome> for ReleaseOutcome {
    fn from(outcome: Outcome) -> Self {
        match outcome {
            Outcome::Succeeded => ReleaseOutcome::Succeeded,
            Outcome::Declined => ReleaseOutcome::Declined,
        }
    }
}

/// The outcome of a stuck head, as a status query with the provider showed it.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ReleaseRequest {
    pub outcome: Outcome,
    /// What supports the outcome, in words; recorded and announced.
    pub reason: String,
    /// The id of a stored provider answer about this refund that supports `outcome`
    /// (`POST /refunds/{refund_id}/status-check`). Without one the release is refused (409).
    pub answer_id: Option<i64>,
}

/// Release a stuck refund (in flight or in review) by recording its outcome.
#[utoipa::path(post, path = "/refunds/{refund_id}/release", tag = "refunds",
    params(("refund_id" = String, Path, description = "The refund id")),
    request_body = ReleaseRequest,
    responses(
        (status = 200, description = "Recorded; `refund.succeeded` or `refund.declined` announced", body = RefundChange),
        (status = 400, description = "Missing outcome or reason", body = ErrorBody),
        (status = 401, description = "No or bad token", body = ErrorBody),
        (status = 403, description = "Scope operate missing", body = ErrorBody),
        (status = 404, description = "No such refund", body = ErrorBody),
        (status = 409, description = "Not sent yet, already final, changed meanwhile, or no stored answer supports the outcome (`no_supporting_answer`)", body = ErrorBody)))]
pub async fn release_refund(
    caller: Caller,
    State(state): State<AdminState>,
    Path(refund_id): Path<String>,
    body: Result<Json<ReleaseRequest>, JsonRejection>,
) -> Result<Json<RefundChange>, ApiError> {
    caller.require(Scope::Operate)?;
    let refund_id = super::path_ids::refund(refund_id)?;
    let Json(request) = body?;
    let reason = required_reason(&request.reason)?;
    let outcome = request.outcome.into();
    let change = refund_evidence::release(
        &state.pool,
        &refund_id,
        outcome,
        request.answer_id,
        reason,
        caller.name(),
    )
    .await?;
    Ok(Json(change))
}

/// A stored provider answer about a refund, and what it supports.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatusCheckAnswer {
    /// Pass as `answer_id` to release the refund with the outcome it supports.
    pub answer_id: i64,
    pub refund_id: String,
    /// What the provider said, summarised.
    #[schema(value_type = Object)]
    pub provider_answer: serde_json::Value,
    /// `succeeded`, `declined`, `pending` or `unknown`.
    pub supports: String,
}

/// Ask the provider about a refund in flight or in review now; the answer is stored with an id.
#[utoipa::path(post, path = "/refunds/{refund_id}/status-check", tag = "refunds",
    params(("refund_id" = String, Path, description = "The refund id")),
    responses(
        (status = 200, description = "The provider's answer, stored", body = StatusCheckAnswer),
        (status = 401, description = "No or bad token", body = ErrorBody),
        (status = 403, description = "Scope operate missing", body = ErrorBody),
        (status = 404, description = "No such refund", body = ErrorBody),
        (status = 409, description = "The refund is not in flight or in review (`not_stuck`)", body = ErrorBody)))]
pub async fn refund_status_check(
    caller: Caller,
    State(state): State<AdminState>,
    Path(refund_id): Path<String>,
) -> Result<Json<StatusCheckAnswer>, ApiError> {
    caller.require(Scope::Operate)?;
    let refund_id = super::path_ids::refund(refund_id)?;
    let answer = refund_evidence::status_check(&state.services, &refund_id, caller.name()).await?;
    Ok(Json(StatusCheckAnswer {
        answer_id: answer.id,
        refund_id: answer.refund_id,
        provider_answer: answer.answer,
        supports: answer.supports,
    }))
}

/// Why a queued refund is cancelled.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CancelRequest {
    pub reason: String,
}

/// Cancel a refund that is still queued (not yet sent).
#[utoipa::path(post, path = "/refunds/{refund_id}/cancel", tag = "refunds",
    params(("refund_id" = String, Path, description = "The refund id")),
    request_body = CancelRequest,
    responses(
        (status = 200, description = "Cancelled; `refund.cancelled` announced", body = RefundChange),
        (status = 400, description = "Missing reason", body = ErrorBody),
        (status = 401, description = "No or bad token", body = ErrorBody),
        (status = 403, description = "Scope finance missing", body = ErrorBody),
        (status = 404, description = "No such refund", body = ErrorBody),
        (status = 409, description = "Already sent (`not_cancellable`) or already cancelled", body = ErrorBody)))]
pub async fn cancel_refund(
    caller: Caller,
    State(state): State<AdminState>,
    Path(refund_id): Path<String>,
    body: Result<Json<CancelRequest>, JsonRejection>,
) -> Result<Json<RefundChange>, ApiError> {
    caller.require(Scope::Finance)?;
    let refund_id = super::path_ids::refund(refund_id)?;
    let Json(request) = body?;
    let reason = required_reason(&request.reason)?;
    let change = admin_refunds::apply(&state.pool, &refund_id, RefundEvent::Cancel, reason, caller.name()).await?;
    Ok(Json(change))
}

/// What finance records about a refund it filed at the provider.
#[derive(Debug, Deserialize, ToSchema)]
pub struct RecordRequest {
    /// The provider's reference of the refund (ecommpay: the refund operation's request id).
    pub provider_reference: String,
    pub reason: String,
}

/// A manual refund recorded: still in flight until the provider's answer settles it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Recorded {
    pub refund_id: String,
    pub payment_id: String,
    pub status: String,
    pub provider_reference: String,
}

impl From<RecordError> for ApiError {
    fn from(error: RecordError) -> Self {
        match error {
            RecordError::NotFound => ApiError::NotFound("refund"),
            RecordError::NotInFlight(_) => ApiError::Conflict("not_in_flight", error.to_string()),
            RecordError::NotManual => ApiError::Conflict("not_manual", error.to_string()),
            RecordError::AlreadyRecorded => ApiError::Conflict("already_recorded", error.to_string()),
            RecordError::BadReference => ApiError::BadRequest(error.to_string()),
            RecordError::Database(error) => error.into(),
        }
    }
}

/// Manual refund mode: record the provider's reference of a refund finance filed at the
/// provider. The refund stays in flight until the provider's callback or a status query settles it.
#[utoipa::path(post, path = "/refunds/{refund_id}/record", tag = "refunds",
    params(("refund_id" = String, Path, description = "The refund id")),
    request_body = RecordRequest,
    responses(
        (status = 200, description = "Recorded; a status query is brought forward", body = Recorded),
        (status = 400, description = "Missing or bad reference or reason", body = ErrorBody),
        (status = 401, description = "No or bad token", body = ErrorBody),
        (status = 403, description = "Scope finance missing", body = ErrorBody),
        (status = 404, description = "No such refund", body = ErrorBody),
        (status = 409, description = "Not in flight or in review (`not_in_flight`), its account is not in manual mode (`not_manual`), or another reference is recorded for it or this one for another refund (`already_recorded`)", body = ErrorBody)))]
pub async fn record_refund(
    caller: Caller,
    State(state): State<AdminState>,
    Path(refund_id): Path<String>,
    body: Result<Json<RecordRequest>, JsonRejection>,
) -> Result<Json<Recorded>, ApiError> {
    caller.require(Scope::Finance)?;
    let refund_id = super::path_ids::refund(refund_id)?;
    let Json(request) = body?;
    let reason = required_reason(&request.reason)?;
    let refund = refund_record::record(
        &state.services,
        &refund_id,
        &request.provider_reference,
        reason,
        caller.name(),
    )
    .await?;
    tracing::info!(refund_id, actor = caller.name(), "manual refund recorded");
    Ok(Json(Recorded {
        refund_id: refund.refund_id,
        payment_id: refund.payment_id,
        status: refund.status,
        provider_reference: request.provider_reference.trim().to_owned(),
    }))
}
