//! Synchronous APS answers, by `response_code` (`../shared/spec/providers.md` §2.2, §2.3, §2.5).
//!
//! Every answer is checked against what we sent: `merchant_reference` always, `amount` and
//! `currency` where the call carries them. A success whose echo differs, or lacks a field we
//! expect, is a mismatch. CHECK_STATUS's own `12000` only says the *query* worked; the order's
//! state comes from `transaction_status` / `transaction_code`.
//!
//! Answers are not signature-checked: they arrive on the TLS connection we opened, no plugin
//! checks them, and how APS signs nested valU fields is unknown (§2.4 step 6). Notifications,
//! which anyone could POST, are always checked ([`super::notification`]).

use serde_json::{Map, Value};

use super::codes::{code_class, transaction_class, Command, ResponseCode};
use super::plans::{plans_of, tenures_of, Plan};
use crate::providers::fields::{minor, text};
use crate::providers::outcome::{CodeClass, CreateOutcome, Expected, PaymentState, ProviderStatus, StatusOutcome};
use crate::providers::{RawResponse, RefundAck};

/// What an accepted OTP_GENERATE returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtpGenerated {
    /// `transaction_id`, when the answer has one (2020 docs).
    pub transaction_id: Option<String>,
    /// `merchant_order_id` as echoed.
    pub merchant_order_id: Option<String>,
    /// `otp_status`.
    pub otp_status: Option<String>,
    /// `installment_detail.plan_details[]`.
    pub plans: Vec<Plan>,
    /// `tenure` (`"6-9-12-15-18"`) as months.
    pub tenures: Vec<u32>,
}

impl OtpGenerated {
    /// The value PURCHASE sends as `transaction_id`: the answer's `transaction_id` when present,
    /// otherwise its `merchant_order_id`, which is what both APS plugins store (§2.2: UNCERTAIN).
    pub fn purchase_transaction_id(&self) -> Option<&str> {
        self.transaction_id.as_deref().or(self.merchant_order_id.as_deref())
    }
}

/// What an accepted PURCHASE returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Purchased {
    /// APS's id of the order.
    pub fort_id: Option<String>,
    /// valU's transaction id.
    pub valu_transaction_id: Option<String>,
    /// valU's loan number.
    pub loan_number: Option<String>,
}

/// CUSTOMER_VERIFY: success means the phone belongs to a valU customer.
pub fn parse_customer_verify(raw: &RawResponse, merchant_reference: &str) -> CreateOutcome<()> {
    create(
        raw,
        &Command::CustomerVerify,
        &Expected::reference(merchant_reference),
        |_| (),
    )
}

/// OTP_GENERATE: the OTP was sent; the plans to offer.
pub fn parse_otp_generate(raw: &RawResponse, expected: &Expected) -> CreateOutcome<OtpGenerated> {
    create(raw, &Command::OtpGenerate, expected, |p| OtpGenerated {
        transaction_id: field(p, "transaction_id"),
        merchant_order_id: field(p, "merchant_order_id"),
        otp_status: field(p, "otp_status"),
        plans: p.get("installment_detail").map(plans_of).unwrap_or_default(),
        tenures: field(p, "tenure").map(|t| tenures_of(&t)).unwrap_or_default(),
    })
}

/// OTP_VERIFY: the code was right (a wrong one is `Terminal` with status 93).
pub fn parse_otp_verify(raw: &RawResponse, expected: &Expected) -> CreateOutcome<()> {
    create(raw, &Command::OtpVerify, expected, |_| ())
}

/// PURCHASE: `14000` is paid; 15/19/20/777 are uncertain (query CHECK_STATUS, never resend).
pub fn parse_purchase(raw: &RawResponse, expected: &Expected) -> CreateOutcome<Purchased> {
    create(raw, &Command::Purchase, expected, |p| Purchased {
        fort_id: field(p, "fort_id"),
        valu_transaction_id: field(p, "valu_transaction_id"),
        loan_number: field(p, "loan_number"),
    })
}

/// REFUND: `06000` means the refund is done; `expected` carries the *refund* amount.
pub fn parse_refund(raw: &RawResponse, expected: &Expected) -> CreateOutcome<RefundAck> {
    create(raw, &Command::Refund, expected, |p| RefundAck::Completed {
        provider_reference: field(p, "fort_id"),
    })
}

/// CHECK_STATUS, decided by the transaction it reports.
pub fn parse_check_status(raw: &RawResponse, expected: &Expected) -> StatusOutcome {
    if raw.is_server_error() {
        return StatusOutcome::Retryable {
            reason: format!("HTTP {}", raw.status),
        };
    }
    let Some(params) = object(raw) else {
        return StatusOutcome::Retryable {
            reason: format!("unreadable body (HTTP {})", raw.status),
        };
    };
    let Some(code) = response_code(&params) else {
        return StatusOutcome::Retryable {
            reason: "no response_code".into(),
        };
    };
    match code_class(&Command::CheckStatus, &code) {
        CodeClass::Success => {}
        CodeClass::NotFound => return StatusOutcome::NotFound,
        _ => {
            return StatusOutcome::Retryable {
                reason: format!("CHECK_STATUS answered {}", code.code()),
            }
        }
    }
    let transaction_code = field(&params, "transaction_code");
    let parsed = transaction_code.as_deref().and_then(ResponseCode::parse);
    let status_word = field(&params, "transaction_status").unwrap_or_default();
    let class = transaction_class(&status_word, parsed.as_ref());
    let state = PaymentState::from_class(
        class,
        &status_word,
        transaction_code.as_deref().unwrap_or(&status_word),
        &field(&params, "transaction_message").unwrap_or_default(),
    );
    let reference = field(&params, "merchant_reference");
    let amount = params.get("amount").and_then(minor);
    let currency = field(&params, "currency");
    let checked = expected.check(reference.as_deref(), amount, currency.as_deref(), false);
    if let Err(reason) = checked {
        return StatusOutcome::Mismatch { reason };
    }
    if state == PaymentState::Succeeded && reference.is_none() {
        return StatusOutcome::Mismatch {
            reason: "paid, but merchant_reference missing".into(),
        };
    }
    StatusOutcome::Known(ProviderStatus {
        state,
        refunded_minor: params.get("refunded_amount").and_then(minor),
        provider_reference: field(&params, "fort_id"),
        // CHECK_STATUS reports refunded totals, not refund operations.
        declined_refunds: Vec::new(),
        refunds_in_progress: Vec::new(),
    })
}

/// Shared path of every create call: transport class, code class, then the echo check.
fn create<T>(
    raw: &RawResponse,
    command: &Command,
    expected: &Expected,
    accepted: impl FnOnce(&Map<String, Value>) -> T,
) -> CreateOutcome<T> {
    if raw.is_server_error() {
        return CreateOutcome::Uncertain {
            reason: format!("HTTP {}", raw.status),
        };
    }
    let Some(params) = object(raw) else {
        // Without an APS answer only the HTTP status speaks. A timeout (408) may come after the
        // call was taken, and a throttle (429) says "later", not "no": neither is a decline
        // (design §1), as for ecommpay.
        return match raw.status {
            200..=299 | 408 => CreateOutcome::Uncertain {
                reason: format!("HTTP {} without an APS answer", raw.status),
            },
            429 => CreateOutcome::RetryLater {
                code: "http_429".into(),
                message: "Too Many Requests".into(),
            },
            status => CreateOutcome::Terminal {
                code: format!("http_{status}"),
                message: "rejected".into(),
            },
        };
    };
    let Some(code) = response_code(&params) else {
        return CreateOutcome::Uncertain {
            reason: "no usable response_code".into(),
        };
    };
    let class = code_class(command, &code);
    let strict = class == CodeClass::Success;
    let checked = expected.check(
        field(&params, "merchant_reference").as_deref(),
        params.get("amount").and_then(minor),
        field(&params, "currency").as_deref(),
        strict,
    );
    if let Err(reason) = checked {
        return CreateOutcome::Mismatch { reason };
    }
    let message = field(&params, "response_message").unwrap_or_default();
    CreateOutcome::from_class(class, &code.code(), &message, || {
        CreateOutcome::Accepted(accepted(&params))
    })
}

/// The body as a parameter map (JSON object); `None` when it is not one.
/// Whether an answer is the provider failing rather than the request (issue 19: what the circuit
/// breaker counts): a 5xx, or a refused signature (`xx008`).
pub fn is_provider_failure(raw: &RawResponse) -> bool {
    raw.is_server_error()
        || object(raw)
            .and_then(|params| response_code(&params))
            .is_some_and(|code| code.message == "008")
}

fn object(raw: &RawResponse) -> Option<Map<String, Value>> {
    match serde_json::from_slice::<Value>(&raw.body).ok()? {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

pub(crate) fn response_code(params: &Map<String, Value>) -> Option<ResponseCode> {
    ResponseCode::parse(&field(params, "response_code")?)
}

/// A parameter as text; one holding a NUL reads as absent (no APS value has one, and PostgreSQL
/// refuses it in text and `jsonb`: kept, it would fail the write on every retry).
pub(crate) fn field(params: &Map<String, Value>, name: &str) -> Option<String> {
    params.get(name).and_then(text).filter(|value| !value.contains('\0'))
}

#[cfg(test)]
#[path = "response_tests.rs"]
mod tests;

/// The merchant an answer names, when it names another than ours (`merchant_identifier`,
/// `access_code`): an answer about another account's order must not settle ours (contract §7).
pub fn foreign_merchant(raw: &RawResponse, merchant_identifier: &str, access_code: &str) -> Option<String> {
    let params = object(raw)?;
    [
        ("merchant_identifier", merchant_identifier),
        ("access_code", access_code),
    ]
    .into_iter()
    .find_map(|(name, ours)| {
        field(&params, name)
            .filter(|named| named != ours)
            .map(|named| format!("the answer is for {name} {named:?}, not ours"))
    })
}
