//! RabbitMQ: the intake and announcement bus (design §1), at least once on both sides.
//!
//! - [`topology`] names and declares the contract's exchanges and queues (contract §1).
//! - [`supervisor`] owns the connection: reconnects with backoff and re-declares the topology
//!   after a broker restart, publishing each new session to whoever needs a channel.
//! - [`publisher`] publishes with publisher confirms: a publish is done only when the broker acks.
//! - [`relay`] publishes the outbox and the dead letters in commit order, one active relay.
//! - [`consumer`] runs a gated consumer: it consumes only while the broker and PostgreSQL are
//!   both reachable, so a database outage never turns valid commands into dead letters.

pub mod consumer;
pub mod publisher;
pub mod relay;
pub mod supervisor;
pub mod topology;

pub use publisher::{Outgoing, PublishError, Publisher};
pub use supervisor::{Broker, BrokerSession};
pub use topology::Topology;
