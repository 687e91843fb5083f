//! ecommpay callbacks: verify, parse, dispatch on `operation.type`, and check against what we sent
//! (`../shared/spec/providers.md` §1.3, §1.6 "Matching refund results"; design §1 "Callbacks are
//! hints").
//!
//! Invariants:
//! - nothing is parsed before the signature verifies ([`verify_and_parse`]);
//! - an intermediate callback carries `redirect_data` and may repeat; it never settles anything;
//! - dispatch is on `operation.type`, never on `payment.status` alone (a refund callback carries
//!   the *payment's* id and a `refunded` payment status);
//! - a success is reported only when the operation succeeded with code `0` and its figures match
//!   ours; everything else is a decline, a pending state or a mismatch.

use crate::providers::keys::{KeyRing, Verified};
use serde_json::Value;

use super::codes::{OperationStatus, OperationType, PaymentStatus};
use super::signature;
use crate::domain::{limits, PaymentId};
use crate::providers::fields::{at, minor_at, provider_id, provider_message, storable_json, text_at};
use crate::providers::outcome::{Expected, PaymentState, RefundMatch, StateClass};
use crate::providers::CallbackError;
use secrecy::SecretString;

/// A verified ecommpay callback.
#[derive(Debug, Clone, PartialEq)]
pub struct Callback {
    /// `payment.id`: our payment id (for a refund too).
    pub payment_id: String,
    /// `payment.status`.
    pub payment_status: PaymentStatus,
    /// `payment.sum` (after refunds this is what remains, so never used to check a refund).
    pub payment_sum: Option<Sum>,
    /// The `operation` block, when present.
    pub operation: Option<Operation>,
    /// `redirect_data`, present on intermediate callbacks.
    pub redirect: Option<RedirectData>,
    /// The whole body, for storage (contract: raw callbacks are kept).
    pub raw: Value,
}

/// An amount as ecommpay reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sum {
    /// Minor units.
    pub amount_minor: i64,
    /// ISO 4217 code.
    pub currency: String,
}

/// The `operation` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    /// `operation.id` as its raw JSON text (up to 16 digits).
    pub id: Option<String>,
    /// `operation.type`.
    pub kind: OperationType,
    /// `operation.status`.
    pub status: OperationStatus,
    /// `operation.request_id`: matches the `request_id` of the synchronous answer.
    pub request_id: Option<String>,
    /// `operation.sum_initial`: the amount of *this operation* as requested.
    pub sum_initial: Option<Sum>,
    /// `operation.code` (`"0"` = success).
    pub code: String,
    /// `operation.message`.
    pub message: String,
    /// `operation.provider.payment_id`: humm's own id.
    pub provider_payment_id: Option<String>,
}

/// Where to send the customer (`redirect_data`).
#[derive(Debug, Clone, PartialEq)]
pub struct RedirectData {
    /// `GET` or `POST`.
    pub method: String,
    /// Target URL.
    pub url: String,
    /// Fields to send (an object, possibly empty).
    pub body: Value,
}

/// What a callback is about.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CallbackEvent<'a> {
    /// Intermediate: send the customer to humm (may repeat).
    Redirect(&'a RedirectData),
    /// The sale's result (or an update on it).
    Sale(&'a Operation),
    /// A refund's result, under the payment's id.
    Refund(&'a Operation),
    /// Any other operation, or none: not something we sent, so query status instead (design §1).
    Unexpected,
}

/// What we know about the refund in flight, to match a refund callback against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedRefund {
    /// The payment the refund belongs to.
    pub payment_id: String,
    /// The refund amount, minor units.
    pub amount_minor: i64,
    /// ISO 4217 code.
    pub currency: String,
    /// `request_id` from the refund's synchronous answer, when we got one.
    pub request_id: Option<String>,
}

/// Verifies the signature of a raw body with one secret, then parses it.
pub fn verify_and_parse(body: &[u8], secret: &SecretString) -> Result<Callback, CallbackError> {
    let (callback, _) = verify_with_keys(body, &KeyRing::from(secret.clone()), chrono::Utc::now())?;
    Ok(callback)
}

/// Verifies the signature of a raw body with the project's current secret, or its previous one
/// until that expires at `now` (a rotation), then parses it; says which secret verified.
pub fn verify_with_keys(
    body: &[u8],
    keys: &KeyRing,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(Callback, Verified), CallbackError> {
    verify_decoded(decode(body)?, keys, now)
}

/// A body as its JSON object, unverified: what may be read of it before its signature is checked
/// is only which project claims to have signed it (to pick the key).
pub fn decode(body: &[u8]) -> Result<Value, CallbackError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| CallbackError::Malformed(format!("not JSON: {e}")))?;
    if !value.is_object() {
        return Err(CallbackError::Malformed("not a JSON object".into()));
    }
    Ok(value)
}

/// [`verify_with_keys`] for a body already [`decode`]d, so it is parsed once.
pub fn verify_decoded(
    value: Value,
    keys: &KeyRing,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(Callback, Verified), CallbackError> {
    let verified = keys
        .verify(now, |secret| signature::verify(&value, secret))
        .ok_or(CallbackError::BadSignature)?;
    Ok((Callback::from_verified(value)?, verified))
}

impl Callback {
    /// Parses a body whose signature has already been verified. A `payment.id` that is missing or
    /// not an id of ours makes it [`CallbackError::Unreadable`]; the provider's other texts are
    /// bounded (ids and codes that are not clean read as absent, messages are made printable).
    pub fn from_verified(raw: Value) -> Result<Self, CallbackError> {
        let payment_id = text_at(&raw, &["payment", "id"]).ok_or_else(|| CallbackError::Unreadable {
            reason: "payment.id missing".into(),
            reference: None,
        })?;
        let payment_id = PaymentId::new(payment_id.as_str())
            .map_err(|_| CallbackError::Unreadable {
                reason: format!("payment.id {}", limits::quote(&payment_id)),
                reference: provider_id(payment_id.clone()),
            })?
            .into();
        let payment_status = PaymentStatus::parse(&text_at(&raw, &["payment", "status"]).unwrap_or_default());
        let payment_sum = sum_at(&raw, &["payment", "sum"]);
        let operation = at(&raw, &["operation"]).filter(|op| op.is_object()).map(operation);
        let redirect = at(&raw, &["redirect_data"])
            .or_else(|| at(&raw, &["operation", "redirect_data"]))
            .and_then(redirect_data);
        Ok(Callback {
            payment_id,
            payment_status,
            payment_sum,
            operation,
            redirect,
            raw,
        })
    }

    /// What this callback is about: redirect data first (it may come with any operation type),
    /// then `operation.type`.
    pub fn event(&self) -> CallbackEvent<'_> {
        if let Some(redirect) = &self.redirect {
            return CallbackEvent::Redirect(redirect);
        }
        match &self.operation {
            Some(op) if op.kind == OperationType::Sale => CallbackEvent::Sale(op),
            Some(op) if op.kind == OperationType::Refund => CallbackEvent::Refund(op),
            _ => CallbackEvent::Unexpected,
        }
    }

    /// The sale's state according to this callback, checked against the sale we sent.
    /// `Err` carries the mismatch reason. A redirect callback is `ActionRequired`; a callback that
    /// is not about the sale is `Pending` (query status rather than act on it).
    pub fn sale_state(&self, expected: &Expected) -> Result<PaymentState, String> {
        let op = match self.event() {
            CallbackEvent::Redirect(_) => {
                expected.check(Some(&self.payment_id), None, None, false)?;
                return Ok(PaymentState::ActionRequired {
                    status: self.payment_status.as_str().to_owned(),
                });
            }
            CallbackEvent::Sale(op) => op,
            CallbackEvent::Refund(_) | CallbackEvent::Unexpected => {
                return Ok(PaymentState::Pending {
                    status: "not a sale callback".into(),
                })
            }
        };
        let state = operation_state(op, &self.payment_status);
        let sum = op.sum_initial.as_ref().or(self.payment_sum.as_ref());
        let strict = state == PaymentState::Succeeded;
        expected.check(
            Some(&self.payment_id),
            sum.map(|s| s.amount_minor),
            sum.map(|s| s.currency.as_str()),
            strict,
        )?;
        Ok(state)
    }

    /// Matches a refund callback with the refund in flight (§1.6 "Matching refund results").
    pub fn match_refund(&self, expected: &ExpectedRefund) -> RefundMatch {
        let CallbackEvent::Refund(op) = self.event() else {
            return RefundMatch::NotOurs {
                reason: "not a refund operation".into(),
            };
        };
        if self.payment_id != expected.payment_id {
            return RefundMatch::NotOurs {
                reason: format!("payment {:?}", self.payment_id),
            };
        }
        let known_request = match (&expected.request_id, &op.request_id) {
            (Some(ours), Some(theirs)) if ours != theirs => {
                return RefundMatch::NotOurs {
                    reason: format!("request_id {theirs:?}"),
                };
            }
            (Some(_), Some(_)) => true,
            _ => false,
        };
        let state = operation_state(op, &self.payment_status);
        let money = Expected::money(&expected.payment_id, expected.amount_minor, &expected.currency);
        let sum = op.sum_initial.as_ref();
        let strict = state == PaymentState::Succeeded;
        if let Err(reason) = money.check(
            Some(&self.payment_id),
            sum.map(|s| s.amount_minor),
            sum.map(|s| s.currency.as_str()),
            strict,
        ) {
            return RefundMatch::Mismatch { reason };
        }
        if known_request {
            RefundMatch::Ours(state)
        } else {
            RefundMatch::Unconfirmed(state)
        }
    }
}

/// An operation's state: success needs `operation.status = success` *and* code `0`, and a payment
/// status that does not contradict it; anything inconsistent stays pending for a status query.
fn operation_state(op: &Operation, payment_status: &PaymentStatus) -> PaymentState {
    let class = op.status.class();
    if class == StateClass::Succeeded {
        let contradicted = matches!(payment_status.class(), StateClass::Declined | StateClass::Failed);
        if op.code != "0" || contradicted {
            tracing::warn!(code = %op.code, payment_status = payment_status.as_str(),
                "ecommpay success without code 0 or with a contradicting payment status");
            return PaymentState::Pending {
                status: "inconsistent success".into(),
            };
        }
    }
    PaymentState::from_class(class, op.status.as_str(), &op.code, &op.message)
}

fn operation(op: &Value) -> Operation {
    Operation {
        id: text_at(op, &["id"]).and_then(provider_id),
        kind: OperationType::parse(&text_at(op, &["type"]).unwrap_or_default()),
        status: OperationStatus::parse(&text_at(op, &["status"]).unwrap_or_default()),
        request_id: text_at(op, &["request_id"]).and_then(provider_id),
        sum_initial: sum_at(op, &["sum_initial"]),
        code: text_at(op, &["code"]).and_then(provider_id).unwrap_or_default(),
        message: text_at(op, &["message"])
            .map(|m| provider_message(&m))
            .unwrap_or_default(),
        provider_payment_id: text_at(op, &["provider", "payment_id"]).and_then(provider_id),
    }
}

fn sum_at(value: &Value, path: &[&str]) -> Option<Sum> {
    let sum = at(value, path)?;
    Some(Sum {
        amount_minor: minor_at(sum, &["amount"])?,
        currency: text_at(sum, &["currency"])?,
    })
}

/// The customer's next step, shown to them as it is: one with a URL, method or body that is not
/// clean or not bounded is no step (the callback then reads as its operation alone).
fn redirect_data(value: &Value) -> Option<RedirectData> {
    let method = match text_at(value, &["method"]) {
        None => Some("GET".to_owned()),
        Some(method) => provider_id(method),
    };
    let url = text_at(value, &["url"]).filter(|url| url.len() <= limits::URL_MAX && !url.chars().any(char::is_control));
    let body = at(value, &["body"])
        .cloned()
        .unwrap_or(Value::Object(Default::default()));
    match (method, url) {
        (Some(method), Some(url)) if storable_json(&body) => Some(RedirectData { method, url, body }),
        _ => {
            // Seen, not silently dropped: the payment then waits for its status checks.
            tracing::warn!("ecommpay redirect_data that is not clean or not bounded: not offered to the customer");
            metrics::counter!("bnpl_callback_redirects_refused_total").increment(1);
            None
        }
    }
}

#[cfg(test)]
#[path = "callback_tests.rs"]
mod tests;
