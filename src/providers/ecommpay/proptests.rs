//! Property tests for ecommpay: sign-then-verify round trips for arbitrary JSON, any one-byte
//! change of a signed body fails verification (unless it only touches what is unsigned by design:
//! `frame_mode`, empty containers), and no parser panics on arbitrary bytes or JSON.

use proptest::prelude::*;
use secrecy::SecretString;
use serde_json::Value;

use super::callback::{verify_and_parse, Callback, ExpectedRefund};
use super::response::{parse_refund, parse_sale, parse_status};
use super::signature::{canonical_string, carried_signature, sign_in_place, verify};
use crate::providers::outcome::Expected;
use crate::providers::strategies::{json, json_object};
use crate::providers::RawResponse;

fn key() -> SecretString {
    SecretString::from("prop-secret".to_owned())
}

fn signed(map: serde_json::Map<String, Value>) -> Value {
    let mut doc = Value::Object(map);
    sign_in_place(&mut doc, &key());
    doc
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn sign_then_verify_round_trips(map in json_object()) {
        let doc = signed(map);
        prop_assert!(verify(&doc, &key()));
        // Through the wire text too: numbers keep their raw text.
        let reparsed: Value = serde_json::from_str(&doc.to_string()).unwrap();
        prop_assert!(verify(&reparsed, &key()));
        prop_assert!(!verify(&doc, &SecretString::from("other".to_owned())));
    }

    #[test]
    fn any_one_byte_change_fails_verification(map in json_object(), at in any::<prop::sample::Index>(), mask in 1u8..=255) {
        let doc = signed(map);
        let mut bytes = doc.to_string().into_bytes();
        let i = at.index(bytes.len());
        bytes[i] ^= mask;
        if let Ok(changed) = serde_json::from_slice::<Value>(&bytes) {
            let unsigned_change = canonical_string(&changed) == canonical_string(&doc)
                && carried_signature(&changed) == carried_signature(&doc);
            prop_assert!(unsigned_change || !verify(&changed, &key()));
        }
    }

    #[test]
    fn changing_any_signed_string_value_fails(map in json_object(), pick in any::<prop::sample::Index>()) {
        let doc = signed(map);
        let before = canonical_string(&doc);
        let mut changed = doc.clone();
        let mut leaves = Vec::new();
        collect_string_leaves(&mut changed, &mut leaves);
        prop_assume!(!leaves.is_empty());
        let i = pick.index(leaves.len());
        leaves[i].push('x');
        drop(leaves);
        prop_assume!(canonical_string(&changed) != before);
        prop_assert!(!verify(&changed, &key()));
    }

    #[test]
    fn callback_parser_never_panics_on_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = verify_and_parse(&bytes, &key());
    }

    #[test]
    fn callback_parser_never_panics_on_json(value in json(), amount in any::<i64>()) {
        let _ = verify_and_parse(value.to_string().as_bytes(), &key());
        if let Ok(cb) = Callback::from_verified(value) {
            let _ = cb.event();
            let _ = cb.sale_state(&Expected::money("p", amount, "GBP"));
            let _ = cb.match_refund(&ExpectedRefund { payment_id: "p".into(), amount_minor: amount, currency: "GBP".into(), request_id: None });
        }
    }

    #[test]
    fn signed_arbitrary_callbacks_parse_without_panic(map in json_object()) {
        let doc = signed(map);
        if let Ok(cb) = verify_and_parse(doc.to_string().as_bytes(), &key()) {
            let _ = cb.sale_state(&Expected::reference("p"));
        }
    }

    #[test]
    fn response_parsers_never_panic(status in 100u16..600, value in json(), bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        for body in [value.to_string().into_bytes(), bytes.clone()] {
            let raw = RawResponse { status, body };
            let _ = parse_sale(&raw, "p");
            let _ = parse_refund(&raw, "p");
            let _ = parse_status(&raw, &Expected::money("p", 1, "GBP"));
        }
    }
}

fn collect_string_leaves<'a>(value: &'a mut Value, out: &mut Vec<&'a mut String>) {
    match value {
        Value::String(text) => out.push(text),
        Value::Array(items) => items.iter_mut().for_each(|v| collect_string_leaves(v, out)),
        Value::Object(map) => {
            for (name, child) in map.iter_mut() {
                // Unsigned by design (§1.4): frame_mode anywhere, and the signature itself.
                if name != "frame_mode" && name != "signature" {
                    collect_string_leaves(child, out);
                }
            }
        }
        _ => {}
    }
}
