//! Scenario 5: resident memory of a real `bnpl serve` process (spawned from `--bnpl-binary`,
//! configured by environment and a TOML file pointing at this process's sandbox, customer never
//! finishing) at each level of payments awaiting callbacks. The first `--memory-real` payments go
//! through the whole flow (command → sale at the sandbox → intermediate callback); the rest are
//! inserted straight into the database in the state those reach (`action_required`, a status check
//! scheduled), because 100,000 real purchases take too long on this machine. At each level a
//! further 200 real purchases run through the process before RSS is read.

use super::env::{self, Servers};
use super::load::{self, EventProbe};
use super::Args;
use bnpl::messaging::Topology;
use sqlx::postgres::PgPoolOptions;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const PROBE_PURCHASES: usize = 200;

#[derive(Debug, Clone, Default)]
pub struct MemoryReport {
    /// (payments awaiting callbacks, RSS MiB, peak RSS MiB)
    pub levels: Vec<(i64, f64, f64)>,
}

pub async fn run(servers: &Servers, args: &Args) -> anyhow::Result<MemoryReport> {
    let sandbox = bnpl::sandbox::spawn(env::sandbox_config(false, 20)).await?;
    let db = servers.create_database().await?;
    let prefix = env::random_prefix();
    let config_path = std::env::temp_dir().join(format!("{prefix}.toml"));
    let result = async {
        std::fs::write(
            &config_path,
            format!(
                "[accounts.humm.default]\nproject_id = {}\nsecret_key = \"{}\"\ngate_base_url = \"{}/\"\n\
                 payment_page_url = \"{}/payment\"\n[accounts.humm.default.limits]\n\
                 max_concurrent_calls = 1000\ncalls_per_second = 1000000\n",
                env::PROJECT,
                env::SECRET,
                sandbox.base_url(),
                sandbox.base_url()
            ),
        )?;
        let port = env::free_port()?;
        let child = Command::new(&args.bnpl_binary)
            .arg("serve")
            .env("BNPL_DATABASE_URL", &db.url)
            .env("BNPL_AMQP_URL", &servers.amqp_url)
            .env("BNPL_AMQP_PREFIX", &prefix)
            .env("BNPL_HTTP_ADDR", format!("127.0.0.1:{port}"))
            .env("BNPL_CONFIG", &config_path)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()?;
        let guard = ChildGuard(child);
        let pid = guard.0.id().to_string();
        env::wait_ready(
            &reqwest::Client::new(),
            &format!("http://127.0.0.1:{port}/readyz"),
            Duration::from_secs(60),
        )
        .await?;
        let topology = Topology::new(prefix.clone(), 20);
        let pool = PgPoolOptions::new().max_connections(4).connect(&db.url).await?;
        let mut report = MemoryReport::default();
        let real_first = args.memory_real;
        real_purchases(servers, &topology, real_first).await?;
        for level in args
            .memory_levels
            .split(',')
            .filter_map(|l| l.trim().parse::<i64>().ok())
        {
            let awaiting: i64 = sqlx::query_scalar("SELECT count(*) FROM payments WHERE status = 'action_required'")
                .fetch_one(&pool)
                .await?;
            let missing = level - awaiting - PROBE_PURCHASES as i64;
            if missing > 0 {
                insert_awaiting(&pool, &prefix, awaiting, missing).await?;
            }
            real_purchases(servers, &topology, PROBE_PURCHASES).await?;
            tokio::time::sleep(Duration::from_secs(3)).await;
            let awaiting: i64 = sqlx::query_scalar("SELECT count(*) FROM payments WHERE status = 'action_required'")
                .fetch_one(&pool)
                .await?;
            let (rss, peak) = env::rss_mib(&pid);
            report.levels.push((awaiting, rss, peak));
            eprintln!("memory: {awaiting} awaiting → RSS {rss:.1} MiB (peak {peak:.1})");
        }
        pool.close().await;
        drop(guard);
        anyhow::Ok(report)
    }
    .await;
    let _ = std::fs::remove_file(&config_path);
    tokio::time::sleep(Duration::from_secs(1)).await;
    servers.drop_database(&db).await;
    servers.delete_prefix(&Topology::new(prefix, 20), &[], &[]).await;
    let _ = sandbox.shutdown().await;
    result
}

async fn real_purchases(servers: &Servers, topology: &Topology, n: usize) -> anyhow::Result<()> {
    let mut probe = EventProbe::subscribe(servers.amqp().await?, &topology.events()).await?;
    let publisher = servers.amqp().await?;
    let ids = load::payment_ids("m", n);
    let sent = load::publish_purchases(&publisher, &topology.commands(), &ids).await?;
    let seen = probe
        .wait_for(
            &sent,
            |kind| kind == "payment.action_required",
            Duration::from_secs(120 + n as u64 / 10),
        )
        .await;
    anyhow::ensure!(
        seen.len() == n,
        "only {} of {n} purchases reached action_required",
        seen.len()
    );
    Ok(())
}

/// Payments in the state a humm Gate purchase reaches when the customer has the redirect, each
/// with its status check scheduled (due in 5 min … 1 h, so none runs during the measurement).
async fn insert_awaiting(pool: &sqlx::PgPool, prefix: &str, from: i64, count: i64) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO payments (payment_id, provider, account, flow, amount_minor, currency, status, command_hash,
                               customer, metadata, provider_request_id, action, last_sequence, threshold_at)
         SELECT $1 || '-' || g, 'humm', 'default', 'gate', 15000, 'GBP', 'action_required', md5(g::text),
                '{\"id\":\"cust-42\",\"first_name\":\"Jane\",\"last_name\":\"Doe\",\"ip_address\":\"203.0.113.7\"}'::jsonb,
                jsonb_build_object('order_ref', $1 || '-' || g), 'req-' || g,
                '{\"kind\":\"redirect\",\"method\":\"GET\",\"url\":\"http://sandbox/humm\",\"body\":{}}'::jsonb,
                3, now() + interval '24 hours'
         FROM generate_series($2, $3) g",
    )
    .bind(format!("{prefix}-ins"))
    .bind(from)
    .bind(from + count - 1)
    .execute(pool)
    .await?;
    sqlx::query(
        "INSERT INTO jobs (kind, payment_id, dedupe_key, payload, available_at, max_attempts)
         SELECT 'status_check', $1 || '-' || g, 'status_check:' || $1 || '-' || g, '{\"round\": 0}'::jsonb,
                now() + interval '5 minutes' + (g % 3300) * interval '1 second', 1000
         FROM generate_series($2, $3) g",
    )
    .bind(format!("{prefix}-ins"))
    .bind(from)
    .bind(from + count - 1)
    .execute(pool)
    .await?;
    Ok(())
}

/// Stops the `bnpl serve` child (SIGTERM by its pid, then SIGKILL if it lingers) when dropped.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let pid = self.0.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        for _ in 0..100 {
            if matches!(self.0.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
