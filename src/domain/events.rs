//! The events the orchestrator announces (contract §3): the one definition of every event body.
//!
//! The outbox stores exactly what these types serialize to; nothing else builds event JSON. The
//! hygiene rules of contract §3 live in the types: every event has `schema_version`; timestamps
//! are RFC 3339 UTC with milliseconds ([`Timestamp`]); `flow` exists only on humm payments;
//! `action` and `reason` keys are always present on payment events and null unless this very
//! event carries them (the ledger sets them from the change being announced, never from an
//! earlier event, and [`EventType::may_carry_reason`] says where a reason may appear).

use super::{Flow, Money, PaymentStatus, Provider, RefundStatus};
use chrono::{DateTime, SecondsFormat, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use uuid::Uuid;

/// The version of the event bodies below; consumers may branch on it.
pub const SCHEMA_VERSION: u32 = 1;

/// An instant, serialized as RFC 3339 UTC with milliseconds: `2026-11-23T10:00:00.123Z`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp(pub DateTime<Utc>);

impl Timestamp {
    pub fn now() -> Self {
        Timestamp(Utc::now())
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0.to_rfc3339_opts(SecondsFormat::Millis, true))
    }
}

impl JsonSchema for Timestamp {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Timestamp".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "format": "date-time",
            "description": "RFC 3339, UTC, with milliseconds: 2026-11-23T10:00:00.123Z",
            "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z$"
        })
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        DateTime::parse_from_rfc3339(&text)
            .map(|at| Timestamp(at.with_timezone(&Utc)))
            .map_err(serde::de::Error::custom)
    }
}

macro_rules! event_types {
    ($($variant:ident => $name:literal),+ $(,)?) => {
        /// Every event type (the routing key on `bnpl.events`).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
        pub enum EventType {
            $(#[serde(rename = $name)] $variant,)+
        }

        impl EventType {
            pub const ALL: &'static [EventType] = &[$(EventType::$variant),+];

            pub const fn as_str(self) -> &'static str {
                match self {
                    $(EventType::$variant => $name,)+
                }
            }

            /// The type named `name` (a routing key on `bnpl.events`).
            pub fn parse(name: &str) -> Option<EventType> {
                Self::ALL.iter().copied().find(|event_type| event_type.as_str() == name)
            }
        }
    };
}

event_types! {
    PaymentAccepted => "payment.accepted",
    PaymentPending => "payment.pending",
    PaymentActionRequired => "payment.action_required",
    PaymentSucceeded => "payment.succeeded",
    PaymentDeclined => "payment.declined",
    PaymentFailed => "payment.failed",
    PaymentExpired => "payment.expired",
    PaymentNeedsReview => "payment.needs_review",
    PaymentResolved => "payment.resolved",
    PaymentExternal => "payment.external",
    RefundQueued => "refund.queued",
    RefundSubmitted => "refund.submitted",
    RefundSucceeded => "refund.succeeded",
    RefundDeclined => "refund.declined",
    RefundFailed => "refund.failed",
    RefundCancelled => "refund.cancelled",
    RefundNeedsReview => "refund.needs_review",
    RefundActionRequired => "refund.action_required",
    CommandRejected => "command.rejected",
    AccountPaused => "account.paused",
    AccountResumed => "account.resumed",
    AccountCircuitOpened => "account.circuit_opened",
    AccountCircuitClosed => "account.circuit_closed",
}

impl EventType {
    /// The event announcing that a payment reached `status`.
    pub const fn of_payment(status: PaymentStatus) -> EventType {
        match status {
            PaymentStatus::Accepted => EventType::PaymentAccepted,
            PaymentStatus::Pending => EventType::PaymentPending,
            PaymentStatus::ActionRequired => EventType::PaymentActionRequired,
            PaymentStatus::Succeeded => EventType::PaymentSucceeded,
            PaymentStatus::Declined => EventType::PaymentDeclined,
            PaymentStatus::Failed => EventType::PaymentFailed,
            PaymentStatus::Expired => EventType::PaymentExpired,
            PaymentStatus::NeedsReview => EventType::PaymentNeedsReview,
        }
    }

    /// The event announcing that a refund reached `status` (`in_flight` is `refund.submitted`).
    pub const fn of_refund(status: RefundStatus) -> EventType {
        match status {
            RefundStatus::Queued => EventType::RefundQueued,
            RefundStatus::InFlight => EventType::RefundSubmitted,
            RefundStatus::Succeeded => EventType::RefundSucceeded,
            RefundStatus::Declined => EventType::RefundDeclined,
            RefundStatus::Failed => EventType::RefundFailed,
            RefundStatus::Cancelled => EventType::RefundCancelled,
            RefundStatus::NeedsReview => EventType::RefundNeedsReview,
        }
    }

    /// Whether this event may carry a `reason` (contract §3 "Event hygiene"); an
    /// `action_required` may only after a wrong OTP.
    pub const fn may_carry_reason(self) -> bool {
        matches!(
            self,
            EventType::PaymentDeclined
                | EventType::PaymentFailed
                | EventType::PaymentNeedsReview
                | EventType::PaymentResolved
                | EventType::PaymentActionRequired
                | EventType::RefundDeclined
                | EventType::RefundFailed
                | EventType::RefundNeedsReview
                | EventType::CommandRejected
        )
    }
}

/// The fields every event starts with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Envelope {
    pub event_id: Uuid,
    #[serde(rename = "type")]
    pub event_type: EventType,
    pub schema_version: u32,
    /// The payment's gap-free sequence number (payment and refund events).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence: Option<i64>,
    pub occurred_at: Timestamp,
}

impl Envelope {
    /// A new event's envelope: a fresh time-ordered id, now.
    pub fn new(event_type: EventType, sequence: Option<i64>) -> Self {
        Envelope {
            event_id: Uuid::now_v7(),
            event_type,
            schema_version: SCHEMA_VERSION,
            sequence,
            occurred_at: Timestamp::now(),
        }
    }
}

/// The customer's next step (`action` on `payment.action_required`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Action {
    /// humm: send the customer to the provider (the provider's redirect data, or the Payment
    /// Page URL).
    Redirect { method: String, url: String, body: Value },
    /// valU: the customer types the SMS code and picks a plan.
    Otp {
        plans: Vec<Plan>,
        attempts_left: u32,
        expires_at: Timestamp,
    },
}

/// One valU plan on offer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Plan {
    pub tenure_months: u32,
    pub monthly_minor: i64,
    pub fees_minor: i64,
}

/// Why: `{code, message}`, with the provider's own code and message on provider decisions, and
/// the attempts left after a wrong OTP.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Reason {
    pub code: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempts_left: Option<u32>,
}

impl Reason {
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Reason {
            code: code.into(),
            message: message.into(),
            provider_code: None,
            provider_message: None,
            attempts_left: None,
        }
    }

    /// A provider's decision: our `code`, the provider's code and message (the message repeated
    /// as ours, or our code when the provider gave none).
    pub fn from_provider(code: &str, provider_code: &str, provider_message: &str) -> Self {
        let message = if provider_message.is_empty() {
            code
        } else {
            provider_message
        };
        // The provider's texts, from a callback or an answer, are kept and announced: bounded
        // and printable, whichever path brought them.
        let message = super::limits::printable(message, super::limits::REASON_MAX);
        Reason {
            provider_code: Some(super::limits::printable(provider_code, super::limits::PROVIDER_ID_MAX)),
            provider_message: Some(super::limits::printable(provider_message, super::limits::REASON_MAX)),
            ..Reason::new(code, message)
        }
    }
}

/// A `reason` as events carry it: coded, or an operator's words (`payment.resolved`, a refund
/// released by an operator).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum EventReason {
    Coded(Reason),
    Operator(String),
}

/// An operator's resolution of a payment (`payment.resolved`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Resolution {
    pub from: PaymentStatus,
    pub to: PaymentStatus,
    pub resolved_by: String,
}

/// A payment event (`payment.*`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PaymentEvent {
    #[serde(flatten)]
    pub envelope: Envelope,
    pub payment_id: String,
    pub provider: Provider,
    pub account: String,
    /// humm only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow: Option<Flow>,
    pub status: PaymentStatus,
    pub amount: Money,
    pub action: Option<Action>,
    pub provider_reference: Option<String>,
    pub reason: Option<EventReason>,
    /// The merchant's own data from `purchase.create`, echoed on every event of the payment.
    pub metadata: Value,
    #[serde(default, flatten, skip_serializing_if = "Option::is_none")]
    pub resolution: Option<Resolution>,
}

/// A refund event (`refund.*`), numbered in its payment's sequence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RefundEvent {
    #[serde(flatten)]
    pub envelope: Envelope,
    pub refund_id: String,
    pub payment_id: String,
    pub status: RefundStatus,
    pub amount: Money,
    /// The payment's succeeded refunds after this event, in minor units.
    pub refunded_total_minor: i64,
    /// The payment's `metadata`, echoed on every event of the payment (contract §2), so an order
    /// system finds its order from a refund's events too.
    pub metadata: serde_json::Value,
    pub position: i64,
    pub queue: String,
    pub requested_by: String,
    pub provider_reference: Option<String>,
    pub reason: Option<EventReason>,
    /// The operator who recorded the outcome of a released head.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_by: Option<String>,
    /// On `refund.action_required` only (manual refund mode): what finance needs to file the
    /// refund at the provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filing: Option<ManualFiling>,
}

/// A refund finance must file at the provider by hand (manual refund mode, issue 20). The amount
/// and ids are the event's own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ManualFiling {
    /// The provider account the payment was made with.
    pub account: String,
    /// The provider's reference of the sale to refund.
    pub sale_reference: Option<String>,
    /// Where finance records the provider's reference of the refund once filed.
    pub record_with: String,
}

/// `command.rejected`: a command not taken, with why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CommandRejected {
    #[serde(flatten)]
    pub envelope: Envelope,
    pub command_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund_id: Option<String>,
    pub reason: Reason,
}

/// `account.*`: a provider account paused or resumed by an operator, or its circuit opened or
/// closed by the breaker (contract §4, added 2026-11-29). While an account is paused or its circuit
/// open no call goes to its provider; commands and callbacks are still taken.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AccountEvent {
    #[serde(flatten)]
    pub envelope: Envelope,
    /// `humm` or `valu`.
    pub provider: Provider,
    pub account: String,
    /// The account's state now: `active`, `paused`, `open` or `half_open`.
    pub state: String,
    /// Why, in the operator's words (or the breaker's: the failures it counted).
    pub reason: Option<String>,
    /// Who changed it (`breaker` for the circuit breaker).
    pub changed_by: String,
}

/// Any event, as the outbox stores it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Event {
    Payment(Box<PaymentEvent>),
    Refund(Box<RefundEvent>),
    CommandRejected(Box<CommandRejected>),
    Account(Box<AccountEvent>),
}

impl Event {
    pub fn envelope(&self) -> &Envelope {
        match self {
            Event::Payment(event) => &event.envelope,
            Event::Refund(event) => &event.envelope,
            Event::CommandRejected(event) => &event.envelope,
            Event::Account(event) => &event.envelope,
        }
    }

    /// The body as stored and published.
    pub fn to_json(&self) -> Value {
        body_json(self)
    }
}

/// What is stored and published as an event body: [`Event`], and the kinds a writer builds
/// typed. `Event` is untagged, so a kind serializes alone exactly as inside one.
pub trait EventBody: Serialize {}
impl EventBody for Event {}
impl EventBody for PaymentEvent {}
impl EventBody for RefundEvent {}

/// The body as stored and published, for a typed event without copying it into an [`Event`]
/// (a payment event carries the payment's metadata).
pub fn body_json(event: &impl EventBody) -> Value {
    serde_json::to_value(event).unwrap_or(Value::Null)
}

#[cfg(test)]
#[path = "events_tests.rs"]
mod tests;
