//! The composition root: connects PostgreSQL and RabbitMQ, starts the chosen worker roles, and
//! shuts them down gracefully.
//!
//! Shutdown order matters: first the workers stop taking work and finish what they hold (within
//! the deadline), and only then is the broker connection closed and the database monitor
//! stopped, so an in-flight command can still commit and ack.

use crate::config::Config;
use crate::messaging::{Broker, Publisher, Topology};
use crate::store::{self, DatabaseMonitor};
use crate::workers::{self, Role, WorkerContext};
use anyhow::Context as _;
use sqlx::PgPool;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How long start-up waits for the database to apply migrations.
const MIGRATION_WAIT: Duration = Duration::from_secs(30);

/// A started application.
pub struct Running {
    /// Where the HTTP server listens, when the `http` role runs.
    pub http_addr: Option<SocketAddr>,
    pub pool: PgPool,
    pub broker: Broker,
    pub database: DatabaseMonitor,
    shutdown: CancellationToken,
    deadline: Duration,
    workers: TaskTracker,
    infrastructure: TaskTracker,
    infrastructure_stop: CancellationToken,
}

/// Connects, migrates and starts `roles`; returns once everything is running.
pub async fn start(
    config: Config,
    roles: &[Role],
    shutdown: CancellationToken,
) -> anyhow::Result<Running> {
    let config = Arc::new(config);
    let pool =
        store::connect(&config.database_url, pool_size(&config)).context("BNPL_DATABASE_URL")?;
    migrate_when_reachable(&config, &pool).await?;

    let infrastructure = TaskTracker::new();
    let infrastructure_stop = CancellationToken::new();
    let database =
        DatabaseMonitor::start(pool.clone(), &infrastructure, infrastructure_stop.clone()).await;
    let topology = Topology::new(config.amqp_prefix.clone(), config.intake.delivery_limit);
    let connection_name = format!("bnpl {} {}", config.amqp_prefix, role_names(roles));
    let broker = Broker::start(
        config.amqp_url.clone(),
        topology,
        connection_name,
        &infrastructure,
        infrastructure_stop.clone(),
    );
    let context = WorkerContext {
        config: Arc::clone(&config),
        pool: pool.clone(),
        database: database.clone(),
        broker: broker.clone(),
        publisher: Arc::new(Publisher::new(broker.clone())),
        metrics: crate::telemetry::metrics_handle(),
    };
    let workers = TaskTracker::new();
    let http_addr = workers::spawn(&context, roles, &workers, &shutdown).await?;
    Ok(Running {
        http_addr,
        pool,
        broker,
        database,
        deadline: config.shutdown_deadline,
        shutdown,
        workers,
        infrastructure,
        infrastructure_stop,
    })
}

impl Running {
    /// The token that stops this application.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Waits for the shutdown token, then stops gracefully. Errors only if work was still
    /// running at the deadline.
    pub async fn wait(self) -> anyhow::Result<()> {
        self.shutdown.cancelled().await;
        self.workers.close();
        let finished = tokio::time::timeout(self.deadline, self.workers.wait())
            .await
            .is_ok();
        self.infrastructure_stop.cancel();
        self.infrastructure.close();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.infrastructure.wait()).await;
        self.pool.close().await;
        if finished {
            tracing::info!("stopped cleanly");
            Ok(())
        } else {
            anyhow::bail!(
                "work was still running at the shutdown deadline of {:?}",
                self.deadline
            )
        }
    }
}

/// Enough connections for intake concurrency plus jobs and the relay, within PostgreSQL's default
/// limit of 100 shared by every process and test.
fn pool_size(config: &Config) -> u32 {
    let intake = u32::try_from(config.intake.concurrency).unwrap_or(u32::MAX);
    intake.saturating_mul(2).saturating_add(8).min(40)
}

async fn migrate_when_reachable(config: &Config, pool: &PgPool) -> anyhow::Result<()> {
    let started = tokio::time::Instant::now();
    loop {
        let attempt = async {
            store::create_database_if_missing(&config.database_url).await?;
            store::migrate(pool).await.map_err(sqlx::Error::from)
        };
        match attempt.await {
            Ok(()) => return Ok(()),
            Err(error) if started.elapsed() < MIGRATION_WAIT => {
                tracing::warn!(%error, "database not ready for migrations; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(error) => return Err(error).context("applying database migrations"),
        }
    }
}

fn role_names(roles: &[Role]) -> String {
    roles
        .iter()
        .map(|role| role.name())
        .collect::<Vec<_>>()
        .join("+")
}
