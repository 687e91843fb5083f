//! The AsyncAPI 3.0 document of the broker interface: the `commands` and `events` channels on
//! `PREFIX.commands` and `PREFIX.events`, the intake queues and the dead letters, with AMQP
//! bindings, and one message per command and event type whose payload is its JSON Schema (by
//! reference to `docs/schema/`, so the document and the schemas cannot disagree).
//!
//! Written to `docs/asyncapi.yaml`; served at `GET /asyncapi.json` with the schemas inlined
//! ([`self_contained`]), since a client fetching it has no `docs/schema/` beside it.

use crate::domain::events::EventType;
use crate::intake::envelope::CommandType;
use serde_json::{json, Map, Value};

/// `purchase.create` → `purchaseCreate`: AsyncAPI component keys.
fn key(name: &str) -> String {
    let mut out = String::new();
    let mut upper = false;
    for c in name.chars() {
        if c == '.' || c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

fn message(name: &str, folder: &str, summary: &str) -> Value {
    json!({
        "name": name,
        "title": name,
        "summary": summary,
        "contentType": "application/json",
        "payload": { "$ref": format!("./schema/{folder}/{name}.json") },
        "bindings": { "amqp": { "bindingVersion": "0.3.0", "messageType": name } }
    })
}

/// The whole document.
pub fn document() -> Value {
    let mut messages = Map::new();
    let mut command_refs = Map::new();
    for command in CommandType::ALL {
        let name = command.as_str();
        messages.insert(
            key(name),
            message(name, "commands", "A command; the routing key is its type."),
        );
        command_refs.insert(
            key(name),
            json!({ "$ref": format!("#/components/messages/{}", key(name)) }),
        );
    }
    let mut event_refs = Map::new();
    for event_type in EventType::ALL {
        let name = event_type.as_str();
        messages.insert(
            key(name),
            message(name, "events", "An event; the routing key is its type."),
        );
        event_refs.insert(
            key(name),
            json!({ "$ref": format!("#/components/messages/{}", key(name)) }),
        );
    }
    let command_list: Vec<Value> = command_refs
        .keys()
        .map(|k| json!({ "$ref": format!("#/channels/commands/messages/{k}") }))
        .collect();
    let event_list: Vec<Value> = event_refs
        .keys()
        .map(|k| json!({ "$ref": format!("#/channels/events/messages/{k}") }))
        .collect();
    json!({
        "asyncapi": "3.0.0",
        "info": {
            "title": "bnpl-orchestrator",
            "version": "1.0.0",
            "description": "Buy Now, Pay Later payments (humm through ecommpay, valU through Amazon Payment Services). \
                Order systems publish commands to the commands exchange and consume events from the events exchange. \
                Every name starts with the prefix BNPL_AMQP_PREFIX (default bnpl). See docs/contract.md."
        },
        "defaultContentType": "application/json",
        "servers": {
            "rabbitmq": {
                "host": "localhost:5672",
                "protocol": "amqp",
                "protocolVersion": "0.9.1",
                "description": "RabbitMQ; commands are acked only after they are committed, events are published with confirms."
            }
        },
        "channels": {
            "commands": {
                "address": "bnpl.commands",
                "description": "Direct exchange (durable, alternate exchange bnpl.dlx); the routing key is the command type. \
                    purchase.* are bound to the quorum queue bnpl.purchases, refund.* to bnpl.refunds.",
                "messages": command_refs,
                "bindings": { "amqp": {
                    "bindingVersion": "0.3.0", "is": "routingKey",
                    "exchange": { "name": "bnpl.commands", "type": "direct", "durable": true, "autoDelete": false, "vhost": "/" }
                } }
            },
            "events": {
                "address": "bnpl.events",
                "description": "Topic exchange (durable); the routing key is the event type. Events of a payment carry its \
                    gap-free sequence; de-duplicate by event_id.",
                "messages": event_refs,
                "bindings": { "amqp": {
                    "bindingVersion": "0.3.0", "is": "routingKey",
                    "exchange": { "name": "bnpl.events", "type": "topic", "durable": true, "autoDelete": false, "vhost": "/" }
                } }
            },
            "deadLetters": {
                "address": "bnpl.dead",
                "description": "Quorum queue behind the direct exchange bnpl.dlx (routing key dead): commands that could not \
                    be processed at all, with the headers x-bnpl-reason, x-bnpl-detail and x-bnpl-routing-key.",
                "messages": command_refs.clone(),
                "bindings": { "amqp": {
                    "bindingVersion": "0.3.0", "is": "queue",
                    "queue": { "name": "bnpl.dead", "durable": true, "exclusive": false, "autoDelete": false, "vhost": "/" }
                } }
            }
        },
        "operations": {
            "sendCommand": {
                "action": "send",
                "channel": { "$ref": "#/channels/commands" },
                "summary": "Publish a command (persistent, with publisher confirms; refunds with the AMQP user_id of an allowed user).",
                "messages": command_list,
                "bindings": { "amqp": { "bindingVersion": "0.3.0", "deliveryMode": 2 } }
            },
            "receiveEvents": {
                "action": "receive",
                "channel": { "$ref": "#/channels/events" },
                "summary": "Consume events (bind a queue of your own to bnpl.events).",
                "messages": event_list,
                "bindings": { "amqp": { "bindingVersion": "0.3.0", "ack": true } }
            }
        },
        "components": { "messages": messages }
    })
}

/// The document with every message's payload schema inlined instead of referenced.
pub fn self_contained() -> Value {
    let mut document = document();
    if let Some(messages) = document["components"]["messages"].as_object_mut() {
        for message in messages.values_mut() {
            let name = message["name"].as_str().unwrap_or_default().to_owned();
            let schema = match (CommandType::parse(&name), EventType::parse(&name)) {
                (Some(command), _) => super::schemas::command(command),
                (None, Some(event_type)) => super::schemas::event(event_type),
                (None, None) => continue,
            };
            message["payload"] = schema;
        }
    }
    document
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn component_keys_are_camel_case() {
        assert_eq!(key("purchase.create"), "purchaseCreate");
        assert_eq!(key("payment.action_required"), "paymentActionRequired");
    }

    #[test]
    fn every_command_and_event_has_a_message_and_a_schema_reference() {
        let document = document();
        let messages = document["components"]["messages"].as_object().unwrap();
        assert_eq!(messages.len(), CommandType::ALL.len() + EventType::ALL.len());
        for event_type in EventType::ALL {
            let message = &messages[&key(event_type.as_str())];
            assert_eq!(
                message["payload"]["$ref"],
                format!("./schema/events/{}.json", event_type.as_str())
            );
        }
    }

    #[test]
    fn the_served_document_has_no_file_references() {
        let text = self_contained().to_string();
        assert!(!text.contains("./schema/"), "a file reference is left");
        assert!(text.contains("\"const\":\"payment.succeeded\""));
    }
}
