//! Callbacks: the vendor doc's success and decline examples, the project's signed vector 4,
//! intermediate redirects, refund matching and dispatch.

use super::*;
use crate::providers::ecommpay::signature::sign_in_place;
use crate::providers::outcome::RefundMatch;
use serde_json::json;

fn key() -> SecretString {
    SecretString::from("test-secret-key".to_owned())
}

/// Figure 5 of the vendor page (`vendor-docs/ecommpay-humm-bnpl.txt`); its signature is truncated
/// in the docs, so it is parsed as if verified.
const DOC_SUCCESS: &str = r#"{"customer":{"id":"zxc","phone":"07811123331"},"project_id":59051,"payment":{"id":"TEST_PAYMENT_600055","type":"bnpl","status":"success","date":"2024-11-14T11:20:31+0000","method":"bnpl","sum":{"amount":1000,"currency":"GBP"},"description":"TEST_PAYMENT_600055"},"operation":{"sum_initial":{"amount":1000,"currency":"GBP"},"sum_converted":{"amount":1000,"currency":"GBP"},"code":"0","message":"Success","provider":{"id":16891,"payment_id":"Twp7saulXXF05mzi","auth_code":""},"id":29741010169841,"type":"sale","status":"success","date":"2024-11-14T11:20:31+0000","created_date":"2024-11-14T11:08:10+0000","request_id":"497a5edb8ba907ae27d12f508c3d2ba096-00029742"},"signature":"XV7CVXtQv7n53zvg3jlt1ThyVdedpUKg3UX/9i6jWLPiA=="}"#;

/// Figure 6 of the vendor page.
const DOC_DECLINE: &str = r#"{"customer":{"id":"zxc"},"project_id":59051,"payment":{"id":"TEST_PAYMENT_577285","type":"bnpl","status":"decline","date":"2024-11-14T11:49:55+0000","method":"bnpl","sum":{"amount":1000,"currency":"GBP"},"description":"TEST_PAYMENT_577285"},"operation":{"sum_initial":{"amount":1000,"currency":"GBP"},"sum_converted":{"amount":1000,"currency":"GBP"},"code":"20000","message":"General decline","provider":{"id":16891,"payment_id":"xAIr1FeVlr1QGo4h","auth_code":""},"id":35876010169968,"type":"sale","status":"decline","date":"2024-11-14T11:49:55+0000","created_date":"2024-11-14T11:39:57+0000","request_id":"f5313e75fade8bb5076a05692a9c82-00035877"},"signature":"C3I7F8GCUMf/7MJjQszBerLdVWYncTyi+ZAD9uKDQDg=="}"#;

/// Project vector 4 (§1.5), signed with `test-secret-key`.
const VECTOR_4: &str = r#"{"project_id":12345,"payment":{"id":"ord-1001-humm","type":"purchase","status":"success","method":"bnpl-humm","sum":{"amount":15000,"currency":"GBP"},"description":""},"operation":{"id":1000000000001,"type":"sale","status":"success","request_id":"req-abc-1","code":"0","message":"Success","provider":{"id":1234,"payment_id":"HUMM-XYZ-1","auth_code":""}},"signature":"s7HAecbk/8lq0RWQydyB85p5jTtZxNa8MyfVzpa7e05yVN+5Nt5FsXxOasp2ZLaf5jtW9VPRZsLslQ6RxCcJdg=="}"#;

fn unverified(text: &str) -> Callback {
    Callback::from_verified(serde_json::from_str(text).unwrap()).unwrap()
}

fn signed(mut value: Value) -> Vec<u8> {
    sign_in_place(&mut value, &key());
    value.to_string().into_bytes()
}

#[test]
fn vendor_success_example_is_a_success() {
    let cb = unverified(DOC_SUCCESS);
    let CallbackEvent::Sale(op) = cb.event() else {
        panic!("{:?}", cb.event())
    };
    assert_eq!(op.id.as_deref(), Some("29741010169841"));
    assert_eq!(op.provider_payment_id.as_deref(), Some("Twp7saulXXF05mzi"));
    assert_eq!(
        op.request_id.as_deref(),
        Some("497a5edb8ba907ae27d12f508c3d2ba096-00029742")
    );
    let expected = Expected::money("TEST_PAYMENT_600055", 1000, "GBP");
    assert_eq!(cb.sale_state(&expected), Ok(PaymentState::Succeeded));
    assert!(cb
        .sale_state(&Expected::money("TEST_PAYMENT_600055", 1001, "GBP"))
        .is_err());
    assert!(cb
        .sale_state(&Expected::money("TEST_PAYMENT_600055", 1000, "EUR"))
        .is_err());
    assert!(cb.sale_state(&Expected::money("OTHER", 1000, "GBP")).is_err());
}

#[test]
fn vendor_decline_example_is_a_decline_with_its_code() {
    let cb = unverified(DOC_DECLINE);
    let expected = Expected::money("TEST_PAYMENT_577285", 1000, "GBP");
    assert_eq!(
        cb.sale_state(&expected),
        Ok(PaymentState::Declined {
            code: "20000".into(),
            message: "General decline".into()
        })
    );
}

#[test]
fn vendor_examples_do_not_verify_with_their_truncated_signatures() {
    for doc in [DOC_SUCCESS, DOC_DECLINE] {
        assert_eq!(
            verify_and_parse(doc.as_bytes(), &key()),
            Err(CallbackError::BadSignature)
        );
    }
}

#[test]
fn project_vector_4_verifies_and_succeeds() {
    let cb = verify_and_parse(VECTOR_4.as_bytes(), &key()).unwrap();
    assert_eq!(cb.payment_id, "ord-1001-humm");
    assert_eq!(
        cb.sale_state(&Expected::money("ord-1001-humm", 15000, "GBP")),
        Ok(PaymentState::Succeeded)
    );
    let tampered = VECTOR_4.replace("15000", "15001");
    assert_eq!(
        verify_and_parse(tampered.as_bytes(), &key()),
        Err(CallbackError::BadSignature)
    );
}

#[test]
fn malformed_bodies_are_refused() {
    for body in [&b"not json"[..], b"[1,2]", b"\"x\"", b""] {
        assert!(matches!(
            verify_and_parse(body, &key()),
            Err(CallbackError::Malformed(_))
        ));
    }
}

/// A verified callback whose `payment.id` is missing or could never be ours is unreadable (stored
/// and answered 200 upstream), not malformed (charged to its sender as a failed check).
#[test]
fn a_verified_callback_without_a_usable_payment_id_is_unreadable() {
    let long = "x".repeat(10_000);
    for payment in [
        json!({"status": "success"}),
        json!({"id": "a\u{0}b", "status": "success"}),
        json!({"id": long, "status": "success"}),
        json!({"id": "", "status": "success"}),
    ] {
        let body = signed(json!({"payment": payment}));
        match verify_and_parse(&body, &key()) {
            Err(CallbackError::Unreadable { reason, .. }) => assert!(reason.len() < 300, "bounded: {reason}"),
            other => panic!("{payment}: {other:?}"),
        }
    }
}

/// A verified callback's own texts are bounded before anyone stores them: ids and codes that are
/// not clean read as absent, messages become printable and clipped, and a redirect that is not
/// clean is no redirect.
#[test]
fn a_verified_callbacks_texts_are_bounded() {
    let body = signed(json!({
        "payment": {"id": "ord-1", "status": "decline"},
        "operation": {
            "type": "sale", "status": "decline", "code": "2\u{0}0000",
            "message": format!("General\u{0}decline{}", "!".repeat(5_000)),
            "request_id": "r".repeat(1_000),
            "provider": {"payment_id": "H\u{7}1"}
        }
    }));
    let cb = verify_and_parse(&body, &key()).unwrap();
    let op = cb.operation.as_ref().unwrap();
    assert_eq!(op.code, "", "a code with a NUL reads as absent");
    assert!(op.message.starts_with("General decline"), "{}", op.message);
    assert!(op.message.len() <= crate::domain::limits::REASON_MAX);
    assert_eq!(op.request_id, None);
    assert_eq!(op.provider_payment_id, None);
    for redirect in [
        json!({"method": "POST", "url": "https://acs.example/\u{0}", "body": {}}),
        json!({"method": "POST", "url": "https://acs.example/", "body": {"PaReq": "a\u{0}b"}}),
        json!({"method": "POST", "url": "https://acs.example/", "body": {"PaReq": "a".repeat(20_000)}}),
        json!({"method": "PO\nST", "url": "https://acs.example/", "body": {}}),
    ] {
        let body =
            signed(json!({"payment": {"id": "ord-1", "status": "awaiting customer"}, "redirect_data": redirect}));
        let cb = verify_and_parse(&body, &key()).unwrap();
        assert_eq!(cb.redirect, None, "{redirect}");
    }
    let clean = signed(json!({"payment": {"id": "ord-1", "status": "awaiting customer"},
        "redirect_data": {"method": "POST", "url": "https://acs.example/", "body": {"PaReq": "abc"}}}));
    assert!(
        verify_and_parse(&clean, &key()).unwrap().redirect.is_some(),
        "a clean redirect is kept"
    );
}

#[test]
fn intermediate_callbacks_carry_redirect_data_and_require_action() {
    let body = signed(json!({
        "project_id": 12345,
        "payment": {"id": "ord-1", "status": "awaiting redirect result"},
        "operation": {"type": "sale", "status": "awaiting redirect result", "code": "0"},
        "redirect_data": {"method": "POST", "url": "https://www.example.com/pay", "body": {}},
    }));
    let cb = verify_and_parse(&body, &key()).unwrap();
    let CallbackEvent::Redirect(redirect) = cb.event() else {
        panic!()
    };
    assert_eq!(
        (redirect.method.as_str(), redirect.url.as_str()),
        ("POST", "https://www.example.com/pay")
    );
    assert_eq!(redirect.body, json!({}));
    assert!(matches!(
        cb.sale_state(&Expected::reference("ord-1")),
        Ok(PaymentState::ActionRequired { .. })
    ));
}

#[test]
fn success_without_code_zero_or_contradicted_stays_pending() {
    let mut v: Value = serde_json::from_str(VECTOR_4).unwrap();
    v["operation"]["code"] = json!("100");
    let cb = Callback::from_verified(v.clone()).unwrap();
    let expected = Expected::money("ord-1001-humm", 15000, "GBP");
    assert!(matches!(cb.sale_state(&expected), Ok(PaymentState::Pending { .. })));
    v["operation"]["code"] = json!("0");
    v["payment"]["status"] = json!("decline");
    let cb = Callback::from_verified(v).unwrap();
    assert!(matches!(cb.sale_state(&expected), Ok(PaymentState::Pending { .. })));
}

#[test]
fn unknown_statuses_and_operations_are_never_final() {
    let mut v: Value = serde_json::from_str(VECTOR_4).unwrap();
    v["operation"]["status"] = json!("settled");
    let cb = Callback::from_verified(v.clone()).unwrap();
    let expected = Expected::money("ord-1001-humm", 15000, "GBP");
    assert!(matches!(cb.sale_state(&expected), Ok(PaymentState::Pending { .. })));
    v["operation"]["type"] = json!("payout");
    let cb = Callback::from_verified(v).unwrap();
    assert_eq!(cb.event(), CallbackEvent::Unexpected);
    assert!(matches!(cb.sale_state(&expected), Ok(PaymentState::Pending { .. })));
}

fn refund_callback(request_id: &str, amount: i64, status: &str) -> Callback {
    let body = signed(json!({
        "project_id": 12345,
        "payment": {"id": "ord-1", "status": "partially refunded", "sum": {"amount": 10000, "currency": "GBP"}},
        "operation": {"id": 2, "type": "refund", "status": status, "request_id": request_id,
                      "code": if status == "success" { "0" } else { "100" }, "message": "m",
                      "sum_initial": {"amount": amount, "currency": "GBP"}},
    }));
    verify_and_parse(&body, &key()).unwrap()
}

fn in_flight(request_id: Option<&str>) -> ExpectedRefund {
    ExpectedRefund {
        payment_id: "ord-1".into(),
        amount_minor: 5000,
        currency: "GBP".into(),
        request_id: request_id.map(str::to_owned),
    }
}

#[test]
fn refund_callbacks_are_matched_by_request_id_and_sum_initial() {
    let cb = refund_callback("rq-2", 5000, "success");
    assert!(matches!(cb.event(), CallbackEvent::Refund(_)));
    // payment.sum (10000, what remains) is not the refund amount; sum_initial is.
    assert_eq!(
        cb.match_refund(&in_flight(Some("rq-2"))),
        RefundMatch::Ours(PaymentState::Succeeded)
    );
    assert!(matches!(
        cb.match_refund(&in_flight(Some("rq-1"))),
        RefundMatch::NotOurs { .. }
    ));
    assert_eq!(
        cb.match_refund(&in_flight(None)),
        RefundMatch::Unconfirmed(PaymentState::Succeeded)
    );
    let wrong_amount = refund_callback("rq-2", 4000, "success");
    assert!(matches!(
        wrong_amount.match_refund(&in_flight(Some("rq-2"))),
        RefundMatch::Mismatch { .. }
    ));
    let declined = refund_callback("rq-2", 5000, "decline");
    assert!(matches!(
        declined.match_refund(&in_flight(Some("rq-2"))),
        RefundMatch::Ours(PaymentState::Declined { .. })
    ));
    let other_payment = ExpectedRefund {
        payment_id: "ord-9".into(),
        ..in_flight(Some("rq-2"))
    };
    assert!(matches!(cb.match_refund(&other_payment), RefundMatch::NotOurs { .. }));
    // A refund callback never reads as the sale's result.
    assert!(matches!(
        cb.sale_state(&Expected::reference("ord-1")),
        Ok(PaymentState::Pending { .. })
    ));
    // And a sale callback is not a refund.
    let sale = verify_and_parse(VECTOR_4.as_bytes(), &key()).unwrap();
    assert!(matches!(
        sale.match_refund(&in_flight(None)),
        RefundMatch::NotOurs { .. }
    ));
}

/// Only a success must carry its sum: a success that does not say how much was paid is not taken
/// (the status query confirms it), while a decline without a sum is still a decline.
#[test]
fn a_success_needs_its_sum_and_a_decline_does_not() {
    let without_sums = |doc: &str| {
        let mut value: Value = serde_json::from_str(doc).unwrap();
        value["operation"].as_object_mut().unwrap().remove("sum_initial");
        value["payment"].as_object_mut().unwrap().remove("sum");
        Callback::from_verified(value).unwrap()
    };
    let success = without_sums(DOC_SUCCESS);
    assert!(success
        .sale_state(&Expected::money("TEST_PAYMENT_600055", 1000, "GBP"))
        .is_err());
    let decline = without_sums(DOC_DECLINE);
    assert_eq!(
        decline.sale_state(&Expected::money("TEST_PAYMENT_577285", 1000, "GBP")),
        Ok(PaymentState::Declined {
            code: "20000".into(),
            message: "General decline".into()
        })
    );
}

/// The same rule for a refund callback: a success without `sum_initial` is no match to take (the
/// status query settles it), a decline without it is still ours.
#[test]
fn a_refund_success_needs_its_sum_and_a_decline_does_not() {
    let without_sum = |status: &str| {
        let body = signed(json!({
            "project_id": 12345,
            "payment": {"id": "ord-1", "status": "partially refunded"},
            "operation": {"id": 2, "type": "refund", "status": status, "request_id": "rq-2",
                          "code": if status == "success" { "0" } else { "100" }, "message": "m"},
        }));
        verify_and_parse(&body, &key()).unwrap()
    };
    assert!(matches!(
        without_sum("success").match_refund(&in_flight(Some("rq-2"))),
        RefundMatch::Mismatch { .. }
    ));
    assert!(matches!(
        without_sum("decline").match_refund(&in_flight(Some("rq-2"))),
        RefundMatch::Ours(PaymentState::Declined { .. })
    ));
}
