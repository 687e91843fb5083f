//! The `bnpl` binary: a thin command line over the library (zero2prod's lib + thin binary split).

use anyhow::Context as _;
use bnpl::config::Config;
use bnpl::workers::Role;
use clap::{Parser, Subcommand};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

// mimalloc instead of glibc malloc: the profile of callback ingestion spent ~16% of its CPU in
// glibc's allocator (`_int_malloc`, `malloc_consolidate`, …) on short-lived JSON and buffers.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    /// Needs provider accounts in BNPL_CONFIG, or --sandbox.
    Serve {
        #[command(flatten)]
        providers: Providers,
    },
    /// Run one worker role alone, to scale roles out separately.
    Worker {
        /// The role to run.
        #[arg(value_enum)]
        role: Role,
        #[command(flatten)]
        providers: Providers,
    },
    /// Apply the database migrations, or revert them with --down-to.
    Migrate {
        /// Revert every migration newer than this version (0 reverts them all).
        #[arg(long)]
        down_to: Option<i64>,
    },
    /// Run the provider sandbox alone: a fake ecommpay Gate and Amazon Payment Services.
    Sandbox {
        /// Where to listen.
        #[arg(long, default_value = "127.0.0.1:8090")]
        addr: std::net::SocketAddr,
        /// A TOML file with the sandbox settings (accounts, time scale, faults); demo accounts
        /// with the auto-customer when omitted.
        #[arg(long)]
        config: Option<std::path::PathBuf>,
    },
    /// Publish a command from a JSON file and print the events that follow.
    Publish {
        /// The command type, e.g. purchase.create, purchase.confirm, refund.create.
        command_type: String,
        /// The JSON body.
        file: std::path::PathBuf,
        /// How long to wait for events, in seconds.
        #[arg(long, default_value_t = 30)]
        wait: u64,
    },
    /// Operate from a terminal: payments, refunds, queues, dead letters, tokens, reports. Talks
    /// to PostgreSQL (and RabbitMQ) directly with the same BNPL_* configuration.
    #[command(subcommand)]
    Admin(bnpl::admin::cli::AdminCommand),
}

/// Where provider calls go (contract §6): the accounts of BNPL_CONFIG, or the built-in sandbox.
#[derive(clap::Args)]
struct Providers {
    /// Play both providers with the built-in sandbox (demo accounts, auto-customer) instead of
    /// configured accounts. Never for production.
    #[arg(long, env = "BNPL_SANDBOX", value_parser = clap::builder::FalseyValueParser::new())]
    sandbox: bool,
}

/// Exit code of a provider set-up that cannot run (contract §6).
const EXIT_NO_PROVIDER: i32 = 2;

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        // The admin CLI prints tables and CSV on stdout: its logs go to stderr.
        Command::Admin(_) => bnpl::admin::cli::init_logging(),
        _ => bnpl::telemetry::init_logging(),
    }
    bnpl::failpoint::setup();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(run(cli.command))
}

async fn run(command: Command) -> anyhow::Result<()> {
    let config = Config::from_env()?;
    match command {
        Command::Serve { providers } => serve(config, providers, &Role::ALL).await,
        Command::Worker { role, providers } => serve(config, providers, &[role]).await,
        Command::Migrate { down_to } => migrate(config, down_to).await,
        Command::Sandbox { addr, config: file } => sandbox(addr, file).await,
        Command::Publish {
            command_type,
            file,
            wait,
        } => bnpl::cli::publish::run(&config, &command_type, &file, Duration::from_secs(wait)).await,
        Command::Admin(command) => bnpl::admin::cli::run(config, command).await,
    }
}

async fn serve(mut config: Config, providers: Providers, roles: &[Role]) -> anyhow::Result<()> {
    config.sandbox |= providers.sandbox;
    if let Err(error) = config.provider_mode() {
        // At once, before touching the database or the broker: nothing can run without providers.
        tracing::error!("{error}");
        eprintln!("bnpl: {error}");
        std::process::exit(EXIT_NO_PROVIDER);
    }
    let shutdown = CancellationToken::new();
    bnpl::shutdown::cancel_on_signal(shutdown.clone());
    let running = bnpl::app::start(config, roles, shutdown).await?;
    running.wait().await
}

async fn sandbox(addr: std::net::SocketAddr, file: Option<std::path::PathBuf>) -> anyhow::Result<()> {
    let config = match file {
        Some(path) => {
            let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
            toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?
        }
        None => {
            let mut demo = bnpl::sandbox::SandboxConfig::demo();
            demo.auto_customer.enabled = true;
            demo
        }
    };
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    let shutdown = CancellationToken::new();
    bnpl::shutdown::cancel_on_signal(shutdown.clone());
    bnpl::sandbox::serve(config, listener, shutdown).await
}

async fn migrate(config: Config, down_to: Option<i64>) -> anyhow::Result<()> {
    bnpl::store::create_database_if_missing(&config.database_url).await?;
    let pool = bnpl::store::connect(&config.database_url, 2)?;
    match down_to {
        None => bnpl::store::migrate(&pool).await.context("applying migrations")?,
        Some(version) => bnpl::store::MIGRATOR
            .undo(&pool, version)
            .await
            .context("reverting migrations")?,
    }
    tracing::info!("migrations done");
    Ok(())
}
