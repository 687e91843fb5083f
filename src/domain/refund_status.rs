//! The states a refund can be in (contract §2, §3), as stored in the database and sent in events.
//!
//! Invariants: `succeeded`, `declined`, `failed` and `cancelled` are final and never move.
//! `needs_review` is not final: it keeps blocking its refund queue until a definite answer or an
//! operator's recorded outcome settles it. What counts against the captured amount is decided
//! here, once ([`RefundStatus::counts_against_balance`]), so the balance check and the reports
//! cannot disagree.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Where a refund stands. Serde and database text are the snake_case names (`in_flight`).
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
pub enum RefundStatus {
    /// Accepted and waiting for its turn in the account's sequential refund queue.
    Queued,
    /// Sent (or being sent) to the provider; the one in flight for its queue.
    InFlight,
    /// The provider refunded it.
    Succeeded,
    /// The provider refused it.
    Declined,
    /// A terminal error; no money moved.
    Failed,
    /// Removed from the queue before it was sent.
    Cancelled,
    /// Outcome unknown past the refund threshold, or contradicted; blocks its queue.
    NeedsReview,
}

/// Text that is not a refund status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown refund status {0:?}")]
pub struct UnknownRefundStatus(pub String);

impl RefundStatus {
    /// Every status.
    pub const ALL: [RefundStatus; 7] = [
        RefundStatus::Queued,
        RefundStatus::InFlight,
        RefundStatus::Succeeded,
        RefundStatus::Declined,
        RefundStatus::Failed,
        RefundStatus::Cancelled,
        RefundStatus::NeedsReview,
    ];

    /// The contract and database text, e.g. `"in_flight"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            RefundStatus::Queued => "queued",
            RefundStatus::InFlight => "in_flight",
            RefundStatus::Succeeded => "succeeded",
            RefundStatus::Declined => "declined",
            RefundStatus::Failed => "failed",
            RefundStatus::Cancelled => "cancelled",
            RefundStatus::NeedsReview => "needs_review",
        }
    }

    /// True for `succeeded`, `declined`, `failed`, `cancelled`; the queue moves on only past
    /// these.
    pub const fn is_final(self) -> bool {
        match self {
            RefundStatus::Succeeded | RefundStatus::Declined | RefundStatus::Failed | RefundStatus::Cancelled => true,
            RefundStatus::Queued | RefundStatus::InFlight | RefundStatus::NeedsReview => false,
        }
    }

    /// True for `in_flight` and `needs_review`: the outcome is unknown, so the refund holds its
    /// queue (the predicate of the unique index `refunds_one_in_flight_per_queue`), and it is the
    /// one the sender and the status check work on.
    pub const fn holds_queue(self) -> bool {
        matches!(self, RefundStatus::InFlight | RefundStatus::NeedsReview)
    }

    /// True when the refund's amount is (or may yet be) paid out, so it reduces what remains
    /// refundable: queued, in flight, succeeded, needs review (contract §2). Counting the
    /// uncertain ones is what makes over-refunding impossible.
    pub const fn counts_against_balance(self) -> bool {
        match self {
            RefundStatus::Queued | RefundStatus::InFlight | RefundStatus::Succeeded | RefundStatus::NeedsReview => true,
            RefundStatus::Declined | RefundStatus::Failed | RefundStatus::Cancelled => false,
        }
    }
}

impl fmt::Display for RefundStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RefundStatus {
    type Err = UnknownRefundStatus;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RefundStatus::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| UnknownRefundStatus(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use RefundStatus as R;

    #[test]
    fn text_serde_and_parse_agree() {
        for st in R::ALL {
            let json = serde_json::to_value(st).unwrap();
            assert_eq!(json, serde_json::Value::String(st.as_str().to_owned()));
            assert_eq!(st.as_str().parse::<R>().unwrap(), st);
            assert_eq!(serde_json::from_value::<R>(json).unwrap(), st);
        }
        assert_eq!(R::InFlight.as_str(), "in_flight");
        assert!("inflight".parse::<R>().is_err());
    }

    #[test]
    fn final_and_counting_sets() {
        let finals: Vec<_> = R::ALL.into_iter().filter(|s| s.is_final()).collect();
        assert_eq!(finals, [R::Succeeded, R::Declined, R::Failed, R::Cancelled]);
        let counted: Vec<_> = R::ALL.into_iter().filter(|s| s.counts_against_balance()).collect();
        assert_eq!(counted, [R::Queued, R::InFlight, R::Succeeded, R::NeedsReview]);
    }

    #[test]
    fn displays_as_its_name_and_reads_back() {
        for status in RefundStatus::ALL {
            assert_eq!(status.to_string(), status.as_str());
            assert_eq!(status.as_str().parse::<RefundStatus>().ok(), Some(status));
        }
    }

    #[test]
    fn only_a_refund_without_a_known_outcome_holds_its_queue() {
        let holding: Vec<RefundStatus> = RefundStatus::ALL.into_iter().filter(|s| s.holds_queue()).collect();
        assert_eq!(holding, [RefundStatus::InFlight, RefundStatus::NeedsReview]);
    }
}
