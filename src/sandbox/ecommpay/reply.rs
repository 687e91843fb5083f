//! Gate request intake and answers: JSON parsing, the signature check, and the error shape.
//!
//! Checks run in ecommpay's order: a body that is not JSON is 2003; a missing `general` field is
//! 2004; a missing or empty signature is 3262; a signature that does not verify under the
//! project's secret (or a project the sandbox does not play) is 3261 (providers.md §1.6). Request
//! errors are answered HTTP 400 with `{status:"error", code, message, errors:[…]}` (item shape
//! from woo EcpGatewayInfoError.php) and no operation is created. Every JSON answer about a
//! known project is signed at the top level, as Gate responses are (providers.md §1.4).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use secrecy::SecretString;
use serde_json::{json, Value};

use crate::providers::ecommpay::signature::{carried_signature, sign_in_place, verify};
use crate::sandbox::config::SandboxConfig;

/// A request whose signature verified.
pub(crate) struct SignedRequest {
    pub body: Value,
    pub project_id: u64,
    pub payment_id: String,
    pub secret: SecretString,
}

/// A Gate error: code, message and the offending field.
pub(crate) struct GateError {
    pub code: &'static str,
    pub message: &'static str,
    pub field: Option<&'static str>,
    pub project: Option<(u64, SecretString)>,
    pub payment_id: Option<String>,
}

impl GateError {
    pub(crate) fn new(code: &'static str, message: &'static str) -> Self {
        Self {
            code,
            message,
            field: None,
            project: None,
            payment_id: None,
        }
    }

    pub(crate) fn field(mut self, field: &'static str) -> Self {
        self.field = Some(field);
        self
    }

    pub(crate) fn about(mut self, request: &SignedRequest) -> Self {
        self.project = Some((request.project_id, request.secret.clone()));
        self.payment_id = Some(request.payment_id.clone());
        self
    }
}

impl IntoResponse for GateError {
    fn into_response(self) -> Response {
        let mut body = json!({
            "status": "error",
            "code": self.code,
            "message": self.message,
            "errors": [{
                "code": self.code,
                "message": self.message,
                "field": self.field.unwrap_or(""),
                "description": self.message,
            }],
        });
        if let (Some((project_id, secret)), Value::Object(map)) = (&self.project, &mut body) {
            map.insert("project_id".into(), json!(project_id));
            if let Some(id) = &self.payment_id {
                map.insert("payment_id".into(), json!(id));
            }
            sign_in_place(&mut body, secret);
        }
        (StatusCode::BAD_REQUEST, Json(body)).into_response()
    }
}

/// 2004 "required field missing" for `field`.
pub(crate) fn missing(field: &'static str) -> GateError {
    GateError::new("2004", "Required field missing").field(field)
}

/// 502 validation error for `field`.
pub(crate) fn invalid(field: &'static str, message: &'static str) -> GateError {
    GateError::new("502", message).field(field)
}

/// Parses and authenticates a Gate request body.
pub(crate) fn parse_signed(config: &SandboxConfig, bytes: &[u8]) -> Result<SignedRequest, GateError> {
    let body: Value = serde_json::from_slice(bytes).map_err(|_| GateError::new("2003", "Invalid JSON"))?;
    let general = body.get("general").ok_or_else(|| missing("general"))?;
    let project_id = general
        .get("project_id")
        .and_then(integer)
        .and_then(|n| u64::try_from(n).ok())
        .ok_or_else(|| missing("general.project_id"))?;
    match carried_signature(&body) {
        Some(s) if !s.is_empty() => {}
        _ => return Err(GateError::new("3262", "Empty signature").field("general.signature")),
    }
    let project = config
        .project(project_id)
        .ok_or_else(|| GateError::new("3261", "Invalid signature").field("general.project_id"))?;
    if !verify(&body, &project.secret_key) {
        return Err(GateError::new("3261", "Invalid signature").field("general.signature"));
    }
    let payment_id = general
        .get("payment_id")
        .and_then(Value::as_str)
        .filter(|id| !id.is_empty() && id.len() <= 255)
        .ok_or_else(|| missing("general.payment_id"))?
        .to_owned();
    Ok(SignedRequest {
        body,
        project_id,
        payment_id,
        secret: project.secret_key.clone(),
    })
}

/// An integer JSON value, also accepted as a string of digits (PHP plugins send both).
pub(crate) fn integer(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// A non-empty string at `pointer` (e.g. `/customer/first_name`).
pub(crate) fn text<'a>(body: &'a Value, pointer: &str) -> Option<&'a str> {
    body.pointer(pointer).and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// A 200 answer, signed with the project's secret.
pub(crate) fn signed_ok(mut body: Value, secret: &SecretString) -> Response {
    sign_in_place(&mut body, secret);
    (StatusCode::OK, Json(body)).into_response()
}

/// What a failing front end answers (fault `5xx`): no JSON, no operation.
pub(crate) fn bad_gateway() -> Response {
    (StatusCode::BAD_GATEWAY, "502 Bad Gateway").into_response()
}

/// The synchronous "registered" answer `{status, request_id, project_id, payment_id}`.
pub(crate) fn registered(request: &SignedRequest, request_id: &str) -> Response {
    signed_ok(
        json!({
            "status": "success",
            "request_id": request_id,
            "project_id": request.project_id,
            "payment_id": request.payment_id,
        }),
        &request.secret,
    )
}
