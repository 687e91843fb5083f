use super::super::schema::parse;
use super::*;
use serde_json::{json, Value};

fn purchase() -> Value {
    json!({
        "payment_id": "ord-1", "provider": "valu",
        "amount": {"minor": 500000, "currency": "EGP"}, "down_payment_minor": 0,
        "customer": {"first_name": "Omar", "last_name": "Ali", "phone": "01012345678", "ip_address": "203.0.113.7"},
        "items": [{"name": "Laptop", "unit_price_minor": 500000, "quantity": 1}],
        "description": "Order", "return_url": "https://shop.example/return",
        "metadata": {"order_ref": "1"}
    })
}

fn pointer_of_refusal(body: Value) -> String {
    parse::<PurchaseCreate>(&body).unwrap_err().pointer
}

#[test]
fn a_valid_purchase_passes() {
    parse::<PurchaseCreate>(&purchase()).unwrap();
}

#[test]
fn every_purchase_field_is_bounded_and_named() {
    let cases: Vec<(&str, Value, &str)> = vec![
        ("/description", json!("x".repeat(1_001)), "/description"),
        ("/description", json!("a\u{0}b"), "/description"),
        ("/customer/first_name", json!("J".repeat(101)), "/customer/first_name"),
        ("/customer/ip_address", json!("not-an-ip"), "/customer/ip_address"),
        ("/return_url", json!("http://shop.example/return"), "/return_url"),
        ("/amount/minor", json!(0), "/amount/minor"),
        ("/amount/minor", json!(-5), "/amount/minor"),
        ("/amount/minor", json!(9_223_372_036_854_775_808_u64), "/amount/minor"),
        ("/down_payment_minor", json!(-1), "/down_payment_minor"),
        ("/payment_id", json!("x".repeat(41)), "/payment_id"),
        ("/payment_id", json!("ord\u{0}1"), "/payment_id"),
    ];
    for (field, value, expected) in cases {
        let mut body = purchase();
        *body.pointer_mut(field).unwrap() = value;
        assert_eq!(pointer_of_refusal(body), expected, "{field}");
    }
}

#[test]
fn metadata_depth_and_size_are_bounded() {
    let mut deep = json!(1);
    for _ in 0..20 {
        deep = json!({ "k": deep });
    }
    let mut body = purchase();
    body["metadata"] = deep;
    assert!(pointer_of_refusal(body).starts_with("/metadata"));
}

#[test]
fn items_are_bounded_in_count_quantity_and_total() {
    let mut body = purchase();
    body["items"] = Value::Array(vec![json!({"name": "x", "unit_price_minor": 1, "quantity": 1}); 101]);
    assert_eq!(pointer_of_refusal(body), "/items");

    let mut body = purchase();
    body["items"][0]["quantity"] = json!(0);
    assert_eq!(pointer_of_refusal(body), "/items/0/quantity");

    // i64::MAX / 2 twice, times 3, wraps in release builds without checked arithmetic.
    let mut body = purchase();
    body["items"] = json!([
        {"name": "a", "unit_price_minor": i64::MAX / 2, "quantity": 1},
        {"name": "b", "unit_price_minor": i64::MAX / 2, "quantity": 3}
    ]);
    assert_eq!(pointer_of_refusal(body), "/items/1/unit_price_minor");
}

#[test]
fn refunds_and_confirms_are_bounded() {
    let refund = |reason: Value, amount: i64, payment_id: &str| json!({"refund_id": "rf-1", "payment_id": payment_id, "amount": {"minor": amount, "currency": "GBP"}, "reason": reason});
    assert!(parse::<RefundCreate>(&refund(json!("returned"), 100, "ord-1")).is_ok());
    let error = parse::<RefundCreate>(&refund(json!("r".repeat(501)), 100, "ord-1")).unwrap_err();
    assert_eq!(error.pointer, "/reason");
    let error = parse::<RefundCreate>(&refund(json!(null), 0, "ord-1")).unwrap_err();
    assert_eq!(error.pointer, "/amount/minor");
    let error = parse::<RefundCreate>(&refund(json!(null), 1, &"p".repeat(5_000))).unwrap_err();
    assert_eq!(error.pointer, "/payment_id");
    assert!(
        error.problem.len() < 400,
        "the id is quoted, not copied: {}",
        error.problem.len()
    );

    assert!(parse::<Confirm>(&json!({"payment_id": "p", "otp": "123456", "tenure_months": 6})).is_ok());
    let error = parse::<Confirm>(&json!({"payment_id": "p", "otp": "1\u{0}", "tenure_months": 6})).unwrap_err();
    assert_eq!(error.pointer, "/otp");
    let error = parse::<Confirm>(&json!({"payment_id": "p", "otp": "1", "tenure_months": 0})).unwrap_err();
    assert_eq!(error.pointer, "/tenure_months");
}
