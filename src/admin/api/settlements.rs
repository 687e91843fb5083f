//! `POST /settlements` and `GET /settlements/{id}/mismatches` (scope `finance`, issue 20): import
//! a provider's settlement report and list where it disagrees with our ledger (`settlement`).

use crate::admin::auth::{Caller, Scope};
use crate::admin::error::{ApiError, ErrorBody};
use crate::admin::AdminState;
use crate::domain::Provider;
use crate::settlement::import::{self, ImportError, ImportRequest, Imported};
use crate::settlement::matching::Mismatch;
use crate::store::{reports, settlements};
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use utoipa::IntoParams;

/// The largest report taken (about 200,000 rows of the shipped mappings).
pub const BODY_LIMIT: usize = 32 * 1024 * 1024;

/// Whose report it is.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImportQuery {
    /// `humm` or `valu`: which mapping reads the file.
    pub provider: String,
    /// The provider account the report is of (default `default`).
    pub account: Option<String>,
    /// The file's name, kept with the import.
    pub file_name: Option<String>,
    /// The first day the report covers (`YYYY-MM-DD`, UTC); with `to`. Default: its first row's.
    pub from: Option<chrono::NaiveDate>,
    /// The last day the report covers, inclusive; with `from`. Default: its last row's.
    pub to: Option<chrono::NaiveDate>,
}

impl From<ImportError> for ApiError {
    fn from(error: ImportError) -> Self {
        match error {
            ImportError::BadAccount => ApiError::BadRequest(error.to_string()),
            ImportError::Report(report) => ApiError::Unprocessable("report_refused", report.to_string()),
            ImportError::Database(error) => error.into(),
        }
    }
}

/// Import a settlement or operations report (CSV): 201 with its summary, or 200 with the earlier
/// import's summary when this file was imported before (`duplicate`).
#[utoipa::path(post, path = "/settlements", tag = "reports", params(ImportQuery),
    request_body(content = String, content_type = "text/csv", description = "The provider's report"),
    responses(
        (status = 201, description = "Imported", body = Imported),
        (status = 200, description = "Imported before (`duplicate`: true)", body = Imported),
        (status = 400, description = "Bad provider or account", body = ErrorBody),
        (status = 401, description = "No or bad token", body = ErrorBody),
        (status = 403, description = "Scope finance missing", body = ErrorBody),
        (status = 404, description = "No such provider account in this process", body = ErrorBody),
        (status = 422, description = "The header differs from the mapping, or a cell does not read (`report_refused`, naming them)", body = ErrorBody)))]
pub async fn import_settlement(
    caller: Caller,
    State(state): State<AdminState>,
    query: Result<Query<ImportQuery>, QueryRejection>,
    body: Bytes,
) -> Result<Response, ApiError> {
    caller.require(Scope::Finance)?;
    let Query(query) = query.map_err(|rejection| ApiError::BadRequest(rejection.body_text()))?;
    let provider: Provider = query
        .provider
        .parse()
        .map_err(|_| ApiError::BadRequest(format!("unknown provider {:?}: humm or valu", query.provider)))?;
    let account = query.account.as_deref().unwrap_or("default");
    // A typo in the account would file every row as missing from the ledger.
    let configured = match provider {
        Provider::Humm => state.services.accounts.humm(Some(account)).is_some(),
        Provider::Valu => state.services.accounts.valu(Some(account)).is_some(),
    };
    if !configured {
        return Err(ApiError::NotFound("account"));
    }
    let period = match (query.from, query.to) {
        (Some(from), Some(to)) if from <= to => Some((from, to)),
        (None, None) => None,
        _ => {
            return Err(ApiError::BadRequest(
                "from and to go together, from not after to".to_owned(),
            ))
        }
    };
    let request = ImportRequest {
        period,
        provider,
        account,
        file_name: query.file_name.as_deref().filter(|name| name.len() <= 255),
        bytes: &body,
        actor: caller.name(),
    };
    let imported = import::import(&state.pool, &state.settlements, &request).await?;
    let status = if imported.duplicate {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(imported)).into_response())
}

/// How to answer with mismatches.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MismatchQuery {
    /// `csv` for a CSV file; JSON otherwise.
    pub format: Option<String>,
}

/// Where an import disagrees with the ledger, in the order found (JSON, or CSV with
/// `?format=csv`).
#[utoipa::path(get, path = "/settlements/{id}/mismatches", tag = "reports",
    params(("id" = i64, Path, description = "The import id"), MismatchQuery),
    responses(
        (status = 200, description = "The mismatches (empty when the report and the ledger agree)", body = Vec<Mismatch>),
        (status = 401, description = "No or bad token", body = ErrorBody),
        (status = 403, description = "Scope finance missing", body = ErrorBody),
        (status = 404, description = "No such import", body = ErrorBody)))]
pub async fn settlement_mismatches(
    caller: Caller,
    State(state): State<AdminState>,
    Path(id): Path<i64>,
    query: Result<Query<MismatchQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    caller.require(Scope::Finance)?;
    let Query(query) = query.map_err(|rejection| ApiError::BadRequest(rejection.body_text()))?;
    let mismatches = settlements::mismatches(&state.pool, id)
        .await?
        .ok_or(ApiError::NotFound("settlement import"))?;
    if query.format.as_deref() == Some("csv") {
        let csv = to_csv(&mismatches).map_err(|error| ApiError::Internal(error.to_string()))?;
        return Ok((
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"settlement_{id}_mismatches.csv\""),
                ),
            ],
            csv,
        )
            .into_response());
    }
    Ok(Json(mismatches).into_response())
}

/// Mismatches as CSV: `kind,payment_id,refund_id,line,detail`.
pub fn to_csv(mismatches: &[Mismatch]) -> Result<String, csv::Error> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(["kind", "payment_id", "refund_id", "line", "detail"])?;
    for m in mismatches {
        let line = m.line.map(|l| l.to_string()).unwrap_or_default();
        writer.write_record([
            m.kind.clone(),
            reports::inert(&m.payment_id),
            reports::inert(m.refund_id.as_deref().unwrap_or("")),
            line,
            reports::inert(&m.detail),
        ])?;
    }
    let bytes = writer
        .into_inner()
        .map_err(|error| csv::Error::from(error.into_error()))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}
