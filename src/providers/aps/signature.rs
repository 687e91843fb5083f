//! Amazon Payment Services signatures (`../shared/spec/providers.md` §2.4).
//!
//! The signed text is every parameter except `signature` as `name=value`, names sorted byte-wise
//! (case-sensitive), concatenated with no separator and wrapped in the phrase on both sides: the
//! request phrase for what we send, the response phrase for what APS sends us. Nested values use
//! APS's own text forms: an array of objects is `[{k=v, k=v}]` with keys in the order sent (so
//! parameter maps must keep insertion order: serde_json `preserve_order`), an object `{k=v, k=v}`,
//! a scalar array `[a, b]`. The digest is SHA-256/512, or HMAC-256/512 keyed with the same phrase,
//! as lowercase hex; a received signature is compared case-insensitively in constant time.

use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256, Sha512};
use subtle::ConstantTimeEq;

/// The SHA type chosen in the merchant's APS dashboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum ShaType {
    #[serde(rename = "SHA-256", alias = "sha256", alias = "SHA256")]
    Sha256,
    #[serde(rename = "SHA-512", alias = "sha512", alias = "SHA512")]
    Sha512,
    #[serde(rename = "HMAC-256", alias = "hmac256", alias = "HMAC256")]
    Hmac256,
    #[serde(rename = "HMAC-512", alias = "hmac512", alias = "HMAC512")]
    Hmac512,
}

const SIGNATURE: &str = "signature";

/// Parameters APS leaves out of response signatures (aps-sdk skips `installment_detail`).
const UNSIGNED_RESPONSE_PARAMS: &[&str] = &[SIGNATURE, "installment_detail"];

/// The phrase-wrapped text that is hashed, leaving out every name in `skip`.
pub fn signing_string(params: &Map<String, Value>, phrase: &SecretString, skip: &[&str]) -> String {
    let mut names: Vec<&String> = params.keys().filter(|name| !skip.contains(&name.as_str())).collect();
    names.sort_unstable();
    let phrase = phrase.expose_secret();
    let mut text = String::with_capacity(phrase.len() * 2 + names.len() * 24);
    text.push_str(phrase);
    for name in names {
        text.push_str(name);
        text.push('=');
        if let Some(value) = params.get(name) {
            write_value(value, &mut text);
        }
    }
    text.push_str(phrase);
    text
}

/// Signature of a request we send, with the request phrase.
pub fn sign_request(params: &Map<String, Value>, request_phrase: &SecretString, sha: ShaType) -> String {
    digest(
        &signing_string(params, request_phrase, &[SIGNATURE]),
        request_phrase,
        sha,
    )
}

/// True when `params` (an APS response or notification) carries a valid signature under the
/// response phrase.
pub fn verify_response(params: &Map<String, Value>, response_phrase: &SecretString, sha: ShaType) -> bool {
    let Some(carried) = params.get(SIGNATURE).and_then(Value::as_str) else {
        return false;
    };
    let expected = digest(
        &signing_string(params, response_phrase, UNSIGNED_RESPONSE_PARAMS),
        response_phrase,
        sha,
    );
    constant_time_hex_eq(carried, &expected)
}

/// Signature APS would put on a response or notification: what the sandbox uses to play APS.
pub fn sign_response(params: &Map<String, Value>, response_phrase: &SecretString, sha: ShaType) -> String {
    digest(
        &signing_string(params, response_phrase, UNSIGNED_RESPONSE_PARAMS),
        response_phrase,
        sha,
    )
}

/// True when a request carries a valid signature under the request phrase (the provider's side).
pub fn verify_request(params: &Map<String, Value>, request_phrase: &SecretString, sha: ShaType) -> bool {
    let Some(carried) = params.get(SIGNATURE).and_then(Value::as_str) else {
        return false;
    };
    constant_time_hex_eq(carried, &sign_request(params, request_phrase, sha))
}

/// Hex digests are compared ignoring case (APS docs print them in upper case).
fn constant_time_hex_eq(carried: &str, expected_lowercase: &str) -> bool {
    let carried = carried.to_ascii_lowercase();
    carried.as_bytes().ct_eq(expected_lowercase.as_bytes()).into()
}

fn digest(text: &str, phrase: &SecretString, sha: ShaType) -> String {
    let key = phrase.expose_secret().as_bytes();
    match sha {
        ShaType::Sha256 => hex::encode(Sha256::digest(text.as_bytes())),
        ShaType::Sha512 => hex::encode(Sha512::digest(text.as_bytes())),
        ShaType::Hmac256 => hex::encode(hmac_bytes::<Hmac<Sha256>>(key, text)),
        ShaType::Hmac512 => hex::encode(hmac_bytes::<Hmac<Sha512>>(key, text)),
    }
}

#[expect(clippy::expect_used, reason = "HMAC accepts keys of any length")]
fn hmac_bytes<M: Mac + hmac::digest::KeyInit>(key: &[u8], text: &str) -> Vec<u8> {
    let mut mac = <M as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(text.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// APS's text form of a value: scalars as text, `{k=v, k=v}` objects, `[a, b]` arrays.
fn write_value(value: &Value, out: &mut String) {
    match value {
        Value::Null => {}
        Value::Bool(flag) => out.push_str(if *flag { "true" } else { "false" }),
        Value::Number(number) => out.push_str(&number.to_string()),
        Value::String(text) => out.push_str(text),
        Value::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push_str(", ");
                }
                write_value(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (index, (name, item)) in map.iter().enumerate() {
                if index > 0 {
                    out.push_str(", ");
                }
                out.push_str(name);
                out.push('=');
                write_value(item, out);
            }
            out.push('}');
        }
    }
}

#[cfg(test)]
#[path = "signature_tests.rs"]
mod tests;
