//! What arrived: an AMQP delivery's routing key, properties and body, decoded just far enough to
//! tell a processable command from one that must be dead-lettered (contract §1).

use lapin::message::Delivery;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The command types of contract §2; the routing key is the type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandType {
    PurchaseCreate,
    PurchaseConfirm,
    PurchaseResendOtp,
    RefundCreate,
    RefundCancel,
}

impl CommandType {
    pub fn parse(routing_key: &str) -> Option<Self> {
        Some(match routing_key {
            "purchase.create" => Self::PurchaseCreate,
            "purchase.confirm" => Self::PurchaseConfirm,
            "purchase.resend_otp" => Self::PurchaseResendOtp,
            "refund.create" => Self::RefundCreate,
            "refund.cancel" => Self::RefundCancel,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::PurchaseCreate => "purchase.create",
            Self::PurchaseConfirm => "purchase.confirm",
            Self::PurchaseResendOtp => "purchase.resend_otp",
            Self::RefundCreate => "refund.create",
            Self::RefundCancel => "refund.cancel",
        }
    }

    /// The body field that names what the command is about.
    pub fn subject_field(self) -> &'static str {
        match self {
            Self::PurchaseCreate | Self::PurchaseConfirm | Self::PurchaseResendOtp => "payment_id",
            Self::RefundCreate | Self::RefundCancel => "refund_id",
        }
    }
}

/// A delivery's parts, copied out so they can be stored.
#[derive(Debug, Clone)]
pub struct Envelope {
    pub routing_key: String,
    pub body: Vec<u8>,
    pub message_id: Option<String>,
    /// Checked by RabbitMQ against the publishing connection's user (contract §1).
    pub user_id: Option<String>,
    pub reply_to: Option<String>,
    pub correlation_id: Option<String>,
    pub content_type: Option<String>,
    pub redelivered: bool,
}

/// Why a command cannot be processed at all (a dead letter).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed {
    /// `invalid` or `unknown_command` (contract §3 `command.rejected` codes).
    pub code: &'static str,
    pub detail: String,
    /// The subject id, when the body had a readable one.
    pub subject_id: Option<String>,
}

/// A command that decoded and names its subject.
#[derive(Debug, Clone)]
pub struct ParsedCommand {
    pub command_type: CommandType,
    pub subject_id: String,
    pub body: Value,
}

pub enum Decoded {
    Command(ParsedCommand),
    Malformed(Malformed),
}

impl Envelope {
    pub fn from_delivery(delivery: &Delivery) -> Self {
        let properties = &delivery.properties;
        let text = |value: Option<&lapin::types::ShortString>| value.map(|v| v.as_str().to_owned());
        Self {
            routing_key: delivery.routing_key.as_str().to_owned(),
            body: delivery.data.clone(),
            message_id: text(properties.message_id().as_ref()),
            user_id: text(properties.user_id().as_ref()),
            reply_to: text(properties.reply_to().as_ref()),
            correlation_id: text(properties.correlation_id().as_ref()),
            content_type: text(properties.content_type().as_ref()),
            redelivered: delivery.redelivered,
        }
    }

    /// Hex SHA-256 of the raw body: the identity of "the same command again".
    pub fn body_hash(&self) -> String {
        hex::encode(Sha256::digest(&self.body))
    }

    /// Decodes the routing key and the body's outer shape.
    pub fn decode(&self) -> Decoded {
        let Some(command_type) = CommandType::parse(&self.routing_key) else {
            // Name the subject when the body has one, so the rejection can be correlated.
            let subject_id = serde_json::from_slice::<Value>(&self.body).ok().and_then(|body| {
                ["payment_id", "refund_id"]
                    .iter()
                    .find_map(|key| body.get(*key)?.as_str().map(str::to_owned))
            });
            return Decoded::Malformed(Malformed {
                code: "unknown_command",
                detail: format!("unknown command type {:?}", self.routing_key),
                subject_id,
            });
        };
        let body: Value = match serde_json::from_slice(&self.body) {
            Ok(body) => body,
            Err(error) => {
                return Decoded::Malformed(Malformed {
                    code: "invalid",
                    detail: format!("body is not valid JSON: {error}"),
                    subject_id: None,
                })
            }
        };
        let field = command_type.subject_field();
        match body.get(field).and_then(Value::as_str) {
            Some(subject) if !subject.is_empty() => Decoded::Command(ParsedCommand {
                command_type,
                subject_id: subject.to_owned(),
                body,
            }),
            _ => Decoded::Malformed(Malformed {
                code: "invalid",
                detail: format!("{} needs a string field {field}", command_type.as_str()),
                subject_id: None,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope(routing_key: &str, body: &str) -> Envelope {
        Envelope {
            routing_key: routing_key.into(),
            body: body.as_bytes().to_vec(),
            message_id: None,
            user_id: None,
            reply_to: None,
            correlation_id: None,
            content_type: None,
            redelivered: false,
        }
    }

    fn malformed_code(decoded: Decoded) -> Option<&'static str> {
        match decoded {
            Decoded::Malformed(m) => Some(m.code),
            Decoded::Command(_) => None,
        }
    }

    #[test]
    fn unknown_routing_key_is_unknown_command() {
        assert_eq!(
            malformed_code(envelope("purchase.explode", "{}").decode()),
            Some("unknown_command")
        );
    }

    #[test]
    fn bad_json_and_missing_subject_are_invalid() {
        assert_eq!(
            malformed_code(envelope("purchase.create", "{not json").decode()),
            Some("invalid")
        );
        assert_eq!(
            malformed_code(envelope("refund.create", r#"{"payment_id":"p"}"#).decode()),
            Some("invalid")
        );
        assert_eq!(
            malformed_code(envelope("purchase.create", r#"[1,2]"#).decode()),
            Some("invalid")
        );
    }

    #[test]
    fn a_well_formed_command_names_its_subject() {
        match envelope("refund.cancel", r#"{"refund_id":"rf-1"}"#).decode() {
            Decoded::Command(command) => {
                assert_eq!(command.command_type, CommandType::RefundCancel);
                assert_eq!(command.subject_id, "rf-1");
            }
            Decoded::Malformed(m) => panic!("unexpected {m:?}"),
        }
    }
}
