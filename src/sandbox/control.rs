//! The customer's side and the test controls, under `/sandbox/…`.
//!
//! - `GET|POST /sandbox/humm/{payment_id}`: the humm page a customer is redirected to
//!   (`redirect_data.url`), with buttons to finish it.
//! - `POST /sandbox/humm/{payment_id}/finish`: `{"outcome": "success" | "decline" | "abandon"}`
//!   (JSON or form); `?project_id=` picks the project when several play the same id. `abandon`
//!   sends nothing: the threshold decline follows.
//! - `GET /sandbox/valu/otp/{phone}`: the last OTP "sent by SMS" to the phone.
//! - `GET /sandbox/ledger[?lists=false]`, `GET|POST /sandbox/faults`,
//!   `GET|POST /sandbox/auto-customer`, `POST /sandbox/reset`, `GET /sandbox/health`.
//! - `GET|POST /sandbox/outage` (`{"account": "ecommpay:<project_id>", "down": true}`): every
//!   API request of a switched-down account is answered 503; `GET /sandbox/requests`: each
//!   account's request log, with the status each was answered ([`super::requests`]).

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::config::AutoCustomer;
use super::ecommpay::flow::{finish, FinishError, Outcome};
use super::faults::FaultRates;
use super::ledger::Ledger;
use super::state::{EcKey, Shared};

/// The control routes.
pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/sandbox/health", get(|| async { "ok" }))
        .route("/sandbox/humm/{payment_id}", get(humm_page).post(humm_page))
        .route("/sandbox/humm/{payment_id}/finish", post(humm_finish))
        .route("/sandbox/valu/otp/{phone}", get(valu_otp))
        .route("/sandbox/ledger", get(ledger))
        .route("/sandbox/faults", get(get_faults).post(set_faults))
        .route("/sandbox/auto-customer", get(get_auto).post(set_auto))
        .route("/sandbox/reset", post(reset))
        .route("/sandbox/ecommpay/{project_id}/secret", post(rotate_ecommpay_key))
        .route("/sandbox/ecommpay/{project_id}/payment-link", post(payment_link))
        .route("/sandbox/ecommpay/{project_id}/manual-refund", post(manual_refund))
        .route("/sandbox/ecommpay/{project_id}/operations.csv", get(operations_csv))
        .route(
            "/sandbox/outage",
            get(super::requests::get_outage).post(super::requests::set_outage),
        )
        .route("/sandbox/requests", get(super::requests::list))
}

type Params = Query<HashMap<String, String>>;

/// The payment's key: the `project_id` given, or the first project that has the id.
async fn find(shared: &Shared, payment_id: &str, params: &HashMap<String, String>) -> Option<EcKey> {
    let wanted: Option<u64> = params.get("project_id").and_then(|p| p.parse().ok());
    let store = shared.store.lock().await;
    shared
        .config
        .ecommpay_projects
        .iter()
        .map(|p| (p.project_id, payment_id.to_owned()))
        .filter(|key| wanted.is_none_or(|w| w == key.0))
        .find(|key| store.ecommpay.contains_key(key))
}

async fn humm_page(
    State(shared): State<Arc<Shared>>,
    Path(payment_id): Path<String>,
    Query(params): Params,
) -> Response {
    let Some(key) = find(&shared, &payment_id, &params).await else {
        return (StatusCode::NOT_FOUND, "unknown payment").into_response();
    };
    let store = shared.store.lock().await;
    let Some(p) = store.ecommpay.get(&key) else {
        return (StatusCode::NOT_FOUND, "unknown payment").into_response();
    };
    let action = format!("{}/finish?project_id={}", p.payment_id, p.project_id);
    let buttons: String = ["success", "decline", "abandon"]
        .iter()
        .map(|o| format!("<button name=outcome value={o}>{o}</button>"))
        .collect();
    Html(format!(
        "<!doctype html><title>humm (sandbox)</title><h1>humm: pay {}.{:02} {} in instalments</h1>\
         <p>Payment {} is <b>{}</b>.</p><form method=post action=\"{action}\">{buttons}</form>",
        p.amount / 100,
        p.amount % 100,
        p.currency,
        html_escape(&p.payment_id),
        p.payment_status(),
    ))
    .into_response()
}

#[derive(Deserialize)]
struct FinishBody {
    outcome: String,
}

async fn humm_finish(
    State(shared): State<Arc<Shared>>,
    Path(payment_id): Path<String>,
    Query(params): Params,
    body: Bytes,
) -> Response {
    let parsed: Option<FinishBody> = serde_json::from_slice(&body)
        .ok()
        .or_else(|| serde_urlencoded::from_bytes(&body).ok());
    let outcome = match parsed.as_ref().map(|b| b.outcome.as_str()) {
        Some("success") => Outcome::Success,
        Some("decline") => Outcome::Decline,
        Some("abandon") => Outcome::Abandon,
        _ => {
            let error = json!({"error": "outcome must be success, decline or abandon"});
            return (StatusCode::BAD_REQUEST, Json(error)).into_response();
        }
    };
    let Some(key) = find(&shared, &payment_id, &params).await else {
        return (StatusCode::NOT_FOUND, Json(json!({"error": "unknown payment"}))).into_response();
    };
    match finish(&shared, &key, outcome).await {
        Ok(status) => Json(json!({"payment_id": payment_id, "status": status})).into_response(),
        Err(FinishError::AlreadyFinal(status)) => (
            StatusCode::CONFLICT,
            Json(json!({"payment_id": payment_id, "status": status, "error": "already final"})),
        )
            .into_response(),
        Err(FinishError::NotFound) => {
            (StatusCode::NOT_FOUND, Json(json!({"error": "unknown payment"}))).into_response()
        }
    }
}

async fn valu_otp(State(shared): State<Arc<Shared>>, Path(phone): Path<String>) -> Response {
    let store = shared.store.lock().await;
    match store.sms.get(&phone) {
        Some(sms) => Json(json!({
            "phone": phone,
            "otp": sms.otp,
            "merchant_identifier": sms.merchant_identifier,
            "merchant_reference": sms.merchant_reference,
            "expires_in_ms": sms
                .expires_at
                .saturating_duration_since(tokio::time::Instant::now())
                .as_millis(),
        }))
        .into_response(),
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({"error": "no OTP sent to this phone"})),
        )
            .into_response(),
    }
}

async fn ledger(State(shared): State<Arc<Shared>>, Query(params): Params) -> Response {
    let lists = params.get("lists").map(String::as_str) != Some("false");
    let mut snapshot = shared.store.lock().await.ledger.snapshot(lists);
    if let Some(object) = snapshot.as_object_mut() {
        object.insert("faults_fired".to_owned(), shared.fired.to_json());
    }
    Json(snapshot).into_response()
}

async fn get_faults(State(shared): State<Arc<Shared>>) -> Json<FaultRates> {
    Json(shared.store.lock().await.faults.clone())
}

async fn set_faults(State(shared): State<Arc<Shared>>, Json(rates): Json<FaultRates>) -> Json<FaultRates> {
    shared.store.lock().await.faults = rates.clone();
    Json(rates)
}

async fn get_auto(State(shared): State<Arc<Shared>>) -> Json<AutoCustomer> {
    Json(shared.store.lock().await.auto_customer.clone())
}

async fn set_auto(State(shared): State<Arc<Shared>>, Json(auto): Json<AutoCustomer>) -> Json<AutoCustomer> {
    shared.store.lock().await.auto_customer = auto.clone();
    Json(auto)
}

/// The new key of a project.
#[derive(Debug, serde::Deserialize)]
struct NewKey {
    secret_key: String,
}

/// `POST /sandbox/ecommpay/{project_id}/secret` `{"secret_key": "…"}`: the merchant regenerated
/// the project's key; everything signed or checked from now on uses it (issue 20).
async fn rotate_ecommpay_key(
    State(shared): State<Arc<Shared>>,
    Path(project_id): Path<u64>,
    Json(key): Json<NewKey>,
) -> StatusCode {
    if key.secret_key.is_empty() {
        return StatusCode::BAD_REQUEST;
    }
    match shared
        .config
        .rotate_key(project_id, secrecy::SecretString::from(key.secret_key))
    {
        true => StatusCode::NO_CONTENT,
        false => StatusCode::NOT_FOUND,
    }
}

/// A payment a customer makes through a payment link in ecommpay's dashboard.
#[derive(Debug, serde::Deserialize)]
struct PaymentLink {
    payment_id: String,
    amount: i64,
    #[serde(default = "gbp")]
    currency: String,
}

fn gbp() -> String {
    "GBP".to_owned()
}

/// `POST /sandbox/ecommpay/{project_id}/payment-link` `{payment_id, amount[, currency]}`: a sale
/// made outside the merchant's systems (issue 20). Its callbacks go to the project's configured
/// `callback_url`, as ecommpay's dashboard setting would send them; the customer then finishes at
/// `/sandbox/humm/{payment_id}/finish` like any other.
async fn payment_link(
    State(shared): State<Arc<Shared>>,
    Path(project_id): Path<u64>,
    Json(link): Json<PaymentLink>,
) -> Response {
    let Some(project) = shared.config.project(project_id) else {
        return (StatusCode::NOT_FOUND, "no such project").into_response();
    };
    let Some(callback_url) = project.callback_url.clone() else {
        return (StatusCode::BAD_REQUEST, "the project has no callback_url").into_response();
    };
    if let Err(error) = super::ecommpay::sale::check_limits(&shared, link.amount, &link.currency) {
        return error.into_response();
    }
    let new = super::ecommpay::sale::NewPayment {
        project_id,
        payment_id: link.payment_id,
        amount: link.amount,
        currency: link.currency,
        description: "Payment link".to_owned(),
        customer_id: "link-customer".to_owned(),
        first_name: "Link".to_owned(),
        callback_url: Some(callback_url),
        page_query: None,
    };
    match super::ecommpay::sale::register(&shared, new).await {
        Ok(request_id) => Json(serde_json::json!({ "request_id": request_id })).into_response(),
        Err(error) => error.into_response(),
    }
}

/// A refund the merchant files in ecommpay's dashboard.
#[derive(Debug, serde::Deserialize)]
struct ManualRefund {
    payment_id: String,
    amount: i64,
    #[serde(default = "gbp")]
    currency: String,
}

/// `POST /sandbox/ecommpay/{project_id}/manual-refund` `{payment_id, amount[, currency]}`: finance
/// files a refund by hand (manual refund mode, issue 20). Answers `{request_id}`; the refund is
/// processed and called back like an API refund.
async fn manual_refund(
    State(shared): State<Arc<Shared>>,
    Path(project_id): Path<u64>,
    Json(refund): Json<ManualRefund>,
) -> Response {
    match super::ecommpay::refund::manual(&shared, project_id, refund.payment_id, refund.amount, refund.currency).await
    {
        Ok(request_id) => Json(serde_json::json!({ "request_id": request_id })).into_response(),
        Err(error) => error.into_response(),
    }
}

/// `GET /sandbox/ecommpay/{project_id}/operations.csv`: the project's finished operations (sales
/// and refunds) as ecommpay's operations export, in the columns the orchestrator's shipped
/// mapping assumes (issue 20): finance's settlement import is tested against it.
async fn operations_csv(State(shared): State<Arc<Shared>>, Path(project_id): Path<u64>) -> Response {
    use super::ecommpay::payment::{RefundStatus, SaleStatus};
    let mut writer = csv::Writer::from_writer(Vec::new());
    let header = crate::settlement::Mapping::ecommpay_operations().header;
    let mut lines: Vec<[String; 7]> = Vec::new();
    {
        let store = shared.store.lock().await;
        for payment in store.ecommpay.values().filter(|p| p.project_id == project_id) {
            let status = match payment.status {
                SaleStatus::Success => "success",
                SaleStatus::Decline => "decline",
                SaleStatus::Error => "error",
                SaleStatus::AwaitingRedirect => continue,
            };
            let at = payment.finished.unwrap_or(payment.created);
            lines.push(operation(
                at,
                &payment.payment_id,
                "sale",
                status,
                payment.amount,
                &payment.currency,
                "",
            ));
            for refund in &payment.refunds {
                let status = match refund.status {
                    RefundStatus::Success => "success",
                    RefundStatus::Decline => "decline",
                    RefundStatus::Error => "error",
                    RefundStatus::Processing => continue,
                };
                let at = refund.finished.unwrap_or(refund.created);
                lines.push(operation(
                    at,
                    &payment.payment_id,
                    "refund",
                    status,
                    refund.amount,
                    &payment.currency,
                    &refund.request_id,
                ));
            }
        }
    }
    lines.sort();
    let written = writer
        .write_record(&header)
        .and_then(|()| lines.iter().try_for_each(|line| writer.write_record(line)));
    match (written, writer.into_inner()) {
        (Ok(()), Ok(bytes)) => ([(axum::http::header::CONTENT_TYPE, "text/csv")], bytes).into_response(),
        _ => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// One line of the operations export: date, payment id, type, status, amount in major units,
/// currency, the operation's request id.
fn operation(
    at: chrono::DateTime<chrono::Utc>,
    payment_id: &str,
    kind: &str,
    status: &str,
    amount: i64,
    currency: &str,
    request_id: &str,
) -> [String; 7] {
    [
        at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        payment_id.to_owned(),
        kind.to_owned(),
        status.to_owned(),
        format!("{}.{:02}", amount / 100, amount % 100),
        currency.to_owned(),
        request_id.to_owned(),
    ]
}

/// Forgets every payment, order, ledger entry and request log (runtime fault, outage and
/// auto-customer settings stay).
async fn reset(State(shared): State<Arc<Shared>>) -> StatusCode {
    let mut store = shared.store.lock().await;
    store.ecommpay.clear();
    store.ec_refund_ids.clear();
    store.thresholds.clear();
    store.aps.clear();
    store.sms.clear();
    store.one_shot_used.clear();
    store.ledger = Ledger::new(shared.config.ledger_capacity);
    store.requests.clear_logs();
    StatusCode::NO_CONTENT
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
