//! The broker connection supervisor: one AMQP connection per process, always being restored.
//!
//! It connects, declares the topology, then publishes the live [`BrokerSession`] on a watch
//! channel. When the connection fails (broker restart, `rabbitmqctl close_connection`, missed
//! heartbeats) it withdraws the session, reconnects with capped exponential backoff and jitter,
//! and declares the topology again, so a restarted broker that lost non-durable state, or a new
//! node, is always brought back to the contract's topology. We do not rely on lapin's own
//! recovery: it does not re-declare topology, and we want the outage visible to `/readyz`.
//!
//! Invariant: the connection is closed only when the supervisor's own token is cancelled, which
//! the application does last, after every consumer and publisher has finished.

use super::topology::Topology;
use lapin::{Connection, ConnectionProperties};
use rand::Rng as _;
use secrecy::{ExposeSecret, SecretString};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

const INITIAL_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// A live connection on which the topology has been declared.
#[derive(Clone)]
pub struct BrokerSession {
    pub connection: Arc<Connection>,
    /// Increases with every reconnection, so holders of channels can tell theirs is stale.
    pub generation: u64,
}

/// A handle to the supervised connection; cheap to clone.
#[derive(Clone)]
pub struct Broker {
    session: watch::Receiver<Option<BrokerSession>>,
    topology: Topology,
    /// The user the connection logs in as.
    user: Arc<str>,
}

/// The user an AMQP URL logs in as (`guest` when it names none, RabbitMQ's client default).
pub fn user_of(url: &SecretString) -> String {
    url::Url::parse(url.expose_secret())
        .ok()
        .map(|url| url.username().to_owned())
        .filter(|user| !user.is_empty())
        .map(|user| {
            percent_encoding::percent_decode_str(&user)
                .decode_utf8_lossy()
                .into_owned()
        })
        .unwrap_or_else(|| "guest".to_owned())
}

impl Broker {
    /// Starts the supervisor on `tracker` and returns at once; the first session appears when
    /// the broker is reachable. `close` stops it and closes the connection.
    pub fn start(
        url: SecretString,
        topology: Topology,
        connection_name: String,
        tracker: &TaskTracker,
        close: CancellationToken,
    ) -> Broker {
        let (sender, session) = watch::channel(None);
        let user = Arc::from(user_of(&url));
        let supervised_topology = topology.clone();
        tracker.spawn(async move {
            supervise(url, supervised_topology, connection_name, sender, close).await;
        });
        Broker {
            session,
            topology,
            user,
        }
    }

    /// The user the connection logs in as: RabbitMQ accepts no other `user_id` on what it
    /// publishes.
    pub fn user(&self) -> &str {
        &self.user
    }

    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    /// The current session, if connected.
    pub fn current(&self) -> Option<BrokerSession> {
        self.session.borrow().clone()
    }

    /// True while a connection is up and its topology declared.
    pub fn is_connected(&self) -> bool {
        self.session
            .borrow()
            .as_ref()
            .is_some_and(|session| session.connection.status().connected())
    }

    /// A receiver that sees every change of session (connected, lost, replaced).
    pub fn subscribe(&self) -> watch::Receiver<Option<BrokerSession>> {
        self.session.clone()
    }
}

async fn supervise(
    url: SecretString,
    topology: Topology,
    connection_name: String,
    sender: watch::Sender<Option<BrokerSession>>,
    close: CancellationToken,
) {
    let mut backoff = INITIAL_BACKOFF;
    let mut generation = 0_u64;
    // Exposed from the start, so "never lost" reads as 0 rather than as no sample.
    metrics::counter!("bnpl_broker_connections_lost_total").increment(0);
    metrics::gauge!("bnpl_broker_up").set(0.0);
    while !close.is_cancelled() {
        match connect(&url, &topology, &connection_name).await {
            Ok(connection) => {
                generation += 1;
                backoff = INITIAL_BACKOFF;
                let lost = Arc::new(Notify::new());
                let notify = Arc::clone(&lost);
                connection.on_error(move |error| {
                    tracing::warn!(%error, "broker connection lost");
                    notify.notify_one();
                });
                let connection = Arc::new(connection);
                tracing::info!(
                    generation,
                    prefix = topology.prefix(),
                    "broker connected, topology declared"
                );
                metrics::counter!("bnpl_broker_connections_total").increment(1);
                metrics::gauge!("bnpl_broker_up").set(1.0);
                sender.send_replace(Some(BrokerSession {
                    connection: Arc::clone(&connection),
                    generation,
                }));
                tokio::select! {
                    () = lost.notified() => {
                        // Every loss, whatever its cause: a healthy process keeps this at 0.
                        metrics::counter!("bnpl_broker_connections_lost_total").increment(1);
                        metrics::gauge!("bnpl_broker_up").set(0.0);
                        sender.send_replace(None);
                    }
                    () = close.cancelled() => {
                        sender.send_replace(None);
                        if let Err(error) = connection.close(200, "bnpl shutting down").await {
                            tracing::debug!(%error, "closing the broker connection");
                        }
                        return;
                    }
                }
            }
            Err(error) => {
                tracing::warn!(%error, retry_in_ms = backoff.as_millis() as u64, "broker unreachable");
            }
        }
        let jitter = rand::thread_rng().gen_range(0..=backoff.as_millis() as u64 / 2);
        tokio::select! {
            () = tokio::time::sleep(backoff + Duration::from_millis(jitter)) => {}
            () = close.cancelled() => return,
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

async fn connect(url: &SecretString, topology: &Topology, connection_name: &str) -> lapin::Result<Connection> {
    let properties = ConnectionProperties::default()
        .with_executor(tokio_executor_trait::Tokio::current())
        .with_reactor(tokio_reactor_trait::Tokio)
        .with_connection_name(connection_name.into());
    let connection = Connection::connect(url.expose_secret(), properties).await?;
    let channel = connection.create_channel().await?;
    topology.declare(&channel).await?;
    // The declaring channel has done its job; publishers and consumers open their own.
    let _ = channel.close(200, "topology declared").await;
    Ok(connection)
}
