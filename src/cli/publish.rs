//! `bnpl publish TYPE FILE.json`: publishes one command to `PREFIX.commands` (with publisher
//! confirms and the AMQP `user_id` of the connection's user, as finance tools must for refunds)
//! and prints the events about its subject until one ends the wait ([`super::outcome`]), then a
//! one-line summary. The exit code tells scripts how it ended (contract §5).

use super::outcome::{self, Exit, Subject};
use crate::config::Config;
use crate::intake::envelope::CommandType;
use crate::messaging::Topology;
use anyhow::Context as _;
use futures_util::StreamExt as _;
use lapin::options::{
    BasicConsumeOptions, BasicPublishOptions, ConfirmSelectOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection, ConnectionProperties};
use secrecy::ExposeSecret;
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

/// Publishes the command and waits; `Err` is a usage or connection error (exit 1).
pub async fn run(config: &Config, command_type: &str, file: &Path, wait: Duration) -> anyhow::Result<Exit> {
    let command = CommandType::parse(command_type).with_context(|| {
        let known: Vec<&str> = CommandType::ALL.iter().map(|command| command.as_str()).collect();
        format!("unknown command type {command_type:?}; one of {}", known.join(", "))
    })?;
    let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let body: Value = serde_json::from_str(&text).with_context(|| format!("{} is not JSON", file.display()))?;
    let subject = Subject::of(command, &body);
    let topology = Topology::new(config.amqp_prefix.clone(), config.intake.delivery_limit);
    let properties = ConnectionProperties::default()
        .with_executor(tokio_executor_trait::Tokio::current())
        .with_reactor(tokio_reactor_trait::Tokio);
    let connection = Connection::connect(config.amqp_url.expose_secret(), properties)
        .await
        .context("connecting to RabbitMQ")?;
    let channel = connection.create_channel().await?;
    let listen = QueueDeclareOptions {
        exclusive: true,
        auto_delete: true,
        ..Default::default()
    };
    let queue = channel.queue_declare("", listen, FieldTable::default()).await?;
    channel
        .queue_bind(
            queue.name().as_str(),
            &topology.events(),
            "#",
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;
    let mut events = channel
        .basic_consume(
            queue.name().as_str(),
            "",
            BasicConsumeOptions {
                no_ack: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await?;
    channel.confirm_select(ConfirmSelectOptions::default()).await?;
    let user = url::Url::parse(config.amqp_url.expose_secret())
        .ok()
        .map(|url| url.username().to_owned());
    let mut message = BasicProperties::default()
        .with_content_type("application/json".into())
        .with_delivery_mode(2)
        .with_message_id(uuid::Uuid::new_v4().to_string().into());
    if let Some(user) = user.filter(|user| !user.is_empty()) {
        message = message.with_user_id(user.into());
    }
    channel
        .basic_publish(
            &topology.commands(),
            command_type,
            BasicPublishOptions::default(),
            text.as_bytes(),
            message,
        )
        .await?
        .await?;
    println!("published {command_type} to {}", topology.commands());
    let deadline = tokio::time::Instant::now() + wait;
    let mut last_event: Option<String> = None;
    let mut exit = Exit::TimedOut;
    while let Ok(Some(Ok(delivery))) = tokio::time::timeout_at(deadline, events.next()).await {
        let event: Value = serde_json::from_slice(&delivery.data).unwrap_or(Value::Null);
        if !subject.matches(&event) {
            continue;
        }
        println!("{}", serde_json::to_string_pretty(&event)?);
        let kind = event.get("type").and_then(Value::as_str).unwrap_or_default();
        last_event = Some(kind.to_owned());
        if let Some(ending) = outcome::exit_for(command_type, &event) {
            exit = ending;
            break;
        }
    }
    let _ = connection.close(200, "done").await;
    println!("{}", outcome::summary(&subject, last_event.as_deref(), exit));
    Ok(exit)
}
