//! What the suite does to the system while payments flow: SIGKILL and restart of either
//! `bnpl serve` process, closing our RabbitMQ connections, cutting our database, and (only when
//! `BNPL_FAULT_SERVER_RESTARTS=1`, as the serial step of `scripts/test` sets it) real restarts of
//! RabbitMQ (`stop_app`/`start_app`) and PostgreSQL (`pg_ctlcluster … restart`), design §1.

use crate::cluster::Node;
use crate::helpers::ADMIN_DATABASE_URL;
use crate::Tally;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sqlx::{Connection as _, PgConnection};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

/// How long a restarted process may take to report ready.
const READY_DEADLINE: Duration = Duration::from_secs(60);

/// Kills one of the processes every few seconds until `stop`, restarting it after a pause; also
/// restarts a process that died on its own (counted as an unexpected exit).
pub async fn killer(nodes: Arc<Vec<Mutex<Node>>>, tally: Arc<Tally>, seed: u64, stop: CancellationToken) {
    let mut rng = StdRng::seed_from_u64(seed);
    let http = reqwest::Client::new();
    loop {
        let pause = Duration::from_millis(rng.gen_range(2_500..6_000));
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(pause) => {}
        }
        let victim = rng.gen_range(0..nodes.len());
        let down_for = Duration::from_millis(rng.gen_range(200..2_000));
        let mut node = nodes[victim].lock().await;
        node.kill().await;
        tally.kills.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(down_for).await;
        restart(&mut node, &http, &tally).await;
    }
}

/// Restarts `node` until it reports ready.
pub async fn restart(node: &mut Node, http: &reqwest::Client, tally: &Tally) {
    for _ in 0..3 {
        node.start();
        tally.process_starts.fetch_add(1, Ordering::Relaxed);
        if node.wait_ready(http, READY_DEADLINE).await {
            return;
        }
        tally.note(format!(
            "process {} not ready within {READY_DEADLINE:?} after a restart",
            node.name
        ));
        node.kill().await;
    }
    panic!("process {} would not come back", node.name);
}

/// Restarts any process that ended on its own; each is a violation (a crash under faults).
pub async fn revive_exited(nodes: &[Mutex<Node>], http: &reqwest::Client, tally: &Tally) {
    for node in nodes {
        let mut node = node.lock().await;
        if let Some(status) = node.exited() {
            tally.unexpected_exits.fetch_add(1, Ordering::Relaxed);
            tally.note(format!("process {} exited on its own ({status})", node.name));
            restart(&mut node, http, tally).await;
        }
    }
}

/// One service fault.
#[derive(Debug, Clone, Copy)]
enum Outage {
    CloseConnections,
    CutDatabase,
    RestartRabbit,
    RestartPostgres,
}

/// Runs the service faults spread over `window`, one at a time, each undone before the next.
pub async fn services(prefix: String, db_name: String, window: Duration, tally: Arc<Tally>, seed: u64, restarts: bool) {
    let mut rng = StdRng::seed_from_u64(seed ^ 0x5eed);
    let mut plan = vec![
        Outage::CloseConnections,
        Outage::CutDatabase,
        Outage::CloseConnections,
        Outage::CutDatabase,
        Outage::CloseConnections,
    ];
    if restarts {
        plan.insert(1, Outage::RestartRabbit);
        plan.insert(4, Outage::RestartPostgres);
    }
    let slot = window / u32::try_from(plan.len() + 1).unwrap_or(1);
    for outage in plan {
        let jitter = Duration::from_millis(rng.gen_range(0..slot.as_millis().max(1) as u64 / 2));
        tokio::time::sleep(slot / 2 + jitter).await;
        match outage {
            Outage::CloseConnections => {
                let closed = close_connections_named(&prefix).await;
                tally.connections_closed.fetch_add(closed, Ordering::Relaxed);
                tally.broker_cuts.fetch_add(1, Ordering::Relaxed);
            }
            Outage::CutDatabase => {
                let secs = rng.gen_range(2_000..4_000);
                cut_database(&db_name, Duration::from_millis(secs)).await;
                tally.db_cuts.fetch_add(1, Ordering::Relaxed);
            }
            Outage::RestartRabbit => {
                restart_rabbit().await;
                tally.broker_restarts.fetch_add(1, Ordering::Relaxed);
            }
            Outage::RestartPostgres => {
                restart_postgres().await;
                tally.db_restarts.fetch_add(1, Ordering::Relaxed);
            }
        }
        tokio::time::sleep(slot / 2).await;
    }
}

/// Blocks new sessions to our database and ends the existing ones, for `how_long` (design §1:
/// the reliable switch, since a superuser ignores connection limits).
pub async fn cut_database(db_name: &str, how_long: Duration) {
    let mut admin = PgConnection::connect(ADMIN_DATABASE_URL)
        .await
        .expect("admin connection");
    sqlx::query(&format!("ALTER DATABASE {db_name} WITH ALLOW_CONNECTIONS false"))
        .execute(&mut admin)
        .await
        .expect("block connections");
    sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1")
        .bind(db_name)
        .execute(&mut admin)
        .await
        .expect("terminate sessions");
    tokio::time::sleep(how_long).await;
    allow_database(db_name).await;
}

pub async fn allow_database(db_name: &str) {
    for _ in 0..30 {
        if let Ok(mut admin) = PgConnection::connect(ADMIN_DATABASE_URL).await {
            let sql = format!("ALTER DATABASE {db_name} WITH ALLOW_CONNECTIONS true");
            if sqlx::query(&sql).execute(&mut admin).await.is_ok() {
                return;
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    panic!("could not allow connections to {db_name} again");
}

/// `rabbitmqctl close_connection` on every connection whose client properties mention `needle`
/// (the orchestrator names its connections `bnpl PREFIX roles`); returns how many.
pub async fn close_connections_named(needle: &str) -> u64 {
    let listing = rabbitmqctl(&[
        "list_connections",
        "--quiet",
        "--no-table-headers",
        "pid",
        "client_properties",
    ])
    .await;
    let mut closed = 0;
    for line in listing.lines().filter(|line| line.contains(needle)) {
        let pid = line.split('\t').next().unwrap_or_default();
        let _ = rabbitmqctl(&["close_connection", pid, "fault suite: broker connection lost"]).await;
        closed += 1;
    }
    closed
}

async fn rabbitmqctl(args: &[&str]) -> String {
    let output = tokio::process::Command::new("rabbitmqctl")
        .args(args)
        .output()
        .await
        .expect("rabbitmqctl runs");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

async fn succeeds(program: &str, args: &[&str]) -> bool {
    tokio::process::Command::new(program)
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .await
        .is_ok_and(|s| s.success())
}

/// A real RabbitMQ application restart; waits until the node is fully up again.
pub async fn restart_rabbit() {
    let _ = succeeds("rabbitmqctl", &["stop_app"]).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    ensure_rabbit_running().await;
}

/// Starts the RabbitMQ application if it is stopped and waits for it (also the clean-up path).
pub async fn ensure_rabbit_running() {
    for _ in 0..5 {
        let _ = succeeds("rabbitmqctl", &["start_app"]).await;
        if succeeds("rabbitmqctl", &["await_startup", "--timeout", "60"]).await
            && crate::helpers::amqp_connect().await.is_ok()
        {
            return;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    panic!("RabbitMQ did not come back after stop_app/start_app");
}

fn postgres_version() -> String {
    let mut versions: Vec<String> = std::fs::read_dir("/etc/postgresql")
        .map(|dir| {
            dir.filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
                .collect()
        })
        .unwrap_or_default();
    versions.sort_by_key(|v| v.parse::<u32>().unwrap_or(0));
    versions.pop().unwrap_or_else(|| "15".to_owned())
}

/// A real PostgreSQL restart; waits until it accepts connections again.
pub async fn restart_postgres() {
    let version = postgres_version();
    let args = ["--skip-systemctl-redirect", version.as_str(), "main", "restart"];
    for _ in 0..3 {
        let _ = succeeds("pg_ctlcluster", &args).await;
        for _ in 0..60 {
            if PgConnection::connect(ADMIN_DATABASE_URL).await.is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    panic!("PostgreSQL did not come back after a restart");
}
