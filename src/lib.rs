//! bnpl-orchestrator: Buy Now, Pay Later payments for merchants.
//!
//! Order systems publish commands to RabbitMQ; the orchestrator stores them in PostgreSQL, calls
//! humm (through ecommpay Gate) or valU (through Amazon Payment Services), settles payments from
//! signed callbacks and status checks, and announces results as events.
//!
//! Module map:
//! - [`accounts`]: the provider accounts in use (configured, or the in-process sandbox's).
//! - [`flows`]: purchase flows: intake, provider calls, status checks, callbacks.
//! - [`config`]: environment and TOML configuration (contract §6).
//! - [`contract`]: JSON Schemas, examples and the AsyncAPI document, generated from the types.
//! - [`domain`]: pure types: money, ids, payment and refund state machines, refund balance.
//! - [`providers`]: pure protocol code per provider (signatures, requests, parsing).
//! - [`sandbox`]: the provider sandbox: a real HTTP server playing ecommpay Gate and APS (tests, demo).
//! - [`ledger`]: the one writer of payment and refund changes, the audit log and the outbox.
//! - [`store`]: PostgreSQL access: pool, migrations, one file per table family.
//! - [`messaging`]: RabbitMQ topology, connection supervisor, confirmed publisher, gated consumer.
//! - [`intake`]: decoding commands, dead letters, command processing.
//! - [`jobs`]: the durable job runner (status checks, provider calls, expiries) and its backoff.
//! - [`http`]: the axum router: health, readiness, metrics.
//! - [`admin`]: the ops and finance surface: admin API, dashboard, `bnpl admin`, gauges.
//! - [`workers`]: one thin file per worker role (`workers/` at the crate root).
//! - [`cli`]: command-line tools (`publish`).
//! - [`failpoint`]: crash points for tests (compiled in only with the `failpoints` feature).
//! - [`app`]: the composition root and graceful shutdown; [`shutdown`], [`telemetry`].

pub mod accounts;
pub mod admin;
pub mod app;
pub mod cli;
pub mod config;
pub mod contract;
pub mod domain;
pub mod failpoint;
pub mod flows;
pub mod http;
pub mod intake;
pub mod jobs;
pub mod ledger;
pub mod messaging;
pub mod providers;
pub mod sandbox;
pub mod settlement;
pub mod shutdown;
pub mod store;
pub mod telemetry;
#[path = "../workers/mod.rs"]
pub mod workers;
