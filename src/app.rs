//! The composition root: connects PostgreSQL and RabbitMQ, starts the chosen worker roles, and
//! shuts them down gracefully.
//!
//! Shutdown order matters: first the workers stop taking work and finish what they hold (within
//! the deadline), and only then is the broker connection closed and the database monitor
//! stopped, so an in-flight command can still commit and ack.

use crate::accounts::Accounts;
use crate::config::{Config, ProviderMode};
use crate::flows::Services;
use crate::jobs::LeaseKeeper;
use crate::messaging::{Broker, Publisher, Topology};
use crate::providers::executor::Executor;
use crate::sandbox::SandboxConfig;
use crate::store::{self, DatabaseMonitor};
use crate::workers::{self, Role, WorkerContext};
use anyhow::Context as _;
use sqlx::PgPool;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use url::Url;

/// TCP + TLS set-up toward any provider.
const PROVIDER_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
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
pub async fn start(config: Config, roles: &[Role], shutdown: CancellationToken) -> anyhow::Result<Running> {
    let config = Arc::new(config);
    // Before anything records a metric: what is recorded before the recorder exists is lost.
    let metrics = crate::telemetry::metrics_handle();
    let pool = store::connect(&config.database_url, pool_size(&config)).context("BNPL_DATABASE_URL")?;
    migrate_when_reachable(&config, &pool).await?;

    let infrastructure = TaskTracker::new();
    let infrastructure_stop = CancellationToken::new();
    let database = DatabaseMonitor::start(pool.clone(), &infrastructure, infrastructure_stop.clone()).await;
    let topology = Topology::new(config.amqp_prefix.clone(), config.intake.delivery_limit);
    let connection_name = format!("bnpl {} {}", config.amqp_prefix, role_names(roles));
    let broker = Broker::start(
        config.amqp_url.clone(),
        topology,
        connection_name,
        &infrastructure,
        infrastructure_stop.clone(),
    );
    let listener = match roles.contains(&Role::Http) {
        true => Some(
            tokio::net::TcpListener::bind(config.http_addr)
                .await
                .with_context(|| format!("binding BNPL_HTTP_ADDR {}", config.http_addr))?,
        ),
        false => None,
    };
    let public_url = effective_public_url(&config.public_url, listener.as_ref());
    let accounts = match config.provider_mode()? {
        ProviderMode::Configured => Accounts::from_config(&config, &public_url)?,
        ProviderMode::InProcessSandbox => {
            start_sandbox(
                config.sandbox_addr,
                config.sandbox_public_url.as_ref(),
                &public_url,
                &infrastructure,
                &infrastructure_stop,
            )
            .await?
        }
    };
    // Ops must be able to tell a demo from a deployment at a glance (contract §6).
    metrics::gauge!("bnpl_sandbox_enabled").set(if config.sandbox { 1.0 } else { 0.0 });
    let services = Arc::new(Services {
        pool: pool.clone(),
        accounts,
        executor: Executor::new(PROVIDER_CONNECT_TIMEOUT).context("building the HTTP client")?,
        leases: LeaseKeeper::new(config.jobs.lease),
        refund_hand_off: Default::default(),
        outbox_wake: Default::default(),
        job_committer: crate::flows::completion::job_committer(pool.clone()),
    });
    // Infrastructure, not a worker: leases must keep being renewed while workers drain at shutdown.
    infrastructure.spawn(services.leases.clone().run(pool.clone(), infrastructure_stop.clone()));
    // Paused accounts and open circuits, as every process stores them: no call goes out for them.
    infrastructure.spawn(crate::accounts::gate::watch(
        pool.clone(),
        services.accounts.clone(),
        infrastructure_stop.clone(),
    ));
    // A key rotation without a restart: SIGHUP reads the configuration file's secrets again.
    infrastructure.spawn(crate::accounts::sighup::reload_on_sighup(
        services.accounts.clone(),
        infrastructure_stop.clone(),
    ));
    // The circuit breaker's shared half: trips written, open circuits probed after the cool-down.
    infrastructure.spawn(crate::accounts::circuit::supervise(
        pool.clone(),
        services.accounts.clone(),
        services.executor.clone(),
        infrastructure_stop.clone(),
    ));
    let context = WorkerContext {
        config: Arc::clone(&config),
        pool: pool.clone(),
        database: database.clone(),
        broker: broker.clone(),
        publisher: Arc::new(Publisher::new(broker.clone())),
        metrics,
        services,
    };
    let workers = TaskTracker::new();
    let http_addr = workers::spawn(&context, roles, listener, &workers, &shutdown).await?;
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
        let finished = tokio::time::timeout(self.deadline, self.workers.wait()).await.is_ok();
        self.infrastructure_stop.cancel();
        self.infrastructure.close();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.infrastructure.wait()).await;
        self.pool.close().await;
        if finished {
            tracing::info!("stopped cleanly");
            Ok(())
        } else {
            anyhow::bail!("work was still running at the shutdown deadline of {:?}", self.deadline)
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

/// `BNPL_PUBLIC_URL`, with the real port when the configured address asked for any port (0).
fn effective_public_url(configured: &Url, listener: Option<&tokio::net::TcpListener>) -> Url {
    let bound = listener.and_then(|listener| listener.local_addr().ok());
    match (configured.port(), bound) {
        (Some(0), Some(addr)) => {
            let mut url = configured.clone();
            let _ = url.set_port(Some(addr.port()));
            url
        }
        _ => configured.clone(),
    }
}

/// `--sandbox`: play both providers in-process with the sandbox's demo accounts and its
/// auto-customer, so one command shows the whole flow without credentials (contract §6).
async fn start_sandbox(
    addr: std::net::SocketAddr,
    customer_url: Option<&Url>,
    public_url: &Url,
    tracker: &TaskTracker,
    stop: &CancellationToken,
) -> anyhow::Result<Accounts> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding BNPL_SANDBOX_ADDR {addr}"))?;
    // Bound to every interface (`0.0.0.0`, as in a container): we call it on loopback, and
    // customers at BNPL_SANDBOX_PUBLIC_URL; never advertise `0.0.0.0`, which no browser reaches.
    let mut local = listener.local_addr()?;
    if local.ip().is_unspecified() {
        local.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let sandbox_url = Url::parse(&format!("http://{local}/"))?;
    let customer_url = customer_url.cloned().unwrap_or_else(|| sandbox_url.clone());
    let mut sandbox = SandboxConfig::demo();
    sandbox.auto_customer.enabled = true;
    sandbox.public_url = Some(customer_url.as_str().trim_end_matches('/').to_owned());
    for merchant in &mut sandbox.aps_merchants {
        merchant.notification_url = Some(public_url.join("callbacks/aps")?.to_string());
    }
    let mut accounts = Accounts::from_sandbox(&sandbox, &sandbox_url, public_url)?;
    accounts.set_payment_page_base(&customer_url)?;
    tracing::warn!(
        %sandbox_url,
        %customer_url,
        "SANDBOX MODE: payments go to the built-in provider sandbox, not to ecommpay or APS; never run this in production"
    );
    let stop = stop.clone();
    tracker.spawn(async move {
        if let Err(error) = crate::sandbox::serve(sandbox, listener, stop).await {
            tracing::error!(%error, "provider sandbox stopped");
        }
    });
    Ok(accounts)
}

fn role_names(roles: &[Role]) -> String {
    roles.iter().map(|role| role.name()).collect::<Vec<_>>().join("+")
}
