//! Hostile input, end to end (issue 12, contract §7): a real `bnpl serve` with two accounts per
//! provider, the project's sandbox over HTTP, commands over real AMQP and callbacks over real HTTP.
//!
//! After every probe the service must still be alive (a normal purchase completes within 30 s),
//! each refused command must have yielded exactly one dead letter (with `x-bnpl-reason`) and one
//! `command.rejected`, and the orchestrator's broker connection must never have dropped.

mod callbacks;
mod commands;
mod relay;

use crate::harness::*;
use crate::helpers::*;
use crate::processes::{second, write_two_account_config, Process};
use bnpl::sandbox::{ApsMerchant, EcommpayProject, SandboxHandle};
use lapin::BasicProperties;
use secrecy::SecretString;
use serde_json::Value;
use std::path::PathBuf;
use std::time::Duration;

/// Liveness, not speed: a normal purchase completes within this.
const LIVENESS: Duration = Duration::from_secs(30);
/// How long to wait for a second dead letter or rejection that must not come.
const QUIET: Duration = Duration::from_millis(700);

/// One orchestrator process under attack, and everything to watch it with.
pub struct Hostile {
    pub sandbox: SandboxHandle,
    pub process: Process,
    pub port: u16,
    pub probe: BrokerProbe,
    pub http: reqwest::Client,
    events: lapin::Consumer,
    dead: lapin::Consumer,
    seen: Vec<Value>,
    liveness_runs: u32,
    config: PathBuf,
    prefix: TestPrefix,
    pub db: TestDb,
}

/// What refusing one command produced.
pub struct Refusal {
    pub dead_letter: Option<lapin::message::Delivery>,
    pub rejected: Value,
}

impl Hostile {
    /// A sandbox playing two ecommpay projects and two APS merchants (the customer finishes
    /// redirects only when told: `customer_finishes`), and `bnpl serve` configured with both.
    pub async fn start() -> Hostile {
        let port = free_port();
        let app_url = format!("http://127.0.0.1:{port}");
        let mut settings = sandbox_config(&app_url);
        settings.ecommpay_projects.push(EcommpayProject {
            project_id: second::PROJECT,
            secret_key: SecretString::from(second::SECRET),
            callback_url: None,
        });
        settings.aps_merchants.push(ApsMerchant {
            access_code: second::ACCESS_CODE.to_owned(),
            merchant_identifier: second::MERCHANT.to_owned(),
            request_phrase: SecretString::from(second::REQUEST_PHRASE),
            response_phrase: SecretString::from(second::RESPONSE_PHRASE),
            sha_type: bnpl::providers::aps::signature::ShaType::Sha256,
            notification_url: Some(format!("{app_url}/callbacks/aps")),
        });
        let sandbox = bnpl::sandbox::spawn(settings).await.expect("sandbox starts");
        let db = TestDb::create().await;
        let prefix = TestPrefix::new();
        let config = write_two_account_config(sandbox.base_url());
        let probe = BrokerProbe::new(prefix.topology()).await;
        let process = Process::start(&db, &prefix, &config, port, None).await;
        let events = probe.subscribe_events().await;
        let dead = probe.consume(&prefix.topology().dead()).await;
        Hostile {
            sandbox,
            process,
            port,
            probe,
            http: reqwest::Client::new(),
            events,
            dead,
            seen: Vec::new(),
            liveness_runs: 0,
            config,
            prefix,
            db,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub async fn publish(&self, command_type: &str, body: &[u8]) {
        let guest = BasicProperties::default().with_user_id("guest".into());
        self.probe.publish_command(command_type, body, guest).await;
    }

    /// Waits for an event of `wanted` type about `key` (a payment or refund id).
    pub async fn event(&mut self, key: &str, wanted: &str) -> Value {
        let deadline = tokio::time::Instant::now() + LIVENESS;
        loop {
            if let Some(found) = self
                .seen
                .iter()
                .find(|e| (e["payment_id"] == key || e["refund_id"] == key) && e["type"] == wanted)
            {
                return found.clone();
            }
            let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
            let Some(delivery) = next_delivery(&mut self.events, remaining).await else {
                let about: Vec<&Value> = self.seen.iter().filter(|e| e["payment_id"] == key).collect();
                panic!("no {wanted} for {key} within {LIVENESS:?}; saw {about:?}");
            };
            self.seen.push(json_body(&delivery));
        }
    }

    /// Takes every event already delivered.
    async fn drain_events(&mut self, quiet: Duration) {
        while let Some(delivery) = next_delivery(&mut self.events, quiet).await {
            self.seen.push(json_body(&delivery));
        }
    }

    fn rejections(&self) -> usize {
        self.seen.iter().filter(|e| e["type"] == "command.rejected").count()
    }

    /// Publishes a command that must be refused, and returns its one dead letter (when
    /// `dead_lettered`) and its one `command.rejected`; fails on a second of either.
    pub async fn refused(&mut self, command_type: &str, body: &[u8], dead_lettered: bool) -> Refusal {
        self.drain_events(Duration::from_millis(50)).await;
        let before = self.rejections();
        self.publish(command_type, body).await;
        let dead_letter = if dead_lettered {
            let delivery = next_delivery(&mut self.dead, LIVENESS).await;
            let delivery = delivery.unwrap_or_else(|| panic!("no dead letter for a refused {command_type}"));
            assert!(header(&delivery, "x-bnpl-reason").is_some(), "the dead letter says why");
            Some(delivery)
        } else {
            None
        };
        let deadline = tokio::time::Instant::now() + LIVENESS;
        while self.rejections() == before {
            let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
            let delivery = next_delivery(&mut self.events, remaining)
                .await
                .unwrap_or_else(|| panic!("no command.rejected for a refused {command_type}"));
            self.seen.push(json_body(&delivery));
        }
        let rejected = self
            .seen
            .iter()
            .rfind(|e| e["type"] == "command.rejected")
            .cloned()
            .unwrap_or_default();
        // Exactly one of each: nothing more arrives while the service does other work.
        self.still_alive().await;
        self.drain_events(QUIET).await;
        assert_eq!(self.rejections(), before + 1, "exactly one command.rejected");
        assert!(
            next_delivery(&mut self.dead, QUIET).await.is_none(),
            "exactly one dead letter per refused command"
        );
        Refusal { dead_letter, rejected }
    }

    /// A normal humm purchase still completes within [`LIVENESS`], and the broker connection
    /// has never dropped.
    pub async fn still_alive(&mut self) {
        self.liveness_runs += 1;
        let payment_id = format!("alive-{}", self.liveness_runs);
        self.publish(
            "purchase.create",
            humm_purchase(&payment_id, 15000).to_string().as_bytes(),
        )
        .await;
        self.event(&payment_id, "payment.action_required").await;
        self.customer_finishes(&payment_id, "success").await;
        self.event(&payment_id, "payment.succeeded").await;
        assert_eq!(
            self.metric("bnpl_broker_connections_lost_total").await,
            Some(0.0),
            "the orchestrator's broker connection never dropped"
        );
    }

    /// The customer finishes the humm redirect at the sandbox.
    pub async fn customer_finishes(&self, payment_id: &str, outcome: &str) {
        let url = self.sandbox.url(&format!("/sandbox/humm/{payment_id}/finish"));
        let response = self
            .http
            .post(url)
            .json(&serde_json::json!({ "outcome": outcome }))
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "{}", response.status());
    }

    /// The text of the process's `/metrics` (empty when it does not answer).
    async fn metrics_text(&self) -> String {
        match self.http.get(self.url("/metrics")).send().await {
            Ok(response) => response.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    /// One sample of a metric without labels, from `/metrics`.
    pub async fn metric(&self, name: &str) -> Option<f64> {
        let text = self.metrics_text().await;
        text.lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
    }

    /// The sum of a labelled counter's samples whose labels contain every one of `labels`.
    pub async fn metric_with(&self, name: &str, labels: &[&str]) -> f64 {
        let text = self.metrics_text().await;
        text.lines()
            .filter(|line| line.starts_with(&format!("{name}{{")))
            .filter(|line| labels.iter().all(|label| line.contains(label)))
            .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    pub async fn status_of(&self, payment_id: &str) -> String {
        let pool = self.db.pool().await;
        let status = sqlx::query_scalar("SELECT status FROM payments WHERE payment_id = $1")
            .bind(payment_id)
            .fetch_one(&pool)
            .await
            .unwrap();
        pool.close().await;
        status
    }

    pub async fn stop(mut self) {
        self.process.kill().await;
        let _ = std::fs::remove_file(&self.config);
        drop(self.prefix);
    }
}
