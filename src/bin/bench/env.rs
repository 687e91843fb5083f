//! The bench's environment: its own databases and AMQP prefixes (cleaned up at the end), the
//! sandbox and orchestrator configurations, and process/database counters.

use anyhow::Context as _;
use bnpl::config::{AccountTiming, CallLimits, Config, EcommpayAccountConfig};
use bnpl::messaging::Topology;
use bnpl::sandbox::{AutoCustomer, EcommpayProject, HummSettings, SandboxConfig};
use lapin::options::{ExchangeDeleteOptions, QueueDeleteOptions};
use lapin::{Connection, ConnectionProperties};
use secrecy::SecretString;
use serde_json::{json, Value};
use sqlx::{Connection as _, PgConnection};
use std::collections::HashMap;
use std::time::Duration;
use url::Url;

pub const PROJECT: u64 = 1001;
pub const SECRET: &str = "bench-ecommpay-secret";
/// Every purchase is 150.00 GBP.
pub const AMOUNT: i64 = 15_000;

/// Where the shared servers are (overridable, like the tests' constants).
#[derive(Debug, Clone)]
pub struct Servers {
    pub admin_url: String,
    pub pg_base: String,
    pub amqp_url: String,
}

impl Servers {
    pub fn from_env() -> Self {
        let var = |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.to_owned());
        Self {
            admin_url: var(
                "BENCH_ADMIN_DATABASE_URL",
                "postgres://postgres@127.0.0.1:5432/postgres",
            ),
            pg_base: var("BENCH_DATABASE_BASE", "postgres://postgres@127.0.0.1:5432"),
            amqp_url: var("BENCH_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2f"),
        }
    }

    pub async fn admin(&self) -> anyhow::Result<PgConnection> {
        PgConnection::connect(&self.admin_url)
            .await
            .context("connecting to the admin database")
    }

    /// Creates `bench_<uuid>`; the caller drops it with [`Servers::drop_database`].
    pub async fn create_database(&self) -> anyhow::Result<BenchDb> {
        let name = format!("bench_{}", uuid::Uuid::new_v4().simple());
        let mut admin = self.admin().await?;
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await?;
        Ok(BenchDb {
            url: format!("{}/{name}", self.pg_base),
            name,
        })
    }

    pub async fn drop_database(&self, db: &BenchDb) {
        if let Ok(mut admin) = self.admin().await {
            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", db.name))
                .execute(&mut admin)
                .await;
        }
    }

    /// `xact_commit` of a database (flushed statistics; see `docs/benchmarks.md`).
    pub async fn commits(&self, db: &BenchDb) -> anyhow::Result<i64> {
        let mut admin = self.admin().await?;
        let _ = sqlx::query("SELECT pg_stat_clear_snapshot()").execute(&mut admin).await;
        let commits: Option<i64> = sqlx::query_scalar("SELECT xact_commit FROM pg_stat_database WHERE datname = $1")
            .bind(&db.name)
            .fetch_optional(&mut admin)
            .await?;
        Ok(commits.unwrap_or(0))
    }

    pub async fn amqp(&self) -> anyhow::Result<Connection> {
        let properties = ConnectionProperties::default()
            .with_executor(tokio_executor_trait::Tokio::current())
            .with_reactor(tokio_reactor_trait::Tokio);
        Connection::connect(&self.amqp_url, properties)
            .await
            .context("connecting to RabbitMQ")
    }

    /// Deletes every queue and exchange of `topology` plus `extra_queues` / `extra_exchanges`.
    pub async fn delete_prefix(&self, topology: &Topology, extra_queues: &[String], extra_exchanges: &[String]) {
        let Ok(connection) = self.amqp().await else {
            return;
        };
        for queue in topology.queues().iter().chain(extra_queues) {
            if let Ok(channel) = connection.create_channel().await {
                let _ = channel.queue_delete(queue, QueueDeleteOptions::default()).await;
            }
        }
        for exchange in topology.exchanges().iter().chain(extra_exchanges) {
            if let Ok(channel) = connection.create_channel().await {
                let _ = channel
                    .exchange_delete(exchange, ExchangeDeleteOptions::default())
                    .await;
            }
        }
        let _ = connection.close(200, "bench clean-up").await;
    }
}

/// A database of the bench's own.
#[derive(Debug, Clone)]
pub struct BenchDb {
    pub name: String,
    pub url: String,
}

/// A random AMQP prefix.
pub fn random_prefix() -> String {
    format!("bench{}", &uuid::Uuid::new_v4().simple().to_string()[..10])
}

/// The sandbox: one ecommpay project, the customer played at once (or not), refunds that take
/// `refund_ms`, real time otherwise (no threshold declines during a run).
pub fn sandbox_config(auto_customer: bool, refund_ms: u64) -> SandboxConfig {
    SandboxConfig {
        ecommpay_projects: vec![EcommpayProject {
            project_id: PROJECT,
            secret_key: SecretString::from(SECRET),
            callback_url: None,
        }],
        humm: HummSettings {
            refund_processing_secs: refund_ms as f64 / 1000.0,
            ..HummSettings::default()
        },
        auto_customer: AutoCustomer {
            enabled: auto_customer,
            success_ratio: 1.0,
            delay_secs: 0.0,
        },
        ledger_capacity: 500_000,
        max_records: 500_000,
        ..SandboxConfig::default()
    }
}

/// The orchestrator's configuration: its own database and prefix, HTTP on `http_addr`, one humm
/// account at the sandbox with call limits out of the way.
pub fn orchestrator_config(
    db: &BenchDb,
    prefix: &str,
    amqp_url: &str,
    http_addr: &str,
    sandbox: &str,
) -> anyhow::Result<Config> {
    let env: HashMap<&str, String> = HashMap::from([
        ("BNPL_DATABASE_URL", db.url.clone()),
        ("BNPL_AMQP_URL", amqp_url.to_owned()),
        ("BNPL_AMQP_PREFIX", prefix.to_owned()),
        ("BNPL_HTTP_ADDR", http_addr.to_owned()),
    ]);
    let mut config = Config::load(|name| env.get(name).cloned())?;
    config.shutdown_deadline = Duration::from_secs(15);
    let base = Url::parse(&format!("{sandbox}/"))?;
    config.accounts.humm.insert("default".to_owned(), humm_account(&base)?);
    config.refunds.allowed_users = vec!["guest".to_owned()];
    Ok(config)
}

pub fn humm_account(base: &Url) -> anyhow::Result<EcommpayAccountConfig> {
    Ok(EcommpayAccountConfig {
        project_id: PROJECT,
        secret_key: SecretString::from(SECRET),
        gate_base_url: base.clone(),
        payment_page_url: base.join("payment")?,
        refund_path: "/v2/payment/bnpl/humm/refund".to_owned(),
        previous: None,
        adopt_external: false,
        refund_mode: bnpl::config::RefundMode::Api,
        timing: AccountTiming::default(),
        limits: CallLimits {
            max_concurrent_calls: 1_000,
            calls_per_second: 1_000_000,
            ..CallLimits::default()
        },
    })
}

/// A valid humm Gate `purchase.create` body.
pub fn humm_purchase(payment_id: &str) -> Value {
    json!({
        "payment_id": payment_id,
        "provider": "humm",
        "account": "default",
        "flow": "gate",
        "amount": {"minor": AMOUNT, "currency": "GBP"},
        "customer": {"id": "cust-42", "first_name": "Jane", "last_name": "Doe", "ip_address": "203.0.113.7"},
        "description": "Order",
        "return_url": "https://shop.example/checkout/return",
        "metadata": {"order_ref": payment_id}
    })
}

/// A signed ecommpay final sale callback (success) for `payment_id`, as the sandbox sends it.
pub fn sale_callback(payment_id: &str, operation_id: u64) -> Value {
    let date = chrono::Utc::now()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        .replace('Z', "+0000");
    let sum = json!({"amount": AMOUNT, "currency": "GBP"});
    let mut body = json!({
        "customer": {"id": "cust-42"},
        "project_id": PROJECT,
        "payment": {
            "id": payment_id, "type": "bnpl", "status": "success", "date": date, "method": "bnpl",
            "sum": sum, "description": "Order"
        },
        "operation": {
            "sum_initial": sum, "sum_converted": sum, "code": "0", "message": "Success",
            "provider": {"id": 16891, "payment_id": format!("PR{operation_id}"), "auth_code": ""},
            "id": operation_id, "type": "sale", "status": "success", "date": date, "created_date": date,
            "request_id": format!("bench-request-{operation_id}")
        }
    });
    bnpl::providers::ecommpay::signature::sign_in_place(&mut body, &SecretString::from(SECRET));
    body
}

/// CPU seconds (user + system) this process has used.
pub fn process_cpu_secs() -> f64 {
    cpu_secs_of("self")
}

/// CPU seconds (user + system) a process (`self` or a pid) has used.
fn cpu_secs_of(pid: &str) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    // After the command name: state is field 3, utime 14, stime 15 (1-based in proc(5)).
    let ticks = |index: usize| fields.get(index).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// CPU seconds of the servers' processes on this machine, by pid: PostgreSQL (every backend and
/// helper) and RabbitMQ (the Erlang VM). Two snapshots bracket a phase; see [`ServerCpu::since`].
#[derive(Debug, Clone, Default)]
pub struct ServerCpu {
    postgres: std::collections::HashMap<u32, f64>,
    rabbitmq: std::collections::HashMap<u32, f64>,
}

impl ServerCpu {
    pub fn snapshot() -> Self {
        let mut cpu = Self::default();
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return cpu;
        };
        for entry in entries.flatten() {
            let Some(pid) = entry.file_name().to_str().and_then(|name| name.parse::<u32>().ok()) else {
                continue;
            };
            let program = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let program = String::from_utf8_lossy(program.split(|byte| *byte == 0).next().unwrap_or_default());
            let group = if program.contains("postgres") {
                &mut cpu.postgres
            } else if program.contains("beam") || program.contains("erlang") {
                &mut cpu.rabbitmq
            } else {
                continue;
            };
            group.insert(pid, cpu_secs_of(&pid.to_string()));
        }
        cpu
    }

    /// CPU seconds (PostgreSQL, RabbitMQ) used since `earlier`. A process that started since
    /// counts from zero; one that ended since is lost (backends live as long as their pool).
    pub fn since(&self, earlier: &Self) -> (f64, f64) {
        let delta = |now: &std::collections::HashMap<u32, f64>, then: &std::collections::HashMap<u32, f64>| {
            now.iter()
                .map(|(pid, secs)| secs - then.get(pid).copied().unwrap_or(0.0))
                .filter(|secs| *secs > 0.0)
                .sum()
        };
        (
            delta(&self.postgres, &earlier.postgres),
            delta(&self.rabbitmq, &earlier.rabbitmq),
        )
    }
}

/// Busy and total jiffies of the whole machine (every process, other agents included).
pub fn machine_cpu() -> (f64, f64) {
    let Ok(stat) = std::fs::read_to_string("/proc/stat") else {
        return (0.0, 0.0);
    };
    let values: Vec<f64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    let total: f64 = values.iter().sum();
    let idle = values.get(3).copied().unwrap_or(0.0) + values.get(4).copied().unwrap_or(0.0);
    (total - idle, total)
}

/// `VmRSS` and `VmHWM` (peak) of a process, in MiB.
pub fn rss_mib(pid: &str) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|line| line.starts_with(name))
            .and_then(|line| line.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Percentile `p` (0..=100) of sorted durations, in ms.
pub fn percentile_ms(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() as f64 - 1.0)).round() as usize;
    sorted[rank.min(sorted.len() - 1)].as_secs_f64() * 1000.0
}

/// A free loopback port.
pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// GETs `url` until it answers 200 or `deadline` passes.
pub async fn wait_ready(http: &reqwest::Client, url: &str, deadline: Duration) -> anyhow::Result<()> {
    let started = tokio::time::Instant::now();
    loop {
        if let Ok(response) = http.get(url).send().await {
            if response.status().is_success() {
                return Ok(());
            }
        }
        if started.elapsed() > deadline {
            anyhow::bail!("{url} not ready within {deadline:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
