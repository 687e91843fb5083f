//! Property tests for APS: sign-then-verify round trips for arbitrary parameter maps (requests and
//! responses, every SHA type), changing any one value or the signature fails verification, and no
//! parser (responses, notifications as form or JSON) panics on arbitrary input.

use proptest::prelude::*;
use secrecy::SecretString;
use serde_json::{json, Map, Value};

use super::notification::{verify_and_parse, Notification};
use super::response::{
    parse_check_status, parse_customer_verify, parse_otp_generate, parse_otp_verify, parse_purchase, parse_refund,
};
use super::signature::{sign_request, sign_response, verify_request, verify_response, ShaType};
use crate::providers::outcome::Expected;
use crate::providers::strategies::{json, json_object};
use crate::providers::RawResponse;

fn phrase() -> SecretString {
    SecretString::from("prop#phrase".to_owned())
}

fn sha() -> impl Strategy<Value = ShaType> {
    prop_oneof![
        Just(ShaType::Sha256),
        Just(ShaType::Sha512),
        Just(ShaType::Hmac256),
        Just(ShaType::Hmac512)
    ]
}

/// APS-style parameters: string values, plus an optional `products` list of objects.
fn params() -> impl Strategy<Value = Map<String, Value>> {
    let scalar = "[a-z_]{1,12}".prop_filter("not the signature", |n| n != "signature");
    let products = proptest::collection::vec(("\\PC{0,8}", 0u32..1_000_000, "\\PC{0,8}"), 0..3).prop_map(|items| {
        Value::Array(
            items
                .into_iter()
                .map(|(name, price, category)| {
                    json!({
                        "product_name": name, "product_price": price.to_string(), "product_category": category,
                    })
                })
                .collect(),
        )
    });
    (
        proptest::collection::btree_map(scalar, "\\PC{0,16}", 1..10),
        proptest::option::of(products),
    )
        .prop_map(|(scalars, products)| {
            let mut map: Map<String, Value> = scalars.into_iter().map(|(k, v)| (k, Value::String(v))).collect();
            if let Some(products) = products {
                map.insert("products".into(), products);
            }
            map
        })
}

fn with_signature(mut map: Map<String, Value>, signature: String) -> Map<String, Value> {
    map.insert("signature".into(), Value::String(signature));
    map
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn request_and_response_signatures_round_trip(p in params(), sha in sha()) {
        let request = with_signature(p.clone(), sign_request(&p, &phrase(), sha));
        prop_assert!(verify_request(&request, &phrase(), sha));
        let mut p = p;
        p.insert("merchant_reference".into(), json!("ord-1"));
        let response = with_signature(p.clone(), sign_response(&p, &phrase(), sha));
        prop_assert!(verify_response(&response, &phrase(), sha));
        // A notification arrives as text: the same map through JSON verifies and parses too.
        let body = Value::Object(response).to_string();
        prop_assert!(verify_and_parse(body.as_bytes(), &phrase(), sha).is_ok());
    }

    #[test]
    fn changing_any_one_value_fails(p in params(), sha in sha(), pick in any::<prop::sample::Index>(), ch in any::<char>()) {
        let signed = with_signature(p.clone(), sign_request(&p, &phrase(), sha));
        let names: Vec<String> = p.keys().filter(|k| p[*k].is_string()).cloned().collect();
        prop_assume!(!names.is_empty());
        let name = &names[pick.index(names.len())];
        let mut changed = signed.clone();
        let old = changed[name].as_str().unwrap_or_default().to_owned();
        // Change one character (or add one to an empty value).
        let mut chars: Vec<char> = old.chars().collect();
        match chars.first_mut() {
            Some(first) if *first != ch => *first = ch,
            _ => chars.push(ch),
        }
        let new: String = chars.into_iter().collect();
        prop_assume!(new != old);
        changed.insert(name.clone(), Value::String(new));
        prop_assert!(!verify_request(&changed, &phrase(), sha));
    }

    #[test]
    fn changing_any_byte_of_the_signature_fails(p in params(), sha in sha(), pick in any::<prop::sample::Index>()) {
        let signature = sign_request(&p, &phrase(), sha);
        let mut bytes = signature.into_bytes();
        let i = pick.index(bytes.len());
        bytes[i] = if bytes[i] == b'0' { b'1' } else { b'0' };
        let changed = with_signature(p, String::from_utf8(bytes).unwrap());
        prop_assert!(!verify_request(&changed, &phrase(), sha));
    }

    #[test]
    fn notification_parser_never_panics_on_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = verify_and_parse(&bytes, &phrase(), ShaType::Sha256);
    }

    #[test]
    fn notification_parser_never_panics_on_maps(map in json_object(), amount in any::<i64>()) {
        let body = Value::Object(map.clone()).to_string();
        let _ = verify_and_parse(body.as_bytes(), &phrase(), ShaType::Hmac512);
        if let Ok(n) = Notification::from_verified(map) {
            let expected = Expected::money("r", amount, "EGP");
            let _ = n.purchase_state(&expected);
            let _ = n.match_refund(&expected, "rf");
        }
    }

    #[test]
    fn response_parsers_never_panic(status in 100u16..600, value in json(), bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let expected = Expected::money("r", 1, "EGP");
        for body in [value.to_string().into_bytes(), bytes.clone()] {
            let raw = RawResponse { status, body };
            let _ = parse_customer_verify(&raw, "r");
            let _ = parse_otp_generate(&raw, &expected);
            let _ = parse_otp_verify(&raw, &expected);
            let _ = parse_purchase(&raw, &expected);
            let _ = parse_refund(&raw, &expected);
            let _ = parse_check_status(&raw, &expected);
        }
    }
}
