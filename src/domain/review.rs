//! Why a payment or refund needs an operator's eyes.
//!
//! Shared by both state machines: the codes are what ops read on `payment.needs_review` and
//! `refund.needs_review` events and in the dashboard, so they are stable snake_case text.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The reason a record was moved to `needs_review` or had its review flag set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewReason {
    /// The provider reports success for something we had closed as not succeeded (declined,
    /// failed, expired, cancelled): money may have moved that our records say did not.
    SuccessAfterClose,
    /// The provider reports a decline or failure for something we had recorded as succeeded.
    FailureAfterSuccess,
    /// A provider answer contradicts our records (amount, currency or reference mismatch).
    Contradiction,
    /// Still no definite answer at the threshold time plus grace.
    NoDefiniteAnswer,
}

impl ReviewReason {
    /// Stable code for events and storage.
    pub const fn as_str(self) -> &'static str {
        match self {
            ReviewReason::SuccessAfterClose => "success_after_close",
            ReviewReason::FailureAfterSuccess => "failure_after_success",
            ReviewReason::Contradiction => "contradiction",
            ReviewReason::NoDefiniteAnswer => "no_definite_answer",
        }
    }
}

impl fmt::Display for ReviewReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::ReviewReason;

    #[test]
    fn displays_as_its_name() {
        for (reason, name) in [
            (ReviewReason::SuccessAfterClose, "success_after_close"),
            (ReviewReason::FailureAfterSuccess, "failure_after_success"),
            (ReviewReason::Contradiction, "contradiction"),
            (ReviewReason::NoDefiniteAnswer, "no_definite_answer"),
        ] {
            assert_eq!(reason.to_string(), name);
        }
    }
}
