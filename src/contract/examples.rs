//! One example of every command and every event (`examples/`), the events built with the typed
//! definitions and the same constructor the ledger announces with (`ledger::announce`), so an
//! example is what the orchestrator really publishes.

use crate::domain::events::{Action, Event, EventReason, EventType, Plan, Reason, Resolution, Timestamp};
use crate::domain::PaymentStatus;
use crate::intake::envelope::CommandType;
use crate::ledger::announce;
use crate::store::payments::PaymentRow;
use crate::store::refunds::RefundRow;
use chrono::{TimeZone, Utc};
use serde_json::{json, Value};

/// The example body of `command`.
pub fn command(command: CommandType) -> Value {
    match command {
        CommandType::PurchaseCreate => json!({
            "payment_id": "ord-1001", "provider": "humm", "account": "default", "flow": "gate",
            "amount": {"minor": 15000, "currency": "GBP"},
            "customer": {"id": "cust-42", "first_name": "Jane", "last_name": "Doe", "ip_address": "203.0.113.7"},
            "items": [{"name": "Laptop", "category": "Electronics", "unit_price_minor": 15000, "quantity": 1}],
            "description": "Order 1001", "return_url": "https://shop.example/checkout/return",
            "metadata": {"order_ref": "1001"}
        }),
        CommandType::PurchaseConfirm => json!({"payment_id": "ord-2001", "otp": "123456", "tenure_months": 6}),
        CommandType::PurchaseResendOtp => json!({"payment_id": "ord-2001"}),
        CommandType::RefundCreate => json!({
            "refund_id": "rf-1001-1", "payment_id": "ord-1001",
            "amount": {"minor": 5000, "currency": "GBP"}, "reason": "item returned"
        }),
        CommandType::RefundCancel => json!({"refund_id": "rf-1001-1"}),
    }
}

fn at(minute: u32) -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 10, minute, 0)
        .single()
        .unwrap_or_default()
}

fn payment(status: PaymentStatus, valu: bool) -> PaymentRow {
    let (provider, currency, amount) = if valu {
        ("valu", "EGP", 500_000)
    } else {
        ("humm", "GBP", 15_000)
    };
    PaymentRow {
        payment_id: if valu { "ord-2001" } else { "ord-1001" }.to_owned(),
        provider: provider.to_owned(),
        account: "default".to_owned(),
        flow: "gate".to_owned(),
        amount_minor: amount,
        currency: currency.to_owned(),
        down_payment_minor: 0,
        status: status.as_str().to_owned(),
        review_reason: None,
        command_hash: String::new(),
        provider_reference: (status != PaymentStatus::Accepted).then(|| "29741010169841".to_owned()),
        provider_request_id: None,
        provider_state: json!({}),
        action: None,
        reason: None,
        customer: json!({}),
        items: json!([]),
        description: None,
        return_url: None,
        metadata: json!({"order_ref": if valu { "2001" } else { "1001" }}),
        last_sequence: 3,
        refunded_minor: 0,
        created_at: at(0),
        threshold_at: at(0),
        origin: crate::store::payments::ORIGIN_ORCHESTRATOR.to_owned(),
    }
}

/// The refunded payment as it stands before its event numbered `sequence`.
fn numbered(sequence: i64) -> PaymentRow {
    PaymentRow {
        last_sequence: sequence - 1,
        ..payment(PaymentStatus::Succeeded, false)
    }
}

fn refund(status: &str) -> RefundRow {
    RefundRow {
        refund_id: "rf-1001-1".to_owned(),
        payment_id: "ord-1001".to_owned(),
        queue_key: "humm:default".to_owned(),
        position: 7,
        amount_minor: 5_000,
        currency: "GBP".to_owned(),
        status: status.to_owned(),
        review_reason: None,
        reason: Some("item returned".to_owned()),
        requested_by: "finance".to_owned(),
        provider_request_id: None,
        provider_reference: None,
        attempts: 0,
        created_at: at(1),
        submitted_at: None,
    }
}

fn provider_reason(code: &str) -> Option<EventReason> {
    Some(EventReason::Coded(Reason::from_provider(
        code,
        "20000",
        "General decline",
    )))
}

/// The example of `event_type`.
pub fn event(event_type: EventType) -> Value {
    use EventType as T;
    let review = |code: &str| {
        Some(EventReason::Coded(Reason::new(
            code,
            "no definite answer at the threshold",
        )))
    };
    let announced = match event_type {
        T::PaymentAccepted => Event::Payment(Box::new(announce::payment(
            &payment(PaymentStatus::Accepted, false),
            false,
            None,
            None,
            None,
        ))),
        T::PaymentPending => Event::Payment(Box::new(announce::payment(
            &payment(PaymentStatus::Pending, false),
            false,
            None,
            None,
            None,
        ))),
        T::PaymentActionRequired => {
            let otp = Action::Otp {
                plans: vec![Plan {
                    tenure_months: 6,
                    monthly_minor: 90_000,
                    fees_minor: 40_000,
                }],
                attempts_left: 2,
                expires_at: Timestamp(at(5)),
            };
            let mut wrong = Reason::new("otp_invalid", "wrong OTP");
            wrong.attempts_left = Some(2);
            let row = payment(PaymentStatus::ActionRequired, true);
            Event::Payment(Box::new(announce::payment(
                &row,
                false,
                Some(otp),
                Some(EventReason::Coded(wrong)),
                None,
            )))
        }
        T::PaymentSucceeded => Event::Payment(Box::new(announce::payment(
            &payment(PaymentStatus::Succeeded, false),
            false,
            None,
            None,
            None,
        ))),
        T::PaymentDeclined => Event::Payment(Box::new(announce::payment(
            &payment(PaymentStatus::Declined, false),
            false,
            None,
            provider_reason("declined"),
            None,
        ))),
        T::PaymentFailed => Event::Payment(Box::new(announce::payment(
            &payment(PaymentStatus::Failed, false),
            false,
            None,
            provider_reason("provider_error"),
            None,
        ))),
        T::PaymentExpired => Event::Payment(Box::new(announce::payment(
            &payment(PaymentStatus::Expired, true),
            false,
            None,
            None,
            None,
        ))),
        T::PaymentNeedsReview => Event::Payment(Box::new(announce::payment(
            &payment(PaymentStatus::NeedsReview, false),
            false,
            None,
            review("no_definite_answer"),
            None,
        ))),
        T::PaymentExternal => {
            let mut row = payment(PaymentStatus::Pending, false);
            row.origin = crate::store::payments::ORIGIN_EXTERNAL.to_owned();
            row.metadata = serde_json::json!({});
            Event::Payment(Box::new(announce::external(&row)))
        }
        T::PaymentResolved => {
            let resolution = Resolution {
                from: PaymentStatus::NeedsReview,
                to: PaymentStatus::Succeeded,
                resolved_by: "alice-ops".to_owned(),
            };
            let reason = Some(EventReason::Operator("confirmed with humm by phone".to_owned()));
            Event::Payment(Box::new(announce::payment(
                &payment(PaymentStatus::Succeeded, false),
                false,
                None,
                reason,
                Some(resolution),
            )))
        }
        T::RefundQueued => Event::Refund(Box::new(announce::refund(
            &refund("queued"),
            &numbered(4),
            0,
            false,
            None,
            None,
        ))),
        T::RefundActionRequired => Event::Refund(Box::new(announce::action_required(
            announce::refund(&refund("in_flight"), &numbered(5), 0, false, None, None),
            &payment(PaymentStatus::Succeeded, false),
        ))),
        T::RefundSubmitted => Event::Refund(Box::new(announce::refund(
            &refund("in_flight"),
            &numbered(5),
            0,
            false,
            None,
            None,
        ))),
        T::RefundSucceeded => Event::Refund(Box::new(announce::refund(
            &refund("succeeded"),
            &numbered(6),
            5_000,
            false,
            None,
            None,
        ))),
        T::RefundDeclined => Event::Refund(Box::new(announce::refund(
            &refund("declined"),
            &numbered(6),
            0,
            false,
            provider_reason("declined"),
            None,
        ))),
        T::RefundFailed => Event::Refund(Box::new(announce::refund(
            &refund("failed"),
            &numbered(6),
            0,
            false,
            provider_reason("provider_error"),
            None,
        ))),
        T::RefundCancelled => Event::Refund(Box::new(announce::refund(
            &refund("cancelled"),
            &numbered(5),
            0,
            false,
            None,
            None,
        ))),
        T::RefundNeedsReview => Event::Refund(Box::new(announce::refund(
            &refund("needs_review"),
            &numbered(6),
            0,
            false,
            review("no_definite_answer"),
            None,
        ))),
        T::AccountPaused | T::AccountResumed | T::AccountCircuitOpened | T::AccountCircuitClosed => {
            let (state, reason, changed_by) = match event_type {
                T::AccountPaused => ("paused", "ecommpay maintenance window 02:00-03:00", "alice-ops"),
                T::AccountResumed => ("active", "maintenance over", "alice-ops"),
                T::AccountCircuitOpened => ("open", "12 of 20 calls failed within 60 s", "breaker"),
                _ => ("active", "probe answered: status query", "breaker"),
            };
            Event::Account(Box::new(announce::account(
                event_type,
                crate::domain::Provider::Humm,
                "default",
                state,
                Some(reason),
                changed_by,
            )))
        }
        T::CommandRejected => Event::CommandRejected(Box::new(announce::rejected(
            "refund.create",
            Some("rf-1001-9"),
            Reason::new(
                "over_refund",
                "5000 GBP more would refund more than the 15000 GBP captured",
            ),
        ))),
    };
    let mut value = announced.to_json();
    // Examples are stable files: a fixed id and time instead of fresh ones.
    value["event_id"] = json!("0193a0b2-7c1e-7d2a-9f1e-3b1c2d4e5f60");
    value["occurred_at"] = json!("2026-11-23T10:00:00.123Z");
    value
}

/// `(relative path, example)` of every file under `examples/`.
pub fn all() -> Vec<(String, Value)> {
    super::per_type(command, event)
}
