//! APS request intake and answers (providers.md §2.1–2.4).
//!
//! A request is a JSON object (form bodies are accepted too); values may be strings or numbers
//! and are compared by their text. The merchant is found by `merchant_identifier`, the
//! `access_code` must match (`00010`), and the signature must verify under the request phrase
//! (otherwise `00008`, signature mismatch). Answers echo the request's parameters (never its
//! `signature` or `otp`), add `response_code` (2-digit status + 3-digit message), `status` and
//! `response_message`, and are signed with the response phrase, as APS responses are.

use axum::Json;
use serde_json::{Map, Value};

use crate::providers::aps::signature::{sign_response, verify_request};
use crate::sandbox::config::{ApsMerchant, SandboxConfig};

/// An authenticated request.
pub(crate) struct ApsRequest {
    pub params: Map<String, Value>,
    pub merchant: ApsMerchant,
    pub reference: String,
}

impl ApsRequest {
    /// A parameter's text, if present and not empty.
    pub(crate) fn param(&self, name: &str) -> Option<String> {
        param(&self.params, name)
    }

    /// `(merchant_identifier, merchant_reference)`.
    pub(crate) fn key(&self) -> (String, String) {
        (self.merchant.merchant_identifier.clone(), self.reference.clone())
    }

    /// The ledger's account name, `aps:<merchant_identifier>`.
    pub(crate) fn account(&self) -> String {
        format!("aps:{}", self.merchant.merchant_identifier)
    }
}

/// What to answer: the code, its message, and extra response fields.
#[derive(Clone)]
pub(crate) struct Answer {
    pub code: &'static str,
    pub message: String,
    pub extra: Vec<(&'static str, Value)>,
}

impl Answer {
    pub(crate) fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            extra: Vec::new(),
        }
    }

    /// Adds a response field (as text, as APS sends values).
    pub(crate) fn with(mut self, name: &'static str, value: impl ToString) -> Self {
        self.extra.push((name, Value::String(value.to_string())));
        self
    }

    /// Adds a structured response field.
    pub(crate) fn with_value(mut self, name: &'static str, value: Value) -> Self {
        self.extra.push((name, value));
        self
    }

    /// `00001`: a required parameter is missing.
    pub(crate) fn missing(name: &str) -> Self {
        Self::new("00001", format!("Missing parameter {name}"))
    }

    /// `00002`: a parameter has an invalid value.
    pub(crate) fn invalid(name: &str) -> Self {
        Self::new("00002", format!("Invalid parameter format {name}"))
    }
}

/// A parameter's text from a parameter map.
pub(crate) fn param(params: &Map<String, Value>, name: &str) -> Option<String> {
    match params.get(name)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Parses a JSON (or form) body into parameters.
pub(crate) fn parse(bytes: &[u8]) -> Option<Map<String, Value>> {
    if let Ok(Value::Object(map)) = serde_json::from_slice(bytes) {
        return Some(map);
    }
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(bytes).ok()?;
    (!pairs.is_empty()).then(|| pairs.into_iter().map(|(k, v)| (k, Value::String(v))).collect())
}

/// Authenticates a request; `Err` is the (unsigned when the merchant is unknown) answer.
pub(crate) fn authenticate(
    config: &SandboxConfig,
    params: Map<String, Value>,
) -> Result<ApsRequest, Json<Map<String, Value>>> {
    let merchant = param(&params, "merchant_identifier").and_then(|id| config.merchant(&id).cloned());
    let Some(merchant) = merchant else {
        // Unknown merchant: nothing to sign with. 00009 "invalid merchant identifier" is from
        // PayFort's message list (not in providers.md's excerpt).
        return Err(unsigned(&params, Answer::new("00009", "Invalid merchant identifier")));
    };
    if param(&params, "access_code").as_deref() != Some(merchant.access_code.as_str()) {
        return Err(answer_params(
            &params,
            &merchant,
            Answer::new("00010", "Invalid access code"),
        ));
    }
    if !verify_request(&params, &merchant.request_phrase, merchant.sha_type) {
        return Err(answer_params(
            &params,
            &merchant,
            Answer::new("00008", "Signature mismatch"),
        ));
    }
    let Some(reference) = param(&params, "merchant_reference") else {
        return Err(answer_params(&params, &merchant, Answer::missing("merchant_reference")));
    };
    if reference.len() > 40
        || !reference
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        return Err(answer_params(&params, &merchant, Answer::invalid("merchant_reference")));
    }
    Ok(ApsRequest {
        params,
        merchant,
        reference,
    })
}

/// The signed answer to `request`.
pub(crate) fn answer(request: &ApsRequest, answer: Answer) -> Json<Map<String, Value>> {
    answer_params(&request.params, &request.merchant, answer)
}

/// The response fields (echo + codes), unsigned.
pub(crate) fn fields(params: &Map<String, Value>, answer: Answer) -> Map<String, Value> {
    let mut out: Map<String, Value> = params
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "signature" | "otp"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    out.insert("response_code".into(), Value::String(answer.code.into()));
    out.insert("response_message".into(), Value::String(answer.message));
    out.insert(
        "status".into(),
        Value::String(answer.code.get(..2).unwrap_or("00").into()),
    );
    for (name, value) in answer.extra {
        out.insert(name.into(), value);
    }
    out
}

fn answer_params(params: &Map<String, Value>, merchant: &ApsMerchant, answer: Answer) -> Json<Map<String, Value>> {
    let mut out = fields(params, answer);
    let signature = sign_response(&out, &merchant.response_phrase, merchant.sha_type);
    out.insert("signature".into(), Value::String(signature));
    Json(out)
}

fn unsigned(params: &Map<String, Value>, answer: Answer) -> Json<Map<String, Value>> {
    Json(fields(params, answer))
}
