//! Integrity checks and class-to-outcome conversions.

use super::*;

#[test]
fn matching_answer_passes_even_when_strict() {
    let e = Expected::money("ord-1", 15000, "GBP");
    assert_eq!(e.check(Some("ord-1"), Some(15000), Some("GBP"), true), Ok(()));
    assert_eq!(e.check(Some("ord-1"), Some(15000), Some("gbp"), true), Ok(()));
}

#[test]
fn any_differing_field_is_a_mismatch() {
    let e = Expected::money("ord-1", 15000, "GBP");
    assert!(e.check(Some("ord-2"), Some(15000), Some("GBP"), false).is_err());
    assert!(e.check(Some("ord-1"), Some(15001), Some("GBP"), false).is_err());
    assert!(e.check(Some("ord-1"), Some(15000), Some("EUR"), false).is_err());
}

#[test]
fn missing_fields_fail_only_when_strict() {
    let e = Expected::money("ord-1", 15000, "GBP");
    assert_eq!(e.check(None, None, None, false), Ok(()));
    assert!(e.check(Some("ord-1"), None, Some("GBP"), true).is_err());
    assert!(e.check(Some("ord-1"), Some(15000), None, true).is_err());
    assert!(e.check(None, Some(15000), Some("GBP"), true).is_err());
    assert_eq!(Expected::reference("r").check(Some("r"), None, None, true), Ok(()));
}

#[test]
fn not_found_on_a_create_call_is_uncertain() {
    let o: CreateOutcome<()> = CreateOutcome::from_class(CodeClass::NotFound, "1", "m", || CreateOutcome::Accepted(()));
    assert!(matches!(o, CreateOutcome::Uncertain { .. }));
}

#[test]
fn every_class_maps_to_its_outcome() {
    let of = |c| CreateOutcome::from_class(c, "c", "m", || CreateOutcome::Accepted(()));
    assert_eq!(of(CodeClass::Success), CreateOutcome::Accepted(()));
    assert!(matches!(of(CodeClass::Uncertain), CreateOutcome::Uncertain { .. }));
    assert!(matches!(of(CodeClass::Exists), CreateOutcome::Exists { .. }));
    assert!(matches!(of(CodeClass::Processing), CreateOutcome::Processing { .. }));
    assert!(matches!(of(CodeClass::RetryLater), CreateOutcome::RetryLater { .. }));
    assert!(matches!(of(CodeClass::Terminal), CreateOutcome::Terminal { .. }));
    assert!(matches!(of(CodeClass::Refused), CreateOutcome::NotSent { .. }));
}

#[test]
fn state_classes_keep_their_details() {
    assert_eq!(
        PaymentState::from_class(StateClass::Declined, "decline", "20000", "General decline"),
        PaymentState::Declined {
            code: "20000".into(),
            message: "General decline".into()
        }
    );
    assert_eq!(
        PaymentState::from_class(StateClass::Pending, "weird", "", ""),
        PaymentState::Pending { status: "weird".into() }
    );
}

#[test]
fn every_create_outcome_has_its_log_name() {
    let text = || "x".to_owned();
    let named: [(CreateOutcome<()>, &str); 8] = [
        (CreateOutcome::Accepted(()), "accepted"),
        (CreateOutcome::NotSent { reason: text() }, "not_sent"),
        (CreateOutcome::Uncertain { reason: text() }, "uncertain"),
        (
            CreateOutcome::Exists {
                code: text(),
                message: text(),
            },
            "exists",
        ),
        (
            CreateOutcome::Processing {
                code: text(),
                message: text(),
            },
            "processing",
        ),
        (
            CreateOutcome::RetryLater {
                code: text(),
                message: text(),
            },
            "retry_later",
        ),
        (
            CreateOutcome::Terminal {
                code: text(),
                message: text(),
            },
            "terminal",
        ),
        (CreateOutcome::Mismatch { reason: text() }, "mismatch"),
    ];
    for (outcome, name) in named {
        assert_eq!(outcome.name(), name);
    }
}
