//! Real `bnpl serve` processes for crash tests: configured by a TOML file whose accounts point at
//! a test's sandbox, started and killed like a deployment would be.

use crate::harness::{ACCESS_CODE, MERCHANT, PROJECT, REQUEST_PHRASE, RESPONSE_PHRASE, SECRET};
use crate::helpers::*;
use std::path::PathBuf;
use std::time::Duration;

/// A config file for `bnpl serve` pointing at the sandbox on `sandbox_url`, with one humm account
/// `default` (project `PROJECT`) plus `extra_projects` more named `p<project id>`.
pub fn write_config_with(sandbox_url: &str, lease: &str, extra_projects: &[u64]) -> PathBuf {
    let mut text = format!(
        r#"
shutdown_deadline = "5s"
[intake]
concurrency = 4
[refunds]
allowed_users = ["guest"]
[jobs]
lease = "{lease}"
[accounts.humm.default]
project_id = {PROJECT}
secret_key = "{SECRET}"
gate_base_url = "{sandbox_url}/"
payment_page_url = "{sandbox_url}/payment"
[accounts.humm.default.timing]
base_time = "1500ms"
threshold_time = "8s"
threshold_grace = "3s"
status_check_schedule = ["1s"]
refund_threshold = "8s"
[accounts.valu.default]
base_url = "{sandbox_url}/FortAPI/paymentApi"
access_code = "{ACCESS_CODE}"
merchant_identifier = "{MERCHANT}"
request_phrase = "{REQUEST_PHRASE}"
response_phrase = "{RESPONSE_PHRASE}"
"#
    );
    for project in extra_projects {
        text.push_str(&format!(
            "[accounts.humm.p{project}]\nproject_id = {project}\nsecret_key = \"{SECRET}\"\ngate_base_url = \"{sandbox_url}/\"\npayment_page_url = \"{sandbox_url}/payment\"\n"
        ));
    }
    let path = std::env::temp_dir().join(format!("bnpl-it-{}.toml", uuid::Uuid::new_v4()));
    std::fs::write(&path, text).unwrap();
    path
}

/// The second ecommpay project and APS merchant of [`write_two_account_config`] (contract §7: a
/// callback signed by one account must not touch another's payments).
pub mod second {
    pub const PROJECT: u64 = 2002;
    pub const SECRET: &str = "it-second-project-secret";
    pub const ACCESS_CODE: &str = "ITACCESSCODE0002";
    pub const MERCHANT: &str = "ITMERCHANT2";
    pub const REQUEST_PHRASE: &str = "it-request-phrase-2";
    pub const RESPONSE_PHRASE: &str = "it-response-phrase-2";
}

/// [`write_config_with`] plus a second humm account `second` (project [`second::PROJECT`], its own
/// key) and a second valU account `second` (merchant [`second::MERCHANT`], its own phrases).
pub fn write_two_account_config(sandbox_url: &str) -> PathBuf {
    let path = write_config_with(sandbox_url, "30s", &[]);
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str(&format!(
        r#"
[accounts.humm.second]
project_id = {}
secret_key = "{}"
gate_base_url = "{sandbox_url}/"
payment_page_url = "{sandbox_url}/payment"
[accounts.valu.second]
base_url = "{sandbox_url}/FortAPI/paymentApi"
access_code = "{}"
merchant_identifier = "{}"
request_phrase = "{}"
response_phrase = "{}"
"#,
        second::PROJECT,
        second::SECRET,
        second::ACCESS_CODE,
        second::MERCHANT,
        second::REQUEST_PHRASE,
        second::RESPONSE_PHRASE,
    ));
    std::fs::write(&path, text).unwrap();
    path
}

/// One `bnpl serve` process.
pub struct Process {
    child: tokio::process::Child,
}

impl Process {
    /// Starts `bnpl serve` and waits until it is ready. `failpoints` arms `FAILPOINTS`.
    pub async fn start(
        db: &TestDb,
        prefix: &TestPrefix,
        config: &PathBuf,
        port: u16,
        failpoints: Option<&str>,
    ) -> Process {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_bnpl"));
        command
            .arg("serve")
            .env("BNPL_DATABASE_URL", &db.url)
            .env("BNPL_AMQP_PREFIX", &prefix.prefix)
            .env("BNPL_HTTP_ADDR", format!("127.0.0.1:{port}"))
            .env("BNPL_PUBLIC_URL", format!("http://127.0.0.1:{port}"))
            .env("BNPL_CONFIG", config)
            .env(
                "RUST_LOG",
                std::env::var("BNPL_TEST_PROCESS_LOG").unwrap_or_else(|_| "warn".to_owned()),
            )
            .kill_on_drop(true);
        match failpoints {
            Some(points) => command.env("FAILPOINTS", points),
            None => command.env_remove("FAILPOINTS"),
        };
        let child = command.spawn().expect("bnpl serve starts");
        let process = Process { child };
        let url = format!("http://127.0.0.1:{port}/readyz");
        eventually(Duration::from_secs(30), "bnpl serve ready", || async {
            reqwest::get(&url).await.map(|r| r.status() == 200).unwrap_or(false)
        })
        .await;
        process
    }

    /// Waits for the process to exit by itself (a failpoint aborted it); returns its status.
    #[cfg(feature = "failpoints")]
    pub async fn exited(&mut self, within: Duration) -> std::process::ExitStatus {
        tokio::time::timeout(within, self.child.wait())
            .await
            .expect("process exits")
            .unwrap()
    }

    pub async fn kill(&mut self) {
        let _ = self.child.kill().await;
    }
}

/// What the two-process tests start from: two free ports (the sandbox calls back on the first), a
/// sandbox whose customers finish every redirect with success, a fresh database and prefix, and a
/// config file ([`write_config_with`]) that points at that sandbox.
pub struct TwoProcessSetup {
    pub ports: (u16, u16),
    pub sandbox: bnpl::sandbox::SandboxHandle,
    pub db: TestDb,
    pub prefix: TestPrefix,
    pub config: PathBuf,
}

impl TwoProcessSetup {
    pub async fn new() -> Self {
        let ports = (crate::helpers::free_port(), crate::helpers::free_port());
        let mut sandbox_config = crate::harness::sandbox_config(&format!("http://127.0.0.1:{}", ports.0));
        sandbox_config.auto_customer.enabled = true;
        sandbox_config.auto_customer.success_ratio = 1.0;
        let sandbox = bnpl::sandbox::spawn(sandbox_config).await.unwrap();
        let config = write_config_with(sandbox.base_url(), "30s", &[]);
        Self {
            ports,
            sandbox,
            db: TestDb::create().await,
            prefix: TestPrefix::new(),
            config,
        }
    }
}

/// `GET` a sandbox control path (`/sandbox/ledger`, `/sandbox/requests`, …) as JSON.
pub async fn sandbox_json(sandbox: &bnpl::sandbox::SandboxHandle, path: &str) -> serde_json::Value {
    reqwest::get(sandbox.url(path)).await.unwrap().json().await.unwrap()
}
