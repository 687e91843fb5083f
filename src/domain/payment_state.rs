//! The payment state machine: a pure function from (current status, event) to what to do.
//!
//! The store turns its answer into a compare-and-set (design §1): it writes
//! `UPDATE … SET status = $target WHERE id = $1 AND status = ANY($allowed)` with
//! `$target = event.target()` and `$allowed = allowed_sources(event)`, and when no row matches it
//! re-reads the status and asks [`transition`] again. That works in one statement because, for
//! every event, every `Move` leads to the same status (the event's target; the tests prove it).
//!
//! Invariants (contract §3):
//! - a final status never moves except by [`PaymentEvent::Resolve`], an operator's audited act;
//! - a provider answer that contradicts a final status leaves it as it is and flags it for
//!   review ([`Transition::FlagReview`]); it is never dropped as "stale";
//! - `needs_review` is not final: a later definite answer settles it, and so can an operator;
//! - a final payment flagged for review may be resolved by an operator to the status it has
//!   ([`transition_flagged`]): the decision "it stays as it is" clears the flag, audited;
//! - duplicates and stale news ([`Transition::Ignore`]) change nothing and announce nothing.

use super::{PaymentStatus, ReviewReason};

/// Something that happened to a payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PaymentEvent {
    /// The provider accepted the create call: we now wait for it (→ `pending`).
    Registered,
    /// The customer must act: redirect data, a valU OTP, or a payment page URL. May repeat.
    ActionRequired,
    /// valU: OTP verify and purchase were sent (→ `pending`).
    ConfirmSent,
    /// The provider approved the purchase.
    Succeeded,
    /// The provider refused the purchase.
    Declined,
    /// A terminal error before the provider had the payment.
    Failed,
    /// The payment can no longer succeed and nobody refused it.
    Expired,
    /// Still no definite answer at the threshold time plus grace (→ `needs_review`).
    NoDefiniteAnswer,
    /// A provider answer contradicts our records: amount, currency or reference mismatch.
    Contradiction,
    /// An operator's audited manual resolution to a final status.
    Resolve {
        /// The final status the operator decided on.
        to: PaymentStatus,
    },
}

impl PaymentEvent {
    /// Every event without a parameter, plus `Resolve` to each status: the whole event space.
    pub const ALL: [PaymentEvent; 17] = {
        use PaymentStatus as S;
        [
            PaymentEvent::Registered,
            PaymentEvent::ActionRequired,
            PaymentEvent::ConfirmSent,
            PaymentEvent::Succeeded,
            PaymentEvent::Declined,
            PaymentEvent::Failed,
            PaymentEvent::Expired,
            PaymentEvent::NoDefiniteAnswer,
            PaymentEvent::Contradiction,
            PaymentEvent::Resolve { to: S::Accepted },
            PaymentEvent::Resolve { to: S::Pending },
            PaymentEvent::Resolve { to: S::ActionRequired },
            PaymentEvent::Resolve { to: S::NeedsReview },
            PaymentEvent::Resolve { to: S::Succeeded },
            PaymentEvent::Resolve { to: S::Declined },
            PaymentEvent::Resolve { to: S::Failed },
            PaymentEvent::Resolve { to: S::Expired },
        ]
    };

    /// The status this event moves a payment to whenever it moves it at all.
    pub const fn target(&self) -> PaymentStatus {
        match *self {
            PaymentEvent::Registered | PaymentEvent::ConfirmSent => PaymentStatus::Pending,
            PaymentEvent::ActionRequired => PaymentStatus::ActionRequired,
            PaymentEvent::Succeeded => PaymentStatus::Succeeded,
            PaymentEvent::Declined => PaymentStatus::Declined,
            PaymentEvent::Failed => PaymentStatus::Failed,
            PaymentEvent::Expired => PaymentStatus::Expired,
            PaymentEvent::NoDefiniteAnswer | PaymentEvent::Contradiction => PaymentStatus::NeedsReview,
            PaymentEvent::Resolve { to } => to,
        }
    }

    /// True for everything except an operator's `Resolve`: what providers, callbacks, status
    /// checks and timers can produce.
    pub const fn is_automatic(&self) -> bool {
        !matches!(self, PaymentEvent::Resolve { .. })
    }
}

/// What the store must do with an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transition {
    /// Change to this status and announce it.
    Move(PaymentStatus),
    /// Keep the status but announce it again (a second redirect, a new OTP, a new contradiction
    /// for a payment already in review).
    Repeat,
    /// Duplicate or stale news: no change, no event.
    Ignore,
    /// Keep the (final) status, set the review flag with this reason, announce
    /// `payment.needs_review`.
    FlagReview {
        /// Why ops must look.
        reason: ReviewReason,
    },
    /// Not allowed; the command or request that carried it is rejected.
    Refuse(PaymentRefusal),
}

/// Why a payment event is not allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum PaymentRefusal {
    /// A valU confirmation for a payment that is not waiting for its OTP.
    #[error("the payment is not waiting for an OTP confirmation")]
    NotAwaitingConfirmation,
    /// A customer-side step for a payment that is already final.
    #[error("the payment is already final")]
    AlreadyFinal,
    /// An operator may resolve only to a final status.
    #[error("a payment can be resolved only to a final status")]
    ResolveTargetNotFinal,
    /// Resolving to the status the payment already has would record a decision that changed
    /// nothing.
    #[error("the payment already has this status")]
    ResolveToSameStatus,
}

/// Decides what `event` does to a payment in status `from`. Pure; see the module invariants.
pub fn transition(from: PaymentStatus, event: &PaymentEvent) -> Transition {
    use PaymentStatus as S;
    use Transition::{FlagReview, Ignore, Move, Refuse, Repeat};
    match *event {
        PaymentEvent::Resolve { to } if !to.is_final() => Refuse(PaymentRefusal::ResolveTargetNotFinal),
        PaymentEvent::Resolve { to } if to == from => Refuse(PaymentRefusal::ResolveToSameStatus),
        PaymentEvent::Resolve { to } => Move(to),
        // Only the first acknowledgement counts; one arriving after the customer was already
        // asked to act (or after an answer) is stale.
        PaymentEvent::Registered => match from {
            S::Accepted => Move(S::Pending),
            S::Pending | S::ActionRequired | S::NeedsReview => Ignore,
            S::Succeeded | S::Declined | S::Failed | S::Expired => Ignore,
        },
        // A payment in review waits for a definite answer or ops, not for the customer.
        PaymentEvent::ActionRequired => match from {
            S::Accepted | S::Pending => Move(S::ActionRequired),
            S::ActionRequired => Repeat,
            S::NeedsReview => Ignore,
            S::Succeeded | S::Declined | S::Failed | S::Expired => Ignore,
        },
        // Pending already means "confirm sent": a retried job applying it again is a duplicate.
        PaymentEvent::ConfirmSent => match from {
            S::ActionRequired => Move(S::Pending),
            S::Pending => Ignore,
            S::Accepted | S::NeedsReview => Refuse(PaymentRefusal::NotAwaitingConfirmation),
            S::Succeeded | S::Declined | S::Failed | S::Expired => Refuse(PaymentRefusal::AlreadyFinal),
        },
        // Money may have moved against our records: never forget it (Hyperswitch's bug).
        PaymentEvent::Succeeded => match from {
            S::Accepted | S::Pending | S::ActionRequired | S::NeedsReview => Move(S::Succeeded),
            S::Succeeded => Ignore,
            S::Declined | S::Failed | S::Expired => FlagReview {
                reason: ReviewReason::SuccessAfterClose,
            },
        },
        // Among the unsuccessful final states the money outcome is the same (nothing moved),
        // so a disagreement about *why* is not worth an operator; contradicting a success is.
        PaymentEvent::Declined | PaymentEvent::Failed => match from {
            S::Accepted | S::Pending | S::ActionRequired | S::NeedsReview => Move(event.target()),
            S::Succeeded => FlagReview {
                reason: ReviewReason::FailureAfterSuccess,
            },
            S::Declined | S::Failed | S::Expired => Ignore,
        },
        // Expiry is our inference from the absence of an answer; a recorded answer outweighs it,
        // so it contradicts nothing (a late expiry timer after a success is simply stale).
        PaymentEvent::Expired => match from {
            S::Accepted | S::Pending | S::ActionRequired | S::NeedsReview => Move(S::Expired),
            S::Succeeded | S::Declined | S::Failed | S::Expired => Ignore,
        },
        PaymentEvent::NoDefiniteAnswer => match from {
            S::Accepted | S::Pending | S::ActionRequired => Move(S::NeedsReview),
            S::NeedsReview => Ignore,
            S::Succeeded | S::Declined | S::Failed | S::Expired => Ignore,
        },
        // A contradiction is new information from a provider: ops hear of each one.
        PaymentEvent::Contradiction => match from {
            S::Accepted | S::Pending | S::ActionRequired => Move(S::NeedsReview),
            S::NeedsReview => Repeat,
            S::Succeeded | S::Declined | S::Failed | S::Expired => FlagReview {
                reason: ReviewReason::Contradiction,
            },
        },
    }
}

/// [`transition`] for a payment whose review flag is (`under_review`) or is not set. An operator
/// may also resolve a flagged final payment to the status it has: a provider answer contradicted
/// it, and ops decide that it stays (contract §3: "ops then decide with `payment.resolved`").
pub fn transition_flagged(from: PaymentStatus, under_review: bool, event: &PaymentEvent) -> Transition {
    match *event {
        PaymentEvent::Resolve { to } if under_review && to == from && to.is_final() => Transition::Repeat,
        _ => transition(from, event),
    }
}

/// The statuses from which `event` changes or re-announces the status (`Move` or `Repeat`):
/// the `$allowed` of the store's compare-and-set. The new status is always `event.target()`.
pub fn allowed_sources(event: &PaymentEvent) -> Vec<PaymentStatus> {
    sources_where(event, |t| matches!(t, Transition::Move(_) | Transition::Repeat))
}

/// The statuses from which `event` flags the payment for review without changing its status:
/// the `$allowed` of the compare-and-set that sets the review flag.
pub fn review_sources(event: &PaymentEvent) -> Vec<PaymentStatus> {
    sources_where(event, |t| matches!(t, Transition::FlagReview { .. }))
}

fn sources_where(event: &PaymentEvent, keep: impl Fn(&Transition) -> bool) -> Vec<PaymentStatus> {
    PaymentStatus::ALL
        .into_iter()
        .filter(|from| keep(&transition(*from, event)))
        .collect()
}

#[cfg(test)]
#[path = "payment_state_tests.rs"]
mod tests;
