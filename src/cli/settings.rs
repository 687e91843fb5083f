//! The `BNPL_*` settings as command-line options, so every command's `--help` lists the
//! environment variables it reads (clap's `env`), and a flag can stand in for a variable.
//!
//! Each group is flattened into the commands that read it; [`Settings::lookup`] then feeds
//! [`crate::config::Config::load`], a flag winning over its variable and the variable over the
//! TOML file. Values that may hold credentials (the URLs) never show their value in `--help`.

use crate::config::{Config, ConfigError};

/// The optional TOML file (accounts, limits, retention).
#[derive(clap::Args, Debug, Default)]
pub struct ConfigFileArgs {
    /// The TOML configuration file.
    #[arg(long = "config-file", env = "BNPL_CONFIG", value_name = "FILE", global = true)]
    pub config_file: Option<String>,
}

/// PostgreSQL.
#[derive(clap::Args, Default)]
pub struct DatabaseArgs {
    /// PostgreSQL URL (prefer the variable: a flag shows in the process list).
    #[arg(
        long,
        env = "BNPL_DATABASE_URL",
        value_name = "URL",
        hide_env_values = true,
        global = true
    )]
    pub database_url: Option<String>,
}

/// RabbitMQ.
#[derive(clap::Args, Default)]
pub struct BrokerArgs {
    /// RabbitMQ URL; its user is the AMQP user_id of what this command publishes.
    #[arg(
        long,
        env = "BNPL_AMQP_URL",
        value_name = "URL",
        hide_env_values = true,
        global = true
    )]
    pub amqp_url: Option<String>,
    /// Prefix of every exchange and queue name (default bnpl).
    #[arg(long, env = "BNPL_AMQP_PREFIX", value_name = "PREFIX", global = true)]
    pub amqp_prefix: Option<String>,
}

/// The HTTP server and the in-process sandbox.
#[derive(clap::Args, Default)]
pub struct ServerArgs {
    /// Where the HTTP server listens (default 127.0.0.1:8080).
    #[arg(long, env = "BNPL_HTTP_ADDR", value_name = "ADDR")]
    pub http_addr: Option<String>,
    /// The base URL providers call back on.
    #[arg(long, env = "BNPL_PUBLIC_URL", value_name = "URL")]
    pub public_url: Option<String>,
    /// Where the in-process sandbox listens with --sandbox (default 127.0.0.1:8090).
    #[arg(long, env = "BNPL_SANDBOX_ADDR", value_name = "ADDR")]
    pub sandbox_addr: Option<String>,
    /// Where customers' browsers reach that sandbox (default: its address; loopback for 0.0.0.0).
    #[arg(long, env = "BNPL_SANDBOX_PUBLIC_URL", value_name = "URL")]
    pub sandbox_public_url: Option<String>,
    /// Comma-separated AMQP users allowed to publish refund commands (replaces the file's list).
    #[arg(long, env = "BNPL_REFUND_USERS", value_name = "USERS")]
    pub refund_users: Option<String>,
}

/// Logging, for every command (logs go to stderr for the command-line tools).
#[derive(clap::Args, Debug, Default)]
pub struct LogArgs {
    /// Log format.
    #[arg(long, env = "BNPL_LOG_FORMAT", value_name = "FORMAT", value_parser = ["text", "json"], global = true)]
    pub log_format: Option<String>,
    /// Log filter, e.g. info or bnpl=debug,sqlx=warn.
    #[arg(long, env = "RUST_LOG", value_name = "FILTER", global = true)]
    pub log_filter: Option<String>,
}

/// Every setting a command was given, by variable name.
#[derive(Default)]
pub struct Settings {
    values: Vec<(&'static str, String)>,
}

impl Settings {
    pub fn new() -> Self {
        Self::default()
    }

    fn with(mut self, name: &'static str, value: &Option<String>) -> Self {
        if let Some(value) = value {
            self.values.push((name, value.clone()));
        }
        self
    }

    pub fn config_file(self, args: &ConfigFileArgs) -> Self {
        self.with("BNPL_CONFIG", &args.config_file)
    }

    pub fn database(self, args: &DatabaseArgs) -> Self {
        self.with("BNPL_DATABASE_URL", &args.database_url)
    }

    pub fn broker(self, args: &BrokerArgs) -> Self {
        self.with("BNPL_AMQP_URL", &args.amqp_url)
            .with("BNPL_AMQP_PREFIX", &args.amqp_prefix)
    }

    pub fn server(self, args: &ServerArgs) -> Self {
        self.with("BNPL_HTTP_ADDR", &args.http_addr)
            .with("BNPL_PUBLIC_URL", &args.public_url)
            .with("BNPL_SANDBOX_ADDR", &args.sandbox_addr)
            .with("BNPL_SANDBOX_PUBLIC_URL", &args.sandbox_public_url)
            .with("BNPL_REFUND_USERS", &args.refund_users)
    }

    /// The value of `name`: the command's flag or variable, else the process environment (for
    /// what a command does not declare, such as `BNPL_SANDBOX`, read by its own flag).
    pub fn lookup(&self, name: &str) -> Option<String> {
        self.values
            .iter()
            .find(|(known, _)| *known == name)
            .map(|(_, value)| value.clone())
            .or_else(|| std::env::var(name).ok())
    }

    /// The configuration these settings describe.
    pub fn load(&self) -> Result<Config, ConfigError> {
        Config::load(|name| self.lookup(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flag_wins_over_the_environment() {
        let settings = Settings::new().broker(&BrokerArgs {
            amqp_url: None,
            amqp_prefix: Some("flagged".to_owned()),
        });
        assert_eq!(settings.lookup("BNPL_AMQP_PREFIX").as_deref(), Some("flagged"));
        assert_eq!(settings.load().unwrap().amqp_prefix, "flagged");
    }
}
