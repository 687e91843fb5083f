//! The classes every provider answer is sorted into before anyone acts on it
//! (`../shared/design.md` §1 "Classify every provider answer").
//!
//! Invariants:
//! - a provider answer is a success only when it is a definite success *and* it agrees with what we
//!   sent (reference, amount, currency); any disagreement is [`CreateOutcome::Mismatch`] /
//!   [`StatusOutcome::Mismatch`], which the state machine turns into `needs_review`;
//! - anything unknown (a status, a code, an unreadable body) lands in a class that leads to a status
//!   query ([`CreateOutcome::Uncertain`], [`PaymentState::Pending`]), never in a final state.

/// What a call that *creates* something (sale, PURCHASE, an OTP step, a refund) produced.
///
/// `T` is what the provider gave back on acceptance (a request id, OTP plans, a `fort_id`, …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreateOutcome<T> {
    /// The provider registered (ecommpay) or completed (APS) the request.
    Accepted(T),
    /// The connection failed before the request was written: resend at once, same id.
    NotSent { reason: String },
    /// The request may have arrived (timeout, dropped connection, 5xx, APS 15/19/20/777, an
    /// unknown code or an unreadable body): query status with the same id, never resend blindly.
    Uncertain { reason: String },
    /// A duplicate-id answer (ecommpay 3041/3230, APS 00007/00066/00047): it exists, query status.
    Exists { code: String, message: String },
    /// "Still processing" (APS 784, ecommpay 3062/2147): wait, then query status.
    Processing { code: String, message: String },
    /// "Not now" (ecommpay 3285, 314, 601/602): send the same request again later, with backoff.
    RetryLater { code: String, message: String },
    /// A decline or a validation error: final for this request.
    Terminal { code: String, message: String },
    /// The answer contradicts what we sent: `needs_review`, never a success.
    Mismatch { reason: String },
}

/// What a read-only status query produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusOutcome {
    /// The provider gave a definite picture of the payment.
    Known(ProviderStatus),
    /// The provider does not know the id (ecommpay 3061, APS 12036): after an uncertain create
    /// call, a resend with the same id is safe.
    NotFound,
    /// No usable answer (5xx, timeout, unreadable body, query refused): retry with backoff.
    Retryable { reason: String },
    /// The provider's record contradicts ours: `needs_review`.
    Mismatch { reason: String },
}

/// A provider's view of one payment, from a status query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderStatus {
    /// The purchase itself.
    pub state: PaymentState,
    /// Total refunded so far at the provider, in minor units, when the provider reports it
    /// (APS `refunded_amount`; ecommpay: the sum of successful refund operations).
    pub refunded_minor: Option<i64>,
    /// The provider's own id for the payment (ecommpay `operation.id`/provider id, APS `fort_id`).
    pub provider_reference: Option<String>,
    /// Refund operations the provider reports declined or failed, by the request id its refund
    /// answer gave (ecommpay lists every operation of a payment; APS reports totals only: always
    /// empty).
    pub declined_refunds: Vec<DeclinedRefund>,
    /// Refund operations the provider reports it holds but has not finished (humm takes up to a
    /// working day): a refund there must be waited for, never sent again (ecommpay lists
    /// operations; APS answers refunds at once: always empty).
    pub refunds_in_progress: Vec<RefundInProgress>,
}

/// A refund operation a provider holds and has not finished.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundInProgress {
    /// The request id its refund answer gave, when the status says.
    pub request_id: Option<String>,
    /// The amount it is for, when the status says.
    pub amount_minor: Option<i64>,
}

/// A refund operation a provider reports ended without money moving: a definite answer for the
/// refund we sent under that request id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeclinedRefund {
    pub request_id: String,
    pub code: String,
    pub message: String,
    /// The refunded amount the operation was for, when the answer says.
    pub amount_minor: Option<i64>,
    /// A technical failure (`error`), not a refusal (`decline`): `refund.failed`.
    pub failed: bool,
}

/// The state of a purchase (or of a refund operation) as a provider reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentState {
    /// Definitely paid (or, for a refund operation, definitely refunded).
    Succeeded,
    /// The provider refused it.
    Declined { code: String, message: String },
    /// It ended in a provider-side error (ecommpay `error`): final, but not a refusal.
    Failed { code: String, message: String },
    /// The customer must act (a redirect to humm); the action itself comes in the callback.
    ActionRequired { status: String },
    /// Not final yet, or not understood: keep waiting and query again. `status` is the provider's
    /// own word for it, kept for logs and review.
    Pending { status: String },
}

/// How a refund callback or notification relates to the refund in flight
/// (`../shared/spec/providers.md` §1.6 "Matching refund results").
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefundMatch {
    /// Same payment and the same refund operation (ecommpay `request_id`, APS
    /// `maintenance_reference`): apply the state to the refund in flight.
    Ours(PaymentState),
    /// The callback cannot be tied to the refund in flight (we lack its request id because the
    /// answer was lost, or the provider did not echo our reference): its figures agree, but
    /// settle only after a status query confirms the refunded total (§1.6 "Settling an uncertain
    /// refund by status query").
    Unconfirmed(PaymentState),
    /// A different refund (another request id, reference or payment), e.g. a late callback for
    /// an earlier refund. It changes nothing for the refund in flight.
    NotOurs { reason: String },
    /// Same refund, but amount or currency disagree: `needs_review`.
    Mismatch { reason: String },
}

/// The class a provider code or status word maps to, before the details are attached.
/// Each provider's `codes.rs` is the one table that produces these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeClass {
    Success,
    /// The provider refused the request unread (a signature it did not accept): nothing was
    /// registered, so it is not sent, never a decline; resend once the cause is fixed.
    Refused,
    Uncertain,
    Exists,
    Processing,
    RetryLater,
    NotFound,
    Terminal,
}

/// The class of a status word (`payment.status`, `transaction_status`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateClass {
    Succeeded,
    Declined,
    Failed,
    ActionRequired,
    Pending,
}

impl<T> CreateOutcome<T> {
    /// The outcome's name, for logs (its display form; never the `Debug` dump of its fields).
    pub fn name(&self) -> &'static str {
        match self {
            CreateOutcome::Accepted(_) => "accepted",
            CreateOutcome::NotSent { .. } => "not_sent",
            CreateOutcome::Uncertain { .. } => "uncertain",
            CreateOutcome::Exists { .. } => "exists",
            CreateOutcome::Processing { .. } => "processing",
            CreateOutcome::RetryLater { .. } => "retry_later",
            CreateOutcome::Terminal { .. } => "terminal",
            CreateOutcome::Mismatch { .. } => "mismatch",
        }
    }

    /// Builds the outcome for a code class; `accepted` is called only for [`CodeClass::Success`].
    /// A `NotFound` answer to a create call is not a refusal of the payment: it is treated as
    /// uncertain so that a status query decides.
    pub fn from_class(class: CodeClass, code: &str, message: &str, accepted: impl FnOnce() -> Self) -> Self {
        let (code, message) = (code.to_owned(), message.to_owned());
        match class {
            CodeClass::Success => accepted(),
            CodeClass::Refused => CreateOutcome::NotSent {
                reason: format!("provider refused the request unread: {code} {message}"),
            },
            CodeClass::Uncertain | CodeClass::NotFound => CreateOutcome::Uncertain {
                reason: format!("provider answered {code} {message}"),
            },
            CodeClass::Exists => CreateOutcome::Exists { code, message },
            CodeClass::Processing => CreateOutcome::Processing { code, message },
            CodeClass::RetryLater => CreateOutcome::RetryLater { code, message },
            CodeClass::Terminal => CreateOutcome::Terminal { code, message },
        }
    }
}

impl PaymentState {
    /// Attaches details to a state class.
    pub fn from_class(class: StateClass, status: &str, code: &str, message: &str) -> Self {
        let (code, message) = (code.to_owned(), message.to_owned());
        match class {
            StateClass::Succeeded => PaymentState::Succeeded,
            StateClass::Declined => PaymentState::Declined { code, message },
            StateClass::Failed => PaymentState::Failed { code, message },
            StateClass::ActionRequired => PaymentState::ActionRequired {
                status: status.to_owned(),
            },
            StateClass::Pending => PaymentState::Pending {
                status: status.to_owned(),
            },
        }
    }
}

/// What we sent, to check a provider's answer against (Hyperswitch checks amount and currency of
/// every response against the request; contract §3 `needs_review`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    /// Our id as the provider knows it (ecommpay `payment_id`, APS `merchant_reference`).
    pub reference: String,
    /// Amount in minor units; `None` for calls that carry none (CUSTOMER_VERIFY, status by id).
    pub amount_minor: Option<i64>,
    /// ISO 4217 code; `None` together with `amount_minor`.
    pub currency: Option<String>,
}

impl Expected {
    /// An expectation on the reference alone.
    pub fn reference(reference: impl Into<String>) -> Self {
        Expected {
            reference: reference.into(),
            amount_minor: None,
            currency: None,
        }
    }

    /// An expectation on reference, amount and currency.
    pub fn money(reference: impl Into<String>, amount_minor: i64, currency: impl Into<String>) -> Self {
        Expected {
            reference: reference.into(),
            amount_minor: Some(amount_minor),
            currency: Some(currency.into()),
        }
    }

    /// Compares what a provider reported with what we sent. A reported value that differs is a
    /// mismatch. When `strict` (the answer claims success), a value we expect but the provider did
    /// not report is a mismatch too: success is never assumed for figures nobody confirmed.
    pub fn check(
        &self,
        reference: Option<&str>,
        amount_minor: Option<i64>,
        currency: Option<&str>,
        strict: bool,
    ) -> Result<(), String> {
        match reference {
            Some(got) if got != self.reference => {
                return Err(format!(
                    "reference {}, expected {:?}",
                    crate::domain::limits::quote(got),
                    self.reference
                ))
            }
            None if strict => return Err("reference missing".to_owned()),
            _ => {}
        }
        if let Some(want) = self.amount_minor {
            match amount_minor {
                Some(got) if got != want => {
                    return Err(format!("amount {got}, expected {want}"));
                }
                None if strict => return Err("amount missing".to_owned()),
                _ => {}
            }
        }
        if let Some(want) = &self.currency {
            match currency {
                Some(got) if !got.eq_ignore_ascii_case(want) => {
                    return Err(format!(
                        "currency {}, expected {want:?}",
                        crate::domain::limits::quote(got)
                    ));
                }
                None if strict => return Err("currency missing".to_owned()),
                _ => {}
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "outcome_tests.rs"]
mod tests;
