//! The `bnpl` binary: a thin command line over the library (zero2prod's lib + thin binary split).

use anyhow::Context as _;
use bnpl::config::Config;
use bnpl::workers::Role;
use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;

/// Buy Now, Pay Later orchestrator: RabbitMQ commands in, humm (ecommpay) and valU (APS) out,
/// PostgreSQL as the source of truth. Configuration comes from BNPL_* environment variables and
/// the optional TOML file named by BNPL_CONFIG (see README).
#[derive(Parser)]
#[command(name = "bnpl", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP server and every worker role in one process (applies migrations first).
    Serve,
    /// Run one worker role alone, to scale roles out separately.
    Worker {
        /// The role to run.
        #[arg(value_enum)]
        role: Role,
    },
    /// Apply the database migrations, or revert them with --down-to.
    Migrate {
        /// Revert every migration newer than this version (0 reverts them all).
        #[arg(long)]
        down_to: Option<i64>,
    },
    /// Operate from a terminal: payments, refunds, queues, dead letters, tokens, reports. Talks
    /// to PostgreSQL (and RabbitMQ) directly with the same BNPL_* configuration.
    #[command(subcommand)]
    Admin(bnpl::admin::cli::AdminCommand),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        // The admin CLI prints tables and CSV on stdout: its logs go to stderr.
        Command::Admin(_) => bnpl::admin::cli::init_logging(),
        _ => bnpl::telemetry::init_logging(),
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(cli.command))
}

async fn run(command: Command) -> anyhow::Result<()> {
    let config = Config::from_env()?;
    match command {
        Command::Serve => serve(config, &Role::ALL).await,
        Command::Worker { role } => serve(config, &[role]).await,
        Command::Migrate { down_to } => migrate(config, down_to).await,
        Command::Admin(command) => bnpl::admin::cli::run(config, command).await,
    }
}

async fn serve(config: Config, roles: &[Role]) -> anyhow::Result<()> {
    let shutdown = CancellationToken::new();
    bnpl::shutdown::cancel_on_signal(shutdown.clone());
    let running = bnpl::app::start(config, roles, shutdown).await?;
    running.wait().await
}

async fn migrate(config: Config, down_to: Option<i64>) -> anyhow::Result<()> {
    bnpl::store::create_database_if_missing(&config.database_url).await?;
    let pool = bnpl::store::connect(&config.database_url, 2)?;
    match down_to {
        None => bnpl::store::migrate(&pool)
            .await
            .context("applying migrations")?,
        Some(version) => bnpl::store::MIGRATOR
            .undo(&pool, version)
            .await
            .context("reverting migrations")?,
    }
    tracing::info!("migrations done");
    Ok(())
}
