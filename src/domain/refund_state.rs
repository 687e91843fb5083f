//! The refund state machine: a pure function from (current status, event) to what to do.
//!
//! Used like the payment machine (see [`super::payment_state`]): the store's compare-and-set
//! is `SET status = event.target() WHERE status = ANY(allowed_sources(event))`, and every `Move`
//! of an event leads to that one target (the tests prove it).
//!
//! Invariants (contract §2, design §1):
//! - final refunds never move; a provider answer contradicting one flags it for review;
//! - only a queued refund can be cancelled; one already sent is `not_cancellable`;
//! - a stuck head (in flight or needs review) is released only by recording its outcome
//!   (succeeded or declined), never skipped: a skipped refund that later succeeds would be a
//!   double refund;
//! - a queued refund was never sent, so a status-check answer about it is refused rather than
//!   believed: the refund is `Submit`ted first, committed as in flight, and only then sent.

use serde::{Deserialize, Serialize};

use super::{RefundStatus, ReviewReason};

/// The outcome an operator records when releasing a stuck refund queue head.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReleaseOutcome {
    /// A status query showed the refund was made.
    Succeeded,
    /// A status query showed the refund was refused (or never made).
    Declined,
}

impl ReleaseOutcome {
    /// The refund status this outcome records.
    pub const fn status(self) -> RefundStatus {
        match self {
            ReleaseOutcome::Succeeded => RefundStatus::Succeeded,
            ReleaseOutcome::Declined => RefundStatus::Declined,
        }
    }
}

/// Something that happened to a refund.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RefundEvent {
    /// The queue runner takes the head and sends it to the provider (→ `in_flight`).
    Submit,
    /// `refund.cancel`: remove a refund that is still queued.
    Cancel,
    /// No answer yet ("still processing", a timeout): keep waiting and check again later.
    RetryLater,
    /// The provider made the refund.
    Succeeded,
    /// The provider refused the refund.
    Declined,
    /// A terminal error: no money moved.
    Failed,
    /// Still no definite answer at the refund threshold (→ `needs_review`).
    NoDefiniteAnswer,
    /// Manual refund mode (issue 20): the head is announced for finance to file at the provider;
    /// it stays in flight, blocking its queue, until the provider's answer settles it.
    ActionRequired,
    /// An operator records the outcome of a stuck head (audited).
    Release {
        /// The outcome a status query supports.
        outcome: ReleaseOutcome,
    },
}

impl RefundEvent {
    /// The whole event space: every event, `Release` with each outcome.
    pub const ALL: [RefundEvent; 10] = [
        RefundEvent::Submit,
        RefundEvent::ActionRequired,
        RefundEvent::Cancel,
        RefundEvent::RetryLater,
        RefundEvent::Succeeded,
        RefundEvent::Declined,
        RefundEvent::Failed,
        RefundEvent::NoDefiniteAnswer,
        RefundEvent::Release {
            outcome: ReleaseOutcome::Succeeded,
        },
        RefundEvent::Release {
            outcome: ReleaseOutcome::Declined,
        },
    ];

    /// The status this event moves a refund to whenever it moves it at all (for `RetryLater`,
    /// which never moves one, the status it keeps).
    pub const fn target(&self) -> RefundStatus {
        match *self {
            RefundEvent::Submit | RefundEvent::RetryLater | RefundEvent::ActionRequired => RefundStatus::InFlight,
            RefundEvent::Cancel => RefundStatus::Cancelled,
            RefundEvent::Succeeded => RefundStatus::Succeeded,
            RefundEvent::Declined => RefundStatus::Declined,
            RefundEvent::Failed => RefundStatus::Failed,
            RefundEvent::NoDefiniteAnswer => RefundStatus::NeedsReview,
            RefundEvent::Release { outcome } => outcome.status(),
        }
    }

    /// True for everything except an operator's `Release` and a finance `Cancel`.
    pub const fn is_automatic(&self) -> bool {
        !matches!(self, RefundEvent::Release { .. } | RefundEvent::Cancel)
    }
}

/// What the store must do with a refund event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RefundTransition {
    /// Change to this status and announce it.
    Move(RefundStatus),
    /// Still waiting: keep the status, announce nothing, schedule the next status check.
    Stay,
    /// Duplicate or stale news: no change, no event.
    Ignore,
    /// Keep the (final) status, set the review flag with this reason, announce
    /// `refund.needs_review`.
    FlagReview {
        /// Why ops must look.
        reason: ReviewReason,
    },
    /// Not allowed; the command or request that carried it is rejected.
    Refuse(RefundRefusal),
}

/// Why a refund event is not allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum RefundRefusal {
    /// The refund was already sent (or is already settled); only a queued one can be cancelled.
    #[error("the refund was already sent and cannot be cancelled")]
    NotCancellable,
    /// The refund is still queued: nothing was sent, so there is no answer to apply or release
    /// (cancel it instead).
    #[error("the refund has not been sent yet")]
    NotSent,
    /// The refund is already final; there is nothing to release.
    #[error("the refund is already final")]
    AlreadyFinal,
}

impl RefundRefusal {
    /// The `command.rejected` reason code (contract §3) or admin API error code.
    pub const fn code(self) -> &'static str {
        match self {
            RefundRefusal::NotCancellable => "not_cancellable",
            RefundRefusal::NotSent => "not_sent",
            RefundRefusal::AlreadyFinal => "already_final",
        }
    }
}

/// Decides what `event` does to a refund in status `from`. Pure; see the module invariants.
pub fn transition(from: RefundStatus, event: &RefundEvent) -> RefundTransition {
    use RefundStatus as S;
    use RefundTransition::{FlagReview, Ignore, Move, Refuse, Stay};
    match *event {
        // Anything but a queued refund was already taken by a runner: a second submit is stale
        // and must not send again.
        RefundEvent::Submit => match from {
            S::Queued => Move(S::InFlight),
            S::InFlight | S::NeedsReview => Ignore,
            S::Succeeded | S::Declined | S::Failed | S::Cancelled => Ignore,
        },
        RefundEvent::Cancel => match from {
            S::Queued => Move(S::Cancelled),
            S::Cancelled => Ignore,
            S::InFlight | S::NeedsReview => Refuse(RefundRefusal::NotCancellable),
            S::Succeeded | S::Declined | S::Failed => Refuse(RefundRefusal::NotCancellable),
        },
        RefundEvent::RetryLater => match from {
            S::InFlight | S::NeedsReview => Stay,
            S::Queued => Refuse(RefundRefusal::NotSent),
            S::Succeeded | S::Declined | S::Failed | S::Cancelled => Ignore,
        },
        // A success contradicting a closed refund means money left that our balance does not
        // count: never dropped.
        RefundEvent::Succeeded => match from {
            S::InFlight | S::NeedsReview => Move(S::Succeeded),
            S::Queued => Refuse(RefundRefusal::NotSent),
            S::Succeeded => Ignore,
            S::Declined | S::Failed | S::Cancelled => FlagReview {
                reason: ReviewReason::SuccessAfterClose,
            },
        },
        RefundEvent::Declined => match from {
            S::InFlight | S::NeedsReview => Move(S::Declined),
            S::Queued => Refuse(RefundRefusal::NotSent),
            S::Succeeded => FlagReview {
                reason: ReviewReason::FailureAfterSuccess,
            },
            S::Declined | S::Failed | S::Cancelled => Ignore,
        },
        // A queued refund may fail before it is sent (a check the runner makes first); no money
        // moved either way, so it is as good as a failure after sending.
        RefundEvent::Failed => match from {
            S::Queued | S::InFlight | S::NeedsReview => Move(S::Failed),
            S::Succeeded => FlagReview {
                reason: ReviewReason::FailureAfterSuccess,
            },
            S::Declined | S::Failed | S::Cancelled => Ignore,
        },
        RefundEvent::NoDefiniteAnswer => match from {
            S::InFlight => Move(S::NeedsReview),
            S::NeedsReview => Ignore,
            S::Queued => Refuse(RefundRefusal::NotSent),
            S::Succeeded | S::Declined | S::Failed | S::Cancelled => Ignore,
        },
        // Announced once, when the head is taken: a refund in review was announced already (a
        // resend from review must not ask finance twice).
        RefundEvent::ActionRequired => match from {
            S::InFlight => Move(S::InFlight),
            S::NeedsReview => Ignore,
            S::Queued => Refuse(RefundRefusal::NotSent),
            S::Succeeded | S::Declined | S::Failed | S::Cancelled => Ignore,
        },
        RefundEvent::Release { outcome } => match from {
            S::InFlight | S::NeedsReview => Move(outcome.status()),
            S::Queued => Refuse(RefundRefusal::NotSent),
            S::Succeeded | S::Declined | S::Failed | S::Cancelled => Refuse(RefundRefusal::AlreadyFinal),
        },
    }
}

/// The statuses from which `event` changes the status (`Move`): the `$allowed` of the store's
/// compare-and-set. The new status is always `event.target()`.
pub fn allowed_sources(event: &RefundEvent) -> Vec<RefundStatus> {
    sources_where(event, |t| matches!(t, RefundTransition::Move(_)))
}

/// The statuses from which `event` flags the refund for review without changing its status.
pub fn review_sources(event: &RefundEvent) -> Vec<RefundStatus> {
    sources_where(event, |t| matches!(t, RefundTransition::FlagReview { .. }))
}

fn sources_where(event: &RefundEvent, keep: impl Fn(&RefundTransition) -> bool) -> Vec<RefundStatus> {
    RefundStatus::ALL
        .into_iter()
        .filter(|from| keep(&transition(*from, event)))
        .collect()
}

#[cfg(test)]
#[path = "refund_state_tests.rs"]
mod tests;
