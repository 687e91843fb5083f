//! The `bnpl` binary: a thin command line over the library (zero2prod's lib + thin binary split).

use anyhow::Context as _;
use bnpl::cli::outcome::Exit;
use bnpl::cli::settings::{BrokerArgs, ConfigFileArgs, DatabaseArgs, LogArgs, ServerArgs, Settings};
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
    #[command(flatten)]
    log: LogArgs,
    #[command(subcommand)]
    command: Command,
}

/// What every command that reaches PostgreSQL and RabbitMQ reads.
#[derive(clap::Args)]
struct StoreSettings {
    #[command(flatten)]
    config_file: ConfigFileArgs,
    #[command(flatten)]
    database: DatabaseArgs,
    #[command(flatten)]
    broker: BrokerArgs,
}

impl StoreSettings {
    fn settings(&self) -> Settings {
        Settings::new()
            .config_file(&self.config_file)
            .database(&self.database)
            .broker(&self.broker)
    }
}

/// What `serve` and `worker` read: everything.
#[derive(clap::Args)]
struct ServiceSettings {
    #[command(flatten)]
    store: StoreSettings,
    #[command(flatten)]
    server: ServerArgs,
}

impl ServiceSettings {
    fn settings(&self) -> Settings {
        self.store.settings().server(&self.server)
    }
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP server and every worker role in one process (applies migrations first).
    /// Needs provider accounts in BNPL_CONFIG, or --sandbox.
    Serve {
        #[command(flatten)]
        providers: Providers,
        #[command(flatten)]
        settings: ServiceSettings,
    },
    /// Run one worker role alone, to scale roles out separately.
    Worker {
        /// The role to run.
        #[arg(value_enum)]
        role: Role,
        #[command(flatten)]
        providers: Providers,
        #[command(flatten)]
        settings: ServiceSettings,
    },
    /// Apply the database migrations (creating the database if missing), revert them with
    /// --down-to, or list applied and pending ones with --status.
    Migrate {
        /// Revert every migration newer than this version (0 reverts them all).
        #[arg(long, conflicts_with = "status")]
        down_to: Option<i64>,
        /// Print the applied and pending versions and change nothing.
        #[arg(long)]
        status: bool,
        #[command(flatten)]
        config_file: ConfigFileArgs,
        #[command(flatten)]
        database: DatabaseArgs,
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
        /// Where customers' browsers and the orchestrator reach this sandbox (its redirect and
        /// Payment Page URLs); default: the address it listens on (loopback for 0.0.0.0).
        #[arg(long, env = "BNPL_SANDBOX_PUBLIC_URL", value_name = "URL")]
        public_url: Option<String>,
    },
    /// Publish a command from a JSON file and print the events that follow, then a summary line.
    ///
    /// Exit codes: 0 succeeded (or the first action_required where the customer acts next, or
    /// refund.cancelled after refund.cancel); 1 usage or connection error; 2 command.rejected;
    /// 3 declined, failed, expired or cancelled; 4 needs_review; 5 nothing final within --wait.
    Publish {
        /// The command type: purchase.create, purchase.confirm, purchase.resend_otp,
        /// refund.create or refund.cancel.
        command_type: String,
        /// The JSON body.
        file: std::path::PathBuf,
        /// How long to wait for events, in seconds.
        #[arg(long, default_value_t = 30)]
        wait: u64,
        #[command(flatten)]
        config_file: ConfigFileArgs,
        #[command(flatten)]
        broker: BrokerArgs,
    },
    /// Operate from a terminal: payments, refunds, queues, dead letters, tokens, reports. Talks
    /// to PostgreSQL (and RabbitMQ) directly with the same BNPL_* configuration.
    Admin(AdminCommandArgs),
}

/// `bnpl admin`'s settings and subcommand.
#[derive(clap::Args)]
struct AdminCommandArgs {
    #[command(flatten)]
    store: StoreSettings,
    #[command(flatten)]
    admin: bnpl::admin::cli::AdminArgs,
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

fn main() {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            // `--help` and `--version` are not errors; a usage error exits 1 (contract §5), not
            // clap's default 2, which `bnpl publish` uses for a rejected command.
            let _ = error.print();
            std::process::exit(if error.use_stderr() { 1 } else { 0 });
        }
    };
    let filter = cli.log.log_filter.as_deref();
    match cli.command {
        // The command-line tools print their results on stdout (tables, CSV, JSON, events and a
        // summary line): their logs go to stderr, warnings only unless RUST_LOG says otherwise.
        Command::Admin(_) | Command::Publish { .. } => bnpl::admin::cli::init_logging(filter),
        _ => bnpl::telemetry::init_logging(filter, cli.log.log_format.as_deref() == Some("json")),
    }
    bnpl::failpoint::setup();
    let code = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => match runtime.block_on(run(cli.command)) {
            Ok(exit) => exit.code(),
            Err(error) => {
                eprintln!("Error: {error:?}");
                Exit::UsageOrConnection.code()
            }
        },
        Err(error) => {
            eprintln!("Error: starting the runtime: {error}");
            Exit::UsageOrConnection.code()
        }
    };
    // Spans still buffered for the OTLP collector go out before the process does.
    #[cfg(feature = "otel")]
    bnpl::telemetry::otel::shutdown();
    std::process::exit(code);
}

/// Runs `command`; its `Ok` is the exit code (always 0 but for `publish`), an `Err` exits 1.
async fn run(command: Command) -> anyhow::Result<Exit> {
    match command {
        Command::Serve { providers, settings } => {
            serve(settings.settings().load()?, providers, &Role::ALL).await?;
        }
        Command::Worker {
            role,
            providers,
            settings,
        } => serve(settings.settings().load()?, providers, &[role]).await?,
        Command::Migrate {
            down_to,
            status,
            config_file,
            database,
        } => {
            let config = Settings::new().config_file(&config_file).database(&database).load()?;
            if status {
                migration_status(config).await?;
            } else {
                migrate(config, down_to).await?;
            }
        }
        Command::Sandbox {
            addr,
            config: file,
            public_url,
        } => sandbox(addr, file, public_url).await?,
        Command::Publish {
            command_type,
            file,
            wait,
            config_file,
            broker,
        } => {
            let config = Settings::new().config_file(&config_file).broker(&broker).load()?;
            return bnpl::cli::publish::run(&config, &command_type, &file, Duration::from_secs(wait)).await;
        }
        Command::Admin(args) => {
            let config = args.store.settings().load()?;
            bnpl::admin::cli::run(config, args.admin).await?;
        }
    }
    Ok(Exit::Succeeded)
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

async fn sandbox(
    addr: std::net::SocketAddr,
    file: Option<std::path::PathBuf>,
    public_url: Option<String>,
) -> anyhow::Result<()> {
    let mut config: bnpl::sandbox::SandboxConfig = match file {
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
    if public_url.is_some() {
        config.public_url = public_url;
    }
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

/// `bnpl migrate --status`: every version with `applied` or `pending`, and a total line. It never
/// creates the database: a missing one has every migration pending.
async fn migration_status(config: Config) -> anyhow::Result<()> {
    let status = if bnpl::store::pool::database_exists(&config.database_url)
        .await
        .context("BNPL_DATABASE_URL: reaching PostgreSQL")?
    {
        let pool = bnpl::store::connect(&config.database_url, 1)?;
        let status = bnpl::store::pool::schema_status(&pool).await;
        pool.close().await;
        status.context("reading the applied migrations")?
    } else {
        println!("the database does not exist yet (bnpl migrate creates it)");
        bnpl::store::pool::SchemaStatus::nothing_applied()
    };
    for migration in bnpl::store::MIGRATOR
        .iter()
        .filter(|migration| !migration.migration_type.is_down_migration())
    {
        let state = if status.applied.contains(&migration.version) {
            "applied"
        } else {
            "pending"
        };
        println!("{state:<8} {}  {}", migration.version, migration.description);
    }
    println!("{} applied, {} pending", status.applied.len(), status.pending.len());
    Ok(())
}
