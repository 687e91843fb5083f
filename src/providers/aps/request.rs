//! Signed APS request parameters for the four valU steps, REFUND and CHECK_STATUS
//! (`../shared/spec/providers.md` §2.2).
//!
//! Invariants: every value is sent as a string (as the APS docs do; the signature uses the text
//! form either way); optional parameters we do not have are left out, never sent empty (§2.4
//! step 7); `products` keeps its keys in the order sent, because APS signs them in that order.
//! Note the spelling: `total_downpayment` in the OTP steps, `total_down_payment` in PURCHASE.

use serde_json::{json, Map, Value};

use super::account::ApsAccount;
use super::signature::sign_request;
use crate::providers::{ProviderRequest, RefundRequest};

/// One product line for OTP_GENERATE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Product {
    /// `product_name`.
    pub name: String,
    /// `product_price`, minor units.
    pub price_minor: i64,
    /// `product_category`.
    pub category: String,
}

/// Step 2: OTP_GENERATE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtpGenerate {
    /// Our payment id (`merchant_reference`).
    pub merchant_reference: String,
    /// The customer's valU phone number.
    pub phone_number: String,
    /// `merchant_order_id`.
    pub merchant_order_id: String,
    /// Minor units.
    pub amount_minor: i64,
    /// `EGP`.
    pub currency: String,
    /// `total_downpayment`, minor units (0 when none).
    pub down_payment_minor: i64,
    /// At least one product.
    pub products: Vec<Product>,
}

/// Step 3: OTP_VERIFY.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtpVerify {
    pub merchant_reference: String,
    pub phone_number: String,
    pub merchant_order_id: String,
    pub amount_minor: i64,
    pub currency: String,
    pub down_payment_minor: i64,
    /// The code the customer typed.
    pub otp: String,
}

/// Step 4: PURCHASE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Purchase {
    pub merchant_reference: String,
    pub phone_number: String,
    pub merchant_order_id: String,
    pub amount_minor: i64,
    pub currency: String,
    pub down_payment_minor: i64,
    pub otp: String,
    /// The plan the customer chose, in months.
    pub tenure_months: u32,
    pub customer_email: String,
    pub purchase_description: String,
    /// From the OTP_GENERATE answer (see `OtpGenerated::purchase_transaction_id`).
    pub transaction_id: String,
}

/// Step 1: `service_command=CUSTOMER_VERIFY` (not VERIFY_CUSTOMER).
pub fn customer_verify(account: &ApsAccount, merchant_reference: &str, phone: &str) -> ProviderRequest {
    let mut p = common(account, merchant_reference);
    p.insert("service_command".into(), json!("CUSTOMER_VERIFY"));
    valu(&mut p, phone);
    finish(account, p)
}

/// Step 2: `service_command=OTP_GENERATE`, with the installment plans requested.
pub fn otp_generate(account: &ApsAccount, step: &OtpGenerate) -> ProviderRequest {
    let mut p = common(account, &step.merchant_reference);
    p.insert("service_command".into(), json!("OTP_GENERATE"));
    valu(&mut p, &step.phone_number);
    p.insert("merchant_order_id".into(), json!(step.merchant_order_id));
    money(&mut p, step.amount_minor, &step.currency);
    p.insert("include_installments".into(), json!("YES"));
    p.insert("total_downpayment".into(), json!(step.down_payment_minor.to_string()));
    let products: Vec<Value> = step
        .products
        .iter()
        .map(|product| {
            // Key order matters: APS signs `[{product_name=…, product_price=…, product_category=…}]`.
            let mut item = Map::new();
            item.insert("product_name".into(), json!(product.name));
            item.insert("product_price".into(), json!(product.price_minor.to_string()));
            item.insert("product_category".into(), json!(product.category));
            Value::Object(item)
        })
        .collect();
    p.insert("products".into(), Value::Array(products));
    finish(account, p)
}

/// Step 3: `service_command=OTP_VERIFY`.
pub fn otp_verify(account: &ApsAccount, step: &OtpVerify) -> ProviderRequest {
    let mut p = common(account, &step.merchant_reference);
    p.insert("service_command".into(), json!("OTP_VERIFY"));
    valu(&mut p, &step.phone_number);
    p.insert("merchant_order_id".into(), json!(step.merchant_order_id));
    money(&mut p, step.amount_minor, &step.currency);
    p.insert("otp".into(), json!(step.otp));
    p.insert("total_downpayment".into(), json!(step.down_payment_minor.to_string()));
    finish(account, p)
}

/// Step 4: `command=PURCHASE`; `customer_code` is the phone number (§2.2).
pub fn purchase(account: &ApsAccount, step: &Purchase) -> ProviderRequest {
    let mut p = common(account, &step.merchant_reference);
    p.insert("command".into(), json!("PURCHASE"));
    valu(&mut p, &step.phone_number);
    p.insert("merchant_order_id".into(), json!(step.merchant_order_id));
    money(&mut p, step.amount_minor, &step.currency);
    p.insert("otp".into(), json!(step.otp));
    p.insert("tenure".into(), json!(step.tenure_months.to_string()));
    p.insert("total_down_payment".into(), json!(step.down_payment_minor.to_string()));
    p.insert("customer_code".into(), json!(step.phone_number));
    // The contract makes these optional (a valU purchase needs only a phone and items), and
    // APS is sent no empty optional parameter (§2.4.7).
    for (name, value) in [
        ("customer_email", &step.customer_email),
        ("purchase_description", &step.purchase_description),
        ("transaction_id", &step.transaction_id),
    ] {
        if !value.is_empty() {
            p.insert(name.into(), json!(value));
        }
    }
    finish(account, p)
}

/// `command=REFUND` on the payment's `merchant_reference`; `maintenance_reference` is our refund
/// id, which also makes a retry of a declined refund safe (§2.2, §2.5).
pub fn refund(account: &ApsAccount, refund: &RefundRequest) -> ProviderRequest {
    let mut p = common(account, &refund.payment_id);
    p.insert("command".into(), json!("REFUND"));
    money(&mut p, refund.amount_minor, &refund.currency);
    if let Some(fort_id) = &refund.provider_reference {
        p.insert("fort_id".into(), json!(fort_id));
    }
    p.insert("maintenance_reference".into(), json!(refund.refund_id));
    if let Some(description) = &refund.description {
        // APS caps `order_description` at 150 characters.
        let short: String = description.chars().take(150).collect();
        p.insert("order_description".into(), json!(short));
    }
    finish(account, p)
}

/// `query_command=CHECK_STATUS` by `merchant_reference`.
pub fn check_status(account: &ApsAccount, merchant_reference: &str) -> ProviderRequest {
    let mut p = common(account, merchant_reference);
    p.insert("query_command".into(), json!("CHECK_STATUS"));
    finish(account, p)
}

fn common(account: &ApsAccount, merchant_reference: &str) -> Map<String, Value> {
    let mut p = Map::new();
    p.insert("access_code".into(), json!(account.access_code));
    p.insert("merchant_identifier".into(), json!(account.merchant_identifier));
    p.insert("merchant_reference".into(), json!(merchant_reference));
    p.insert("language".into(), json!(account.language));
    p
}

fn valu(p: &mut Map<String, Value>, phone: &str) {
    p.insert("payment_option".into(), json!("VALU"));
    p.insert("phone_number".into(), json!(phone));
}

fn money(p: &mut Map<String, Value>, amount_minor: i64, currency: &str) {
    p.insert("amount".into(), json!(amount_minor.to_string()));
    p.insert("currency".into(), json!(currency));
}

fn finish(account: &ApsAccount, mut params: Map<String, Value>) -> ProviderRequest {
    let signature = sign_request(&params, &account.request_phrase.current(), account.sha_type);
    params.insert("signature".into(), json!(signature));
    ProviderRequest {
        url: account.base_url.clone(),
        body: Value::Object(params),
    }
}

#[cfg(test)]
#[path = "request_tests.rs"]
mod tests;
