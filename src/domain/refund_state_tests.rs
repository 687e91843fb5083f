//! The refund state machine, pair by pair: every (status, event) written out with its expected
//! outcome, checked to cover the whole space, plus the properties the queue relies on.

use std::collections::HashSet;

use super::*;
use proptest::prelude::*;
use RefundEvent as E;
use RefundStatus as S;
use ReleaseOutcome as O;

const IGN: RefundTransition = RefundTransition::Ignore;
const STAY: RefundTransition = RefundTransition::Stay;
const NCA: RefundTransition = RefundTransition::Refuse(RefundRefusal::NotCancellable);
const NSN: RefundTransition = RefundTransition::Refuse(RefundRefusal::NotSent);
const AFI: RefundTransition = RefundTransition::Refuse(RefundRefusal::AlreadyFinal);
const SAC: RefundTransition = RefundTransition::FlagReview {
    reason: ReviewReason::SuccessAfterClose,
};
const FAS: RefundTransition = RefundTransition::FlagReview {
    reason: ReviewReason::FailureAfterSuccess,
};

const fn mv(to: RefundStatus) -> RefundTransition {
    RefundTransition::Move(to)
}

/// The whole specification: 7 statuses × 10 events.
#[rustfmt::skip]
const TABLE: [(RefundStatus, RefundEvent, RefundTransition); 70] = [
    // from Queued
    (S::Queued, E::Submit, mv(S::InFlight)),
    (S::Queued, E::Cancel, mv(S::Cancelled)),
    (S::Queued, E::RetryLater, NSN),
    (S::Queued, E::Succeeded, NSN),
    (S::Queued, E::Declined, NSN),
    (S::Queued, E::Failed, mv(S::Failed)),
    (S::Queued, E::NoDefiniteAnswer, NSN),
    (S::Queued, E::ActionRequired, NSN),
    (S::Queued, E::Release { outcome: O::Succeeded }, NSN),
    (S::Queued, E::Release { outcome: O::Declined }, NSN),
    // from InFlight
    (S::InFlight, E::Submit, IGN),
    (S::InFlight, E::Cancel, NCA),
    (S::InFlight, E::RetryLater, STAY),
    (S::InFlight, E::Succeeded, mv(S::Succeeded)),
    (S::InFlight, E::Declined, mv(S::Declined)),
    (S::InFlight, E::Failed, mv(S::Failed)),
    (S::InFlight, E::NoDefiniteAnswer, mv(S::NeedsReview)),
    (S::InFlight, E::ActionRequired, mv(S::InFlight)),
    (S::InFlight, E::Release { outcome: O::Succeeded }, mv(S::Succeeded)),
    (S::InFlight, E::Release { outcome: O::Declined }, mv(S::Declined)),
    // from Succeeded
    (S::Succeeded, E::Submit, IGN),
    (S::Succeeded, E::Cancel, NCA),
    (S::Succeeded, E::RetryLater, IGN),
    (S::Succeeded, E::Succeeded, IGN),
    (S::Succeeded, E::Declined, FAS),
    (S::Succeeded, E::Failed, FAS),
    (S::Succeeded, E::NoDefiniteAnswer, IGN),
    (S::Succeeded, E::ActionRequired, IGN),
    (S::Succeeded, E::Release { outcome: O::Succeeded }, AFI),
    (S::Succeeded, E::Release { outcome: O::Declined }, AFI),
    // from Declined
    (S::Declined, E::Submit, IGN),
    (S::Declined, E::Cancel, NCA),
    (S::Declined, E::RetryLater, IGN),
    (S::Declined, E::Succeeded, SAC),
    (S::Declined, E::Declined, IGN),
    (S::Declined, E::Failed, IGN),
    (S::Declined, E::NoDefiniteAnswer, IGN),
    (S::Declined, E::ActionRequired, IGN),
    (S::Declined, E::Release { outcome: O::Succeeded }, AFI),
    (S::Declined, E::Release { outcome: O::Declined }, AFI),
    // from Failed
    (S::Failed, E::Submit, IGN),
    (S::Failed, E::Cancel, NCA),
    (S::Failed, E::RetryLater, IGN),
    (S::Failed, E::Succeeded, SAC),
    (S::Failed, E::Declined, IGN),
    (S::Failed, E::Failed, IGN),
    (S::Failed, E::NoDefiniteAnswer, IGN),
    (S::Failed, E::ActionRequired, IGN),
    (S::Failed, E::Release { outcome: O::Succeeded }, AFI),
    (S::Failed, E::Release { outcome: O::Declined }, AFI),
    // from Cancelled
    (S::Cancelled, E::Submit, IGN),
    (S::Cancelled, E::Cancel, IGN),
    (S::Cancelled, E::RetryLater, IGN),
    (S::Cancelled, E::Succeeded, SAC),
    (S::Cancelled, E::Declined, IGN),
    (S::Cancelled, E::Failed, IGN),
    (S::Cancelled, E::NoDefiniteAnswer, IGN),
    (S::Cancelled, E::ActionRequired, IGN),
    (S::Cancelled, E::Release { outcome: O::Succeeded }, AFI),
    (S::Cancelled, E::Release { outcome: O::Declined }, AFI),
    // from NeedsReview
    (S::NeedsReview, E::Submit, IGN),
    (S::NeedsReview, E::Cancel, NCA),
    (S::NeedsReview, E::RetryLater, STAY),
    (S::NeedsReview, E::Succeeded, mv(S::Succeeded)),
    (S::NeedsReview, E::Declined, mv(S::Declined)),
    (S::NeedsReview, E::Failed, mv(S::Failed)),
    (S::NeedsReview, E::NoDefiniteAnswer, IGN),
    (S::NeedsReview, E::ActionRequired, IGN),
    (S::NeedsReview, E::Release { outcome: O::Succeeded }, mv(S::Succeeded)),
    (S::NeedsReview, E::Release { outcome: O::Declined }, mv(S::Declined)),
];

#[test]
fn table_is_exhaustive_and_unique() {
    assert_eq!(TABLE.len(), RefundStatus::ALL.len() * RefundEvent::ALL.len());
    let pairs: HashSet<_> = TABLE.iter().map(|(from, ev, _)| (*from, *ev)).collect();
    assert_eq!(pairs.len(), TABLE.len(), "a (status, event) pair appears twice");
    for from in RefundStatus::ALL {
        for ev in RefundEvent::ALL {
            assert!(pairs.contains(&(from, ev)), "missing ({from:?}, {ev:?})");
        }
    }
}

#[test]
fn every_pair_matches_the_table() {
    for (from, ev, expected) in TABLE {
        assert_eq!(transition(from, &ev), expected, "({from:?}, {ev:?})");
    }
}

#[test]
fn every_move_goes_to_the_event_target() {
    for (from, ev, _) in TABLE {
        if let RefundTransition::Move(to) = transition(from, &ev) {
            assert_eq!(to, ev.target(), "({from:?}, {ev:?})");
        }
    }
}

#[test]
fn final_refunds_never_move() {
    for (from, ev, expected) in TABLE {
        if from.is_final() {
            assert!(!matches!(expected, RefundTransition::Move(_)), "{from:?} {ev:?}");
        }
    }
}

#[test]
fn allowed_sources_for_the_store() {
    assert_eq!(allowed_sources(&E::Submit), [S::Queued]);
    assert_eq!(allowed_sources(&E::Cancel), [S::Queued]);
    assert!(allowed_sources(&E::RetryLater).is_empty());
    assert_eq!(allowed_sources(&E::Succeeded), [S::InFlight, S::NeedsReview]);
    assert_eq!(allowed_sources(&E::Declined), [S::InFlight, S::NeedsReview]);
    assert_eq!(allowed_sources(&E::Failed), [S::Queued, S::InFlight, S::NeedsReview]);
    assert_eq!(allowed_sources(&E::NoDefiniteAnswer), [S::InFlight]);
    for outcome in [O::Succeeded, O::Declined] {
        assert_eq!(allowed_sources(&E::Release { outcome }), [S::InFlight, S::NeedsReview]);
    }
    assert_eq!(review_sources(&E::Succeeded), [S::Declined, S::Failed, S::Cancelled]);
    assert_eq!(review_sources(&E::Declined), [S::Succeeded]);
}

#[test]
fn refusal_codes() {
    assert_eq!(RefundRefusal::NotCancellable.code(), "not_cancellable");
    assert_eq!(
        serde_json::to_value(O::Succeeded).unwrap(),
        serde_json::json!("succeeded")
    );
}

fn any_status() -> impl Strategy<Value = RefundStatus> {
    proptest::sample::select(RefundStatus::ALL.to_vec())
}

fn any_event() -> impl Strategy<Value = RefundEvent> {
    proptest::sample::select(RefundEvent::ALL.to_vec())
}

proptest! {
    /// Whatever happens, and in whatever order, a final refund stays as it is, and a refund
    /// that was ever sent can never become `cancelled`.
    #[test]
    fn final_refunds_stay_final_and_sent_refunds_never_cancel(
        start in any_status(),
        events in proptest::collection::vec(any_event(), 0..40),
    ) {
        let mut status = start;
        let mut sent = !matches!(start, S::Queued | S::Cancelled);
        for ev in &events {
            let before = status;
            if let RefundTransition::Move(to) = transition(status, ev) {
                status = to;
            }
            if before.is_final() {
                prop_assert_eq!(status, before, "moved by {:?}", ev);
            }
            sent |= status == S::InFlight;
            prop_assert!(!(sent && status == S::Cancelled), "sent refund cancelled by {:?}", ev);
        }
    }
}

#[test]
fn only_an_operators_release_and_a_finance_cancel_are_not_automatic() {
    for event in RefundEvent::ALL {
        let by_a_person = matches!(event, E::Release { .. } | E::Cancel);
        assert_eq!(event.is_automatic(), !by_a_person, "{event:?}");
    }
}
