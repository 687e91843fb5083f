//! The admin API's error answers: a status and `{"error": {"code", "message"}}`.
//!
//! Invariant: internals never leak. Database and broker errors are logged here with their
//! detail and answered with a bare `internal` / `unavailable`; only errors that describe the
//! caller's own request carry a specific message.

use crate::admin::actions::ActionError;
use crate::admin::read::refunds::RefundActionError;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

/// An error answer of the admin API.
#[derive(Debug)]
pub enum ApiError {
    /// No token, or not a live one (401).
    Unauthenticated,
    /// The token lacks the scope the endpoint needs (403).
    Forbidden(&'static str),
    /// The request is malformed (400).
    BadRequest(String),
    /// The request body is over the limit (413).
    TooLarge,
    /// No such record (404).
    NotFound(&'static str),
    /// The record's state does not allow this (409), with a stable code.
    Conflict(&'static str, String),
    /// The request is well-formed but not acceptable (422), with a stable code.
    Unprocessable(&'static str, String),
    /// A dependency (the broker) is unreachable right now (503).
    Unavailable,
    /// Anything else (500); the detail is only logged.
    Internal(String),
}

/// The JSON body of every error answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// What went wrong, for people and programs.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable snake_case code, e.g. `unauthenticated`, `forbidden`, `not_found`.
    pub code: String,
    pub message: String,
}

impl From<crate::admin::filters::FilterError> for ApiError {
    fn from(error: crate::admin::filters::FilterError) -> Self {
        ApiError::BadRequest(error.to_string())
    }
}

impl From<axum::extract::rejection::JsonRejection> for ApiError {
    fn from(rejection: axum::extract::rejection::JsonRejection) -> Self {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::TooLarge
        } else {
            ApiError::BadRequest(rejection.body_text())
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        if crate::store::sqlstate::is_outage(&error) {
            // An outage, not a bug: the caller should retry (503), as with the broker.
            tracing::warn!(%error, "admin API request: the database is not reachable");
            return ApiError::Unavailable;
        }
        ApiError::Internal(format!("database: {error}"))
    }
}

impl From<ActionError> for ApiError {
    fn from(error: ActionError) -> Self {
        match error {
            ActionError::NotFound => ApiError::NotFound("payment"),
            ActionError::Refused(refusal) => ApiError::Unprocessable("transition_refused", refusal.to_string()),
            ActionError::Conflict | ActionError::MovedOn { .. } => ApiError::Conflict("conflict", error.to_string()),
            ActionError::Database(error) => error.into(),
        }
    }
}

impl From<RefundActionError> for ApiError {
    fn from(error: RefundActionError) -> Self {
        match error {
            RefundActionError::NotFound => ApiError::NotFound("refund"),
            RefundActionError::Refused(refusal) => ApiError::Conflict(refusal.code(), refusal.to_string()),
            RefundActionError::AlreadyDone => ApiError::Conflict("already_done", error.to_string()),
            RefundActionError::Conflict => ApiError::Conflict("conflict", error.to_string()),
            RefundActionError::Database(error) => error.into(),
        }
    }
}

impl From<crate::admin::jobs::JobActionError> for ApiError {
    fn from(error: crate::admin::jobs::JobActionError) -> Self {
        use crate::admin::jobs::JobActionError;
        match error {
            JobActionError::NotFound => ApiError::NotFound("job"),
            JobActionError::NotExhausted => ApiError::Conflict("not_exhausted", error.to_string()),
            JobActionError::LiveTwin => ApiError::Conflict("live_twin", error.to_string()),
            JobActionError::Database(error) => error.into(),
        }
    }
}

impl From<crate::admin::refund_evidence::EvidenceError> for ApiError {
    fn from(error: crate::admin::refund_evidence::EvidenceError) -> Self {
        use crate::admin::refund_evidence::EvidenceError;
        match error {
            EvidenceError::Refund(error) => error.into(),
            EvidenceError::NotStuck(_) => ApiError::Conflict("not_stuck", error.to_string()),
            EvidenceError::Unsupported(message) => ApiError::Conflict("no_supporting_answer", message),
            EvidenceError::AccountUnavailable(_) => ApiError::Unavailable,
        }
    }
}

impl From<crate::admin::ops::ReplayError> for ApiError {
    fn from(error: crate::admin::ops::ReplayError) -> Self {
        use crate::admin::ops::ReplayError;
        match error {
            ReplayError::NotFound => ApiError::NotFound("dead letter"),
            ReplayError::Purged => ApiError::Conflict("purged", "the dead letter (or its body) was purged".to_owned()),
            error @ (ReplayError::BadRoutingKey | ReplayError::Invalid(_)) => ApiError::BadRequest(error.to_string()),
            ReplayError::Publish(error) => {
                tracing::warn!(%error, "dead letter replay not published");
                ApiError::Unavailable
            }
            ReplayError::Database(error) => error.into(),
        }
    }
}

impl ApiError {
    /// The answer's status, stable code and message for people (the dashboard shows these on
    /// its error page; the API sends them as JSON). Internal detail is logged here, not returned.
    pub fn parts(self) -> (StatusCode, &'static str, String) {
        match self {
            ApiError::Unauthenticated => (
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "a valid bearer token is required".to_owned(),
            ),
            ApiError::Forbidden(scope) => (
                StatusCode::FORBIDDEN,
                "forbidden",
                format!("this token lacks the {scope} scope"),
            ),
            ApiError::BadRequest(message) => (StatusCode::BAD_REQUEST, "invalid", message),
            ApiError::TooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!("the request body is over {} bytes", super::BODY_LIMIT),
            ),
            ApiError::NotFound(what) => (StatusCode::NOT_FOUND, "not_found", format!("no such {what}")),
            ApiError::Conflict(code, message) => (StatusCode::CONFLICT, code, message),
            ApiError::Unprocessable(code, message) => (StatusCode::UNPROCESSABLE_ENTITY, code, message),
            ApiError::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the database or the message broker is not reachable right now; retry".to_owned(),
            ),
            ApiError::Internal(detail) => {
                tracing::error!(%detail, "admin API request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "internal error".to_owned(),
                )
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, message) = self.parts();
        let mut response = (status, Json(json!({ "error": { "code": code, "message": message } }))).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}
