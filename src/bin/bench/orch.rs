//! The orchestrator under test, started in-process (`bnpl::app::start` with every role), as the
//! integration tests start it; it shares this process with the sandbox and the load.

use super::env::{self, BenchDb, Servers};
use bnpl::app::Running;
use bnpl::config::Config;
use bnpl::messaging::Topology;
use bnpl::workers::Role;
use std::net::SocketAddr;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub struct Orchestrator {
    pub addr: SocketAddr,
    pub topology: Topology,
    running: Option<Running>,
    token: CancellationToken,
}

/// Starts an orchestrator on `db` and `prefix` whose humm account is the sandbox at `sandbox_url`.
pub async fn start(servers: &Servers, db: &BenchDb, prefix: &str, sandbox_url: &str) -> anyhow::Result<Orchestrator> {
    let config = env::orchestrator_config(db, prefix, &servers.amqp_url, "127.0.0.1:0", sandbox_url)?;
    start_with(config).await
}

pub async fn start_with(config: Config) -> anyhow::Result<Orchestrator> {
    let topology = Topology::new(config.amqp_prefix.clone(), config.intake.delivery_limit);
    let token = CancellationToken::new();
    let running = bnpl::app::start(config, &Role::ALL, token.clone()).await?;
    let addr = running
        .http_addr
        .ok_or_else(|| anyhow::anyhow!("the http role did not start"))?;
    let http = reqwest::Client::new();
    env::wait_ready(&http, &format!("http://{addr}/readyz"), Duration::from_secs(30)).await?;
    Ok(Orchestrator {
        addr,
        topology,
        running: Some(running),
        token,
    })
}

impl Orchestrator {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub async fn stop(mut self) {
        self.token.cancel();
        if let Some(running) = self.running.take() {
            if let Err(error) = running.wait().await {
                eprintln!("orchestrator stop: {error}");
            }
        }
    }
}

/// A counter of the in-process Prometheus registry: the sum of every series of `name` whose
/// labels contain all of `labels` (e.g. `kind="status_check"`).
pub fn metric(name: &str, labels: &[&str]) -> f64 {
    let text = bnpl::telemetry::metrics_handle().render();
    text.lines()
        .filter(|line| line.starts_with(name) && !line.starts_with('#'))
        .filter(|line| {
            let rest = &line[name.len()..];
            (rest.starts_with('{') || rest.starts_with(' ')) && labels.iter().all(|label| line.contains(label))
        })
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}
