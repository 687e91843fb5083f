//! Signed Gate request bodies: humm sale, refund and status (`../shared/spec/providers.md` §1.2).
//!
//! Invariants: amounts and `project_id` are JSON integers (minor units); the signature is computed
//! over the finished body and stored in `general.signature`; optional fields we do not have are
//! left out rather than sent empty, because every field sent is also signed.

use serde_json::{json, Map, Value};
use url::Url;

use super::account::{EcommpayAccount, SALE_PATH, STATUS_PATH};
use super::signature::sign_in_place;
use crate::providers::{BuildError, ProviderRequest, RefundRequest};

/// The customer block humm requires (§1.2; contract §2 validation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Customer {
    /// Merchant's customer id.
    pub id: String,
    /// The customer's IP address for this payment.
    pub ip_address: String,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
}

/// A humm sale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaleRequest {
    /// Our payment id, unique in the project (`general.payment_id`).
    pub payment_id: String,
    /// Minor units.
    pub amount_minor: i64,
    /// Always `GBP` for humm; validated upstream.
    pub currency: String,
    /// The customer.
    pub customer: Customer,
    /// `payment.description`, when the order has one.
    pub description: Option<String>,
    /// The customer's way back to the shop. Sent as `return_url.{default,success,decline}`, all the
    /// same URL: the shop learns the result from our events, not from which URL was hit.
    pub return_url: Option<Url>,
}

/// `POST /v2/payment/bnpl/humm/sale`.
pub fn sale(account: &EcommpayAccount, sale: &SaleRequest) -> Result<ProviderRequest, BuildError> {
    let mut payment = Map::new();
    payment.insert("amount".into(), json!(sale.amount_minor));
    payment.insert("currency".into(), json!(sale.currency));
    if let Some(description) = &sale.description {
        payment.insert("description".into(), json!(description));
    }
    let mut body = Map::new();
    body.insert("general".into(), general(account, &sale.payment_id));
    body.insert("payment".into(), Value::Object(payment));
    body.insert(
        "customer".into(),
        json!({
            "id": sale.customer.id,
            "ip_address": sale.customer.ip_address,
            "first_name": sale.customer.first_name,
            "last_name": sale.customer.last_name,
        }),
    );
    if let Some(url) = &sale.return_url {
        body.insert(
            "return_url".into(),
            json!({"default": url.as_str(), "success": url.as_str(), "decline": url.as_str()}),
        );
    }
    finish(account, SALE_PATH, body)
}

/// `POST <account.refund_path>`; `merchant_refund_id` is always our refund id (§1.6).
pub fn refund(account: &EcommpayAccount, refund: &RefundRequest) -> Result<ProviderRequest, BuildError> {
    let description = refund
        .description
        .clone()
        .unwrap_or_else(|| format!("Refund {}", refund.refund_id));
    let body = json!({
        "general": general(account, &refund.payment_id),
        "payment": {
            "amount": refund.amount_minor,
            "currency": refund.currency,
            "description": description,
            "merchant_refund_id": refund.refund_id,
        },
    });
    finish_value(account, &account.refund_path, body)
}

/// `POST /v2/payment/status` by our payment id (§1.1); no callback URL, it is a read.
pub fn status(account: &EcommpayAccount, payment_id: &str) -> Result<ProviderRequest, BuildError> {
    let body = json!({"general": {"project_id": account.project_id, "payment_id": payment_id}});
    finish_value(account, STATUS_PATH, body)
}

fn general(account: &EcommpayAccount, payment_id: &str) -> Value {
    let mut general = Map::new();
    general.insert("project_id".into(), json!(account.project_id));
    general.insert("payment_id".into(), json!(payment_id));
    if let Some(url) = &account.merchant_callback_url {
        general.insert("merchant_callback_url".into(), json!(url.as_str()));
    }
    Value::Object(general)
}

fn finish(account: &EcommpayAccount, path: &str, body: Map<String, Value>) -> Result<ProviderRequest, BuildError> {
    finish_value(account, path, Value::Object(body))
}

fn finish_value(account: &EcommpayAccount, path: &str, mut body: Value) -> Result<ProviderRequest, BuildError> {
    sign_in_place(&mut body, &account.secret_key.current());
    Ok(ProviderRequest {
        url: account.gate_url(path)?,
        body,
    })
}

#[cfg(test)]
#[path = "request_tests.rs"]
mod tests;
