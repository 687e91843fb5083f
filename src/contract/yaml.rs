//! JSON values written as YAML (block style, every string double-quoted with JSON escapes, which
//! YAML reads as the same string), for `docs/asyncapi.yaml`. A few lines instead of a dependency:
//! the output only has to be valid YAML and stable.

use serde_json::Value;

/// `value` as a YAML document.
pub fn to_yaml(value: &Value) -> String {
    let mut out = String::new();
    write(&mut out, value, 0, true);
    out
}

fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::Null => Some("null".to_owned()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) => Some(serde_json::to_string(s).unwrap_or_default()),
        Value::Array(items) if items.is_empty() => Some("[]".to_owned()),
        Value::Object(map) if map.is_empty() => Some("{}".to_owned()),
        _ => None,
    }
}

fn write(out: &mut String, value: &Value, indent: usize, top: bool) {
    let pad = "  ".repeat(indent);
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (key, item) in map {
                let key = serde_json::to_string(key).unwrap_or_default();
                match scalar(item) {
                    Some(text) => out.push_str(&format!("{pad}{key}: {text}\n")),
                    None => {
                        out.push_str(&format!("{pad}{key}:\n"));
                        write(out, item, indent + 1, false);
                    }
                }
            }
        }
        Value::Array(items) if !items.is_empty() => {
            for item in items {
                match scalar(item) {
                    Some(text) => out.push_str(&format!("{pad}- {text}\n")),
                    None => {
                        out.push_str(&format!("{pad}-\n"));
                        write(out, item, indent + 1, false);
                    }
                }
            }
        }
        other => {
            let text = scalar(other).unwrap_or_default();
            if top {
                out.push_str(&format!("{text}\n"));
            } else {
                out.push_str(&format!("{pad}{text}\n"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nested_maps_lists_and_strings() {
        let yaml = to_yaml(&json!({"a": {"b": [1, "x: y", {"c": true}], "e": {}}}));
        assert_eq!(
            yaml,
            "\"a\":\n  \"b\":\n    - 1\n    - \"x: y\"\n    -\n      \"c\": true\n  \"e\": {}\n"
        );
    }
}
