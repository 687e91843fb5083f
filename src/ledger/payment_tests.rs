use super::*;
use serde_json::json;

fn row(status: PaymentStatus) -> PaymentRow {
    PaymentRow {
        payment_id: "ord-1".into(),
        provider: "valu".into(),
        account: "default".into(),
        flow: "gate".into(),
        amount_minor: 500_000,
        currency: "EGP".into(),
        down_payment_minor: 0,
        status: status.as_str().into(),
        review_reason: None,
        command_hash: "h".into(),
        provider_reference: None,
        provider_request_id: None,
        provider_state: json!({"transaction_id": "t1"}),
        action: Some(json!({"kind": "redirect", "method": "GET", "url": "https://x", "body": {}})),
        reason: Some(json!({"code": "otp_invalid", "message": "wrong OTP"})),
        customer: json!({}),
        items: json!([]),
        description: None,
        return_url: None,
        metadata: json!({"order_ref": "1"}),
        last_sequence: 4,
        refunded_minor: 0,
        created_at: chrono::Utc::now(),
        threshold_at: chrono::Utc::now(),
        origin: crate::store::payments::ORIGIN_ORCHESTRATOR.to_owned(),
    }
}

#[test]
fn a_success_never_carries_an_earlier_reason_or_action_and_valu_has_no_flow() {
    let plan = decide(
        &row(PaymentStatus::Pending),
        &PaymentEvent::Succeeded,
        &Change::by("test"),
    )
    .unwrap();
    let event = serde_json::to_value(&plan.event).unwrap();
    assert_eq!(event["type"], "payment.succeeded");
    assert_eq!(event["sequence"], 5);
    assert!(event["reason"].is_null() && event["action"].is_null(), "{event}");
    assert!(event.get("flow").is_none());
    assert_eq!(plan.row.last_sequence, 5);
    assert_eq!(
        plan.applied,
        Applied::Moved {
            from: PaymentStatus::Pending,
            to: PaymentStatus::Succeeded
        }
    );
}

#[test]
fn the_same_redirect_again_is_nothing_new_but_a_new_one_is_announced() {
    let mut current = row(PaymentStatus::ActionRequired);
    let redirect = Action::Redirect {
        method: "GET".into(),
        url: "https://x".into(),
        body: json!({}),
    };
    current.action = serde_json::to_value(&redirect).ok();
    let same = Change {
        action: Some(redirect),
        ..Change::by("test")
    };
    assert!(decide(&current, &PaymentEvent::ActionRequired, &same).is_none());
    let other = Change {
        action: Some(Action::Redirect {
            method: "POST".into(),
            url: "https://y".into(),
            body: json!({}),
        }),
        ..Change::by("test")
    };
    let plan = decide(&current, &PaymentEvent::ActionRequired, &other).unwrap();
    assert_eq!(plan.applied, Applied::Repeated(PaymentStatus::ActionRequired));
    assert_eq!(plan.event.action, other.action);
}

#[test]
fn a_contradiction_of_a_final_state_flags_it_with_a_reason_and_keeps_it() {
    let plan = decide(
        &row(PaymentStatus::Declined),
        &PaymentEvent::Succeeded,
        &Change::by("test"),
    )
    .unwrap();
    assert_eq!(plan.applied, Applied::Flagged(ReviewReason::SuccessAfterClose));
    assert_eq!(plan.row.status, "declined");
    let event = serde_json::to_value(&plan.event).unwrap();
    assert_eq!(event["type"], "payment.needs_review");
    assert_eq!(event["status"], "declined");
    assert_eq!(event["reason"]["code"], "success_after_close");
}

#[test]
fn a_resolution_names_the_operator_and_clears_the_review() {
    let mut current = row(PaymentStatus::NeedsReview);
    current.review_reason = Some("no_definite_answer".into());
    let change = Change {
        note: Some("checked with valU by phone".into()),
        ..Change::by("alice")
    };
    let plan = decide(
        &current,
        &PaymentEvent::Resolve {
            to: PaymentStatus::Succeeded,
        },
        &change,
    )
    .unwrap();
    assert_eq!(plan.row.review_reason, None);
    let event = serde_json::to_value(&plan.event).unwrap();
    assert_eq!(event["type"], "payment.resolved");
    assert_eq!(event["from"], "needs_review");
    assert_eq!(event["to"], "succeeded");
    assert_eq!(event["resolved_by"], "alice");
    assert_eq!(event["reason"], "checked with valU by phone");
}

#[test]
fn the_owner_must_match() {
    let current = row(PaymentStatus::Pending);
    let other_provider = Extras {
        owner: Some((Provider::Humm, "default")),
        ..Extras::default()
    };
    assert!(mismatch(&current, &other_provider).is_some());
    let other_account = Extras {
        owner: Some((Provider::Valu, "second")),
        ..Extras::default()
    };
    assert!(mismatch(&current, &other_account).is_some());
    let owner = Extras {
        owner: Some((Provider::Valu, "default")),
        ..Extras::default()
    };
    assert!(mismatch(&current, &owner).is_none());
}

/// Whatever path built a change (a callback, a status or create answer, an operator), what it
/// carries can be stored: an unclean provider id is dropped, a note made printable and bounded;
/// a clean change is not copied.
#[test]
fn a_change_is_made_storable_and_a_clean_one_is_borrowed() {
    let clean = Change {
        note: Some("registration implied".to_owned()),
        provider_reference: Some("HUMM-1".to_owned()),
        ..Change::by("t")
    };
    assert!(matches!(clean.storable(), std::borrow::Cow::Borrowed(_)));
    let dirty = Change {
        note: Some(format!("declined\0{}", "x".repeat(5_000))),
        provider_reference: Some("HUMM\u{0}1".to_owned()),
        provider_request_id: Some("r".repeat(200)),
        ..Change::by("t")
    };
    let storable = dirty.storable();
    let note = storable.note.as_deref().unwrap();
    assert!(note.starts_with("declined ") && note.len() <= NOTE_MAX, "{note}");
    assert_eq!(storable.provider_reference, None);
    assert_eq!(storable.provider_request_id, None);
}
