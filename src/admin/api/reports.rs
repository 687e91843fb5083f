//! `GET /reports/reconciliation.csv` (scope `finance`): payments and refunds of a period with
//! references, amounts, statuses and timestamps, then totals per provider and currency.

use crate::admin::auth::{Caller, Scope};
use crate::admin::error::{ApiError, ErrorBody};
use crate::admin::AdminState;
use crate::store::reports::{self, Period};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;
use utoipa::IntoParams;

/// The period and provider of a report.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// Start, inclusive: RFC 3339 or `YYYY-MM-DD` (midnight UTC).
    pub from: String,
    /// End, exclusive: RFC 3339 or `YYYY-MM-DD` (midnight UTC).
    pub to: String,
    /// Only `humm` or `valu`.
    pub provider: Option<String>,
}

/// The reconciliation report of a period, as CSV.
#[utoipa::path(get, path = "/reports/reconciliation.csv", tag = "reports", params(ReportQuery),
    responses(
        (status = 200, description = "One row per payment and refund, then totals per provider \
            and currency (record_type `total`)", content_type = "text/csv", body = String),
        (status = 400, description = "Bad period", body = ErrorBody),
        (status = 401, description = "No or bad token", body = ErrorBody),
        (status = 403, description = "Scope finance missing", body = ErrorBody)))]
pub async fn reconciliation(
    caller: Caller,
    State(state): State<AdminState>,
    query: Result<Query<ReportQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    caller.require(Scope::Finance)?;
    let Query(query) = query.map_err(|rejection| ApiError::BadRequest(rejection.body_text()))?;
    let period = period(&query.from, &query.to, query.provider).map_err(ApiError::BadRequest)?;
    let lines = reports::reconciliation(&state.pool, &period).await?;
    let csv = reports::to_csv(&lines).map_err(|error| ApiError::Internal(error.to_string()))?;
    let filename = format!(
        "attachment; filename=\"reconciliation_{}_{}.csv\"",
        period.from.format("%Y%m%dT%H%M%SZ"),
        period.to.format("%Y%m%dT%H%M%SZ")
    );
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, filename),
        ],
        csv,
    )
        .into_response())
}

/// A report period from user text; the error says what is wrong.
pub fn period(from: &str, to: &str, provider: Option<String>) -> Result<Period, String> {
    let from = parse_instant(from).ok_or_else(|| format!("from: {from:?} is not a date or RFC 3339 time"))?;
    let to = parse_instant(to).ok_or_else(|| format!("to: {to:?} is not a date or RFC 3339 time"))?;
    if to <= from {
        return Err("to must be after from".to_owned());
    }
    if let Some(provider) = &provider {
        if provider != "humm" && provider != "valu" {
            return Err(format!("provider: {provider:?} is not humm or valu"));
        }
    }
    Ok(Period { from, to, provider })
}

/// An RFC 3339 time, or a `YYYY-MM-DD` date meaning its midnight UTC.
pub fn parse_instant(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|at| at.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .ok()
                .and_then(|date| date.and_hms_opt(0, 0, 0))
                .map(|at| at.and_utc())
        })
}
