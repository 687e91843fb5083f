//! `bnpl admin …`: the admin API from a terminal, with readable tables (contract §5).
//!
//! It talks to PostgreSQL directly (and to RabbitMQ to replay dead letters) with the same
//! `BNPL_*` configuration as `bnpl serve`: it is an operator's tool for a host on the
//! orchestrator's network, where whoever holds the database credentials is trusted anyway, so it
//! needs no API token. Every action it takes is audited under the actor `cli:$USER`, and goes
//! through the same store functions as the API (same state machine, same events).

mod args;
mod broker;
mod commands;
pub mod table;

pub use args::{AdminArgs, AdminCommand, DeadLetterCommand, PaymentCommand, RefundCommand, TokenCommand};

use crate::config::Config;
use anyhow::{bail, Context as _};

/// Runs one admin command and prints its result on stdout. It never creates or migrates a
/// database: a mistyped `BNPL_DATABASE_URL` must be an error, not a new empty database that then
/// answers every question with "nothing".
pub async fn run(config: Config, args: AdminArgs) -> anyhow::Result<()> {
    let exists = crate::store::pool::database_exists(&config.database_url)
        .await
        .context("BNPL_DATABASE_URL: reaching PostgreSQL")?;
    if !exists {
        bail!(
            "BNPL_DATABASE_URL names a database that does not exist; bnpl admin never creates one \
             (check the name, or create and migrate it with bnpl migrate)"
        );
    }
    let pool = crate::store::connect(&config.database_url, 2).context("BNPL_DATABASE_URL")?;
    let schema = crate::store::pool::schema_status(&pool)
        .await
        .context("reading the database's migrations")?;
    if !schema.pending.is_empty() {
        pool.close().await;
        bail!(
            "the database lacks migrations {:?} of this bnpl; bnpl admin never migrates \
             (run bnpl migrate, or use the bnpl that matches the database)",
            schema.pending
        );
    }
    let result = commands::execute(&config, &pool, args.command, args.json).await;
    pool.close().await;
    result
}

/// Logs for the CLI: warnings and errors (or `filter`, `RUST_LOG` syntax) on stderr, so stdout
/// carries only the command's output (tables, CSV, JSON) and can be redirected to a file.
pub fn init_logging(filter: Option<&str>) {
    use std::io::IsTerminal as _;
    let filter = crate::telemetry::env_filter(filter, "warn");
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .try_init();
}

/// Who the audit log names for actions taken from the CLI.
fn actor() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".to_owned());
    format!("cli:{user}")
}
