//! Operator actions that need the broker, shared by the admin API and the CLI: replaying a dead
//! letter to the command exchange, and reading the broker's queue depths.
//!
//! Invariants: a replay publishes with confirms before it records `replayed_at`, so a recorded
//! replay really reached the broker (at least once: a crash in between leaves it unrecorded and
//! an operator may replay it again, which intake de-duplicates). The AMQP `user_id` is not
//! replayed: RabbitMQ only accepts a `user_id` equal to the publishing connection's user, so a
//! refund command replayed by ops is refused as `forbidden` unless re-sent by an allowed user.

use crate::messaging::{Broker, PublishError, Publisher};
use crate::store::admin_dead_letters;
use lapin::options::QueueDeclareOptions;
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::BasicProperties;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sqlx::PgPool;
use utoipa::ToSchema;

/// An optional fix applied to a dead letter before it is replayed.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct DeadLetterFix {
    /// Replay under this routing key (the command type) instead of the original.
    pub routing_key: Option<String>,
    /// Replay this JSON body instead of the original bytes.
    pub body: Option<Value>,
}

/// Why a dead letter was not replayed.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("no such dead letter")]
    NotFound,
    #[error("the dead letter was purged")]
    Purged,
    #[error("the routing key must be 1-255 characters")]
    BadRoutingKey,
    #[error(transparent)]
    Publish(#[from] PublishError),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// What a replay sent.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Replayed {
    pub dead_letter_id: i64,
    pub exchange: String,
    pub routing_key: String,
    /// Whether the body or routing key was changed from the original.
    pub fixed: bool,
}

/// Re-publishes dead letter `id` to the command exchange (optionally fixed), as `actor`.
pub async fn replay_dead_letter(
    pool: &PgPool,
    publisher: &Publisher,
    id: i64,
    fix: &DeadLetterFix,
    actor: &str,
) -> Result<Replayed, ReplayError> {
    let letter = admin_dead_letters::get(pool, id).await?.ok_or(ReplayError::NotFound)?;
    // Without its body (retention emptied it) only a fixed body can be replayed.
    if letter.purged_at.is_some() || (letter.body_purged_at.is_some() && fix.body.is_none()) {
        return Err(ReplayError::Purged);
    }
    let original = admin_dead_letters::raw_body(pool, id)
        .await?
        .ok_or(ReplayError::NotFound)?;
    let routing_key = fix.routing_key.clone().unwrap_or(letter.routing_key);
    if routing_key.is_empty() || routing_key.len() > 255 {
        return Err(ReplayError::BadRoutingKey);
    }
    let body = match &fix.body {
        Some(value) => serde_json::to_vec(value).unwrap_or_default(),
        None => original,
    };
    let mut headers = FieldTable::default();
    headers.insert(
        ShortString::from("x-bnpl-replayed-from"),
        AMQPValue::LongString(LongString::from(id.to_string())),
    );
    let mut properties = BasicProperties::default()
        .with_content_type(ShortString::from("application/json"))
        .with_headers(headers);
    if let Some(message_id) = letter.headers.get("message_id").and_then(Value::as_str) {
        properties = properties.with_message_id(ShortString::from(message_id));
    }
    let exchange = publisher.broker().topology().commands();
    publisher.publish(&exchange, &routing_key, &body, properties).await?;
    let fixed = fix.body.is_some() || fix.routing_key.is_some();
    admin_dead_letters::mark_replayed(
        pool,
        id,
        actor,
        json!({ "action": "replay_dead_letter", "dead_letter_id": id,
                "routing_key": routing_key, "fixed": fixed }),
    )
    .await?;
    tracing::info!(dead_letter_id = id, %routing_key, fixed, actor, "dead letter replayed");
    Ok(Replayed {
        dead_letter_id: id,
        exchange,
        routing_key,
        fixed,
    })
}

/// Messages waiting and consumers attached on one of the contract's queues.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct QueueDepth {
    pub queue: String,
    pub messages: u32,
    pub consumers: u32,
}

/// The depth of each contract queue, by a passive declare (which creates nothing); None when
/// the broker is not connected.
pub async fn queue_depths(broker: &Broker) -> Option<Vec<QueueDepth>> {
    let session = broker.current()?;
    let channel = session.connection.create_channel().await.ok()?;
    let mut depths = Vec::new();
    for queue in broker.topology().queues() {
        let options = QueueDeclareOptions {
            passive: true,
            ..Default::default()
        };
        // A failed passive declare closes the channel; the queues are declared at connection, so
        // this only happens if someone deleted one, and then the others are unknown too.
        let declared = channel
            .queue_declare(&queue, options, FieldTable::default())
            .await
            .ok()?;
        depths.push(QueueDepth {
            queue,
            messages: declared.message_count(),
            consumers: declared.consumer_count(),
        });
    }
    let _ = channel.close(200, "queue depths read").await;
    Some(depths)
}
