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

pub use args::{AdminCommand, DeadLetterCommand, PaymentCommand, RefundCommand, TokenCommand};

use crate::config::Config;
use anyhow::Context as _;

/// Runs one admin command and prints its result on stdout.
pub async fn run(config: Config, command: AdminCommand) -> anyhow::Result<()> {
    crate::store::create_database_if_missing(&config.database_url).await?;
    let pool = crate::store::connect(&config.database_url, 2).context("BNPL_DATABASE_URL")?;
    crate::store::migrate(&pool)
        .await
        .context("applying database migrations")?;
    let result = commands::execute(&config, &pool, command).await;
    pool.close().await;
    result
}

/// Logs for the CLI: warnings and errors (or `RUST_LOG`) on stderr, so stdout carries only the
/// command's output (tables, CSV) and can be redirected to a file.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
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
