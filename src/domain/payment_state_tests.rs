//! The payment state machine, pair by pair: every (status, event) written out with its expected
//! outcome, checked to cover the whole space, plus the properties the store relies on.

use std::collections::HashSet;

use super::*;
use proptest::prelude::*;
use PaymentEvent as E;
use PaymentStatus as S;

const IGN: Transition = Transition::Ignore;
const REP: Transition = Transition::Repeat;
const NAC: Transition = Transition::Refuse(PaymentRefusal::NotAwaitingConfirmation);
const FIN: Transition = Transition::Refuse(PaymentRefusal::AlreadyFinal);
const RNF: Transition = Transition::Refuse(PaymentRefusal::ResolveTargetNotFinal);
const RSS: Transition = Transition::Refuse(PaymentRefusal::ResolveToSameStatus);
const SAC: Transition = Transition::FlagReview {
    reason: ReviewReason::SuccessAfterClose,
};
const FAS: Transition = Transition::FlagReview {
    reason: ReviewReason::FailureAfterSuccess,
};
const CON: Transition = Transition::FlagReview {
    reason: ReviewReason::Contradiction,
};

const fn mv(to: PaymentStatus) -> Transition {
    Transition::Move(to)
}

/// The whole specification: 8 statuses × 17 events.
#[rustfmt::skip]
const TABLE: [(PaymentStatus, PaymentEvent, Transition); 136] = [
    // from Accepted
    (S::Accepted, E::Registered, mv(S::Pending)),
    (S::Accepted, E::ActionRequired, mv(S::ActionRequired)),
    (S::Accepted, E::ConfirmSent, NAC),
    (S::Accepted, E::Succeeded, mv(S::Succeeded)),
    (S::Accepted, E::Declined, mv(S::Declined)),
    (S::Accepted, E::Failed, mv(S::Failed)),
    (S::Accepted, E::Expired, mv(S::Expired)),
    (S::Accepted, E::NoDefiniteAnswer, mv(S::NeedsReview)),
    (S::Accepted, E::Contradiction, mv(S::NeedsReview)),
    (S::Accepted, E::Resolve { to: S::Accepted }, RNF),
    (S::Accepted, E::Resolve { to: S::Pending }, RNF),
    (S::Accepted, E::Resolve { to: S::ActionRequired }, RNF),
    (S::Accepted, E::Resolve { to: S::NeedsReview }, RNF),
    (S::Accepted, E::Resolve { to: S::Succeeded }, mv(S::Succeeded)),
    (S::Accepted, E::Resolve { to: S::Declined }, mv(S::Declined)),
    (S::Accepted, E::Resolve { to: S::Failed }, mv(S::Failed)),
    (S::Accepted, E::Resolve { to: S::Expired }, mv(S::Expired)),
    // from Pending
    (S::Pending, E::Registered, IGN),
    (S::Pending, E::ActionRequired, mv(S::ActionRequired)),
    (S::Pending, E::ConfirmSent, IGN),
    (S::Pending, E::Succeeded, mv(S::Succeeded)),
    (S::Pending, E::Declined, mv(S::Declined)),
    (S::Pending, E::Failed, mv(S::Failed)),
    (S::Pending, E::Expired, mv(S::Expired)),
    (S::Pending, E::NoDefiniteAnswer, mv(S::NeedsReview)),
    (S::Pending, E::Contradiction, mv(S::NeedsReview)),
    (S::Pending, E::Resolve { to: S::Accepted }, RNF),
    (S::Pending, E::Resolve { to: S::Pending }, RNF),
    (S::Pending, E::Resolve { to: S::ActionRequired }, RNF),
    (S::Pending, E::Resolve { to: S::NeedsReview }, RNF),
    (S::Pending, E::Resolve { to: S::Succeeded }, mv(S::Succeeded)),
    (S::Pending, E::Resolve { to: S::Declined }, mv(S::Declined)),
    (S::Pending, E::Resolve { to: S::Failed }, mv(S::Failed)),
    (S::Pending, E::Resolve { to: S::Expired }, mv(S::Expired)),
    // from ActionRequired
    (S::ActionRequired, E::Registered, IGN),
    (S::ActionRequired, E::ActionRequired, REP),
    (S::ActionRequired, E::ConfirmSent, mv(S::Pending)),
    (S::ActionRequired, E::Succeeded, mv(S::Succeeded)),
    (S::ActionRequired, E::Declined, mv(S::Declined)),
    (S::ActionRequired, E::Failed, mv(S::Failed)),
    (S::ActionRequired, E::Expired, mv(S::Expired)),
    (S::ActionRequired, E::NoDefiniteAnswer, mv(S::NeedsReview)),
    (S::ActionRequired, E::Contradiction, mv(S::NeedsReview)),
    (S::ActionRequired, E::Resolve { to: S::Accepted }, RNF),
    (S::ActionRequired, E::Resolve { to: S::Pending }, RNF),
    (S::ActionRequired, E::Resolve { to: S::ActionRequired }, RNF),
    (S::ActionRequired, E::Resolve { to: S::NeedsReview }, RNF),
    (S::ActionRequired, E::Resolve { to: S::Succeeded }, mv(S::Succeeded)),
    (S::ActionRequired, E::Resolve { to: S::Declined }, mv(S::Declined)),
    (S::ActionRequired, E::Resolve { to: S::Failed }, mv(S::Failed)),
    (S::ActionRequired, E::Resolve { to: S::Expired }, mv(S::Expired)),
    // from NeedsReview
    (S::NeedsReview, E::Registered, IGN),
    (S::NeedsReview, E::ActionRequired, IGN),
    (S::NeedsReview, E::ConfirmSent, NAC),
    (S::NeedsReview, E::Succeeded, mv(S::Succeeded)),
    (S::NeedsReview, E::Declined, mv(S::Declined)),
    (S::NeedsReview, E::Failed, mv(S::Failed)),
    (S::NeedsReview, E::Expired, mv(S::Expired)),
    (S::NeedsReview, E::NoDefiniteAnswer, IGN),
    (S::NeedsReview, E::Contradiction, REP),
    (S::NeedsReview, E::Resolve { to: S::Accepted }, RNF),
    (S::NeedsReview, E::Resolve { to: S::Pending }, RNF),
    (S::NeedsReview, E::Resolve { to: S::ActionRequired }, RNF),
    (S::NeedsReview, E::Resolve { to: S::NeedsReview }, RNF),
    (S::NeedsReview, E::Resolve { to: S::Succeeded }, mv(S::Succeeded)),
    (S::NeedsReview, E::Resolve { to: S::Declined }, mv(S::Declined)),
    (S::NeedsReview, E::Resolve { to: S::Failed }, mv(S::Failed)),
    (S::NeedsReview, E::Resolve { to: S::Expired }, mv(S::Expired)),
    // from Succeeded
    (S::Succeeded, E::Registered, IGN),
    (S::Succeeded, E::ActionRequired, IGN),
    (S::Succeeded, E::ConfirmSent, FIN),
    (S::Succeeded, E::Succeeded, IGN),
    (S::Succeeded, E::Declined, FAS),
    (S::Succeeded, E::Failed, FAS),
    (S::Succeeded, E::Expired, IGN),
    (S::Succeeded, E::NoDefiniteAnswer, IGN),
    (S::Succeeded, E::Contradiction, CON),
    (S::Succeeded, E::Resolve { to: S::Accepted }, RNF),
    (S::Succeeded, E::Resolve { to: S::Pending }, RNF),
    (S::Succeeded, E::Resolve { to: S::ActionRequired }, RNF),
    (S::Succeeded, E::Resolve { to: S::NeedsReview }, RNF),
    (S::Succeeded, E::Resolve { to: S::Succeeded }, RSS),
    (S::Succeeded, E::Resolve { to: S::Declined }, mv(S::Declined)),
    (S::Succeeded, E::Resolve { to: S::Failed }, mv(S::Failed)),
    (S::Succeeded, E::Resolve { to: S::Expired }, mv(S::Expired)),
    // from Declined
    (S::Declined, E::Registered, IGN),
    (S::Declined, E::ActionRequired, IGN),
    (S::Declined, E::ConfirmSent, FIN),
    (S::Declined, E::Succeeded, SAC),
    (S::Declined, E::Declined, IGN),
    (S::Declined, E::Failed, IGN),
    (S::Declined, E::Expired, IGN),
    (S::Declined, E::NoDefiniteAnswer, IGN),
    (S::Declined, E::Contradiction, CON),
    (S::Declined, E::Resolve { to: S::Accepted }, RNF),
    (S::Declined, E::Resolve { to: S::Pending }, RNF),
    (S::Declined, E::Resolve { to: S::ActionRequired }, RNF),
    (S::Declined, E::Resolve { to: S::NeedsReview }, RNF),
    (S::Declined, E::Resolve { to: S::Succeeded }, mv(S::Succeeded)),
    (S::Declined, E::Resolve { to: S::Declined }, RSS),
    (S::Declined, E::Resolve { to: S::Failed }, mv(S::Failed)),
    (S::Declined, E::Resolve { to: S::Expired }, mv(S::Expired)),
    // from Failed
    (S::Failed, E::Registered, IGN),
    (S::Failed, E::ActionRequired, IGN),
    (S::Failed, E::ConfirmSent, FIN),
    (S::Failed, E::Succeeded, SAC),
    (S::Failed, E::Declined, IGN),
    (S::Failed, E::Failed, IGN),
    (S::Failed, E::Expired, IGN),
    (S::Failed, E::NoDefiniteAnswer, IGN),
    (S::Failed, E::Contradiction, CON),
    (S::Failed, E::Resolve { to: S::Accepted }, RNF),
    (S::Failed, E::Resolve { to: S::Pending }, RNF),
    (S::Failed, E::Resolve { to: S::ActionRequired }, RNF),
    (S::Failed, E::Resolve { to: S::NeedsReview }, RNF),
    (S::Failed, E::Resolve { to: S::Succeeded }, mv(S::Succeeded)),
    (S::Failed, E::Resolve { to: S::Declined }, mv(S::Declined)),
    (S::Failed, E::Resolve { to: S::Failed }, RSS),
    (S::Failed, E::Resolve { to: S::Expired }, mv(S::Expired)),
    // from Expired
    (S::Expired, E::Registered, IGN),
    (S::Expired, E::ActionRequired, IGN),
    (S::Expired, E::ConfirmSent, FIN),
    (S::Expired, E::Succeeded, SAC),
    (S::Expired, E::Declined, IGN),
    (S::Expired, E::Failed, IGN),
    (S::Expired, E::Expired, IGN),
    (S::Expired, E::NoDefiniteAnswer, IGN),
    (S::Expired, E::Contradiction, CON),
    (S::Expired, E::Resolve { to: S::Accepted }, RNF),
    (S::Expired, E::Resolve { to: S::Pending }, RNF),
    (S::Expired, E::Resolve { to: S::ActionRequired }, RNF),
    (S::Expired, E::Resolve { to: S::NeedsReview }, RNF),
    (S::Expired, E::Resolve { to: S::Succeeded }, mv(S::Succeeded)),
    (S::Expired, E::Resolve { to: S::Declined }, mv(S::Declined)),
    (S::Expired, E::Resolve { to: S::Failed }, mv(S::Failed)),
    (S::Expired, E::Resolve { to: S::Expired }, RSS),
];

#[test]
fn table_is_exhaustive_and_unique() {
    assert_eq!(TABLE.len(), PaymentStatus::ALL.len() * PaymentEvent::ALL.len());
    let pairs: HashSet<_> = TABLE.iter().map(|(from, ev, _)| (*from, *ev)).collect();
    assert_eq!(pairs.len(), TABLE.len(), "a (status, event) pair appears twice");
    for from in PaymentStatus::ALL {
        for ev in PaymentEvent::ALL {
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
    // What lets the store do `SET status = target WHERE status = ANY(allowed)` in one statement.
    for (from, ev, _) in TABLE {
        match transition(from, &ev) {
            Transition::Move(to) => assert_eq!(to, ev.target(), "({from:?}, {ev:?})"),
            Transition::Repeat => assert_eq!(from, ev.target(), "({from:?}, {ev:?})"),
            _ => {}
        }
    }
}

#[test]
fn final_states_move_only_by_resolve() {
    for (from, ev, expected) in TABLE {
        if from.is_final() && ev.is_automatic() {
            assert!(
                !matches!(expected, Transition::Move(_) | Transition::Repeat),
                "{from:?} {ev:?}"
            );
        }
    }
}

#[test]
fn allowed_sources_for_the_store() {
    assert_eq!(allowed_sources(&E::Registered), [S::Accepted]);
    assert_eq!(
        allowed_sources(&E::ActionRequired),
        [S::Accepted, S::Pending, S::ActionRequired]
    );
    assert_eq!(allowed_sources(&E::ConfirmSent), [S::ActionRequired]);
    let open = [S::Accepted, S::Pending, S::ActionRequired, S::NeedsReview];
    for ev in [E::Succeeded, E::Declined, E::Failed, E::Expired] {
        assert_eq!(allowed_sources(&ev), open, "{ev:?}");
    }
    assert_eq!(
        allowed_sources(&E::NoDefiniteAnswer),
        [S::Accepted, S::Pending, S::ActionRequired]
    );
    assert_eq!(allowed_sources(&E::Contradiction), open);
    assert_eq!(
        allowed_sources(&E::Resolve { to: S::Declined }),
        [
            S::Accepted,
            S::Pending,
            S::ActionRequired,
            S::NeedsReview,
            S::Succeeded,
            S::Failed,
            S::Expired
        ]
    );
    assert!(allowed_sources(&E::Resolve { to: S::Pending }).is_empty());
}

#[test]
fn review_sources_for_the_store() {
    assert_eq!(review_sources(&E::Succeeded), [S::Declined, S::Failed, S::Expired]);
    assert_eq!(review_sources(&E::Declined), [S::Succeeded]);
    assert_eq!(review_sources(&E::Failed), [S::Succeeded]);
    assert!(review_sources(&E::Expired).is_empty());
    assert_eq!(
        review_sources(&E::Contradiction),
        [S::Succeeded, S::Declined, S::Failed, S::Expired]
    );
}

fn any_status() -> impl Strategy<Value = PaymentStatus> {
    proptest::sample::select(PaymentStatus::ALL.to_vec())
}

fn automatic_event() -> impl Strategy<Value = PaymentEvent> {
    let automatic: Vec<_> = PaymentEvent::ALL.into_iter().filter(|e| e.is_automatic()).collect();
    proptest::sample::select(automatic)
}

fn apply(status: PaymentStatus, ev: &PaymentEvent) -> PaymentStatus {
    match transition(status, ev) {
        Transition::Move(to) => to,
        _ => status,
    }
}

proptest! {
    /// No sequence of provider answers, status checks or timers moves a final payment: once a
    /// run reaches a final status it stays there to the end.
    #[test]
    fn automatic_events_never_move_a_final_state(
        start in any_status(),
        events in proptest::collection::vec(automatic_event(), 0..40),
    ) {
        let mut status = start;
        let mut closed: Option<PaymentStatus> = start.is_final().then_some(start);
        for ev in &events {
            status = apply(status, ev);
            if let Some(final_status) = closed {
                prop_assert_eq!(status, final_status, "moved by {:?}", ev);
            } else if status.is_final() {
                closed = Some(status);
            }
        }
    }

    /// An operator can always take any status to any other final status in one step.
    #[test]
    fn resolve_reaches_any_other_final_state(from in any_status(), to in any_status()) {
        let got = transition(from, &E::Resolve { to });
        if to.is_final() && to != from {
            prop_assert_eq!(got, Transition::Move(to));
        } else {
            prop_assert!(matches!(got, Transition::Refuse(_)));
        }
    }

    /// The review flag changes one thing: a flagged final payment may be resolved to the status
    /// it has (kept as it is). Every other event, and every unflagged payment, is as `transition`.
    #[test]
    fn the_flag_only_lets_a_final_payment_be_kept(from in any_status(), to in any_status(), ev in automatic_event()) {
        prop_assert_eq!(transition_flagged(from, false, &ev), transition(from, &ev));
        let kept = transition_flagged(from, true, &E::Resolve { to });
        if to == from && to.is_final() {
            prop_assert_eq!(kept, Transition::Repeat);
        } else {
            prop_assert_eq!(kept, transition(from, &E::Resolve { to }));
        }
        if !matches!(ev, E::Resolve { .. }) {
            prop_assert_eq!(transition_flagged(from, true, &ev), transition(from, &ev));
        }
    }
}
