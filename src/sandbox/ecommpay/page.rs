//! The ecommpay Payment Page, `GET /payment?<params>&signature=<sig>` (providers.md §1.4
//! "Payment Page", vendor-docs "Purchases by using Payment Page").
//!
//! The flat query parameters are signed like a Gate body (every value as text) with the
//! signature appended URL-encoded. Opening a correctly signed page registers the payment, exactly
//! as a Gate sale would, and starts the redirect flow: the intermediate callback goes out and the
//! browser is sent (302) to the sandbox's humm page. A page never opened leaves nothing at the
//! provider. Reopening the very same URL shows the same payment (no second sale); another page
//! with the same `payment_id` is 3041.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use serde_json::{Map, Value};

use super::flow::humm_page_url;
use super::reply::GateError;
use super::sale::{check_limits, register, NewPayment};
use crate::providers::ecommpay::signature::verify;
use crate::sandbox::state::Shared;

/// The Payment Page handler.
pub(crate) async fn page(State(shared): State<Arc<Shared>>, RawQuery(query): RawQuery) -> Response {
    let query = query.unwrap_or_default();
    match open(&shared, &query).await {
        Ok(location) => (StatusCode::FOUND, [(header::LOCATION, location)]).into_response(),
        Err(error) => (
            StatusCode::BAD_REQUEST,
            Html(format!(
                "<!doctype html><title>Payment Page</title><h1>Error {}</h1><p>{}</p>",
                error.code, error.message
            )),
        )
            .into_response(),
    }
}

async fn open(shared: &Arc<Shared>, query: &str) -> Result<String, GateError> {
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(query).map_err(|_| GateError::new("2003", "Invalid query"))?;
    let params: Map<String, Value> = pairs.into_iter().map(|(k, v)| (k, Value::String(v))).collect();
    let get = |name: &'static str| {
        params
            .get(name)
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| GateError::new("2004", "Required field missing").field(name))
    };
    if get("signature").is_err() {
        return Err(GateError::new("3262", "Empty signature"));
    }
    let project_id: u64 = get("project_id")?
        .parse()
        .map_err(|_| GateError::new("2004", "Required field missing").field("project_id"))?;
    let project = shared
        .config
        .project(project_id)
        .ok_or_else(|| GateError::new("3261", "Invalid signature"))?;
    if !verify(&Value::Object(params.clone()), &project.secret_key) {
        return Err(GateError::new("3261", "Invalid signature"));
    }
    let payment_id = get("payment_id")?.to_owned();
    let amount: i64 = get("payment_amount")?
        .parse()
        .map_err(|_| GateError::new("502", "Validation error").field("payment_amount"))?;
    let currency = get("payment_currency")?.to_owned();
    let customer_id = get("customer_id")?.to_owned();
    let first_name = get("customer_first_name")?.to_owned();
    get("customer_last_name")?;
    check_limits(shared, amount, &currency)?;
    {
        let store = shared.store.lock().await;
        if let Some(existing) = store.ecommpay.get(&(project_id, payment_id.clone())) {
            if existing.page_query.as_deref() == Some(query) {
                return Ok(humm_page_url(shared, existing));
            }
        }
    }
    let callback_url = params
        .get("merchant_callback_url")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .or_else(|| project.callback_url.clone());
    register(
        shared,
        NewPayment {
            project_id,
            payment_id: payment_id.clone(),
            amount,
            currency,
            description: params
                .get("payment_description")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned(),
            customer_id,
            first_name,
            callback_url,
            page_query: Some(query.to_owned()),
        },
    )
    .await?;
    let store = shared.store.lock().await;
    store
        .ecommpay
        .get(&(project_id, payment_id))
        .map(|p| humm_page_url(shared, p))
        .ok_or_else(|| GateError::new("3061", "Transaction not found"))
}
