//! Every ecommpay vector of `../shared/spec/providers.md` §1.5, with its full input and output.

use super::*;
use secrecy::SecretString;
use serde_json::json;

fn key(text: &str) -> SecretString {
    SecretString::from(text.to_owned())
}

fn parse(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

#[test]
fn php_and_js_sdk_vector_a() {
    let doc = parse(
        r#"{"customer":{"project_id":0,"id":"sutm_id"},"card":{"pan":"4242424242424242","year":2020,"month":8,"card_holder":"John Smith","cvv":"123","save":true},"frame_mode":"popup"}"#,
    );
    assert_eq!(
        sign(&doc, &key("secret")),
        "lY0LTSAzpR7zGce5qfYGacOuYlHGWqkMcQlqmjlsDDZI2gVcE1qVeWANnkIR7mdOqRXJnL1kO0lUmkQ0YYLWRg=="
    );
}

#[test]
fn python_sdk_vector_b() {
    let doc = parse(
        r#"{"payment":{"id":"test-payment"},"errors":[{"code":"123","message":"grand crash","description":["description-str",{"description1":1}]},{"code":"456","message":"minor crash","description":null}]}"#,
    );
    assert_eq!(
        sign(&doc, &key("qwerty")),
        "dxjnun8oySSl0CWlhhjy/k1V9CZcCtaHvu/Y5qJQbWHq8wd6TqTUt4bIfHrlWxT8ba9NOJfkgGHrGc5OgyQVGA=="
    );
}

#[test]
fn a_top_level_array_is_signed_by_index() {
    // ecommpay never sends one, but a body that is an array must not sign as the empty text.
    assert_eq!(canonical_string(&json!(["g", {"h": 7}])), "0:g;1:h:7");
}

#[test]
fn go_sdk_canonical_string_fixture() {
    let doc = parse(r#"{"a":{"b":1111111111111111,"c":2},"d":false,"f":["g",{"h":7,"i":{"k":8}}],"e":[4,5],"j":null}"#);
    assert_eq!(
        canonical_string(&doc),
        "a:b:1111111111111111;a:c:2;d:0;e:0:4;e:1:5;f:0:g;f:1:h:7;f:1:i:k:8;j:"
    );
}

#[test]
fn payment_page_docs_example() {
    let doc = json!({
        "project_id": 12345, "payment_id": "X03936", "payment_amount": 2035,
        "payment_currency": "USD", "payment_description": "Guyliner purchase",
        "customer_first_name": "Jack", "customer_id": "user007", "customer_last_name": "Sparrow",
        "customer_phone": "02081234567", "close_on_missclick": true
    });
    assert_eq!(
        sign(&doc, &key("secret")),
        "SyA3cx/dmFrwjRcpbnwEK9zaklWKR9buIfTctQob/EHUTutFLpI0zWpSDFEWEwbZt/04i83395RCdEhtUMw83A=="
    );
}

#[test]
fn eleven_element_array_is_sorted_naturally_not_lexicographically() {
    let items: Vec<Value> = (0..=10).map(|n| json!({ "n": n })).collect();
    let doc = json!({ "items": items });
    let natural = "zrBC/W5Xa92BpvHmId0Fz3ku6vUpUL5LsSmf7EVI79jK0RZWmHvi738CV6+9P9wvBeoea8E0P7FsmL9iUV0B1A==";
    let lexicographic = "atNsBDWym8pwASFSFxFMc/tVeGf6O7z0ItK6KJyCWqK5f2rn45hxAzQEzYlJ+8Bi/XtSIOkqT5OHUmL8qUM6fA==";
    let signature = sign(&doc, &key("test-secret-key"));
    assert_eq!(signature, natural);
    assert_ne!(signature, lexicographic);
}

#[test]
fn project_vector_1_humm_sale() {
    let mut doc = parse(
        r#"{"general":{"project_id":12345,"payment_id":"ord-1001-humm"},"payment":{"amount":15000,"currency":"GBP"},"customer":{"id":"cust-42","ip_address":"203.0.113.7","first_name":"Jane","last_name":"Doe"}}"#,
    );
    assert_eq!(
        canonical_string(&doc),
        "customer:first_name:Jane;customer:id:cust-42;customer:ip_address:203.0.113.7;customer:last_name:Doe;general:payment_id:ord-1001-humm;general:project_id:12345;payment:amount:15000;payment:currency:GBP"
    );
    sign_in_place(&mut doc, &key("test-secret-key"));
    assert_eq!(
        doc["general"]["signature"],
        "SS/dhjGmSIawUA0KMllSNlRm51/ctujLxeQs9eEgLL8TsnOCE2ULZn08fiDm8lQYWg042YD0iVavith/4PihqA=="
    );
    assert!(verify(&doc, &key("test-secret-key")));
}

#[test]
fn project_vector_2_refund() {
    let doc = parse(
        r#"{"general":{"project_id":12345,"payment_id":"ord-1001-humm"},"payment":{"amount":5000,"currency":"GBP","description":"Partial refund 1","merchant_refund_id":"rf-1001-1"}}"#,
    );
    assert_eq!(
        sign(&doc, &key("test-secret-key")),
        "55fBKH5SnGRKXGdE/KOBlbpRaJWQANxolWD4h+2q0yim3n9p1EUl5UKuoMgup7hs7qoWYhEMCZ5Xeik6IqT82Q=="
    );
}

#[test]
fn project_vector_3_status() {
    let doc = parse(r#"{"general":{"project_id":12345,"payment_id":"ord-1001-humm"}}"#);
    assert_eq!(
        canonical_string(&doc),
        "general:payment_id:ord-1001-humm;general:project_id:12345"
    );
    assert_eq!(
        sign(&doc, &key("test-secret-key")),
        "S+MlLBFwGkohFE1jVOxBg/9gSRsod4Lgf9977dQbU4c2pmbk+0xP81nEQ+aWmp/lnFL1w8qoIyTSl1Np5+4+qw=="
    );
}

#[test]
fn project_vector_4_callback_verifies_with_top_level_signature() {
    let doc = parse(
        r#"{"project_id":12345,"payment":{"id":"ord-1001-humm","type":"purchase","status":"success","method":"bnpl-humm","sum":{"amount":15000,"currency":"GBP"},"description":""},"operation":{"id":1000000000001,"type":"sale","status":"success","request_id":"req-abc-1","code":"0","message":"Success","provider":{"id":1234,"payment_id":"HUMM-XYZ-1","auth_code":""}},"signature":"s7HAecbk/8lq0RWQydyB85p5jTtZxNa8MyfVzpa7e05yVN+5Nt5FsXxOasp2ZLaf5jtW9VPRZsLslQ6RxCcJdg=="}"#,
    );
    assert!(canonical_string(&doc).contains("payment:description:;"));
    assert!(verify(&doc, &key("test-secret-key")));
    assert!(!verify(&doc, &key("another-key")));
}

#[test]
fn empty_objects_and_arrays_contribute_nothing() {
    let plain = json!({"a": 1});
    let with_empty = json!({"a": 1, "provider_extra_fields": {"extended": {}}, "list": []});
    assert_eq!(canonical_string(&plain), canonical_string(&with_empty));
}

#[test]
fn colon_in_key_is_escaped() {
    assert_eq!(canonical_string(&json!({"a:b": {"c": "d"}})), "a::b:c:d");
}

#[test]
fn numbers_keep_their_raw_text() {
    let doc = parse(r#"{"operation":{"id":1234567890123456,"rate":1.50}}"#);
    assert_eq!(
        canonical_string(&doc),
        "operation:id:1234567890123456;operation:rate:1.50"
    );
}

/// Every SDK leaves out a `signature` key below the top level too (providers.md §1.4 step 1:
/// php-sdk at any depth, py and go through objects), so a callback carrying one still verifies.
#[test]
fn signature_keys_are_left_out_at_any_depth() {
    let doc = json!({"general": {"signature": "x"}, "extra": {"signature": "y", "kept": 1},
                     "list": [{"signature": "z", "code": "0"}]});
    assert_eq!(canonical_string(&doc), "extra:kept:1;list:0:code:0");
}

#[test]
fn a_missing_or_malformed_signature_never_verifies() {
    let secret = key("k");
    assert!(!verify(&json!({"a": 1}), &secret));
    assert!(!verify(&json!({"a": 1, "signature": "not base64!"}), &secret));
    assert!(!verify(&json!({"a": 1, "signature": 7}), &secret));
}
