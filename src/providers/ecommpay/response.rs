//! Synchronous Gate answers: registration of a sale or refund, and status queries
//! (`../shared/spec/providers.md` §1.2, §1.6; design §1).
//!
//! A 200 to a sale or refund means *registered*: the result comes by callback. An answer with a
//! non-zero `code` is classified by the code table. A 5xx is uncertain (create) or retryable
//! (status). An unreadable 2xx body is uncertain, never accepted.
//!
//! Synchronous answers are not signature-checked: they come over the TLS connection we opened,
//! and ecommpay's own plugins do not check them either (callbacks are always checked).

use serde_json::Value;

use super::codes::{code_class, OperationStatus, OperationType, PaymentStatus};
use crate::providers::fields::{at, minor_at, provider_id, provider_message, text_at};
use crate::providers::outcome::{
    CodeClass, CreateOutcome, DeclinedRefund, Expected, PaymentState, ProviderStatus, RefundInProgress, StatusOutcome,
};
use crate::providers::{RawResponse, RefundAck};

/// A registered sale: ecommpay's `request_id` for it (for status lookups by request id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registered {
    /// `request_id` from the answer, if given.
    pub request_id: Option<String>,
}

/// Classifies the answer to a sale.
pub fn parse_sale(raw: &RawResponse, payment_id: &str) -> CreateOutcome<Registered> {
    registration(raw, payment_id, |request_id| Registered { request_id })
}

/// Classifies the answer to a refund (registered only; the refund's result comes by callback).
pub fn parse_refund(raw: &RawResponse, payment_id: &str) -> CreateOutcome<RefundAck> {
    registration(raw, payment_id, |request_id| RefundAck::Registered { request_id })
}

fn registration<T>(
    raw: &RawResponse,
    payment_id: &str,
    accepted: impl FnOnce(Option<String>) -> T,
) -> CreateOutcome<T> {
    if raw.is_server_error() {
        return CreateOutcome::Uncertain {
            reason: format!("HTTP {}", raw.status),
        };
    }
    let body = serde_json::from_slice::<Value>(&raw.body).ok();
    if let Some((code, message)) = body.as_ref().and_then(error_code) {
        return CreateOutcome::from_class(code_class(&code), &code, &message, || CreateOutcome::Uncertain {
            reason: format!("code {code} on a rejected answer"),
        });
    }
    match (raw.status, body) {
        (200..=299, Some(body)) if body.is_object() => {
            if text_at(&body, &["status"]).as_deref() == Some("error") {
                return CreateOutcome::Uncertain {
                    reason: "status error without a code".into(),
                };
            }
            match text_at(&body, &["payment_id"]) {
                Some(echoed) if echoed != payment_id => CreateOutcome::Mismatch {
                    reason: format!("payment_id {echoed:?}, expected {payment_id:?}"),
                },
                _ => CreateOutcome::Accepted(accepted(text_at(&body, &["request_id"]).and_then(provider_id))),
            }
        }
        (200..=299, _) => CreateOutcome::Uncertain {
            reason: "unreadable 2xx body".into(),
        },
        (408, _) => CreateOutcome::Uncertain {
            reason: "HTTP 408".into(),
        },
        (429, _) => CreateOutcome::RetryLater {
            code: "http_429".into(),
            message: "Too Many Requests".into(),
        },
        (status, _) => CreateOutcome::Terminal {
            code: format!("http_{status}"),
            message: "rejected without an ecommpay code".into(),
        },
    }
}

/// Whether an answer is the provider failing rather than the request (issue 19: what the circuit
/// breaker counts): a 5xx, "provider not available" (314), or a refused signature (3261/3262).
pub fn is_provider_failure(raw: &RawResponse) -> bool {
    if raw.is_server_error() {
        return true;
    }
    let Ok(body) = serde_json::from_slice::<Value>(&raw.body) else {
        return false;
    };
    error_code(&body).is_some_and(|(code, _)| matches!(code.trim(), "314" | "3261" | "3262"))
}

/// A non-zero `code` (top level, or the first of `errors[]`) with its message.
fn error_code(body: &Value) -> Option<(String, String)> {
    let (code, message) = match text_at(body, &["code"]) {
        Some(code) => (code, text_at(body, &["message"])),
        None => {
            let first = at(body, &["errors"])?.as_array()?.first()?;
            (text_at(first, &["code"])?, text_at(first, &["message"]))
        }
    };
    (code != "0").then(|| (code, message.unwrap_or_default()))
}

/// Classifies a status answer for the payment described by `expected`.
pub fn parse_status(raw: &RawResponse, expected: &Expected) -> StatusOutcome {
    if raw.is_server_error() {
        return StatusOutcome::Retryable {
            reason: format!("HTTP {}", raw.status),
        };
    }
    let Ok(body) = serde_json::from_slice::<Value>(&raw.body) else {
        return StatusOutcome::Retryable {
            reason: format!("unreadable body (HTTP {})", raw.status),
        };
    };
    // An answer that describes the payment is read from it: ecommpay lists a declined payment's
    // own errors beside it (`errors[]`), which are news about the payment, not a refused query.
    // Only an answer without one (or one saying `status: error`) is the query's own error.
    let payment = at(&body, &["payment"]).filter(|p| p.is_object());
    let query_failed = payment.is_none() || text_at(&body, &["status"]).as_deref() == Some("error");
    if let Some((code, message)) = error_code(&body).filter(|_| query_failed) {
        return match code_class(&code) {
            CodeClass::NotFound => StatusOutcome::NotFound,
            _ => StatusOutcome::Retryable {
                reason: format!("status query refused: {code} {message}"),
            },
        };
    }
    let Some(payment) = payment else {
        return StatusOutcome::Retryable {
            reason: "no payment in the status answer".into(),
        };
    };
    let status = PaymentStatus::parse(&text_at(payment, &["status"]).unwrap_or_default());
    let operations = operations(&body);
    let sale = operations.iter().rev().find(|op| op.kind == OperationType::Sale);
    let (code, message) = sale.map(|op| (op.code.clone(), op.message.clone())).unwrap_or_default();
    let state = PaymentState::from_class(status.class(), status.as_str(), &code, &message);
    let amount = sale.and_then(|op| op.amount_minor).or_else(|| {
        (status == PaymentStatus::Success)
            .then(|| minor_at(payment, &["sum", "amount"]))
            .flatten()
    });
    let currency = sale.and_then(|op| op.currency.clone()).or_else(|| {
        (status == PaymentStatus::Success)
            .then(|| text_at(payment, &["sum", "currency"]))
            .flatten()
    });
    let strict = state == PaymentState::Succeeded;
    let reference = text_at(payment, &["id"]);
    if let Err(reason) = expected.check(reference.as_deref(), amount, currency.as_deref(), strict) {
        return StatusOutcome::Mismatch { reason };
    }
    StatusOutcome::Known(ProviderStatus {
        refunded_minor: refunded_total(&status, &operations),
        provider_reference: sale.and_then(|op| op.id.clone()),
        declined_refunds: declined_refunds(&operations),
        refunds_in_progress: refunds_in_progress(&operations),
        state,
    })
}

/// What a status answer says about one operation.
struct OperationSummary {
    kind: OperationType,
    status: OperationStatus,
    id: Option<String>,
    request_id: Option<String>,
    code: String,
    message: String,
    amount_minor: Option<i64>,
    currency: Option<String>,
}

/// `operations[]`, or a single `operation`, in the order given.
fn operations(body: &Value) -> Vec<OperationSummary> {
    let list: Vec<&Value> = match (at(body, &["operations"]), at(body, &["operation"])) {
        (Some(Value::Array(items)), _) => items.iter().collect(),
        (_, Some(single)) => vec![single],
        _ => Vec::new(),
    };
    list.into_iter()
        .filter(|op| op.is_object())
        .map(|op| OperationSummary {
            kind: OperationType::parse(&text_at(op, &["type"]).unwrap_or_default()),
            status: OperationStatus::parse(&text_at(op, &["status"]).unwrap_or_default()),
            // Bounded as a callback's are: they may be kept (a refund's request id, a decline's
            // message in the answer an operator's release rests on).
            id: text_at(op, &["id"]).and_then(provider_id),
            request_id: text_at(op, &["request_id"]).and_then(provider_id),
            code: text_at(op, &["code"]).and_then(provider_id).unwrap_or_default(),
            message: text_at(op, &["message"])
                .map(|m| provider_message(&m))
                .unwrap_or_default(),
            amount_minor: minor_at(op, &["sum_initial", "amount"]),
            currency: text_at(op, &["sum_initial", "currency"]),
        })
        .collect()
}

/// The refunded total: successful refund operations' `sum_initial` (§1.6 "Settling an uncertain
/// refund"). `None` when the answer does not let us know it.
fn refunded_total(status: &PaymentStatus, operations: &[OperationSummary]) -> Option<i64> {
    let refunds: Vec<&OperationSummary> = operations
        .iter()
        .filter(|op| op.kind == OperationType::Refund && op.status == OperationStatus::Success)
        .collect();
    if refunds.is_empty() {
        // Nothing listed: only a plain `success` payment is known to have no refunds.
        return (*status == PaymentStatus::Success).then_some(0);
    }
    refunds
        .iter()
        .try_fold(0i64, |total, op| total.checked_add(op.amount_minor?))
}

/// Refund operations reported declined or failed (no money moved), with the request id that ties
/// each to our refund.
fn declined_refunds(operations: &[OperationSummary]) -> Vec<DeclinedRefund> {
    operations
        .iter()
        .filter(|op| op.kind == OperationType::Refund)
        .filter_map(|op| {
            let failed = match op.status {
                OperationStatus::Decline | OperationStatus::Expired => false,
                OperationStatus::Error | OperationStatus::InternalError => true,
                _ => return None,
            };
            Some(DeclinedRefund {
                request_id: op.request_id.clone()?,
                code: op.code.clone(),
                message: op.message.clone(),
                amount_minor: op.amount_minor,
                failed,
            })
        })
        .collect()
}

/// Refund operations neither succeeded nor ended without money moving: ones ecommpay still
/// processes (or in a state we do not know, which must not be taken for "not there" either).
fn refunds_in_progress(operations: &[OperationSummary]) -> Vec<RefundInProgress> {
    operations
        .iter()
        .filter(|op| op.kind == OperationType::Refund)
        .filter(|op| {
            !matches!(
                op.status,
                OperationStatus::Success
                    | OperationStatus::Decline
                    | OperationStatus::Expired
                    | OperationStatus::Error
                    | OperationStatus::InternalError
            )
        })
        .map(|op| RefundInProgress {
            request_id: op.request_id.clone(),
            amount_minor: op.amount_minor,
        })
        .collect()
}

#[cfg(test)]
#[path = "response_tests.rs"]
mod tests;

/// The project an answer names, when it names another than ours: an answer about another
/// account's payment must not settle ours (contract §7). An answer that names none is judged by
/// its other fields.
pub fn foreign_project(raw: &RawResponse, project_id: u64) -> Option<String> {
    let body = serde_json::from_slice::<Value>(&raw.body).ok()?;
    let named = at(&body, &["project_id"])
        .or_else(|| at(&body, &["general", "project_id"]))
        .and_then(Value::as_u64)?;
    (named != project_id).then(|| format!("the answer is for project {named}, not {project_id}"))
}
