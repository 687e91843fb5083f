//! APS notifications (Direct and Notification Transaction Feedback): verify with the response
//! phrase, parse, and classify (`../shared/spec/providers.md` §2.5; design §1 "Callbacks are
//! hints").
//!
//! The body is form-encoded by default, JSON on request; both are accepted (a body starting with
//! `{` or `[` is JSON). Invariants: nothing is read before the signature verifies; a duplicated form
//! field is refused (which value was signed would be ambiguous); a success is reported only for
//! the command we ask about, with matching reference, amount and currency.

use serde_json::{Map, Value};

use super::codes::{code_class, Command, ResponseCode};
use super::response::{field, response_code};
use super::signature::{verify_response, ShaType};
use crate::domain::{limits, PaymentId, RefundId};
use crate::providers::fields::{minor, provider_id, provider_message};
use crate::providers::keys::{KeyRing, Verified};
use crate::providers::outcome::{CodeClass, Expected, PaymentState, RefundMatch};
use crate::providers::CallbackError;
use secrecy::SecretString;

/// A verified APS notification.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    /// `command` / `service_command` / `query_command`.
    pub command: Command,
    /// `merchant_reference`: our payment id.
    pub merchant_reference: String,
    /// `fort_id`.
    pub fort_id: Option<String>,
    /// `response_code`, when readable.
    pub response_code: Option<ResponseCode>,
    /// `response_message`.
    pub response_message: String,
    /// `maintenance_reference` (REFUND): our refund id.
    pub maintenance_reference: Option<String>,
    /// Every parameter as received, for storage.
    pub params: Map<String, Value>,
}

/// Verifies a raw notification body with one response phrase, then parses it.
pub fn verify_and_parse(
    body: &[u8],
    response_phrase: &SecretString,
    sha: ShaType,
) -> Result<Notification, CallbackError> {
    let keys = KeyRing::from(response_phrase.clone());
    let (notification, _) = verify_with_keys(body, &keys, sha, chrono::Utc::now())?;
    Ok(notification)
}

/// Verifies a raw notification body with the merchant's current response phrase, or its previous
/// one until that expires at `now` (a rotation), then parses it; says which phrase verified.
pub fn verify_with_keys(
    body: &[u8],
    response_phrase: &KeyRing,
    sha: ShaType,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(Notification, Verified), CallbackError> {
    verify_decoded(decode(body)?, response_phrase, sha, now)
}

/// [`verify_with_keys`] for a body already [`decode`]d, so it is parsed once.
pub fn verify_decoded(
    params: Map<String, Value>,
    response_phrase: &KeyRing,
    sha: ShaType,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(Notification, Verified), CallbackError> {
    let verified = signed_with(&params, response_phrase, sha, now).ok_or(CallbackError::BadSignature)?;
    Ok((Notification::from_verified(params)?, verified))
}

/// Which phrase of `response_phrase` signed `params`, if one did; nothing else is read. Lets a
/// caller try several accounts' phrases on one map without copying it.
pub fn signed_with(
    params: &Map<String, Value>,
    response_phrase: &KeyRing,
    sha: ShaType,
    now: chrono::DateTime<chrono::Utc>,
) -> Option<Verified> {
    response_phrase.verify(now, |phrase| verify_response(params, phrase, sha))
}

/// Form or JSON body to a parameter map.
pub fn decode(body: &[u8]) -> Result<Map<String, Value>, CallbackError> {
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    if matches!(first, Some(b'{' | b'[')) {
        return match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(map)) => Ok(map),
            Ok(_) => Err(CallbackError::Malformed("JSON but not an object".into())),
            Err(e) => Err(CallbackError::Malformed(format!("bad JSON: {e}"))),
        };
    }
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_bytes(body).map_err(|e| CallbackError::Malformed(format!("bad form: {e}")))?;
    let mut map = Map::new();
    for (name, value) in pairs {
        if map.insert(name.clone(), Value::String(value)).is_some() {
            return Err(CallbackError::Malformed(format!("duplicate field {name:?}")));
        }
    }
    Ok(map)
}

impl Notification {
    /// Parses parameters whose signature has already been verified. A `merchant_reference` that
    /// is missing or not a payment id of ours makes it [`CallbackError::Unreadable`]; the
    /// provider's other texts are bounded.
    pub fn from_verified(params: Map<String, Value>) -> Result<Self, CallbackError> {
        let merchant_reference = field(&params, "merchant_reference").ok_or_else(|| CallbackError::Unreadable {
            reason: "merchant_reference missing".into(),
            reference: None,
        })?;
        let merchant_reference: String = PaymentId::new(merchant_reference.as_str())
            .map_err(|_| CallbackError::Unreadable {
                reason: format!("merchant_reference {}", limits::quote(&merchant_reference)),
                reference: provider_id(merchant_reference.clone()),
            })?
            .into();
        // A refund reference that is no refund id of ours is kept quoted: quotes are no id
        // character, so it names no refund and the notification reads as a stale one about its
        // payment (after the account check), never reaching a query as it came.
        let maintenance_reference = field(&params, "maintenance_reference").map(|reference| {
            RefundId::new(reference.as_str())
                .map(String::from)
                .unwrap_or_else(|_| limits::quote(&reference))
        });
        let command = ["command", "service_command", "query_command"]
            .iter()
            .find_map(|name| field(&params, name))
            .map_or(Command::Other(String::new()), |word| Command::parse(&word));
        Ok(Notification {
            command,
            merchant_reference,
            fort_id: field(&params, "fort_id").and_then(provider_id),
            response_code: response_code(&params),
            response_message: field(&params, "response_message")
                .map(|message| provider_message(&message))
                .unwrap_or_default(),
            maintenance_reference,
            params,
        })
    }

    /// The purchase's state per this notification, checked against the purchase we sent
    /// (`Err` = mismatch reason). A notification about another command is `Pending`.
    pub fn purchase_state(&self, expected: &Expected) -> Result<PaymentState, String> {
        if self.command != Command::Purchase {
            return Ok(PaymentState::Pending {
                status: format!("{} notification", self.command.as_str()),
            });
        }
        let state = self.state();
        self.check(expected, state == PaymentState::Succeeded)?;
        Ok(state)
    }

    /// Matches a REFUND notification with the refund in flight: `expected` holds the payment's
    /// reference and the refund amount, `refund_id` our `maintenance_reference`.
    pub fn match_refund(&self, expected: &Expected, refund_id: &str) -> RefundMatch {
        if self.command != Command::Refund {
            return RefundMatch::NotOurs {
                reason: "not a REFUND notification".into(),
            };
        }
        if self.merchant_reference != expected.reference {
            return RefundMatch::NotOurs {
                reason: format!("merchant_reference {:?}", self.merchant_reference),
            };
        }
        let ours = match self.maintenance_reference.as_deref() {
            Some(theirs) if theirs != refund_id => {
                return RefundMatch::NotOurs {
                    reason: format!("maintenance_reference {theirs:?}"),
                }
            }
            Some(_) => true,
            None => false,
        };
        let state = self.state();
        if let Err(reason) = self.check(expected, state == PaymentState::Succeeded) {
            return RefundMatch::Mismatch { reason };
        }
        if ours {
            RefundMatch::Ours(state)
        } else {
            RefundMatch::Unconfirmed(state)
        }
    }

    /// Success on the command's own success code, a decline on a definite failure, otherwise
    /// pending (uncertain, on hold, duplicate, unknown: a status query decides).
    fn state(&self) -> PaymentState {
        let Some(code) = &self.response_code else {
            return PaymentState::Pending {
                status: "no response_code".into(),
            };
        };
        match code_class(&self.command, code) {
            CodeClass::Success => PaymentState::Succeeded,
            CodeClass::Terminal => PaymentState::Declined {
                code: code.code(),
                message: self.response_message.clone(),
            },
            _ => PaymentState::Pending { status: code.code() },
        }
    }

    /// The amount (minor units) and currency it reports, when both are readable.
    pub fn amount(&self) -> Option<(i64, String)> {
        let amount = self.params.get("amount").and_then(minor)?;
        let currency = field(&self.params, "currency")?;
        Some((amount, currency))
    }

    fn check(&self, expected: &Expected, strict: bool) -> Result<(), String> {
        expected.check(
            Some(&self.merchant_reference),
            self.params.get("amount").and_then(minor),
            field(&self.params, "currency").as_deref(),
            strict,
        )
    }
}

#[cfg(test)]
#[path = "notification_tests.rs"]
mod tests;
