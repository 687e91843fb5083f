//! Tolerant readers for provider JSON: providers send the same field as a string or a number
//! (APS docs send every value as a string, its plugins sometimes numbers), and any field may be
//! missing. Nothing here panics or guesses: an unreadable value is `None`.

use crate::domain::limits;
use serde_json::Value;

/// Largest redirect body kept as a payment's next action (an ACS form is a few KiB).
pub const REDIRECT_BODY_MAX: usize = 16 * 1024;

/// The value at a path of object keys.
pub fn at<'a>(value: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(value, |v, key| v.as_object()?.get(*key))
}

/// A string or a number as text (numbers by their raw JSON text). Other kinds are `None`.
pub fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Text at a path.
pub fn text_at(value: &Value, path: &[&str]) -> Option<String> {
    at(value, path).and_then(text)
}

/// A provider-issued id or code: text of at most [`limits::PROVIDER_ID_MAX`] bytes without control
/// characters; anything else is `None`, as if absent. Even from a verified callback: it can match
/// nothing we sent, and kept as is it would fail the statement storing it (PostgreSQL refuses NUL
/// in text), which answers the provider 503 on every retry.
pub fn provider_id(text: String) -> Option<String> {
    limits::storable_reference(&text).then_some(text)
}

/// A provider's message (a decline's text, a status word): kept as the change's reason, so its
/// control characters become spaces and it is clipped to [`limits::REASON_MAX`] bytes.
pub fn provider_message(text: &str) -> String {
    limits::printable(text, limits::REASON_MAX)
}

/// Whether a JSON value can be stored as `jsonb` and shown as a customer's next step: at most
/// [`REDIRECT_BODY_MAX`] bytes serialized, and no NUL in any key or string (`jsonb` refuses it).
pub fn storable_json(value: &Value) -> bool {
    fn holds_nul(value: &Value) -> bool {
        match value {
            Value::String(s) => s.contains('\0'),
            Value::Array(items) => items.iter().any(holds_nul),
            Value::Object(map) => map.iter().any(|(key, item)| key.contains('\0') || holds_nul(item)),
            _ => false,
        }
    }
    // serde_json's parser caps nesting (128 levels), so the recursion is bounded.
    !holds_nul(value) && serde_json::to_vec(value).is_ok_and(|bytes| bytes.len() <= REDIRECT_BODY_MAX)
}

/// An amount in minor units: an integer JSON number or a string of ASCII digits. Decimals,
/// signs, blanks and overflow are `None`, so a malformed amount can never compare equal.
pub fn minor(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64().filter(|v| *v >= 0),
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => s.parse().ok(),
        _ => None,
    }
}

/// Minor units at a path.
pub fn minor_at(value: &Value, path: &[&str]) -> Option<i64> {
    at(value, path).and_then(minor)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn minor_accepts_integers_and_digit_strings_only() {
        assert_eq!(minor(&json!(15000)), Some(15000));
        assert_eq!(minor(&json!("500000")), Some(500000));
        let decimal: Value = serde_json::from_str("1.0").unwrap();
        assert_eq!(minor(&decimal), None);
        for bad in [
            json!(-1),
            json!("-1"),
            json!(""),
            json!("1e3"),
            json!(" 1"),
            json!(null),
        ] {
            assert_eq!(minor(&bad), None, "{bad}");
        }
        assert_eq!(minor(&json!("99999999999999999999999")), None);
    }

    #[test]
    fn text_keeps_raw_number_text() {
        let v: Value = serde_json::from_str(r#"{"id":29741010169841}"#).unwrap();
        assert_eq!(text_at(&v, &["id"]).as_deref(), Some("29741010169841"));
        assert_eq!(text_at(&v, &["missing", "x"]), None);
        assert_eq!(text(&json!(true)), None);
    }
}
