//! ecommpay request, response and callback signatures (`../shared/spec/providers.md` §1.4).
//!
//! The signed text is every leaf of the JSON document as `path:value`, where the path is the keys
//! joined by `:` (a `:` inside a key written as `::`, array elements by index), sorted in PHP's
//! natural order (`items:2` before `items:10`, as the platform's own PHP reference code sorts) and
//! joined with `;`. Booleans are `1`/`0`, null is empty, empty objects and arrays contribute
//! nothing, keys named `frame_mode` or `signature` are dropped at any depth (`signature` as
//! php-sdk, the platform's reference, removes it; py and go recurse through objects only, which
//! differs only for a `signature` inside an array), and numbers keep their raw JSON text
//! (serde_json `arbitrary_precision`) so a 16-digit `operation.id` is signed exactly as sent.
//! The signature is `base64(HMAC-SHA512(secret, text))`, compared in constant time.
//!
//! Invariant: the signature itself (top-level `signature` or `general.signature`) is never part of
//! the signed text, so signing a document that already carries one gives the same result.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value};
use sha2::Sha512;

type HmacSha512 = Hmac<Sha512>;

/// Key dropped at any depth: it describes how a page is shown, not the payment.
const FRAME_MODE: &str = "frame_mode";
const SIGNATURE: &str = "signature";
const GENERAL: &str = "general";

/// The canonical `path:value;…` text that ecommpay signs, with the document's own signature left out.
pub fn canonical_string(document: &Value) -> String {
    let mut leaves: Vec<(String, String)> = Vec::new();
    match document {
        Value::Object(map) => walk_object(map, "", &mut leaves),
        Value::Array(items) => walk_array(items, "", &mut leaves),
        // A bare scalar has no path; ecommpay never signs one, so it contributes nothing.
        _ => {}
    }
    leaves.sort_by(|a, b| natord::compare(&a.0, &b.0));
    let mut text = String::with_capacity(leaves.iter().map(|(p, v)| p.len() + v.len() + 2).sum());
    for (index, (path, value)) in leaves.iter().enumerate() {
        if index > 0 {
            text.push(';');
        }
        text.push_str(path);
        text.push(':');
        text.push_str(value);
    }
    text
}

/// `base64(HMAC-SHA512(secret, canonical_string(document)))`.
pub fn sign(document: &Value, secret: &SecretString) -> String {
    BASE64.encode(mac_of(document, secret).finalize().into_bytes())
}

/// Signs `document` and stores the signature where ecommpay expects it: in `general.signature`
/// when the document has a `general` object, otherwise at the top level.
pub fn sign_in_place(document: &mut Value, secret: &SecretString) {
    let signature = Value::String(sign(document, secret));
    if let Value::Object(map) = document {
        match map.get_mut(GENERAL) {
            Some(Value::Object(general)) => {
                general.insert(SIGNATURE.to_owned(), signature);
            }
            _ => {
                map.insert(SIGNATURE.to_owned(), signature);
            }
        }
    }
}

/// The signature a document carries, from `general.signature` or the top level.
pub fn carried_signature(document: &Value) -> Option<&str> {
    let map = document.as_object()?;
    map.get(GENERAL)
        .and_then(|general| general.get(SIGNATURE))
        .or_else(|| map.get(SIGNATURE))
        .and_then(Value::as_str)
}

/// True when the document carries a signature that matches its content under `secret`.
/// The comparison is constant-time (`Mac::verify_slice`).
pub fn verify(document: &Value, secret: &SecretString) -> bool {
    let Some(carried) = carried_signature(document) else {
        return false;
    };
    let Ok(carried) = BASE64.decode(carried) else {
        return false;
    };
    mac_of(document, secret).verify_slice(&carried).is_ok()
}

fn mac_of(document: &Value, secret: &SecretString) -> HmacSha512 {
    let mut mac = new_hmac(secret);
    mac.update(canonical_string(document).as_bytes());
    mac
}

#[expect(clippy::expect_used, reason = "HMAC accepts keys of any length")]
fn new_hmac(secret: &SecretString) -> HmacSha512 {
    HmacSha512::new_from_slice(secret.expose_secret().as_bytes()).expect("HMAC takes any key length")
}

/// A document's own signature lives at the top level or in `general`, but the SDKs leave out a
/// `signature` key wherever it is, and so does this.
fn walk_object(map: &Map<String, Value>, prefix: &str, out: &mut Vec<(String, String)>) {
    for (key, child) in map {
        if key == FRAME_MODE || key == SIGNATURE {
            continue;
        }
        walk_value(child, join(prefix, &escape(key)), out);
    }
}

fn walk_array(items: &[Value], prefix: &str, out: &mut Vec<(String, String)>) {
    for (index, child) in items.iter().enumerate() {
        walk_value(child, join(prefix, &index.to_string()), out);
    }
}

fn walk_value(value: &Value, path: String, out: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) => walk_object(map, &path, out),
        Value::Array(items) => walk_array(items, &path, out),
        Value::Bool(flag) => out.push((path, if *flag { "1" } else { "0" }.to_owned())),
        Value::Null => out.push((path, String::new())),
        Value::Number(number) => out.push((path, number.to_string())),
        Value::String(text) => out.push((path, text.clone())),
    }
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_owned()
    } else {
        format!("{prefix}:{key}")
    }
}

fn escape(key: &str) -> String {
    key.replace(':', "::")
}

#[cfg(test)]
#[path = "signature_tests.rs"]
mod tests;
