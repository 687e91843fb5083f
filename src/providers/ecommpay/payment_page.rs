//! The signed Payment Page URL (`../shared/spec/providers.md` §1.1, §1.4 "Payment Page", §1.6;
//! contract §2 `flow = "payment_page"`).
//!
//! The page takes flat query parameters. A nested value (such as `interface_type`) goes as its
//! JSON text, and is signed as that string. The signature covers the parameters exactly as they
//! appear in the query (booleans as `1`/`0`), and is appended last, URL-encoded.
//! Nothing exists at ecommpay until the customer opens the page.

use serde_json::{json, Map, Value};
use url::Url;

use super::account::EcommpayAccount;
use super::signature::sign;
use secrecy::SecretString;

/// Shows the page with humm already chosen (woo `EcpHumm.php`).
pub const FORCE_PAYMENT_METHOD: &str = "bnpl-humm";

/// A humm purchase on the Payment Page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentPageRequest {
    /// Our payment id (`payment_id`).
    pub payment_id: String,
    /// Minor units (`payment_amount`).
    pub amount_minor: i64,
    /// `payment_currency`.
    pub currency: String,
    /// `customer_id`.
    pub customer_id: String,
    /// `customer_first_name` (humm requires it).
    pub first_name: String,
    /// `customer_last_name` (humm requires it).
    pub last_name: String,
    /// `payment_description`.
    pub description: Option<String>,
    /// Where the page sends the customer back: `redirect_success_url` and `redirect_fail_url`.
    pub return_url: Option<Url>,
}

/// The signed page URL for a humm purchase.
pub fn payment_page_url(account: &EcommpayAccount, request: &PaymentPageRequest) -> Url {
    let mut params = Map::new();
    params.insert("project_id".into(), json!(account.project_id));
    params.insert("payment_id".into(), json!(request.payment_id));
    params.insert("payment_amount".into(), json!(request.amount_minor));
    params.insert("payment_currency".into(), json!(request.currency));
    params.insert("customer_id".into(), json!(request.customer_id));
    params.insert("customer_first_name".into(), json!(request.first_name));
    params.insert("customer_last_name".into(), json!(request.last_name));
    params.insert("force_payment_method".into(), json!(FORCE_PAYMENT_METHOD));
    if let Some(description) = &request.description {
        params.insert("payment_description".into(), json!(description));
    }
    if let Some(url) = &account.merchant_callback_url {
        params.insert("merchant_callback_url".into(), json!(url.as_str()));
    }
    if let Some(url) = &request.return_url {
        params.insert("redirect_success_url".into(), json!(url.as_str()));
        params.insert("redirect_fail_url".into(), json!(url.as_str()));
    }
    signed_url(&account.payment_page_url, &params, &account.secret_key.current())
}

/// Appends `params` and their signature to `base`. Objects and arrays are sent (and signed) as
/// their JSON text; a `signature` entry in `params` is ignored.
pub fn signed_url(base: &Url, params: &Map<String, Value>, secret: &SecretString) -> Url {
    let flat: Map<String, Value> = params
        .iter()
        .filter(|(name, _)| name.as_str() != "signature")
        .map(|(name, value)| {
            let value = match value {
                Value::Object(_) | Value::Array(_) => Value::String(value.to_string()),
                other => other.clone(),
            };
            (name.clone(), value)
        })
        .collect();
    let signature = sign(&Value::Object(flat.clone()), secret);
    let mut url = base.clone();
    {
        let mut query = url.query_pairs_mut();
        for (name, value) in &flat {
            query.append_pair(name, &query_text(value));
        }
        query.append_pair("signature", &signature);
    }
    url
}

/// The text a value has in the query, matching how it was signed (§1.4 step 4).
fn query_text(value: &Value) -> String {
    match value {
        Value::Bool(true) => "1".to_owned(),
        Value::Bool(false) => "0".to_owned(),
        Value::Null => String::new(),
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
#[path = "payment_page_tests.rs"]
mod tests;
