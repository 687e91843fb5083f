//! Worker roles: one thin file each, wiring only (the logic lives in the library's modules).
//!
//! `bnpl serve` runs every role in one process; `bnpl worker NAME` runs one, so roles can be
//! scaled out separately. Every role stops taking new work when the shutdown token is cancelled
//! and finishes what it holds; the application waits for that on its task tracker.

mod http;
mod intake;
mod jobs;
mod relay;
mod retention;

use crate::config::Config;
use crate::flows::Services;
use crate::messaging::{Broker, Publisher};
use crate::store::DatabaseMonitor;
use metrics_exporter_prometheus::PrometheusHandle;
use sqlx::PgPool;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// What every role is wired from.
#[derive(Clone)]
pub struct WorkerContext {
    pub config: Arc<Config>,
    pub pool: PgPool,
    pub database: DatabaseMonitor,
    pub broker: Broker,
    pub publisher: Arc<Publisher>,
    pub metrics: PrometheusHandle,
    pub services: Arc<Services>,
}

/// A worker role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Role {
    /// The HTTP server: provider callbacks, health, metrics, admin API.
    Http,
    /// Consumes the purchase and refund command queues.
    Intake,
    /// Publishes committed events and dead letters to RabbitMQ.
    Relay,
    /// Runs durable jobs: provider calls, status checks, expiries.
    Jobs,
}

impl Role {
    /// Every role, in start order: what `bnpl serve` runs.
    pub const ALL: [Role; 4] = [Role::Http, Role::Relay, Role::Jobs, Role::Intake];

    pub fn name(self) -> &'static str {
        match self {
            Role::Http => "http",
            Role::Intake => "intake",
            Role::Relay => "relay",
            Role::Jobs => "jobs",
        }
    }
}

/// Spawns `roles` on `tracker`; the HTTP role serves on `listener` (bound by the caller, which
/// needs the address first). Returns the HTTP address when the HTTP role runs.
pub async fn spawn(
    context: &WorkerContext,
    roles: &[Role],
    listener: Option<tokio::net::TcpListener>,
    tracker: &TaskTracker,
    shutdown: &CancellationToken,
) -> anyhow::Result<Option<SocketAddr>> {
    let mut http_addr = None;
    let mut listener = listener;
    for role in roles {
        match role {
            Role::Http => {
                if let Some(listener) = listener.take() {
                    http_addr = Some(http::spawn(context, listener, tracker, shutdown.clone())?);
                }
            }
            Role::Intake => intake::spawn(context, tracker, shutdown.clone()),
            Role::Relay => relay::spawn(context, tracker, shutdown.clone()),
            Role::Jobs => {
                jobs::spawn(context, tracker, shutdown.clone());
                retention::spawn(context, tracker, shutdown.clone());
            }
        }
    }
    Ok(http_addr)
}
