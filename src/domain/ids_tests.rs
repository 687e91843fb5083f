//! Id validation at the edges: lengths 0/1/40/41 (64/65 for accounts), every kind of bad char.

use super::*;
use serde_json::json;

#[test]
fn provider_id_lengths() {
    for (len, ok) in [(0, false), (1, true), (40, true), (41, false)] {
        let value = "a".repeat(len);
        assert_eq!(PaymentId::new(value.clone()).is_ok(), ok, "payment_id len {len}");
        assert_eq!(RefundId::new(value).is_ok(), ok, "refund_id len {len}");
    }
}

#[test]
fn provider_id_chars() {
    let good = "AZaz09-_.";
    assert_eq!(PaymentId::new(good).unwrap().as_str(), good);
    assert_eq!(RefundId::new("rf-1001-1").unwrap().to_string(), "rf-1001-1");
    for bad in ["a b", "a/b", "a:b", "a+b", "a@b", "é", "ord\u{0}1", "ord\n", "~", "a,b"] {
        assert!(PaymentId::new(bad).is_err(), "{bad:?}");
        assert!(RefundId::new(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn multibyte_chars_do_not_pass_the_length_check() {
    // 20 two-byte chars = 40 bytes: refused for the char, whatever the length counting.
    assert!(PaymentId::new("é".repeat(20)).is_err());
}

#[test]
fn account_name_rules() {
    for (len, ok) in [(0, false), (1, true), (64, true), (65, false)] {
        assert_eq!(AccountName::new("x".repeat(len)).is_ok(), ok, "len {len}");
    }
    assert!(AccountName::new("default").is_ok());
    assert!(AccountName::new("eu-main_2").is_ok());
    for bad in ["a.b", "a b", "a/b", "ü"] {
        assert!(AccountName::new(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn serde_round_trips_and_validates_with_the_rule_in_the_message() {
    let id: PaymentId = serde_json::from_value(json!("ord-1001")).unwrap();
    assert_eq!(serde_json::to_value(&id).unwrap(), json!("ord-1001"));
    let err = serde_json::from_value::<PaymentId>(json!("ord 1001")).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("payment_id"), "{text}");
    assert!(text.contains(PaymentId::RULE), "{text}");
    let err = serde_json::from_value::<RefundId>(json!("")).unwrap_err();
    assert!(err.to_string().contains("refund_id"), "{err}");
    assert!(serde_json::from_value::<PaymentId>(json!(1001)).is_err());
}

#[test]
fn from_str_validates() {
    assert!("ord-1".parse::<PaymentId>().is_ok());
    assert!("ord 1".parse::<PaymentId>().is_err());
    assert!("default".parse::<AccountName>().is_ok());
}
