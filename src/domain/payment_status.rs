//! The states a payment can be in (contract §3), as stored in the database and sent in events.
//!
//! Invariant: `succeeded`, `declined`, `failed` and `expired` are final, and only an operator's
//! audited resolution moves a payment out of one. `needs_review` is deliberately *not* final: a
//! later definite answer from the provider still settles it.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Where a payment stands. Serde and database text are the snake_case names.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    /// Stored; the provider has not been called yet (or the call's result is not in).
    Accepted,
    /// The provider has it and we wait for an answer.
    Pending,
    /// The customer must act (redirect, OTP, payment page); may repeat.
    ActionRequired,
    /// No definite answer in time, or the provider contradicted our records; ops or a later
    /// definite answer settle it.
    NeedsReview,
    /// The provider approved the purchase.
    Succeeded,
    /// The provider refused it (including ecommpay's own decline at the threshold time).
    Declined,
    /// A terminal error before the provider had it (e.g. a validation error on create).
    Failed,
    /// It can no longer succeed and no provider refused it (page never opened, OTP lapsed).
    Expired,
}

/// Text that is not a payment status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown payment status {0:?}")]
pub struct UnknownPaymentStatus(pub String);

impl PaymentStatus {
    /// Every status, in lifecycle order.
    pub const ALL: [PaymentStatus; 8] = [
        PaymentStatus::Accepted,
        PaymentStatus::Pending,
        PaymentStatus::ActionRequired,
        PaymentStatus::NeedsReview,
        PaymentStatus::Succeeded,
        PaymentStatus::Declined,
        PaymentStatus::Failed,
        PaymentStatus::Expired,
    ];

    /// The contract and database text, e.g. `"action_required"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            PaymentStatus::Accepted => "accepted",
            PaymentStatus::Pending => "pending",
            PaymentStatus::ActionRequired => "action_required",
            PaymentStatus::NeedsReview => "needs_review",
            PaymentStatus::Succeeded => "succeeded",
            PaymentStatus::Declined => "declined",
            PaymentStatus::Failed => "failed",
            PaymentStatus::Expired => "expired",
        }
    }

    /// True for `succeeded`, `declined`, `failed`, `expired`: only an operator moves these.
    pub const fn is_final(self) -> bool {
        match self {
            PaymentStatus::Succeeded | PaymentStatus::Declined | PaymentStatus::Failed | PaymentStatus::Expired => true,
            PaymentStatus::Accepted
            | PaymentStatus::Pending
            | PaymentStatus::ActionRequired
            | PaymentStatus::NeedsReview => false,
        }
    }
}

impl fmt::Display for PaymentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PaymentStatus {
    type Err = UnknownPaymentStatus;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PaymentStatus::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| UnknownPaymentStatus(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_serde_and_parse_agree() {
        for st in PaymentStatus::ALL {
            let json = serde_json::to_value(st).unwrap();
            assert_eq!(json, serde_json::Value::String(st.as_str().to_owned()));
            assert_eq!(st.as_str().parse::<PaymentStatus>().unwrap(), st);
            assert_eq!(serde_json::from_value::<PaymentStatus>(json).unwrap(), st);
        }
        assert!("Succeeded".parse::<PaymentStatus>().is_err());
        assert!("".parse::<PaymentStatus>().is_err());
    }

    #[test]
    fn exactly_four_final_states() {
        let finals: Vec<_> = PaymentStatus::ALL.into_iter().filter(|s| s.is_final()).collect();
        assert_eq!(
            finals,
            [
                PaymentStatus::Succeeded,
                PaymentStatus::Declined,
                PaymentStatus::Failed,
                PaymentStatus::Expired
            ]
        );
        assert!(!PaymentStatus::NeedsReview.is_final());
    }

    #[test]
    fn displays_as_its_name_and_reads_back() {
        for status in PaymentStatus::ALL {
            assert_eq!(status.to_string(), status.as_str());
            assert_eq!(status.as_str().parse::<PaymentStatus>().ok(), Some(status));
        }
    }
}
