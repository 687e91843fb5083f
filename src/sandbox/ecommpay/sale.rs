//! `POST /v2/payment/bnpl/humm/sale`, and the registration it shares with the Payment Page.
//!
//! humm rules (vendor-docs/ecommpay-humm-bnpl.txt, providers.md §1.6): GBP only, 1.00–30,000.00
//! (configurable), `customer.id`, `ip_address`, `first_name`, `last_name` required; `payment_id`
//! unique within the project (3041). A 200 only means "registered": the result comes by callback.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use chrono::Utc;

use super::flow;
use super::payment::{EcPayment, SaleStatus};
use super::reply::{bad_gateway, integer, invalid, missing, parse_signed, registered, text, GateError};
use crate::sandbox::faults::Fault;
use crate::sandbox::ledger::SaleEntry;
use crate::sandbox::respond::after_register;
use crate::sandbox::state::{EcKey, Shared};

/// What a new payment is made of, from a Gate sale or a Payment Page.
pub(crate) struct NewPayment {
    pub project_id: u64,
    pub payment_id: String,
    pub amount: i64,
    pub currency: String,
    pub description: String,
    pub customer_id: String,
    pub first_name: String,
    pub callback_url: Option<String>,
    pub page_query: Option<String>,
}

/// Checks the humm amount rules.
pub(crate) fn check_limits(shared: &Shared, amount: i64, currency: &str) -> Result<(), GateError> {
    if currency != "GBP" {
        return Err(invalid("payment.currency", "Currency not supported by the method"));
    }
    let humm = &shared.config.humm;
    if amount < humm.min_amount || amount > humm.max_amount {
        return Err(invalid("payment.amount", "Amount out of the method's limits"));
    }
    Ok(())
}

/// Registers a payment and starts its redirect flow; returns the sale's `request_id`.
pub(crate) async fn register(shared: &Arc<Shared>, new: NewPayment) -> Result<String, GateError> {
    let faults = shared.record_faults(&[&new.payment_id, &new.first_name]).await;
    let key: EcKey = (new.project_id, new.payment_id.clone());
    let request_id = request_id(shared);
    let now = Utc::now();
    {
        let mut store = shared.store.lock().await;
        store.ledger.sale_requested(&new.payment_id);
        if store.ecommpay.contains_key(&key) {
            return Err(GateError::new("3041", "Payment ID already exists").field("general.payment_id"));
        }
        if !shared.has_room(&store) {
            store.ledger.capacity_rejected();
            return Err(GateError::new("314", "Provider not available, retry later"));
        }
        let payment = EcPayment {
            project_id: new.project_id,
            payment_id: new.payment_id.clone(),
            amount: new.amount,
            currency: new.currency.clone(),
            description: new.description,
            customer_id: new.customer_id,
            callback_url: new.callback_url,
            created: now,
            request_id: request_id.clone(),
            operation_id: 29_741_010_000_000 + shared.next_number(),
            provider_payment_id: provider_payment_id(),
            status: SaleStatus::AwaitingRedirect,
            code: "0",
            message: "Awaiting redirect result",
            finished: None,
            abandoned: false,
            faults,
            page_query: new.page_query,
            refunds: Vec::new(),
        };
        store.ecommpay.insert(key.clone(), payment);
        let deadline = tokio::time::Instant::now() + shared.config.scaled(shared.config.humm.threshold_secs);
        store.thresholds.push_back((deadline, key.clone()));
        store.ledger.sale_accepted(SaleEntry {
            provider: "ecommpay",
            account: format!("ecommpay:{}", new.project_id),
            payment_id: new.payment_id,
            amount: new.amount,
            currency: new.currency,
            at: now,
        });
    }
    shared.threshold_added.notify_one();
    flow::start(shared, key);
    Ok(request_id)
}

/// The Gate sale handler.
pub(crate) async fn sale(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let request = match parse_signed(&shared.config, &body) {
        Ok(request) => request,
        Err(error) => return error.into_response(),
    };
    let first_name = text(&request.body, "/customer/first_name").unwrap_or("");
    let op_key = format!("sale:{}:{}", request.project_id, request.payment_id);
    let faults = shared.request_faults(&op_key, &[&request.payment_id, first_name]).await;
    if shared.applies(faults, Fault::ServerError) {
        return bad_gateway();
    }
    let new = match new_payment(&shared, &request.body, request.project_id, &request.payment_id) {
        Ok(new) => new,
        Err(error) => return error.about(&request).into_response(),
    };
    match register(&shared, new).await {
        Ok(request_id) => after_register(&shared, faults, registered(&request, &request_id)).await,
        Err(error) => error.about(&request).into_response(),
    }
}

fn new_payment(
    shared: &Shared,
    body: &serde_json::Value,
    project_id: u64,
    payment_id: &str,
) -> Result<NewPayment, GateError> {
    let amount = body
        .pointer("/payment/amount")
        .and_then(integer)
        .ok_or_else(|| missing("payment.amount"))?;
    let currency = text(body, "/payment/currency").ok_or_else(|| missing("payment.currency"))?;
    for (pointer, field) in [
        ("/customer/id", "customer.id"),
        ("/customer/ip_address", "customer.ip_address"),
        ("/customer/first_name", "customer.first_name"),
        ("/customer/last_name", "customer.last_name"),
    ] {
        text(body, pointer).ok_or_else(|| missing(field))?;
    }
    check_limits(shared, amount, currency)?;
    let callback_url = text(body, "/general/merchant_callback_url")
        .map(str::to_owned)
        .or_else(|| shared.config.project(project_id).and_then(|p| p.callback_url.clone()));
    Ok(NewPayment {
        project_id,
        payment_id: payment_id.to_owned(),
        amount,
        currency: currency.to_owned(),
        description: text(body, "/payment/description").unwrap_or("").to_owned(),
        customer_id: text(body, "/customer/id").unwrap_or("").to_owned(),
        first_name: text(body, "/customer/first_name").unwrap_or("").to_owned(),
        callback_url,
        page_query: None,
    })
}

/// ecommpay-style request id: hex, dash, an 8-digit counter.
pub(crate) fn request_id(shared: &Shared) -> String {
    let hex = uuid::Uuid::new_v4().simple().to_string();
    format!("{}-{:08}", &hex[..30], shared.next_number())
}

/// humm's own reference for the payment (16 letters and digits, like the vendor samples).
fn provider_payment_id() -> String {
    use rand::distributions::Alphanumeric;
    use rand::Rng;
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(16)
        .map(char::from)
        .collect()
}
