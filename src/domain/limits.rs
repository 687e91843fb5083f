//! The limits of contract §7: how long, how deep and how large anything a command carries may be,
//! and how much of a refused value a message may quote.
//!
//! Why here, in the pure domain: every limit is checked before anything is stored or sent (design
//! §1c), so the database never sees a value it would refuse and a refused command names the field
//! (a JSON Pointer such as `/amount/minor`) instead of failing as an "outage". Invariants: text is
//! measured in characters, never bytes; no text field holds a control character (PostgreSQL's
//! `text` and `jsonb` cannot store NUL, and no order system means one); a quoted value is at most
//! [`QUOTE_MAX`] characters, so a reason, a log line or an AMQP header stays small whatever was
//! sent.

use serde_json::Value;
use std::fmt;

/// Customer names, item names and categories, customer ids.
pub const NAME_MAX: usize = 100;
/// `description`.
pub const DESCRIPTION_MAX: usize = 1_000;
/// `reason` (of a refund).
pub const REASON_MAX: usize = 500;
/// `metadata`, serialized as compact JSON.
pub const METADATA_MAX_BYTES: usize = 4_096;
/// `metadata` nesting: the object itself is level 1.
pub const METADATA_MAX_DEPTH: usize = 8;
/// `items`.
pub const ITEMS_MAX: usize = 100;
/// A valU amount when the account sets no `max_amount_minor` (1,000,000.00 EGP).
pub const DEFAULT_MAX_AMOUNT_MINOR: i64 = 100_000_000;
/// Units of one item.
pub const QUANTITY_MAX: i64 = 10_000;
/// `return_url`.
pub const URL_MAX: usize = 2_048;
/// `customer.email` (RFC 5321's path limit).
pub const EMAIL_MAX: usize = 254;
/// `customer.phone`.
pub const PHONE_MAX: usize = 32;
/// `customer.ip_address` (the longest IPv6 text form).
pub const IP_MAX: usize = 45;
/// The valU OTP the customer typed.
pub const OTP_MAX: usize = 12;
/// Longest plan on offer, in months.
pub const TENURE_MAX_MONTHS: u32 = 120;
/// Characters of a refused value that a reason or a log line may quote.
pub const QUOTE_MAX: usize = 200;

/// A field that breaks a limit: where (a JSON Pointer into the command body) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// RFC 6901 pointer, e.g. `/items/3/name`; empty for the whole body.
    pub pointer: String,
    pub problem: String,
}

impl FieldError {
    pub fn new(pointer: impl Into<String>, problem: impl Into<String>) -> Self {
        FieldError {
            pointer: pointer.into(),
            problem: problem.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pointer = if self.pointer.is_empty() { "/" } else { &self.pointer };
        write!(f, "{pointer}: {}", self.problem)
    }
}

impl std::error::Error for FieldError {}

/// `value` in quotes, cut to [`QUOTE_MAX`] characters with the full length said: what messages
/// may show of a refused value.
pub fn quote(value: &str) -> String {
    let total = value.chars().count();
    if total <= QUOTE_MAX {
        return format!("{value:?}");
    }
    let head: String = value.chars().take(QUOTE_MAX).collect();
    format!("{head:?}… ({total} characters)")
}

/// The longest prefix of `text` that fits in `max_bytes`, cut at a character boundary, with `…`
/// when it was cut: for values bounded in bytes (AMQP headers, stored bodies).
pub fn clip(text: &str, max_bytes: usize) -> String {
    if text.len() <= max_bytes {
        return text.to_owned();
    }
    let ellipsis = "…";
    let budget = max_bytes.saturating_sub(ellipsis.len());
    // The last character boundary within the budget (0 always is one); a search, not a loop
    // that steps back, so no mistake in it can spin for ever.
    let end = (0..=budget).rev().find(|&at| text.is_char_boundary(at)).unwrap_or(0);
    format!("{}{ellipsis}", &text[..end])
}

/// Longest provider-issued id or code kept (ecommpay's request ids are UUIDs, APS `fort_id`s 18
/// digits): generous, yet bounded.
pub const PROVIDER_ID_MAX: usize = 128;

/// Whether `text` can be kept as an id or code another party issued: 1 to [`PROVIDER_ID_MAX`]
/// bytes without control characters (PostgreSQL refuses a NUL in text, and a NUL failing the
/// statement that keeps it turns a genuine answer into an error repeated on every retry).
pub fn storable_reference(text: &str) -> bool {
    !text.is_empty() && text.len() <= PROVIDER_ID_MAX && !text.chars().any(char::is_control)
}

/// `text` as a message that can be kept and shown: control characters become spaces, and it is
/// clipped to `max_bytes`.
pub fn printable(text: &str, max_bytes: usize) -> String {
    if text.len() <= max_bytes && !text.chars().any(char::is_control) {
        return text.to_owned();
    }
    let printable: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    clip(&printable, max_bytes)
}

/// Where the first forbidden control character is, if any. Tab, line feed and carriage return are
/// allowed only where `multiline` says so (a description may have lines; a name may not).
pub fn forbidden_control(text: &str, multiline: bool) -> Option<(usize, char)> {
    text.chars()
        .enumerate()
        .find(|(_, c)| c.is_control() && !(multiline && matches!(c, '\t' | '\n' | '\r')))
}

/// A text field: at most `max` characters, no control characters (but line breaks and tabs when
/// `multiline`).
pub fn text(pointer: &str, value: &str, max: usize, multiline: bool) -> Result<(), FieldError> {
    if let Some((at, c)) = forbidden_control(value, multiline) {
        return Err(FieldError::new(
            pointer,
            format!("control character U+{:04X} at character {at}", u32::from(c)),
        ));
    }
    let length = value.chars().count();
    if length > max {
        return Err(FieldError::new(
            pointer,
            format!("at most {max} characters, got {length}"),
        ));
    }
    Ok(())
}

/// An optional text field (see [`text`]).
pub fn optional_text(pointer: &str, value: Option<&str>, max: usize, multiline: bool) -> Result<(), FieldError> {
    value.map_or(Ok(()), |value| text(pointer, value, max, multiline))
}

/// An amount that must be at least 1 minor unit.
pub fn positive_amount(pointer: &str, minor: i64) -> Result<(), FieldError> {
    if minor < 1 {
        return Err(FieldError::new(pointer, format!("must be at least 1, got {minor}")));
    }
    Ok(())
}

/// `metadata`: echoed on every event and kept for finance, so small and shallow, with no control
/// characters in any key or string (PostgreSQL's `jsonb` refuses NUL).
pub fn metadata(pointer: &str, value: &Value) -> Result<(), FieldError> {
    if !matches!(value, Value::Object(_) | Value::Null) {
        return Err(FieldError::new(pointer, "must be a JSON object"));
    }
    walk(pointer, value, 1)?;
    let size = serde_json::to_vec(value).map(|bytes| bytes.len()).unwrap_or(usize::MAX);
    if size > METADATA_MAX_BYTES {
        return Err(FieldError::new(
            pointer,
            format!("at most {METADATA_MAX_BYTES} bytes serialized, got {size}"),
        ));
    }
    Ok(())
}

fn walk(pointer: &str, value: &Value, depth: usize) -> Result<(), FieldError> {
    let nested = matches!(value, Value::Object(_) | Value::Array(_));
    if nested && depth > METADATA_MAX_DEPTH {
        return Err(FieldError::new(
            pointer,
            format!("at most {METADATA_MAX_DEPTH} levels deep"),
        ));
    }
    match value {
        Value::String(text) => no_control(pointer, text),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .try_for_each(|(index, item)| walk(&format!("{pointer}/{index}"), item, depth + 1)),
        Value::Object(map) => map.iter().try_for_each(|(key, item)| {
            let child = format!("{pointer}/{}", escape_pointer(key));
            no_control(&child, key)?;
            walk(&child, item, depth + 1)
        }),
        _ => Ok(()),
    }
}

fn no_control(pointer: &str, text: &str) -> Result<(), FieldError> {
    match forbidden_control(text, true) {
        Some((at, c)) => Err(FieldError::new(
            pointer,
            format!("control character U+{:04X} at character {at}", u32::from(c)),
        )),
        None => Ok(()),
    }
}

/// One key as a JSON Pointer reference token (RFC 6901: `~` → `~0`, `/` → `~1`), cut to
/// [`QUOTE_MAX`] characters so a pointer stays quotable.
pub fn escape_pointer(key: &str) -> String {
    key.chars()
        .take(QUOTE_MAX)
        .collect::<String>()
        .replace('~', "~0")
        .replace('/', "~1")
}

/// A URL the customer is sent back to: `https`, or `http` on a loopback host (local demos).
pub fn return_url(pointer: &str, value: &str) -> Result<(), FieldError> {
    text(pointer, value, URL_MAX, false)?;
    let url = url::Url::parse(value).map_err(|error| FieldError::new(pointer, format!("not a URL: {error}")))?;
    let loopback = match url.host() {
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    match url.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        scheme => Err(FieldError::new(
            pointer,
            format!("must be https (http only on loopback), got {}", quote(scheme)),
        )),
    }
}

#[cfg(test)]
#[path = "limits_tests.rs"]
mod tests;
