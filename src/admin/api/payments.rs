//! `GET /payments` (search), `GET /payments/{payment_id}` (with its full history) and
//! `GET /reviews` (what needs an operator). Scope `read`.

use crate::admin::auth::{Caller, Scope};
use crate::admin::error::{ApiError, ErrorBody};
use crate::admin::personal;
use crate::admin::read::history::RefundEntry;
use crate::admin::read::payments::{self as admin_payments, PaymentDetail, PaymentFilter, PaymentSummary};
use crate::admin::read::refunds as admin_refunds;
use crate::admin::{filters, AdminState};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::Json;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

const DEFAULT_LIMIT: i64 = 50;
const MAX_LIMIT: i64 = 500;

/// Search criteria of `GET /payments`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PaymentQuery {
    /// A payment status; another value is answered 400 with the allowed ones.
    #[param(value_type = Option<crate::domain::PaymentStatus>, inline)]
    pub status: Option<String>,
    /// A provider; another value is answered 400 with the allowed ones.
    #[param(value_type = Option<crate::domain::Provider>, inline)]
    pub provider: Option<String>,
    /// A provider account name.
    pub account: Option<String>,
    /// Created at or after (RFC 3339).
    pub created_from: Option<DateTime<Utc>>,
    /// Created before (RFC 3339).
    pub created_to: Option<DateTime<Utc>>,
    /// Page size, 1–500 (default 50).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// A page of payments, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct PaymentPage {
    pub payments: Vec<PaymentSummary>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Search payments.
#[utoipa::path(get, path = "/payments", tag = "payments", params(PaymentQuery),
    responses(
        (status = 200, description = "A page of payments", body = PaymentPage),
        (status = 400, description = "Bad criteria", body = ErrorBody),
        (status = 401, description = "No or bad token", body = ErrorBody),
        (status = 403, description = "Scope read missing", body = ErrorBody)))]
pub async fn list_payments(
    caller: Caller,
    State(state): State<AdminState>,
    query: Result<Query<PaymentQuery>, QueryRejection>,
) -> Result<Json<PaymentPage>, ApiError> {
    caller.require(Scope::Read)?;
    let Query(query) = query.map_err(|rejection| ApiError::BadRequest(rejection.body_text()))?;
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::BadRequest(format!("limit must be 1..={MAX_LIMIT}")));
    }
    let before = query.cursor.as_deref().map(decode_cursor).transpose()?;
    let filter = PaymentFilter {
        status: filters::payment_status(query.status)?,
        provider: filters::provider(query.provider)?,
        account: filters::account(query.account)?,
        created_from: query.created_from,
        created_to: query.created_to,
        before,
        limit,
    };
    let payments = admin_payments::list(&state.pool, &filter).await?;
    let next_cursor = (payments.len() as i64 == limit)
        .then(|| payments.last().map(encode_cursor))
        .flatten();
    Ok(Json(PaymentPage { payments, next_cursor }))
}

/// One payment with its refunds, audit log, events, callbacks and jobs.
#[utoipa::path(get, path = "/payments/{payment_id}", tag = "payments",
    params(("payment_id" = String, Path, description = "The merchant's payment id")),
    responses(
        (status = 200, description = "The payment and its history", body = PaymentDetail),
        (status = 401, description = "No or bad token", body = ErrorBody),
        (status = 403, description = "Scope read missing", body = ErrorBody),
        (status = 404, description = "No such payment", body = ErrorBody)))]
pub async fn get_payment(
    caller: Caller,
    State(state): State<AdminState>,
    Path(payment_id): Path<String>,
) -> Result<Json<PaymentDetail>, ApiError> {
    caller.require(Scope::Read)?;
    let payment_id = super::path_ids::payment(payment_id)?;
    let mut detail = admin_payments::detail(&state.pool, &payment_id)
        .await?
        .ok_or(ApiError::NotFound("payment"))?;
    if !personal::sees_personal_data(&caller.0.scopes) {
        personal::mask_payment(&mut detail);
    }
    Ok(Json(detail))
}

/// What needs an operator.
#[derive(Debug, Serialize, ToSchema)]
pub struct Reviews {
    /// Payments in `needs_review`, or final ones flagged with a `review_reason`.
    pub payments: Vec<PaymentSummary>,
    /// Refunds in `needs_review` (each blocks its queue), or closed ones flagged with a
    /// `review_reason` (they still count against their payment's balance).
    pub refunds: Vec<RefundEntry>,
}

/// Payments and refunds waiting for an operator's decision.
#[utoipa::path(get, path = "/reviews", tag = "payments",
    responses(
        (status = 200, description = "Payments and refunds to review", body = Reviews),
        (status = 401, description = "No or bad token", body = ErrorBody),
        (status = 403, description = "Scope read missing", body = ErrorBody)))]
pub async fn list_reviews(caller: Caller, State(state): State<AdminState>) -> Result<Json<Reviews>, ApiError> {
    caller.require(Scope::Read)?;
    Ok(Json(Reviews {
        payments: admin_payments::in_review(&state.pool).await?,
        refunds: admin_refunds::in_review(&state.pool).await?,
    }))
}

fn encode_cursor(last: &PaymentSummary) -> String {
    let text = format!("{}|{}", last.created_at.timestamp_micros(), last.payment_id);
    URL_SAFE_NO_PAD.encode(text)
}

fn decode_cursor(cursor: &str) -> Result<(DateTime<Utc>, String), ApiError> {
    let bad = || ApiError::BadRequest("cursor is not one this API returned".to_owned());
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let (micros, payment_id) = text.split_once('|').ok_or_else(bad)?;
    let micros: i64 = micros.parse().map_err(|_| bad())?;
    let at = DateTime::from_timestamp_micros(micros).ok_or_else(bad)?;
    let payment_id = crate::domain::PaymentId::new(payment_id).map_err(|_| bad())?;
    Ok((at, payment_id.into()))
}
