//! `GET /accounts`, `POST /accounts/{provider}/{account}/pause` and `…/resume` (contract §4, added
//! 2026-11-29; the behaviour is in `admin::accounts`).

use super::actions::required_reason;
use crate::accounts::{AccountState, SecretsReload};
use crate::admin::accounts::{self, AccountActionError, AccountView};
use crate::admin::auth::{Caller, Scope};
use crate::admin::error::{ApiError, ErrorBody};
use crate::admin::AdminState;
use crate::domain::Provider;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::Json;
use serde::Deserialize;
use utoipa::ToSchema;

impl From<AccountActionError> for ApiError {
    fn from(error: AccountActionError) -> Self {
        match error {
            AccountActionError::NotFound => ApiError::NotFound("account"),
            AccountActionError::Database(error) => error.into(),
        }
    }
}

/// Why the account is paused or resumed.
#[derive(Debug, Deserialize, ToSchema)]
pub struct AccountChangeRequest {
    pub reason: String,
}

/// The provider accounts and their states.
#[utoipa::path(get, path = "/accounts", tag = "operations",
    responses(
        (status = 200, description = "Every configured account", body = Vec<AccountView>),
        (status = 401, description = "No or bad token", body = ErrorBody),
        (status = 403, description = "Scope read missing", body = ErrorBody)))]
pub async fn list_accounts(
    caller: Caller,
    State(state): State<AdminState>,
) -> Result<Json<Vec<AccountView>>, ApiError> {
    caller.require(Scope::Read)?;
    Ok(Json(accounts::list(&state.pool, &state.services.accounts).await?))
}

async fn change(
    caller: Caller,
    state: AdminState,
    (provider, account): (String, String),
    body: Result<Json<AccountChangeRequest>, JsonRejection>,
    to: AccountState,
) -> Result<Json<AccountView>, ApiError> {
    caller.require(Scope::Operate)?;
    let Json(request) = body?;
    let reason = required_reason(&request.reason)?;
    let provider: Provider = provider.parse().map_err(|_| ApiError::NotFound("account"))?;
    let view = accounts::set(
        &state.pool,
        &state.services.accounts,
        provider,
        &account,
        to,
        reason,
        caller.name(),
    )
    .await?;
    Ok(Json(view))
}

/// Pause an account: no call goes to its provider until it is resumed (commands and callbacks are
/// still taken). Idempotent.
#[utoipa::path(post, path = "/accounts/{provider}/{account}/pause", tag = "operations",
    params(("provider" = Provider, Path, description = "humm or valu"), ("account" = String, Path, description = "The account name")),
    request_body = AccountChangeRequest,
    responses(
        (status = 200, description = "Paused (or already paused); `account.paused` announced", body = AccountView),
        (status = 400, description = "Missing reason", body = ErrorBody),
        (status = 401, description = "No or bad token", body = ErrorBody),
        (status = 403, description = "Scope operate missing", body = ErrorBody),
        (status = 404, description = "No such account", body = ErrorBody)))]
pub async fn pause_account(
    caller: Caller,
    State(state): State<AdminState>,
    Path(path): Path<(String, String)>,
    body: Result<Json<AccountChangeRequest>, JsonRejection>,
) -> Result<Json<AccountView>, ApiError> {
    change(caller, state, path, body, AccountState::Paused).await
}

/// Resume an account (also closes an open circuit). Idempotent.
#[utoipa::path(post, path = "/accounts/{provider}/{account}/resume", tag = "operations",
    params(("provider" = Provider, Path, description = "humm or valu"), ("account" = String, Path, description = "The account name")),
    request_body = AccountChangeRequest,
    responses(
        (status = 200, description = "Active (or already active); `account.resumed` announced", body = AccountView),
        (status = 400, description = "Missing reason", body = ErrorBody),
        (status = 401, description = "No or bad token", body = ErrorBody),
        (status = 403, description = "Scope operate missing", body = ErrorBody),
        (status = 404, description = "No such account", body = ErrorBody)))]
pub async fn resume_account(
    caller: Caller,
    State(state): State<AdminState>,
    Path(path): Path<(String, String)>,
    body: Result<Json<AccountChangeRequest>, JsonRejection>,
) -> Result<Json<AccountView>, ApiError> {
    change(caller, state, path, body, AccountState::Active).await
}

/// Read the configuration file's provider secrets again (a key rotation), in this process, with
/// no restart. Other processes reload on SIGHUP (or their own call).
#[utoipa::path(post, path = "/accounts/reload-secrets", tag = "operations",
    responses(
        (status = 200, description = "Secrets taken; the accounts whose secrets changed", body = SecretsReload),
        (status = 401, description = "No or bad token", body = ErrorBody),
        (status = 403, description = "Scope operate missing", body = ErrorBody),
        (status = 409, description = "No configuration file, or it does not parse (`not_reloaded`); the running secrets stay", body = ErrorBody)))]
pub async fn reload_secrets(caller: Caller, State(state): State<AdminState>) -> Result<Json<SecretsReload>, ApiError> {
    caller.require(Scope::Operate)?;
    match state.services.accounts.reload_secrets_from_file() {
        Ok(report) => {
            tracing::info!(actor = caller.name(), rotated = ?report.rotated, "provider secrets reloaded by an operator");
            Ok(Json(report))
        }
        Err(error) => Err(ApiError::Conflict("not_reloaded", error.to_string())),
    }
}
