//! The suite's own RabbitMQ clients. They must outlive everything the suite does to the broker
//! (closed connections, `stop_app`/`start_app`), so each one reconnects by itself, and the event
//! queue is a durable quorum queue of the suite's own, bound before the first command: events
//! published while the suite's connection is down wait there instead of vanishing.

use crate::helpers::amqp_connect;
use futures_util::StreamExt as _;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicGetOptions, BasicPublishOptions, BasicQosOptions, ConfirmSelectOptions,
    ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::publisher_confirm::Confirmation;
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{BasicProperties, Channel, Connection, ExchangeKind};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// How long a publish may keep failing (broker restarting) before the suite gives up.
const PUBLISH_DEADLINE: Duration = Duration::from_secs(120);

/// Declares `PREFIX.events` (as the orchestrator does) and the suite's quorum queue bound to
/// every event on it; returns the queue's name.
pub async fn declare_event_queue(prefix: &str) -> String {
    let queue = format!("{prefix}.faultsuite-events");
    let connection = amqp_connect().await.expect("amqp");
    let channel = connection.create_channel().await.expect("channel");
    let durable = ExchangeDeclareOptions {
        durable: true,
        ..Default::default()
    };
    let exchange = format!("{prefix}.events");
    channel
        .exchange_declare(&exchange, ExchangeKind::Topic, durable, FieldTable::default())
        .await
        .expect("declare events exchange");
    let mut args = FieldTable::default();
    args.insert("x-queue-type".into(), AMQPValue::LongString(LongString::from("quorum")));
    let options = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    channel
        .queue_declare(&queue, options, args)
        .await
        .expect("declare event queue");
    channel
        .queue_bind(
            &queue,
            &exchange,
            "#",
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .expect("bind event queue");
    let _ = connection.close(200, "declared").await;
    queue
}

pub async fn delete_queue(queue: &str) {
    if let Ok(connection) = amqp_connect().await {
        if let Ok(channel) = connection.create_channel().await {
            let _ = channel.queue_delete(queue, QueueDeleteOptions::default()).await;
        }
        let _ = connection.close(200, "clean-up").await;
    }
}

/// Publishes commands with confirms, reconnecting and re-publishing (same `message_id`) until
/// the broker confirms: at least once, like any careful order system.
pub struct Publisher {
    exchange: String,
    link: tokio::sync::Mutex<Option<(Connection, Channel)>>,
}

impl Publisher {
    pub fn new(prefix: &str) -> Self {
        Self {
            exchange: format!("{prefix}.commands"),
            link: tokio::sync::Mutex::new(None),
        }
    }

    /// Publishes until confirmed; returns how many attempts it took.
    pub async fn publish(&self, routing_key: &str, body: &[u8], message_id: &str) -> u32 {
        let started = Instant::now();
        let mut attempts = 0;
        loop {
            attempts += 1;
            if self.try_publish(routing_key, body, message_id).await {
                return attempts;
            }
            *self.link.lock().await = None;
            assert!(
                started.elapsed() < PUBLISH_DEADLINE,
                "could not publish {routing_key} {message_id} for {PUBLISH_DEADLINE:?}"
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    async fn try_publish(&self, routing_key: &str, body: &[u8], message_id: &str) -> bool {
        let mut link = self.link.lock().await;
        let healthy = link
            .as_ref()
            .is_some_and(|(c, ch)| c.status().connected() && ch.status().connected());
        if !healthy {
            *link = open_confirming().await;
        }
        let Some((_, channel)) = link.as_ref() else {
            return false;
        };
        let properties = BasicProperties::default()
            .with_message_id(message_id.into())
            .with_user_id("guest".into())
            .with_content_type("application/json".into())
            .with_delivery_mode(2);
        let sent = channel
            .basic_publish(
                &self.exchange,
                routing_key,
                BasicPublishOptions::default(),
                body,
                properties,
            )
            .await;
        match sent {
            Ok(confirm) => matches!(
                tokio::time::timeout(Duration::from_secs(10), confirm).await,
                Ok(Ok(Confirmation::Ack(_)))
            ),
            Err(_) => false,
        }
    }
}

async fn open_confirming() -> Option<(Connection, Channel)> {
    let connection = amqp_connect().await.ok()?;
    let channel = connection.create_channel().await.ok()?;
    channel.confirm_select(ConfirmSelectOptions::default()).await.ok()?;
    Some((connection, channel))
}

/// Every event the orchestrator announced, as read from the suite's queue (duplicates kept).
#[derive(Default)]
pub struct Collector {
    inner: Mutex<Seen>,
}

#[derive(Default)]
struct Seen {
    deliveries: u64,
    ids: HashSet<String>,
    /// Distinct events by payment id (or refund id when the event names no payment).
    by_key: HashMap<String, Vec<Value>>,
    last_arrival: Option<Instant>,
}

impl Collector {
    /// Consumes `queue` until `stop`, reconnecting whenever the broker goes away.
    pub fn spawn(self: &Arc<Self>, queue: String, stop: CancellationToken) -> tokio::task::JoinHandle<()> {
        let collector = Arc::clone(self);
        tokio::spawn(async move {
            while !stop.is_cancelled() {
                tokio::select! {
                    () = stop.cancelled() => break,
                    () = collector.consume_once(&queue) => {}
                }
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        })
    }

    async fn consume_once(&self, queue: &str) {
        let Ok(connection) = amqp_connect().await else {
            return;
        };
        let Ok(channel) = connection.create_channel().await else {
            return;
        };
        if channel.basic_qos(500, BasicQosOptions::default()).await.is_err() {
            return;
        }
        let consumer = channel
            .basic_consume(queue, "", BasicConsumeOptions::default(), FieldTable::default())
            .await;
        let Ok(mut consumer) = consumer else {
            return;
        };
        while let Some(Ok(delivery)) = consumer.next().await {
            if let Ok(event) = serde_json::from_slice::<Value>(&delivery.data) {
                self.record(event);
            }
            if delivery.acker.ack(BasicAckOptions::default()).await.is_err() {
                return;
            }
        }
    }

    fn record(&self, event: Value) {
        let mut seen = self.inner.lock().unwrap();
        seen.deliveries += 1;
        seen.last_arrival = Some(Instant::now());
        let id = event["event_id"].as_str().unwrap_or_default().to_owned();
        if !seen.ids.insert(id) {
            return;
        }
        let key = event["payment_id"]
            .as_str()
            .or(event["refund_id"].as_str())
            .unwrap_or_default()
            .to_owned();
        seen.by_key.entry(key).or_default().push(event);
    }

    /// Distinct events of `key` (a payment id, or a refund id for events naming no payment).
    pub fn events_of(&self, key: &str) -> Vec<Value> {
        self.inner.lock().unwrap().by_key.get(key).cloned().unwrap_or_default()
    }

    /// Whether a `payment.*` event about `key` came: the orchestrator stored that payment.
    pub fn announced(&self, key: &str) -> bool {
        let seen = self.inner.lock().unwrap();
        seen.by_key.get(key).is_some_and(|events| {
            events
                .iter()
                .any(|e| e["type"].as_str().is_some_and(|t| t.starts_with("payment.")))
        })
    }

    /// The first event of `key` with type `wanted`.
    pub fn find(&self, key: &str, wanted: &str) -> Option<Value> {
        let seen = self.inner.lock().unwrap();
        seen.by_key.get(key)?.iter().find(|e| e["type"] == wanted).cloned()
    }

    /// (deliveries, distinct event ids).
    pub fn counts(&self) -> (u64, usize) {
        let seen = self.inner.lock().unwrap();
        (seen.deliveries, seen.ids.len())
    }

    pub fn has_id(&self, event_id: &str) -> bool {
        self.inner.lock().unwrap().ids.contains(event_id)
    }

    /// Time since the last delivery.
    pub fn quiet_for(&self) -> Duration {
        self.inner
            .lock()
            .unwrap()
            .last_arrival
            .map_or(Duration::MAX, |at| at.elapsed())
    }
}

/// Takes every message out of `queue` (the dead letters): (body, `x-bnpl-reason`).
pub async fn drain(queue: &str) -> Vec<(Vec<u8>, String)> {
    let connection = amqp_connect().await.expect("amqp");
    let channel = connection.create_channel().await.expect("channel");
    let mut out = Vec::new();
    let options = BasicGetOptions { no_ack: true };
    while let Ok(Some(message)) = channel.basic_get(queue, options).await {
        let reason = message
            .delivery
            .properties
            .headers()
            .as_ref()
            .and_then(|h| match h.inner().get("x-bnpl-reason") {
                Some(AMQPValue::LongString(s)) => Some(s.to_string()),
                _ => None,
            })
            .unwrap_or_default();
        out.push((message.delivery.data.clone(), reason));
    }
    let _ = connection.close(200, "drained").await;
    out
}
