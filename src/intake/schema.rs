//! A command body into its type, with every limit of contract §7 checked, or the field that is
//! wrong as a JSON Pointer.
//!
//! Why one place: a body that fails here is `invalid` (dead-lettered, never retried), and its
//! reason must name the field (`/amount/minor: …`) and quote at most a bounded part of the value,
//! whichever command it was. Invariant: nothing reaches the store unless it passed [`parse`].

use crate::domain::limits::{self, FieldError};
use serde::de::DeserializeOwned;
use serde_json::Value;

/// A command body type and its limits beyond what its serde shape says.
pub trait CommandBody: DeserializeOwned {
    /// Checks lengths, control characters, ranges and sizes; the first breach wins.
    fn check_limits(&self) -> Result<(), FieldError>;
}

/// Serde's own message for a bad field can quote the value it refused; this much of it is kept.
const SERDE_MESSAGE_MAX: usize = 300;

/// Deserializes `body` as `T` and checks its limits.
pub fn parse<T: CommandBody>(body: &Value) -> Result<T, FieldError> {
    let parsed: T = serde_path_to_error::deserialize(body).map_err(|error| {
        let mut pointer = pointer_of(error.path());
        let message = error.into_inner().to_string();
        // "missing field `x`" is reported at the parent; point at the field itself.
        let problem = match message
            .strip_prefix("missing field `")
            .and_then(|rest| rest.strip_suffix('`'))
        {
            Some(field) => {
                pointer.push('/');
                pointer.push_str(&limits::escape_pointer(field));
                "required".to_owned()
            }
            None => limits::clip(&message, SERDE_MESSAGE_MAX),
        };
        FieldError::new(pointer, problem)
    })?;
    parsed.check_limits()?;
    Ok(parsed)
}

/// serde_path_to_error's path as an RFC 6901 JSON Pointer (`/items/0/name`).
fn pointer_of(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    path.iter()
        .filter_map(|segment| match segment {
            Segment::Seq { index } => Some(index.to_string()),
            Segment::Map { key } => Some(limits::escape_pointer(key)),
            Segment::Enum { variant } => Some(limits::escape_pointer(variant)),
            Segment::Unknown => None,
        })
        .fold(String::new(), |mut pointer, token| {
            pointer.push('/');
            pointer.push_str(&token);
            pointer
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Debug, Deserialize)]
    struct Body {
        #[expect(dead_code, reason = "read by serde only")]
        amount: Amount,
        #[serde(default)]
        items: Vec<Item>,
    }
    #[derive(Debug, Deserialize)]
    struct Amount {
        #[expect(dead_code, reason = "read by serde only")]
        minor: i64,
    }
    #[derive(Debug, Deserialize)]
    struct Item {
        name: String,
    }
    impl CommandBody for Body {
        fn check_limits(&self) -> Result<(), FieldError> {
            for (index, item) in self.items.iter().enumerate() {
                limits::text(&format!("/items/{index}/name"), &item.name, 5, false)?;
            }
            Ok(())
        }
    }

    #[test]
    fn a_mistyped_field_is_named_by_its_pointer() {
        let error = parse::<Body>(&json!({"amount": {"minor": "lots"}})).unwrap_err();
        assert_eq!(error.pointer, "/amount/minor");
        assert!(error.problem.contains("expected i64"), "{error}");
    }

    #[test]
    fn a_missing_field_points_at_the_field() {
        let error = parse::<Body>(&json!({})).unwrap_err();
        assert_eq!(error.to_string(), "/amount: required");
    }

    #[test]
    fn an_overflowing_amount_is_a_schema_error_not_a_wrap() {
        let error = parse::<Body>(&json!({"amount": {"minor": 18_446_744_073_709_551_615_u64}})).unwrap_err();
        assert_eq!(error.pointer, "/amount/minor");
    }

    #[test]
    fn limits_run_after_the_shape_and_name_the_element() {
        let error = parse::<Body>(&json!({"amount": {"minor": 1}, "items": [{"name": "ok"}, {"name": "too long"}]}))
            .unwrap_err();
        assert_eq!(error.pointer, "/items/1/name");
    }

    #[test]
    fn a_huge_refused_value_is_not_quoted_in_full() {
        let huge = "x".repeat(100_000);
        let error = parse::<Body>(&json!({"amount": {"minor": huge}})).unwrap_err();
        assert!(error.problem.len() <= SERDE_MESSAGE_MAX, "{}", error.problem.len());
    }
}
