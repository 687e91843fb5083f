//! Provider integrations: pure protocol code, one folder per provider, plus one HTTP executor.
//!
//! Split after Hyperswitch's connectors: `ecommpay/` (humm via ecommpay Gate and Payment Page) and
//! `aps/` (valU via Amazon Payment Services) build signed requests, parse answers and verify
//! callbacks without doing any I/O; [`executor`] alone talks HTTP; [`outcome`] holds the classes
//! every answer is sorted into (`../shared/design.md` §1).
//!
//! The two purchase flows are too different to share a shape (a Gate sale answered by callbacks
//! vs. four valU steps answered synchronously), so they stay provider-specific. What the job
//! runner does the same way for both (status checks, the refund queue, callback intake) goes
//! through the small [`Connector`] trait.

pub mod aps;
pub mod ecommpay;
pub mod executor;
pub(crate) mod fields;
pub mod keys;
pub mod outcome;
#[cfg(test)]
mod strategies;

use outcome::{CreateOutcome, Expected, StatusOutcome};
use serde_json::Value;
use url::Url;

/// A signed request, ready for the executor: every provider call here is a JSON POST.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderRequest {
    /// Full endpoint URL.
    pub url: Url,
    /// Signed JSON body. It can hold personal data (names, phone numbers): never log it whole.
    pub body: Value,
}

/// A provider's raw HTTP answer, as the executor read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawResponse {
    /// HTTP status code.
    pub status: u16,
    /// The whole body.
    pub body: Vec<u8>,
}

impl RawResponse {
    /// A 5xx: the request was written and the provider failed somewhere, so for a create call the
    /// result is uncertain and for a status query it is retryable (design §1).
    pub fn is_server_error(&self) -> bool {
        (500..=599).contains(&self.status)
    }
}

/// Why a callback or notification was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallbackError {
    /// The body is not the provider's format (not JSON / form, or a required field is missing).
    #[error("malformed callback: {0}")]
    Malformed(String),
    /// The signature is missing or wrong: answer 400, count it, change nothing (design §1).
    #[error("callback signature missing or invalid")]
    BadSignature,
    /// Verified, but its reference to our payment (or refund) is missing or could never have been
    /// one of ours (not an id of contract §7): a callback about no payment we made, stored and
    /// answered 200 like one about an unknown payment, and never charged to the sender.
    #[error("verified callback without a usable reference: {reason}")]
    Unreadable {
        /// What is wrong, the value quoted bounded.
        reason: String,
        /// The payment reference as given, when it is clean enough to keep beside the body
        /// (bounded, no control characters): how ops find the callback.
        reference: Option<String>,
    },
}

/// Why a request could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    /// A configured path or base URL does not form a valid URL.
    #[error("invalid provider URL: {0}")]
    Url(String),
}

/// A refund to send (contract §2 `refund.create`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundRequest {
    /// Our payment id, which is also the provider's reference for the payment.
    pub payment_id: String,
    /// Our refund id: ecommpay `merchant_refund_id`, APS `maintenance_reference`.
    pub refund_id: String,
    /// Refund amount in minor units.
    pub amount_minor: i64,
    /// ISO 4217 code.
    pub currency: String,
    /// Free text for the provider (ecommpay `description`, APS `order_description`).
    pub description: Option<String>,
    /// The provider's id of the payment when we know it (APS `fort_id`).
    pub provider_reference: Option<String>,
}

/// What an accepted refund request means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefundAck {
    /// Registered only (ecommpay): the result comes by callback; `request_id` identifies the
    /// refund operation in that callback.
    Registered { request_id: Option<String> },
    /// Done (APS `06000`): the refund succeeded synchronously.
    Completed { provider_reference: Option<String> },
}

/// What both providers do the same way: status queries, refunds and callback intake.
pub trait Connector {
    /// A verified, parsed callback or notification.
    type Callback;

    /// The status query for one payment, by our id.
    fn status_request(&self, payment_id: &str) -> Result<ProviderRequest, BuildError>;
    /// Classifies a status answer, checking it against what we sent.
    fn parse_status(&self, response: &RawResponse, expected: &Expected) -> StatusOutcome;
    /// The refund request.
    fn refund_request(&self, refund: &RefundRequest) -> Result<ProviderRequest, BuildError>;
    /// Classifies a refund answer; `expected` holds the payment id and the *refund* amount.
    fn parse_refund(&self, response: &RawResponse, expected: &Expected) -> CreateOutcome<RefundAck>;
    /// Verifies the signature of a raw callback body and parses it.
    fn verify_callback(&self, body: &[u8]) -> Result<Self::Callback, CallbackError>;
}

#[cfg(test)]
#[path = "connector_tests.rs"]
mod connector_tests;
