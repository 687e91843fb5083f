//! Notifications: project vector 6 as form and JSON, forgeries, refund matching.

use super::*;
use serde_json::json;

const VECTOR_6_SIGNATURE: &str = "2bb740c0363449c3c76c91066c9c36d393cd7295c3e72e6a55c26dc0fad76d83";

fn phrase() -> SecretString {
    SecretString::from("resPhrase#2025".to_owned())
}

/// Project vector 6 (§2.4): a PURCHASE answer signed with the response phrase.
fn vector_6() -> Vec<(String, String)> {
    [
        ("access_code", "TESTACCESSCODE000001"),
        ("merchant_identifier", "TESTMID1"),
        ("language", "en"),
        ("merchant_reference", "valu-ord-1001"),
        ("command", "PURCHASE"),
        ("amount", "500000"),
        ("currency", "EGP"),
        ("payment_option", "VALU"),
        ("fort_id", "169999999999999999"),
        ("response_code", "14000"),
        ("response_message", "Success"),
        ("status", "14"),
        ("customer_email", "buyer@example.com"),
        ("phone_number", "01012345678"),
        ("eci", "ECOMMERCE"),
        ("signature", VECTOR_6_SIGNATURE),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

fn form(pairs: &[(String, String)]) -> Vec<u8> {
    serde_urlencoded::to_string(pairs).unwrap().into_bytes()
}

fn json_body(pairs: &[(String, String)]) -> Vec<u8> {
    let map: Map<String, Value> = pairs.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
    Value::Object(map).to_string().into_bytes()
}

fn expected() -> Expected {
    Expected::money("valu-ord-1001", 500000, "EGP")
}

#[test]
fn vector_6_verifies_as_form_and_as_json_and_is_paid() {
    for body in [form(&vector_6()), json_body(&vector_6())] {
        let n = verify_and_parse(&body, &phrase(), ShaType::Sha256).unwrap();
        assert_eq!(n.command, Command::Purchase);
        assert_eq!(n.fort_id.as_deref(), Some("169999999999999999"));
        assert_eq!(n.purchase_state(&expected()), Ok(PaymentState::Succeeded));
        assert!(n
            .purchase_state(&Expected::money("valu-ord-1001", 400000, "EGP"))
            .is_err());
        assert!(n
            .purchase_state(&Expected::money("valu-ord-1002", 500000, "EGP"))
            .is_err());
    }
}

#[test]
fn uppercase_signatures_verify_too() {
    let mut pairs = vector_6();
    pairs.last_mut().unwrap().1 = VECTOR_6_SIGNATURE.to_ascii_uppercase();
    assert!(verify_and_parse(&form(&pairs), &phrase(), ShaType::Sha256).is_ok());
}

#[test]
fn forged_or_altered_notifications_are_refused() {
    let mut altered = vector_6();
    altered[5].1 = "5000000".into();
    assert_eq!(
        verify_and_parse(&form(&altered), &phrase(), ShaType::Sha256),
        Err(CallbackError::BadSignature)
    );
    let unsigned: Vec<_> = vector_6().into_iter().filter(|(k, _)| k != "signature").collect();
    assert_eq!(
        verify_and_parse(&form(&unsigned), &phrase(), ShaType::Sha256),
        Err(CallbackError::BadSignature)
    );
    let wrong_phrase = SecretString::from("reqPhrase#2025".to_owned());
    assert_eq!(
        verify_and_parse(&form(&vector_6()), &wrong_phrase, ShaType::Sha256),
        Err(CallbackError::BadSignature)
    );
    assert_eq!(
        verify_and_parse(&form(&vector_6()), &phrase(), ShaType::Hmac256),
        Err(CallbackError::BadSignature)
    );
}

#[test]
fn malformed_bodies_are_refused() {
    let mut dup = vector_6();
    dup.push(("amount".into(), "1".into()));
    assert!(matches!(
        verify_and_parse(&form(&dup), &phrase(), ShaType::Sha256),
        Err(CallbackError::Malformed(_))
    ));
    for body in [&b"{not json"[..], b" [1]", b"{\"a\":"] {
        assert!(
            matches!(
                verify_and_parse(body, &phrase(), ShaType::Sha256),
                Err(CallbackError::Malformed(_))
            ),
            "{body:?}"
        );
    }
}

/// A verified notification whose `merchant_reference` is missing or not one of our payment ids is
/// unreadable, not malformed; a `maintenance_reference` that is not a refund id names no refund;
/// its own texts are bounded.
#[test]
fn a_verified_notification_without_usable_references_is_unreadable() {
    let sign = |params: Value| {
        let Value::Object(mut map) = params else { unreachable!() };
        let signature = super::super::signature::sign_response(&map, &phrase(), ShaType::Sha256);
        map.insert("signature".into(), json!(signature));
        verify_and_parse(&Value::Object(map).to_string().into_bytes(), &phrase(), ShaType::Sha256)
    };
    for params in [
        json!({"command": "PURCHASE"}),
        json!({"command": "PURCHASE", "merchant_reference": "ord\u{0}1"}),
        json!({"command": "PURCHASE", "merchant_reference": "o".repeat(41)}),
    ] {
        assert!(
            matches!(sign(params.clone()), Err(CallbackError::Unreadable { .. })),
            "{params}"
        );
    }
    let refund =
        sign(json!({"command": "REFUND", "merchant_reference": "ord-1", "maintenance_reference": "rf 1/2"})).unwrap();
    assert_eq!(
        refund.maintenance_reference.as_deref(),
        Some("\"rf 1/2\""),
        "quoted, never as it came"
    );
    let n = sign(
        json!({"command": "PURCHASE", "merchant_reference": "ord-1", "fort_id": "1\u{0}",
        "response_message": format!("Declined\u{7}{}", "x".repeat(2_000))}),
    )
    .unwrap();
    assert_eq!(n.fort_id, None);
    assert!(n.response_message.starts_with("Declined "));
    assert!(n.response_message.len() <= crate::domain::limits::REASON_MAX);
}

fn signed(params: Value) -> Notification {
    let Value::Object(mut map) = params else { unreachable!() };
    let signature = super::super::signature::sign_response(&map, &phrase(), ShaType::Sha256);
    map.insert("signature".into(), json!(signature));
    verify_and_parse(&Value::Object(map).to_string().into_bytes(), &phrase(), ShaType::Sha256).unwrap()
}

#[test]
fn declines_and_uncertain_purchases() {
    let n = signed(
        json!({"command": "PURCHASE", "merchant_reference": "valu-ord-1001", "amount": "500000",
                          "currency": "EGP", "response_code": "13666", "response_message": "Declined"}),
    );
    assert_eq!(
        n.purchase_state(&expected()),
        Ok(PaymentState::Declined {
            code: "13666".into(),
            message: "Declined".into()
        })
    );
    for code in ["15777", "19000", "20064", "00784", "99999", "bogus"] {
        let n = signed(json!({"command": "PURCHASE", "merchant_reference": "valu-ord-1001", "response_code": code}));
        assert!(
            matches!(n.purchase_state(&expected()), Ok(PaymentState::Pending { .. })),
            "{code}"
        );
    }
    let refund = signed(json!({"command": "REFUND", "merchant_reference": "valu-ord-1001", "response_code": "06000"}));
    assert!(matches!(
        refund.purchase_state(&expected()),
        Ok(PaymentState::Pending { .. })
    ));
}

#[test]
fn refund_notifications_match_by_maintenance_reference() {
    let refund = |maintenance: Option<&str>, amount: &str, code: &str| {
        let mut v = json!({"command": "REFUND", "merchant_reference": "valu-ord-1001", "amount": amount,
                           "currency": "EGP", "response_code": code, "response_message": "m"});
        if let Some(m) = maintenance {
            v["maintenance_reference"] = json!(m);
        }
        signed(v)
    };
    let in_flight = Expected::money("valu-ord-1001", 100000, "EGP");
    assert_eq!(
        refund(Some("rf1"), "100000", "06000").match_refund(&in_flight, "rf1"),
        RefundMatch::Ours(PaymentState::Succeeded)
    );
    assert!(matches!(
        refund(Some("rf0"), "100000", "06000").match_refund(&in_flight, "rf1"),
        RefundMatch::NotOurs { .. }
    ));
    assert_eq!(
        refund(None, "100000", "06000").match_refund(&in_flight, "rf1"),
        RefundMatch::Unconfirmed(PaymentState::Succeeded)
    );
    assert!(matches!(
        refund(Some("rf1"), "90000", "06000").match_refund(&in_flight, "rf1"),
        RefundMatch::Mismatch { .. }
    ));
    assert!(matches!(
        refund(Some("rf1"), "100000", "07000").match_refund(&in_flight, "rf1"),
        RefundMatch::Ours(PaymentState::Declined { .. })
    ));
    let other = Expected::money("valu-ord-9", 100000, "EGP");
    assert!(matches!(
        refund(Some("rf1"), "100000", "06000").match_refund(&other, "rf1"),
        RefundMatch::NotOurs { .. }
    ));
}

/// A success must prove itself in full (amount and currency present and equal); a decline moves
/// no money, so a notification without the amount still declines.
#[test]
fn a_refund_success_without_its_amount_does_not_match_but_a_decline_does() {
    let without_amount = |code: &str| {
        signed(
            json!({"command": "REFUND", "merchant_reference": "valu-ord-1001", "currency": "EGP",
                      "response_code": code, "response_message": "m", "maintenance_reference": "rf1"}),
        )
    };
    let in_flight = Expected::money("valu-ord-1001", 100000, "EGP");
    assert!(matches!(
        without_amount("06000").match_refund(&in_flight, "rf1"),
        RefundMatch::Mismatch { .. }
    ));
    assert!(matches!(
        without_amount("07000").match_refund(&in_flight, "rf1"),
        RefundMatch::Ours(PaymentState::Declined { .. })
    ));
}

/// What a notification for a payment we never created is adopted with (issue 20): its amount in
/// minor units and its currency, or nothing when either cannot be read.
#[test]
fn the_reported_amount_needs_both_the_minor_units_and_the_currency() {
    let n = verify_and_parse(&form(&vector_6()), &phrase(), ShaType::Sha256).unwrap();
    assert_eq!(n.amount(), Some((500000, "EGP".to_owned())));
    let sale = |params: Value| signed(params).amount();
    assert_eq!(
        sale(json!({"command": "PURCHASE", "merchant_reference": "x", "amount": "12345", "currency": "EGP"})),
        Some((12345, "EGP".to_owned()))
    );
    assert_eq!(
        sale(json!({"command": "PURCHASE", "merchant_reference": "x", "amount": "12345"})),
        None
    );
    assert_eq!(
        sale(json!({"command": "PURCHASE", "merchant_reference": "x", "currency": "EGP"})),
        None
    );
}
