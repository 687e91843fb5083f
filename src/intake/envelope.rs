//! What arrived: an AMQP delivery's routing key, properties and body, decoded just far enough to
//! tell a processable command from one that must be dead-lettered (contract §1).

use crate::domain::limits;
use crate::domain::{PaymentId, RefundId};
use lapin::message::Delivery;
use serde_json::Value;
use sha2::{Digest, Sha256};

macro_rules! command_types {
    ($($variant:ident => $name:literal),+ $(,)?) => {
        /// The command types of contract §2; the routing key is the type.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum CommandType {
            $($variant,)+
        }

        impl CommandType {
            /// Every command type, in contract order: generated with the enum, so a type added
            /// later is in every list (schemas, examples, AsyncAPI) at once.
            pub const ALL: &'static [CommandType] = &[$(CommandType::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $name,)+
                }
            }
        }
    };
}

command_types! {
    PurchaseCreate => "purchase.create",
    PurchaseConfirm => "purchase.confirm",
    PurchaseResendOtp => "purchase.resend_otp",
    RefundCreate => "refund.create",
    RefundCancel => "refund.cancel",
}

impl CommandType {
    pub fn parse(routing_key: &str) -> Option<Self> {
        Self::ALL
            .iter()
            .copied()
            .find(|command| command.as_str() == routing_key)
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
    /// A dead letter replayed by ops: its id (`x-bnpl-replayed-from`) and the AMQP `user_id` of
    /// the original command (`x-bnpl-replayed-user-id`). Believed only when the orchestrator's own
    /// broker user published the message (see `intake::refund`).
    pub replay: Option<Replay>,
    /// The W3C `traceparent` header, when it is a well-formed one (carried onto the events).
    pub traceparent: Option<String>,
}

/// What a replayed dead letter says about its original.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replay {
    pub dead_letter_id: String,
    pub original_user_id: Option<String>,
}

/// Header naming the dead letter a replayed command came from.
pub const REPLAYED_FROM: &str = "x-bnpl-replayed-from";
/// Header carrying a replayed command's original AMQP `user_id`.
pub const REPLAYED_USER_ID: &str = "x-bnpl-replayed-user-id";
/// Header naming who replayed it.
pub const REPLAYED_BY: &str = "x-bnpl-replayed-by";

/// The replay headers, when present and printable.
/// The `traceparent` header when it is W3C trace context version 00 exactly
/// (`00-<32 hex>-<16 hex>-<2 hex>`, all-zero ids invalid): anything else is dropped, never stored.
fn traceparent_of(headers: Option<&lapin::types::FieldTable>) -> Option<String> {
    let value = match headers?.inner().get("traceparent")? {
        lapin::types::AMQPValue::LongString(value) => value.to_string(),
        lapin::types::AMQPValue::ShortString(value) => value.to_string(),
        _ => return None,
    };
    is_traceparent(&value).then_some(value)
}

/// Whether `value` is a valid W3C `traceparent` of version 00.
pub fn is_traceparent(value: &str) -> bool {
    let parts: Vec<&str> = value.split('-').collect();
    let hex = |part: &str, len: usize| {
        part.len() == len && part.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    let nonzero = |part: &str| part.bytes().any(|b| b != b'0');
    matches!(parts.as_slice(), [version, trace, parent, flags]
        if *version == "00" && hex(trace, 32) && nonzero(trace) && hex(parent, 16) && nonzero(parent) && hex(flags, 2))
}

fn replay_of(headers: Option<&lapin::types::FieldTable>) -> Option<Replay> {
    let headers = headers?.inner();
    let text = |name: &str| {
        match headers.get(name)? {
            lapin::types::AMQPValue::LongString(value) => Some(value.to_string()),
            lapin::types::AMQPValue::ShortString(value) => Some(value.to_string()),
            _ => None,
        }
        .filter(|value| limits::forbidden_control(value, false).is_none() && value.len() <= 255)
    };
    Some(Replay {
        dead_letter_id: text(REPLAYED_FROM)?,
        original_user_id: text(REPLAYED_USER_ID),
    })
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

impl Decoded {
    /// The subject id, when the body had one that passed its syntax.
    pub fn subject_id(self) -> Option<String> {
        match self {
            Decoded::Command(command) => Some(command.subject_id),
            Decoded::Malformed(malformed) => malformed.subject_id,
        }
    }
}

impl Envelope {
    /// Where the command came from, for the events it causes.
    pub fn origin(&self) -> crate::ledger::Origin<'_> {
        crate::ledger::Origin {
            reply_to: self.reply_to.as_deref(),
            correlation_id: self.correlation_id.as_deref(),
            traceparent: self.traceparent.as_deref(),
        }
    }

    /// Copies a delivery's parts. AMQP short strings may hold any character: a property with a
    /// control character (which PostgreSQL's `text` cannot store, and no real queue name or id
    /// holds) is dropped, and the routing key's are replaced, so recording the command can never
    /// fail on them (design §1c).
    pub fn from_delivery(delivery: &Delivery) -> Self {
        let properties = &delivery.properties;
        let text = |value: Option<&lapin::types::ShortString>| {
            value
                .map(|v| v.as_str())
                .filter(|v| limits::forbidden_control(v, false).is_none())
                .map(str::to_owned)
        };
        Self {
            routing_key: delivery
                .routing_key
                .as_str()
                .chars()
                .map(|c| if c.is_control() { char::REPLACEMENT_CHARACTER } else { c })
                .collect(),
            body: delivery.data.clone(),
            message_id: text(properties.message_id().as_ref()),
            user_id: text(properties.user_id().as_ref()),
            reply_to: text(properties.reply_to().as_ref()),
            correlation_id: text(properties.correlation_id().as_ref()),
            content_type: text(properties.content_type().as_ref()),
            redelivered: delivery.redelivered,
            replay: replay_of(properties.headers().as_ref()),
            traceparent: traceparent_of(properties.headers().as_ref()),
        }
    }

    /// An envelope for a body that did not arrive over AMQP (a dead letter an operator edits):
    /// checked exactly as a delivery would be.
    pub fn unsent(routing_key: &str, body: Vec<u8>) -> Self {
        Self {
            routing_key: routing_key.to_owned(),
            body,
            message_id: None,
            user_id: None,
            reply_to: None,
            correlation_id: None,
            content_type: None,
            redelivered: false,
            replay: None,
            traceparent: None,
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
                    .find_map(|key| body.get(*key)?.as_str().filter(|id| PaymentId::new(*id).is_ok()))
                    .map(str::to_owned)
            });
            return Decoded::Malformed(Malformed {
                code: "unknown_command",
                detail: format!("unknown command type {}", limits::quote(&self.routing_key)),
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
        let Some(subject) = body.get(field).and_then(Value::as_str) else {
            return Decoded::Malformed(Malformed {
                code: "invalid",
                detail: format!("/{field}: required, a string"),
                subject_id: None,
            });
        };
        // The id is checked before anything stores or indexes it: an id of thousands of
        // characters or with a NUL is refused here, quoted in part, and not kept as the subject.
        let checked = match command_type.subject_field() {
            "refund_id" => RefundId::new(subject).map(|_| ()),
            _ => PaymentId::new(subject).map(|_| ()),
        };
        match checked {
            Ok(()) => Decoded::Command(ParsedCommand {
                command_type,
                subject_id: subject.to_owned(),
                body,
            }),
            Err(error) => Decoded::Malformed(Malformed {
                code: "invalid",
                detail: format!("/{field}: {error}"),
                subject_id: None,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_a_well_formed_traceparent_is_kept() {
        assert!(is_traceparent(
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        ));
        for bad in [
            "",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
        ] {
            assert!(!is_traceparent(bad), "{bad:?}");
        }
    }

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
            replay: None,
            traceparent: None,
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
    fn an_id_that_breaks_the_syntax_is_invalid_and_not_kept_as_the_subject() {
        for id in ["x".repeat(5_000), "ord\u{0}".to_owned(), "x".repeat(200_000)] {
            let body = serde_json::json!({ "payment_id": id }).to_string();
            match envelope("purchase.create", &body).decode() {
                Decoded::Malformed(m) => {
                    assert_eq!(m.code, "invalid");
                    assert_eq!(m.subject_id, None);
                    assert!(m.detail.starts_with("/payment_id: "), "{}", m.detail);
                    assert!(m.detail.chars().count() < 400, "quoted in part: {}", m.detail.len());
                }
                Decoded::Command(_) => panic!("accepted {} characters", id.len()),
            }
        }
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
