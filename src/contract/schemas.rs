//! JSON Schemas (draft-07, the dialect AsyncAPI 3.0 takes) of every command and event, generated
//! from the Rust types that read the commands and write the events, so they cannot drift: a test
//! fails when the files in `docs/schema/` differ from what this generates.
//!
//! One file per command routing key (`docs/schema/commands/<key>.json`) and per event type
//! (`docs/schema/events/<type>.json`); an event type's schema is its body's schema with `type`
//! fixed to that type.

use crate::domain::events::{AccountEvent, CommandRejected, EventType, PaymentEvent, RefundEvent};
use crate::flows::purchase_create::PurchaseCreate;
use crate::flows::refund_create::RefundCreate;
use crate::intake::confirm::{Confirm, ResendOtp};
use crate::intake::envelope::CommandType;
use crate::intake::refund::RefundCancel;
use schemars::generate::SchemaSettings;
use schemars::JsonSchema;
use serde_json::{json, Value};

fn schema_of<T: JsonSchema>() -> Value {
    let generator = SchemaSettings::draft07().into_generator();
    let schema = generator.into_root_schema_for::<T>();
    serde_json::to_value(schema).unwrap_or(Value::Null)
}

/// The schema of the body of `command`.
pub fn command(command: CommandType) -> Value {
    let mut schema = match command {
        CommandType::PurchaseCreate => schema_of::<PurchaseCreate>(),
        CommandType::PurchaseConfirm => schema_of::<Confirm>(),
        CommandType::PurchaseResendOtp => schema_of::<ResendOtp>(),
        CommandType::RefundCreate => schema_of::<RefundCreate>(),
        CommandType::RefundCancel => schema_of::<RefundCancel>(),
    };
    schema["$id"] = json!(format!(
        "https://bnpl-orchestrator.example/schema/commands/{}.json",
        command.as_str()
    ));
    schema["title"] = json!(command.as_str());
    schema
}

/// The schema of events of `event_type`.
pub fn event(event_type: EventType) -> Value {
    let name = event_type.as_str();
    let mut schema = if name.starts_with("payment.") {
        schema_of::<PaymentEvent>()
    } else if name.starts_with("refund.") {
        schema_of::<RefundEvent>()
    } else if name.starts_with("account.") {
        schema_of::<AccountEvent>()
    } else {
        schema_of::<CommandRejected>()
    };
    schema["$id"] = json!(format!("https://bnpl-orchestrator.example/schema/events/{name}.json"));
    schema["title"] = json!(name);
    if let Some(properties) = schema.get_mut("properties").and_then(Value::as_object_mut) {
        properties.insert("type".to_owned(), json!({ "const": name }));
    }
    if event_type == EventType::PaymentResolved {
        if let Some(required) = schema.get_mut("required").and_then(Value::as_array_mut) {
            required.extend(["from", "to", "resolved_by"].map(|field| json!(field)));
        }
    }
    schema
}

/// `(relative path, schema)` of every file under `docs/schema/`.
pub fn all() -> Vec<(String, Value)> {
    super::per_type(command, event)
}
