//! Configuration (contract §6): environment variables first, plus an optional TOML file named by
//! `BNPL_CONFIG` for provider accounts, timings, intake limits, the refund allow-list and retention.
//!
//! Invariants: a loaded [`Config`] is complete and valid (every error names the key or variable at
//! fault and stops start-up); secrets are [`secrecy::SecretString`] and never appear in `Debug` or
//! logs; the built-in sandbox runs only when asked for (`--sandbox`, `BNPL_SANDBOX=1`), and
//! [`Config::provider_mode`] refuses a configuration with neither accounts nor the flag, or both
//! (contract §6).

mod accounts;
mod file;
mod secret;

pub use accounts::{
    AccountTiming, ApsAccountConfig, BreakerSettings, CallLimits, EcommpayAccountConfig, ProviderAccounts, RefundMode,
    RefundQueueScope,
};
pub use file::{HttpConfig, IntakeConfig, JobsConfig, RefundPolicy, RetentionConfig};

use secrecy::SecretString;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use url::Url;

/// A configuration problem found at start-up, naming the key or variable at fault.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {name}: {problem}")]
    Env { name: &'static str, problem: String },
    #[error("config file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("config key {key}: {problem}")]
    Invalid { key: String, problem: String },
}

/// The whole runtime configuration of one `bnpl` process.
#[derive(Debug, Clone)]
pub struct Config {
    /// `BNPL_DATABASE_URL`: may hold a password, so it is kept secret.
    pub database_url: SecretString,
    /// `BNPL_AMQP_URL`: may hold a password, so it is kept secret.
    pub amqp_url: SecretString,
    /// `BNPL_AMQP_PREFIX`: every exchange and queue name starts with it (contract §1).
    pub amqp_prefix: String,
    /// `BNPL_HTTP_ADDR`: where the HTTP server listens.
    pub http_addr: SocketAddr,
    /// `BNPL_PUBLIC_URL`: the base the providers call back on.
    pub public_url: Url,
    /// `BNPL_SANDBOX_ADDR`: where the in-process sandbox listens (with `--sandbox`).
    pub sandbox_addr: SocketAddr,
    /// `BNPL_SANDBOX_PUBLIC_URL`: where customers' browsers reach that sandbox (its Payment Page
    /// and redirect URLs). Default: the address it listens on (loopback for `0.0.0.0`).
    pub sandbox_public_url: Option<Url>,
    /// How long shutdown waits for in-flight work before giving up.
    pub shutdown_deadline: Duration,
    pub intake: IntakeConfig,
    pub refunds: RefundPolicy,
    pub retention: RetentionConfig,
    pub jobs: JobsConfig,
    pub http: HttpConfig,
    pub accounts: ProviderAccounts,
    /// `BNPL_CONFIG`: the TOML file read, if any; a secrets reload reads it again (issue 20).
    pub file: Option<PathBuf>,
    /// How each provider's settlement report reads (`[settlements.humm]`, `[settlements.valu]`).
    pub settlements: crate::settlement::Mappings,
    /// `BNPL_SANDBOX=1` or `--sandbox`: play the providers with the built-in sandbox. Never a
    /// default (contract §6).
    pub sandbox: bool,
}

/// Why no provider mode can be chosen (contract §6); `bnpl serve` and `bnpl worker` exit 2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ModeError {
    #[error(
        "no provider account is configured: name a TOML file with [accounts.humm.*] or [accounts.valu.*] \
         in BNPL_CONFIG, or pass --sandbox (or BNPL_SANDBOX=1) to play the providers with the built-in sandbox"
    )]
    NoProvider,
    #[error(
        "both provider accounts (BNPL_CONFIG) and the sandbox (--sandbox or BNPL_SANDBOX=1) are set: \
         choose one"
    )]
    Both,
}

/// Where provider calls go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderMode {
    /// Accounts are configured: call the real providers (or whatever their base URLs say).
    Configured,
    /// No account is configured: start the sandbox in-process and use its demo accounts.
    InProcessSandbox,
}

const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/bnpl";
const DEFAULT_AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";
const DEFAULT_PREFIX: &str = "bnpl";
const DEFAULT_HTTP_ADDR: &str = "127.0.0.1:8080";
const DEFAULT_SANDBOX_ADDR: &str = "127.0.0.1:8090";

/// The provider accounts of the TOML file at `path`, secrets resolved again (`env:`, `file:`):
/// what a secrets reload takes.
pub fn read_accounts(path: &std::path::Path) -> Result<ProviderAccounts, ConfigError> {
    Ok(file::ConfigFile::read(path.to_path_buf())?.accounts)
}

impl Config {
    /// Loads from the process environment (and the TOML file it may name).
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::load(|name| std::env::var(name).ok())
    }

    /// Loads from any variable source, so tests need not touch the process environment.
    pub fn load(env: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let file_path = env("BNPL_CONFIG").filter(|path| !path.is_empty()).map(PathBuf::from);
        let file = match &file_path {
            Some(path) => file::ConfigFile::read(path.clone())?,
            None => file::ConfigFile::default(),
        };
        let text = |name: &'static str, from_file: Option<String>, default: &str| {
            env(name).or(from_file).unwrap_or_else(|| default.to_owned())
        };
        let http_addr_text = text("BNPL_HTTP_ADDR", file.http_addr.clone(), DEFAULT_HTTP_ADDR);
        let http_addr: SocketAddr = http_addr_text.parse().map_err(|err| ConfigError::Env {
            name: "BNPL_HTTP_ADDR",
            problem: format!("{http_addr_text:?} is not a socket address: {err}"),
        })?;
        let public_default = format!("http://{http_addr}");
        let public_text = text("BNPL_PUBLIC_URL", file.public_url.clone(), &public_default);
        let public_url = Url::parse(&public_text).map_err(|err| ConfigError::Env {
            name: "BNPL_PUBLIC_URL",
            problem: format!("{public_text:?} is not a URL: {err}"),
        })?;
        let sandbox_text = text("BNPL_SANDBOX_ADDR", None, DEFAULT_SANDBOX_ADDR);
        let sandbox_addr: SocketAddr = sandbox_text.parse().map_err(|err| ConfigError::Env {
            name: "BNPL_SANDBOX_ADDR",
            problem: format!("{sandbox_text:?} is not a socket address: {err}"),
        })?;
        let sandbox_public_url = match env("BNPL_SANDBOX_PUBLIC_URL").filter(|url| !url.trim().is_empty()) {
            Some(text) => Some(Url::parse(text.trim()).map_err(|err| ConfigError::Env {
                name: "BNPL_SANDBOX_PUBLIC_URL",
                problem: format!("{text:?} is not a URL: {err}"),
            })?),
            None => None,
        };
        let amqp_prefix = text("BNPL_AMQP_PREFIX", file.amqp_prefix.clone(), DEFAULT_PREFIX);
        validate_prefix(&amqp_prefix)?;
        let config = Config {
            database_url: SecretString::from(text(
                "BNPL_DATABASE_URL",
                file.database_url.clone(),
                DEFAULT_DATABASE_URL,
            )),
            amqp_url: SecretString::from(text("BNPL_AMQP_URL", file.amqp_url.clone(), DEFAULT_AMQP_URL)),
            amqp_prefix,
            http_addr,
            public_url,
            sandbox_addr,
            sandbox_public_url,
            shutdown_deadline: file.shutdown_deadline,
            intake: file.intake,
            refunds: file.refunds,
            retention: file.retention,
            jobs: file.jobs,
            http: file.http,
            accounts: file.accounts,
            file: file_path,
            settlements: file.settlements,
            sandbox: match env("BNPL_SANDBOX").as_deref().map(str::trim) {
                None | Some("" | "0" | "false") => false,
                Some("1" | "true") => true,
                Some(other) => {
                    return Err(ConfigError::Env {
                        name: "BNPL_SANDBOX",
                        problem: format!("{other:?} is not 1, true, 0 or false"),
                    })
                }
            },
        };
        let mut config = config;
        // `BNPL_REFUND_USERS` (comma-separated) replaces the file's refund allow-list.
        if let Some(users) = env("BNPL_REFUND_USERS") {
            config.refunds.allowed_users = users
                .split(',')
                .map(str::trim)
                .filter(|user| !user.is_empty())
                .map(str::to_owned)
                .collect();
        }
        config.accounts.validate()?;
        // `basic.qos(0)` is "no limit": every waiting command would be taken at once, each in
        // its own task, with memory bounded by nothing.
        if config.intake.prefetch == 0 || config.intake.concurrency == 0 {
            return Err(ConfigError::Invalid {
                key: "intake.prefetch".to_owned(),
                problem: "intake.prefetch and intake.concurrency must be at least 1".to_owned(),
            });
        }
        Ok(config)
    }

    /// The user `BNPL_AMQP_URL` connects as: the only `user_id` RabbitMQ lets this process put on
    /// what it publishes.
    pub fn amqp_user(&self) -> String {
        crate::messaging::supervisor::user_of(&self.amqp_url)
    }

    /// Whether provider calls go to configured accounts or to the in-process sandbox. The sandbox
    /// is never a silent default: with no account and no sandbox flag, or with both, there is no
    /// answer (contract §6), and `bnpl serve` exits 2.
    pub fn provider_mode(&self) -> Result<ProviderMode, ModeError> {
        match (self.accounts.is_empty(), self.sandbox) {
            (false, false) => Ok(ProviderMode::Configured),
            (true, true) => Ok(ProviderMode::InProcessSandbox),
            (true, false) => Err(ModeError::NoProvider),
            (false, true) => Err(ModeError::Both),
        }
    }
}

/// Names are used verbatim in AMQP exchange and queue names, so keep them to a safe alphabet.
fn validate_prefix(prefix: &str) -> Result<(), ConfigError> {
    let valid = !prefix.is_empty()
        && prefix.len() <= 64
        && prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if valid {
        Ok(())
    } else {
        Err(ConfigError::Env {
            name: "BNPL_AMQP_PREFIX",
            problem: format!("{prefix:?} must be 1-64 characters of A-Z a-z 0-9 - _ ."),
        })
    }
}

#[cfg(test)]
mod tests;
