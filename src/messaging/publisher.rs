//! Publishing with publisher confirms (https://www.rabbitmq.com/docs/confirms): a publish
//! returns Ok only when the broker has taken responsibility for the message.
//!
//! One confirm-mode channel per broker session, created lazily and replaced when the session
//! changes or the channel was closed by an error. Callers that must not lose a message (the
//! outbox relay, dead-lettering at intake) treat any error as "not published" and retry.

use super::supervisor::Broker;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::publisher_confirm::Confirmation;
use lapin::{BasicProperties, Channel};
use tokio::sync::Mutex;

/// Why a message may not have reached the broker.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("the broker is not connected")]
    Unavailable,
    #[error("the broker refused the message (nack)")]
    Nacked,
    #[error("broker error: {0}")]
    Broker(#[from] lapin::Error),
}

/// One message to publish.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub exchange: String,
    pub routing_key: String,
    pub body: Vec<u8>,
    pub properties: BasicProperties,
}

/// What [`Publisher::publish_all`] got through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    /// How many messages from the start the broker confirmed.
    pub confirmed: usize,
    /// Why the rest was not confirmed, when something stopped it.
    pub error: Option<String>,
    /// The broker took the message and refused it (a nack: a queue full with
    /// `reject-publish`, a resource alarm): its state now, not the message's fault.
    pub nacked: bool,
}

impl Published {
    fn stopped(confirmed: usize, error: String) -> Self {
        Published {
            confirmed,
            error: Some(error),
            nacked: false,
        }
    }

    fn nacked(confirmed: usize) -> Self {
        Published {
            nacked: true,
            ..Published::stopped(confirmed, PublishError::Nacked.to_string())
        }
    }
}

/// Publishes with confirms over the supervised connection.
pub struct Publisher {
    broker: Broker,
    channel: Mutex<Option<(u64, Channel)>>,
}

impl Publisher {
    pub fn new(broker: Broker) -> Self {
        Self {
            broker,
            channel: Mutex::new(None),
        }
    }

    pub fn broker(&self) -> &Broker {
        &self.broker
    }

    /// Publishes one persistent message and waits for the broker's confirm.
    pub async fn publish(
        &self,
        exchange: &str,
        routing_key: &str,
        body: &[u8],
        properties: BasicProperties,
    ) -> Result<(), PublishError> {
        let channel = self.channel().await?;
        // Mandatory is off: an event nobody has bound to yet is not an error for the publisher.
        let confirm = channel
            .basic_publish(
                exchange,
                routing_key,
                BasicPublishOptions::default(),
                body,
                properties.with_delivery_mode(2),
            )
            .await?
            .await?;
        match confirm {
            Confirmation::Ack(_) => Ok(()),
            Confirmation::Nack(_) => Err(PublishError::Nacked),
            // Only possible without confirm mode, which `channel()` always enables.
            Confirmation::NotRequested => Err(PublishError::Nacked),
        }
    }

    /// Publishes `messages` in order on one channel, pipelined (all sent, then the confirms
    /// awaited), and returns how many from the start were confirmed, with what stopped the rest:
    /// a caller marks exactly that prefix as published and retries the rest, which keeps
    /// per-payment order.
    pub async fn publish_all(&self, messages: &[Outgoing]) -> Published {
        let channel = match self.channel().await {
            Ok(channel) => channel,
            Err(error) => return Published::stopped(0, error.to_string()),
        };
        let mut pending = Vec::with_capacity(messages.len());
        let mut stopped = None;
        for message in messages {
            let sent = channel
                .basic_publish(
                    &message.exchange,
                    &message.routing_key,
                    BasicPublishOptions::default(),
                    &message.body,
                    message.properties.clone().with_delivery_mode(2),
                )
                .await;
            match sent {
                Ok(confirm) => pending.push(confirm),
                Err(error) => {
                    tracing::warn!(%error, "publish failed");
                    stopped = Some(error.to_string());
                    break;
                }
            }
        }
        let mut confirmed = 0;
        for confirm in pending {
            match confirm.await {
                Ok(Confirmation::Ack(_)) => confirmed += 1,
                Ok(_) => return Published::nacked(confirmed),
                Err(error) => return Published::stopped(confirmed, error.to_string()),
            }
        }
        Published {
            confirmed,
            error: stopped,
            nacked: false,
        }
    }

    async fn channel(&self) -> Result<Channel, PublishError> {
        let session = self.broker.current().ok_or(PublishError::Unavailable)?;
        let mut cached = self.channel.lock().await;
        if let Some((generation, channel)) = cached.as_ref() {
            if *generation == session.generation && channel.status().connected() {
                return Ok(channel.clone());
            }
        }
        let channel = session.connection.create_channel().await?;
        channel.confirm_select(ConfirmSelectOptions::default()).await?;
        *cached = Some((session.generation, channel.clone()));
        Ok(channel)
    }
}
