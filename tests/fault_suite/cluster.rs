//! The system under test: the provider sandbox in this process, two real `bnpl serve` processes
//! sharing one database and one AMQP prefix, and a small HTTP load balancer in front of them.
//!
//! Callbacks reach the processes two ways, as they would in production: process A announces the
//! balancer as its `BNPL_PUBLIC_URL` (a dead backend is skipped), process B announces its own
//! address, so ecommpay callbacks for B's payments hit a dead port while B is down and only get
//! through on the provider's retry schedule (scaled by the sandbox's `time_scale`).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use bnpl::providers::aps::signature::ShaType;
use bnpl::sandbox::{ApsMerchant, EcommpayProject, FaultRates, SandboxConfig, ValuSettings};
use secrecy::SecretString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub const PROJECT: u64 = 1001;
pub const SECRET: &str = "fault-suite-ecommpay-secret";
pub const ACCESS_CODE: &str = "FAULTSUITEACCESS1";
pub const MERCHANT: &str = "FAULTSUITEMID";
pub const REQUEST_PHRASE: &str = "fault-suite-request-phrase";
pub const RESPONSE_PHRASE: &str = "fault-suite-response-phrase";
/// A second ecommpay project and APS merchant, configured but never used for payments: their
/// correctly signed callbacks about the first accounts' payments must change nothing.
pub const SECOND_PROJECT: u64 = 2002;
pub const SECOND_SECRET: &str = "fault-suite-second-ecommpay-secret";
pub const SECOND_ACCESS_CODE: &str = "FAULTSUITEACCESS2";
pub const SECOND_MERCHANT: &str = "FAULTSUITEMID2";
pub const SECOND_REQUEST_PHRASE: &str = "fault-suite-second-request-phrase";
pub const SECOND_RESPONSE_PHRASE: &str = "fault-suite-second-response-phrase";

/// Provider time runs 10,000x faster: humm's 24 h threshold is 8.64 s, ecommpay's callback
/// retries (10 s, then growing to 4 h) start at 1 ms and spread over ~95 s.
pub const TIME_SCALE: f64 = 0.000_1;

/// The sandbox: both providers, the automatic customer, and fault rates on top of the markers
/// the suite puts in its ids.
pub fn sandbox_config(balancer_url: &str, rates: FaultRates) -> SandboxConfig {
    let mut config = SandboxConfig {
        ecommpay_projects: vec![
            EcommpayProject {
                project_id: PROJECT,
                secret_key: SecretString::from(SECRET),
                callback_url: None,
            },
            EcommpayProject {
                project_id: SECOND_PROJECT,
                secret_key: SecretString::from(SECOND_SECRET),
                callback_url: None,
            },
        ],
        aps_merchants: vec![
            ApsMerchant {
                access_code: ACCESS_CODE.to_owned(),
                merchant_identifier: MERCHANT.to_owned(),
                request_phrase: SecretString::from(REQUEST_PHRASE),
                response_phrase: SecretString::from(RESPONSE_PHRASE),
                sha_type: ShaType::Sha256,
                notification_url: Some(format!("{balancer_url}/callbacks/aps")),
            },
            ApsMerchant {
                access_code: SECOND_ACCESS_CODE.to_owned(),
                merchant_identifier: SECOND_MERCHANT.to_owned(),
                request_phrase: SecretString::from(SECOND_REQUEST_PHRASE),
                response_phrase: SecretString::from(SECOND_RESPONSE_PHRASE),
                sha_type: ShaType::Sha256,
                notification_url: Some(format!("{balancer_url}/callbacks/aps")),
            },
        ],
        time_scale: TIME_SCALE,
        // 8 s of test time, like the orchestrator's otp_lifetime below.
        valu: ValuSettings {
            otp_lifetime_secs: 80_000.0,
            refund_processing_secs: 5_000.0,
            ..ValuSettings::default()
        },
        faults: rates,
        // Past humm's 10 s client timeout, so a stalled sale or refund is really uncertain.
        stall_ms: 12_000,
        slow_response_ms: 1_500,
        callback_timeout_ms: 3_000,
        ..SandboxConfig::default()
    };
    // One humm refund takes 1 s: long enough for a second one to try to overtake it.
    config.humm.refund_processing_secs = 10_000.0;
    config.auto_customer.enabled = true;
    config.auto_customer.success_ratio = 0.85;
    config.auto_customer.delay_secs = 3_000.0;
    config
}

/// The orchestrator's TOML file: both accounts at the sandbox, timings compressed to seconds.
/// The refund threshold is longer than the fault window's outages (database cuts, a PostgreSQL
/// restart): a refund that is merely waiting out an outage must not be parked for review, which
/// would (by design) block its whole queue for the rest of the run. Job leases are short (renewed
/// while a job runs), so a killed process's jobs are taken over well within the quiescence wait.
pub fn write_config(dir: &Path, sandbox_url: &str) -> PathBuf {
    let timing = r#"base_time = "1500ms"
threshold_time = "8s"
threshold_grace = "3s"
status_check_schedule = ["1s"]
refund_threshold = "60s"
otp_lifetime = "8s"
otp_attempts = 3"#;
    let text = format!(
        r#"shutdown_deadline = "5s"

[intake]
prefetch = 16
concurrency = 4

[refunds]
allowed_users = ["guest"]

[jobs]
lease = "10s"

[accounts.humm.default]
project_id = {PROJECT}
secret_key = "{SECRET}"
gate_base_url = "{sandbox_url}/"
payment_page_url = "{sandbox_url}/payment"
refund_path = "/v2/payment/bnpl/humm/refund"

[accounts.humm.default.timing]
{timing}

# The account the provider-outage phase takes down (outage.rs): a breaker quick enough to open
# within the outage and to probe several times.
[accounts.humm.default.limits.breaker]
failure_ratio = 0.5
min_calls = 5
window = "10s"
cool_down = "2s"

[accounts.valu.default]
base_url = "{sandbox_url}/FortAPI/paymentApi"
access_code = "{ACCESS_CODE}"
merchant_identifier = "{MERCHANT}"
request_phrase = "{REQUEST_PHRASE}"
response_phrase = "{RESPONSE_PHRASE}"
sha_type = "SHA-256"

[accounts.valu.default.timing]
{timing}

[accounts.humm.second]
project_id = {SECOND_PROJECT}
secret_key = "{SECOND_SECRET}"
gate_base_url = "{sandbox_url}/"
payment_page_url = "{sandbox_url}/payment"

[accounts.valu.second]
base_url = "{sandbox_url}/FortAPI/paymentApi"
access_code = "{SECOND_ACCESS_CODE}"
merchant_identifier = "{SECOND_MERCHANT}"
request_phrase = "{SECOND_REQUEST_PHRASE}"
response_phrase = "{SECOND_RESPONSE_PHRASE}"
"#
    );
    let path = dir.join("bnpl.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

/// One `bnpl serve` process, restartable on the same port.
pub struct Node {
    pub name: &'static str,
    pub port: u16,
    env: Vec<(String, String)>,
    log: PathBuf,
    child: Option<tokio::process::Child>,
}

impl Node {
    pub fn new(name: &'static str, port: u16, env: Vec<(String, String)>, log: PathBuf) -> Self {
        Self {
            name,
            port,
            env,
            log,
            child: None,
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn start(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("open node log");
        let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_bnpl"))
            .arg("serve")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("BNPL_HTTP_ADDR", format!("127.0.0.1:{}", self.port))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .expect("spawn bnpl serve");
        self.child = Some(child);
    }

    /// SIGKILL: no shutdown hook runs, in-flight work is simply gone.
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.start_kill();
            let _ = child.wait().await;
        }
    }

    /// The exit status when the process ended on its own.
    pub fn exited(&mut self) -> Option<String> {
        let status = self.child.as_mut()?.try_wait().ok()??;
        self.child = None;
        Some(status.to_string())
    }

    pub async fn ready(&self, http: &reqwest::Client) -> bool {
        let answer = http
            .get(format!("{}/readyz", self.url()))
            .timeout(Duration::from_secs(3))
            .send()
            .await;
        answer.is_ok_and(|r| r.status().is_success())
    }

    /// Waits until /readyz answers 200; false after `deadline` or when the process died.
    pub async fn wait_ready(&mut self, http: &reqwest::Client, deadline: Duration) -> bool {
        let started = tokio::time::Instant::now();
        while started.elapsed() < deadline {
            if self.child.is_none() {
                return false;
            }
            if self.ready(http).await {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        false
    }
}

pub fn free_port() -> u16 {
    crate::helpers::free_port()
}

#[derive(Clone)]
struct Balancer {
    backends: Arc<Vec<String>>,
    next: Arc<AtomicUsize>,
    http: reqwest::Client,
}

/// A round-robin HTTP balancer over `backends` on a port of its own; a backend that refuses
/// the connection is skipped. Returns its base URL.
pub async fn spawn_balancer(backends: Vec<String>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind balancer");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let state = Balancer {
        backends: Arc::new(backends),
        next: Arc::new(AtomicUsize::new(0)),
        http: reqwest::Client::new(),
    };
    let app = axum::Router::new().fallback(forward).with_state(state);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    url
}

async fn forward(State(lb): State<Balancer>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
    let first = lb.next.fetch_add(1, Ordering::Relaxed);
    for offset in 0..lb.backends.len() {
        let backend = &lb.backends[(first + offset) % lb.backends.len()];
        let mut request = lb
            .http
            .request(method.clone(), format!("{backend}{path}"))
            .timeout(Duration::from_secs(15))
            .body(body.clone());
        // Every header but the hop's own (the admin API's bearer token among them).
        for (name, value) in headers.iter() {
            if !matches!(
                name.as_str(),
                "host" | "content-length" | "connection" | "transfer-encoding"
            ) {
                request = request.header(name.as_str(), value.as_bytes());
            }
        }
        match request.send().await {
            Ok(response) => {
                let status = StatusCode::from_u16(response.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
                let bytes = response.bytes().await.unwrap_or_default();
                return (status, bytes).into_response();
            }
            Err(error) if error.is_connect() => continue,
            // The backend died mid-request: like a real balancer, say so; the provider retries.
            Err(_) => return StatusCode::BAD_GATEWAY.into_response(),
        }
    }
    StatusCode::BAD_GATEWAY.into_response()
}
