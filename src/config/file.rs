//! The optional TOML file (`BNPL_CONFIG`): every key of contract §6 that is not a plain variable.
//!
//! Invariant: unknown keys are errors (`deny_unknown_fields`), and a parse error carries the file
//! path, line and key, so a wrong file stops start-up with a message that says where.

use super::accounts::ProviderAccounts;
use super::ConfigError;
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ConfigFile {
    pub database_url: Option<String>,
    pub amqp_url: Option<String>,
    pub amqp_prefix: Option<String>,
    pub http_addr: Option<String>,
    pub public_url: Option<String>,
    #[serde(default = "default_shutdown_deadline", with = "humantime_serde")]
    pub shutdown_deadline: Duration,
    #[serde(default)]
    pub intake: IntakeConfig,
    #[serde(default)]
    pub refunds: RefundPolicy,
    #[serde(default)]
    pub retention: RetentionConfig,
    #[serde(default)]
    pub jobs: JobsConfig,
    #[serde(default)]
    pub http: HttpConfig,
    #[serde(default)]
    pub accounts: ProviderAccounts,
    /// How each provider's settlement report reads (issue 20).
    #[serde(default)]
    pub settlements: crate::settlement::Mappings,
}

impl Default for ConfigFile {
    fn default() -> Self {
        Self {
            database_url: None,
            amqp_url: None,
            amqp_prefix: None,
            http_addr: None,
            public_url: None,
            shutdown_deadline: default_shutdown_deadline(),
            intake: IntakeConfig::default(),
            refunds: RefundPolicy::default(),
            retention: RetentionConfig::default(),
            jobs: JobsConfig::default(),
            http: HttpConfig::default(),
            accounts: ProviderAccounts::default(),
            settlements: crate::settlement::Mappings::default(),
        }
    }
}

impl ConfigFile {
    pub(super) fn read(path: PathBuf) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
            path: path.clone(),
            source,
        })?;
        toml::from_str(&text).map_err(|err| ConfigError::Parse {
            path,
            message: err.to_string(),
        })
    }
}

fn default_shutdown_deadline() -> Duration {
    Duration::from_secs(30)
}

/// RabbitMQ intake limits.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IntakeConfig {
    /// `basic.qos` prefetch per consumer: the most unacked commands one process holds.
    pub prefetch: u16,
    /// Commands processed at once per intake queue.
    pub concurrency: usize,
    /// The quorum queues' `x-delivery-limit`: a message that crashes its consumer this many
    /// times is dead-lettered instead of spinning (contract §1).
    pub delivery_limit: u32,
}

impl Default for IntakeConfig {
    fn default() -> Self {
        Self {
            prefetch: 64,
            concurrency: 16,
            delivery_limit: 20,
        }
    }
}

/// The durable job runner.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JobsConfig {
    /// Jobs run at once per process.
    pub concurrency: usize,
    /// How long a claimed job outlives the process that claimed it (design §1 "Leases, not
    /// timeouts"): the holder renews it every third of this while the job runs, so it only bounds
    /// how soon a dead process's jobs are taken over.
    #[serde(with = "humantime_serde")]
    pub lease: Duration,
}

impl Default for JobsConfig {
    fn default() -> Self {
        Self {
            concurrency: 32,
            lease: Duration::from_secs(30),
        }
    }
}

/// Who may issue refunds (contract §1 "Who may refund").
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RefundPolicy {
    /// AMQP `user_id`s allowed to publish `refund.create` and `refund.cancel`.
    pub allowed_users: Vec<String>,
}

/// How long raw callbacks and personal data are kept (default 90 days).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionConfig {
    #[serde(with = "humantime_serde")]
    pub raw_callbacks: Duration,
    #[serde(with = "humantime_serde")]
    pub personal_data: Duration,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        let ninety_days = Duration::from_secs(90 * 24 * 3600);
        Self {
            raw_callbacks: ninety_days,
            personal_data: ninety_days,
        }
    }
}

/// The HTTP server's view of the network in front of it, and its metrics.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// Load balancers and proxies (addresses or CIDR ranges) whose `X-Forwarded-For` is
    /// believed. From any other peer the header is ignored: anyone can write it, and the callback
    /// throttle must key on the real sender (contract §7).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Whether the dashboard's session cookie is `Secure`. Unset: when `BNPL_PUBLIC_URL` is
    /// `https`. A browser drops a `Secure` cookie set over plain HTTP (except on loopback).
    pub secure_cookie: Option<bool>,
    /// How often `/metrics`' database snapshot is refreshed (a scrape never queries the tables).
    #[serde(with = "humantime_serde")]
    pub metrics_refresh: Duration,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            trusted_proxies: Vec::new(),
            secure_cookie: None,
            metrics_refresh: Duration::from_secs(15),
        }
    }
}
