//! Operator actions that need the broker, shared by the admin API and the CLI: replaying a dead
//! letter to the command exchange, and reading the broker's queue depths.
//!
//! Invariants:
//! - a replay publishes with confirms before it records `replayed_at`, so a recorded replay
//!   really reached the broker (at least once: a crash in between leaves it unrecorded and an
//!   operator may replay it again, which intake de-duplicates);
//! - only the five command routing keys are replayed, and an edited body must pass intake's own
//!   checks (schema, ids, limits) before anything is published;
//! - a replayed command keeps its original AMQP `user_id`: RabbitMQ accepts only the connection's
//!   own user on what this process publishes, so the replay is published as that user with the
//!   original in `x-bnpl-replayed-user-id`, which intake believes only from that user; a refund
//!   thus still passes the refund allow-list as its original sender (or fails it);
//! - who replayed it is named in `x-bnpl-replayed-by` and in the audit log.

use crate::admin::read::dead_letters as admin_dead_letters;
use crate::intake::envelope::{self, CommandType};
use crate::messaging::{Broker, PublishError, Publisher};
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
    #[error("the routing key must be one of purchase.create, purchase.confirm, purchase.resend_otp, refund.create, refund.cancel")]
    BadRoutingKey,
    #[error("the edited command is invalid: {0}")]
    Invalid(String),
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
    if CommandType::parse(&routing_key).is_none() {
        return Err(ReplayError::BadRoutingKey);
    }
    let fixed = fix.body.is_some() || fix.routing_key.is_some();
    let body = match &fix.body {
        Some(value) => serde_json::to_vec(value).unwrap_or_default(),
        None => original,
    };
    if fixed {
        // An operator's edit is a fresh command: it must pass what intake checks.
        crate::intake::check_command(&routing_key, &body).map_err(ReplayError::Invalid)?;
    }
    let original_user = letter.headers.get("user_id").and_then(Value::as_str);
    let mut headers = FieldTable::default();
    let mut header = |name: &str, value: &str| {
        headers.insert(ShortString::from(name), AMQPValue::LongString(LongString::from(value)));
    };
    header(envelope::REPLAYED_FROM, &id.to_string());
    header(envelope::REPLAYED_BY, actor);
    if let Some(user) = original_user {
        header(envelope::REPLAYED_USER_ID, user);
    }
    let mut properties = BasicProperties::default()
        .with_content_type(ShortString::from("application/json"))
        .with_user_id(ShortString::from(publisher.broker().user()))
        .with_headers(headers);
    // The original's message id, or one of this dead letter's own: a replay sent twice (a double
    // click) is then one message to intake, even for a command de-duplicated only by its
    // message id (`purchase.resend_otp`).
    let message_id = letter
        .headers
        .get("message_id")
        .and_then(Value::as_str)
        .map_or_else(|| format!("bnpl-dead-letter-{id}"), str::to_owned);
    properties = properties.with_message_id(ShortString::from(message_id));
    let exchange = publisher.broker().topology().commands();
    publisher.publish(&exchange, &routing_key, &body, properties).await?;
    admin_dead_letters::mark_replayed(
        pool,
        id,
        actor,
        json!({ "action": "replay_dead_letter", "dead_letter_id": id, "replayed_by": actor,
                "routing_key": routing_key, "fixed": fixed, "original_user_id": original_user }),
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

/// Whether replaying a dead letter under `original_key`, with `fix`, edits a refund command:
/// that needs the `finance` scope as well as `operate` (contract §4: refunds are finance's).
pub fn edits_a_refund(original_key: &str, fix: &DeadLetterFix) -> bool {
    let edited = fix.body.is_some() || fix.routing_key.is_some();
    let refund = |key: &str| key.starts_with("refund.");
    edited && (refund(original_key) || fix.routing_key.as_deref().is_some_and(refund))
}
