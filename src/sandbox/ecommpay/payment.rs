//! One humm payment as ecommpay holds it, and the JSON shapes built from it: the `payment` and
//! `operation` objects shared by callbacks and status responses (providers.md §1.3, the vendor's
//! sample callbacks in vendor-docs/ecommpay-humm-bnpl.txt: `payment.type`/`method` `bnpl`).
//!
//! Invariant: refunded + processing refunds never exceed the sale amount (checked at intake).

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};

use crate::sandbox::faults::FaultSet;

/// The sale operation's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SaleStatus {
    AwaitingRedirect,
    Success,
    Decline,
    /// A technical failure (the `provider-error` fault): no money moved.
    Error,
}

/// A refund operation's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RefundStatus {
    Processing,
    Success,
    Decline,
    /// A technical failure (the `provider-error` fault): no money moved.
    Error,
}

/// One refund operation of a payment.
#[derive(Debug, Clone)]
pub(crate) struct EcRefund {
    pub operation_id: u64,
    pub request_id: String,
    pub merchant_refund_id: String,
    pub amount: i64,
    pub status: RefundStatus,
    pub created: DateTime<Utc>,
    pub finished: Option<DateTime<Utc>>,
    pub faults: FaultSet,
    pub ledger_seq: u64,
    /// The refund request's own `general.merchant_callback_url`, if it had one.
    pub callback_url: Option<String>,
}

/// One payment.
#[derive(Debug, Clone)]
pub(crate) struct EcPayment {
    pub project_id: u64,
    pub payment_id: String,
    pub amount: i64,
    pub currency: String,
    pub description: String,
    pub customer_id: String,
    pub callback_url: Option<String>,
    pub created: DateTime<Utc>,
    pub request_id: String,
    pub operation_id: u64,
    pub provider_payment_id: String,
    pub status: SaleStatus,
    pub code: &'static str,
    pub message: &'static str,
    pub finished: Option<DateTime<Utc>>,
    pub abandoned: bool,
    pub faults: FaultSet,
    /// The query string a Payment Page was opened with (reopening the same page is no new sale).
    pub page_query: Option<String>,
    pub refunds: Vec<EcRefund>,
}

/// ecommpay's date format in callbacks: `2024-11-14T11:20:31+0000`.
pub(crate) fn date(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true).replace('Z', "+0000")
}

impl EcPayment {
    /// Sum of refunds that succeeded.
    pub(crate) fn refunded(&self) -> i64 {
        self.sum_refunds(RefundStatus::Success)
    }

    /// Sum of refunds still being processed.
    pub(crate) fn refunding(&self) -> i64 {
        self.sum_refunds(RefundStatus::Processing)
    }

    fn sum_refunds(&self, status: RefundStatus) -> i64 {
        self.refunds
            .iter()
            .filter(|r| r.status == status)
            .map(|r| r.amount)
            .sum()
    }

    /// `payment.status` as ecommpay reports it (php-sdk Callback.php statuses).
    pub(crate) fn payment_status(&self) -> &'static str {
        match self.status {
            SaleStatus::AwaitingRedirect => "awaiting redirect result",
            SaleStatus::Decline => "decline",
            SaleStatus::Error => "error",
            SaleStatus::Success => match self.refunded() {
                0 => "success",
                r if r >= self.amount => "refunded",
                _ => "partially refunded",
            },
        }
    }

    fn sum(&self, amount: i64) -> Value {
        json!({"amount": amount, "currency": self.currency})
    }

    /// The `payment` object.
    pub(crate) fn payment_json(&self) -> Value {
        json!({
            "id": self.payment_id,
            "type": "bnpl",
            "status": self.payment_status(),
            "date": date(self.finished.unwrap_or(self.created)),
            "method": "bnpl",
            "sum": self.sum(self.amount),
            "description": self.description,
        })
    }

    fn provider_json(&self) -> Value {
        json!({"id": 16891, "payment_id": self.provider_payment_id, "auth_code": ""})
    }

    /// The sale `operation` object.
    pub(crate) fn sale_operation_json(&self) -> Value {
        let status = match self.status {
            SaleStatus::AwaitingRedirect => "awaiting redirect result",
            SaleStatus::Success => "success",
            SaleStatus::Decline => "decline",
            SaleStatus::Error => "error",
        };
        json!({
            "sum_initial": self.sum(self.amount),
            "sum_converted": self.sum(self.amount),
            "code": self.code,
            "message": self.message,
            "provider": self.provider_json(),
            "id": self.operation_id,
            "type": "sale",
            "status": status,
            "date": date(self.finished.unwrap_or(self.created)),
            "created_date": date(self.created),
            "request_id": self.request_id,
        })
    }

    /// A refund `operation` object.
    pub(crate) fn refund_operation_json(&self, refund: &EcRefund) -> Value {
        let (status, code, message) = match refund.status {
            RefundStatus::Processing => ("processing", "", ""),
            RefundStatus::Success => ("success", "0", "Success"),
            RefundStatus::Decline => ("decline", "20000", "General decline"),
            RefundStatus::Error => ("error", "502", "Internal error"),
        };
        json!({
            "sum_initial": self.sum(refund.amount),
            "sum_converted": self.sum(refund.amount),
            "code": code,
            "message": message,
            "provider": self.provider_json(),
            "id": refund.operation_id,
            "type": "refund",
            "status": status,
            "date": date(refund.finished.unwrap_or(refund.created)),
            "created_date": date(refund.created),
            "request_id": refund.request_id,
        })
    }

    /// An unsigned callback about `operation`.
    pub(crate) fn callback_json(&self, operation: Value) -> Value {
        json!({
            "customer": {"id": self.customer_id},
            "project_id": self.project_id,
            "payment": self.payment_json(),
            "operation": operation,
        })
    }

    /// The unsigned status response: the payment and every operation, refunds included.
    pub(crate) fn status_json(&self) -> Value {
        let mut operations = vec![self.sale_operation_json()];
        operations.extend(self.refunds.iter().map(|r| self.refund_operation_json(r)));
        json!({
            "project_id": self.project_id,
            "payment": self.payment_json(),
            "customer": {"id": self.customer_id},
            "operations": operations,
        })
    }
}
