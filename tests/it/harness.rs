//! An orchestrator wired to its own provider sandbox, both on loopback ports: the setting of every
//! purchase and refund test. Provider integration is exercised over HTTP, never through fakes.

use crate::helpers::*;
use bnpl::config::{AccountTiming, ApsAccountConfig, CallLimits, EcommpayAccountConfig};
use bnpl::providers::aps::signature::ShaType;
use bnpl::sandbox::{ApsMerchant, EcommpayProject, SandboxConfig, SandboxHandle, ValuSettings};
use futures_util::StreamExt as _;
use lapin::BasicProperties;
use secrecy::SecretString;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::Duration;

pub const PROJECT: u64 = 1001;
pub const SECRET: &str = "it-orchestrator-ecommpay-secret";
pub const ACCESS_CODE: &str = "ITACCESSCODE0001";
pub const MERCHANT: &str = "ITMERCHANT";
pub const REQUEST_PHRASE: &str = "it-request-phrase";
pub const RESPONSE_PHRASE: &str = "it-response-phrase";

/// Timings compressed so thresholds pass in seconds. They match the sandbox's scaled provider
/// time: ecommpay declines an unfinished humm payment at 8.64 s (24 h × 0.0001), just before our
/// threshold (8 s) + grace (3 s) decision.
pub fn fast_timing() -> AccountTiming {
    AccountTiming {
        base_time: Duration::from_millis(1500),
        threshold_time: Duration::from_secs(8),
        threshold_grace: Duration::from_secs(3),
        status_check_schedule: vec![Duration::from_secs(1)],
        refund_threshold: Duration::from_secs(8),
        otp_lifetime: Duration::from_secs(5),
        otp_attempts: 3,
    }
}

/// A sandbox config with this harness's accounts, calling the app back on `app_url`.
pub fn sandbox_config(app_url: &str) -> SandboxConfig {
    SandboxConfig {
        ecommpay_projects: vec![EcommpayProject {
            project_id: PROJECT,
            secret_key: SecretString::from(SECRET),
            callback_url: None,
        }],
        aps_merchants: vec![ApsMerchant {
            access_code: ACCESS_CODE.to_owned(),
            merchant_identifier: MERCHANT.to_owned(),
            request_phrase: SecretString::from(REQUEST_PHRASE),
            response_phrase: SecretString::from(RESPONSE_PHRASE),
            sha_type: ShaType::Sha256,
            notification_url: Some(format!("{app_url}/callbacks/aps")),
        }],
        // Provider time runs 10,000× faster: humm's 24 h threshold is 8.64 s, a refund's
        // 10 min is 60 ms, callback retries every 10 s become 1 ms.
        time_scale: 0.000_1,
        // The OTP lives 5 s of test time, like the orchestrator's `otp_lifetime`.
        valu: ValuSettings {
            otp_lifetime_secs: 50_000.0,
            ..ValuSettings::default()
        },
        ..SandboxConfig::default()
    }
}

/// The orchestrator plus the sandbox it talks to.
pub struct Sandboxed {
    pub app: TestApp,
    pub sandbox: SandboxHandle,
    pub http: reqwest::Client,
    pub probe: BrokerProbe,
    events: lapin::Consumer,
    /// Every event seen so far, by payment id.
    seen: HashMap<String, Vec<Value>>,
}

/// Starts a sandbox (shaped by `adjust`) and an orchestrator whose humm and valU accounts point
/// at it, with `timing` on both accounts.
pub async fn spawn_sandboxed(timing: AccountTiming, adjust: impl FnOnce(&mut SandboxConfig)) -> Sandboxed {
    spawn_sandboxed_configured(timing, adjust, |_| {}).await
}

/// [`spawn_sandboxed`], with the orchestrator's configuration shaped by `configure` last.
pub async fn spawn_sandboxed_configured(
    timing: AccountTiming,
    adjust: impl FnOnce(&mut SandboxConfig),
    configure: impl FnOnce(&mut bnpl::config::Config),
) -> Sandboxed {
    let port = free_port();
    let app_url = format!("http://127.0.0.1:{port}");
    let mut sandbox_settings = sandbox_config(&app_url);
    adjust(&mut sandbox_settings);
    let sandbox = bnpl::sandbox::spawn(sandbox_settings).await.expect("sandbox starts");
    let db = TestDb::create().await;
    let prefix = TestPrefix::new();
    let addr = format!("127.0.0.1:{port}");
    let mut config = test_config(&db, &prefix, &[("BNPL_HTTP_ADDR", addr.as_str())]);
    let base = url::Url::parse(&format!("{}/", sandbox.base_url())).unwrap();
    config.accounts.humm.insert(
        "default".to_owned(),
        EcommpayAccountConfig {
            project_id: PROJECT,
            secret_key: SecretString::from(SECRET),
            gate_base_url: base.clone(),
            payment_page_url: base.join("payment").unwrap(),
            refund_path: "/v2/payment/bnpl/humm/refund".to_owned(),
            previous: None,
            adopt_external: false,
            refund_mode: bnpl::config::RefundMode::Api,
            timing: timing.clone(),
            // Short, so a stalled provider answer (the sandbox's `stall_ms`) becomes uncertain fast.
            limits: CallLimits {
                request_timeout: Duration::from_secs(2),
                ..CallLimits::default()
            },
        },
    );
    config.accounts.valu.insert(
        "default".to_owned(),
        ApsAccountConfig {
            base_url: base.join("FortAPI/paymentApi").unwrap(),
            access_code: ACCESS_CODE.to_owned(),
            merchant_identifier: MERCHANT.to_owned(),
            request_phrase: SecretString::from(REQUEST_PHRASE),
            response_phrase: SecretString::from(RESPONSE_PHRASE),
            sha_type: ShaType::Sha256,
            previous: None,
            adopt_external: false,
            max_amount_minor: bnpl::domain::limits::DEFAULT_MAX_AMOUNT_MINOR,
            timing,
            // Short, so a stalled provider answer (the sandbox's `stall_ms`) becomes uncertain fast.
            limits: CallLimits {
                request_timeout: Duration::from_secs(2),
                ..CallLimits::default()
            },
        },
    );
    config.refunds.allowed_users = vec!["guest".to_owned()];
    // Accounts point at this test's own sandbox: the built-in one is not wanted.
    config.sandbox = false;
    configure(&mut config);
    let probe_topology = prefix.topology();
    let app = spawn_app_with(db, prefix, config).await;
    let probe = BrokerProbe::new(probe_topology).await;
    let events = probe.subscribe_events().await;
    Sandboxed {
        app,
        sandbox,
        http: reqwest::Client::new(),
        probe,
        events,
        seen: HashMap::new(),
    }
}

/// A valid humm Gate `purchase.create` body.
pub fn humm_purchase(payment_id: &str, amount_minor: i64) -> Value {
    json!({
        "payment_id": payment_id,
        "provider": "humm",
        "account": "default",
        "flow": "gate",
        "amount": {"minor": amount_minor, "currency": "GBP"},
        "customer": {"id": "cust-42", "first_name": "Jane", "last_name": "Doe", "ip_address": "203.0.113.7"},
        "description": "Order",
        "return_url": "https://shop.example/checkout/return",
        "metadata": {"order_ref": payment_id}
    })
}

/// An ecommpay sale callback for `payment_id` as the sandbox sends it (`status`: `success` or
/// `decline`), signed with `secret`.
pub fn ecommpay_sale_callback(payment_id: &str, amount_minor: i64, status: &str, secret: &str) -> Value {
    let (code, message) = if status == "success" {
        ("0", "Success")
    } else {
        ("20000", "General decline")
    };
    let date = chrono::Utc::now()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        .replace('Z', "+0000");
    let sum = json!({"amount": amount_minor, "currency": "GBP"});
    let mut body = json!({
        "customer": {"id": "cust-42"},
        "project_id": PROJECT,
        "payment": {
            "id": payment_id, "type": "bnpl", "status": status, "date": date, "method": "bnpl",
            "sum": sum, "description": "Order"
        },
        "operation": {
            "sum_initial": sum, "sum_converted": sum, "code": code, "message": message,
            "provider": {"id": 16891, "payment_id": "LATEPROVIDERREF1", "auth_code": ""},
            "id": 990_001, "type": "sale", "status": status, "date": date, "created_date": date,
            "request_id": "late-request-00000001"
        }
    });
    bnpl::providers::ecommpay::signature::sign_in_place(&mut body, &SecretString::from(secret));
    body
}

/// A humm Payment Page purchase of 150.00 GBP.
pub fn payment_page_purchase(payment_id: &str) -> Value {
    let mut body = humm_purchase(payment_id, 15000);
    body["flow"] = json!("payment_page");
    body
}

/// A valid valU `purchase.create` body.
pub fn valu_purchase(payment_id: &str, amount_minor: i64, phone: &str) -> Value {
    json!({
        "payment_id": payment_id,
        "provider": "valu",
        "amount": {"minor": amount_minor, "currency": "EGP"},
        "down_payment_minor": 0,
        "customer": {"id": "cust-7", "first_name": "Omar", "last_name": "Ali", "phone": phone, "email": "omar@example.com"},
        "items": [{"name": "Laptop", "category": "Electronics", "unit_price_minor": amount_minor, "quantity": 1}],
        "description": "Order"
    })
}

impl Sandboxed {
    pub async fn publish(&self, command_type: &str, body: &Value) {
        self.publish_raw(command_type, body.to_string().as_bytes(), BasicProperties::default())
            .await;
    }

    pub async fn publish_raw(&self, command_type: &str, body: &[u8], properties: BasicProperties) {
        let properties = properties.with_user_id("guest".into());
        self.probe.publish_command(command_type, body, properties).await;
    }

    /// Reads events until `payment_id` has one of type `wanted`; returns it.
    pub async fn wait_for_event(&mut self, payment_id: &str, wanted: &str, timeout: Duration) -> Value {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(found) = self.events_of(payment_id).iter().find(|e| e["type"] == wanted) {
                return found.clone();
            }
            let next = tokio::time::timeout_at(deadline, self.events.next()).await;
            let delivery = match next {
                Ok(Some(Ok(delivery))) => delivery,
                _ => panic!(
                    "no {wanted} for {payment_id} within {timeout:?}; saw {:?}",
                    self.events_of(payment_id)
                        .iter()
                        .map(|e| e["type"].clone())
                        .collect::<Vec<_>>()
                ),
            };
            self.record(&delivery);
        }
    }

    /// Reads events until `key` (a payment or refund id; `""` for events naming neither) has
    /// `count` events of type `wanted`; returns them.
    pub async fn wait_for_events(&mut self, key: &str, wanted: &str, count: usize, timeout: Duration) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let found: Vec<Value> = self
                .events_of(key)
                .into_iter()
                .filter(|e| e["type"] == wanted)
                .collect();
            if found.len() >= count {
                return found;
            }
            match tokio::time::timeout_at(deadline, self.events.next()).await {
                Ok(Some(Ok(delivery))) => self.record(&delivery),
                _ => panic!(
                    "fewer than {count} {wanted} for {key:?} within {timeout:?}; saw {:?}",
                    self.events_of(key)
                        .iter()
                        .map(|e| e["type"].clone())
                        .collect::<Vec<_>>()
                ),
            }
        }
    }

    /// Reads events until `payment_id` has at least `count` distinct ones.
    pub async fn wait_until_events(&mut self, payment_id: &str, count: usize, timeout: Duration) {
        let deadline = tokio::time::Instant::now() + timeout;
        while self.events_of(payment_id).len() < count {
            match tokio::time::timeout_at(deadline, self.events.next()).await {
                Ok(Some(Ok(delivery))) => self.record(&delivery),
                _ => panic!("{payment_id} has only {:?}", self.events_of(payment_id)),
            }
        }
    }

    fn record(&mut self, delivery: &lapin::message::Delivery) {
        let event = json_body(delivery);
        // Payment and refund events by their ids; account events as `account:PROVIDER:NAME`.
        let key = match (
            event["payment_id"].as_str().or(event["refund_id"].as_str()),
            event["account"].as_str(),
        ) {
            (Some(id), _) => id.to_owned(),
            (None, Some(account)) => format!("account:{}:{account}", event["provider"].as_str().unwrap_or_default()),
            (None, None) => String::new(),
        };
        self.seen.entry(key).or_default().push(event);
    }

    /// How many (distinct) events of type `wanted` were seen for `key`.
    pub fn count_of(&self, key: &str, wanted: &str) -> usize {
        self.events_of(key).iter().filter(|e| e["type"] == wanted).count()
    }

    /// Reads whatever events arrive within `quiet` (to check that nothing more comes).
    pub async fn drain(&mut self, quiet: Duration) {
        while let Ok(Some(Ok(delivery))) = tokio::time::timeout(quiet, self.events.next()).await {
            self.record(&delivery);
        }
    }

    /// Every event seen so far, de-duplicated by `event_id`.
    pub fn all_events(&self) -> Vec<Value> {
        let mut ids = std::collections::HashSet::new();
        self.seen
            .values()
            .flatten()
            .filter(|event| ids.insert(event["event_id"].to_string()))
            .cloned()
            .collect()
    }

    /// Events seen for a payment, de-duplicated by `event_id`, in arrival order.
    pub fn events_of(&self, payment_id: &str) -> Vec<Value> {
        let mut unique: Vec<Value> = Vec::new();
        for event in self.seen.get(payment_id).into_iter().flatten() {
            if !unique.iter().any(|u| u["event_id"] == event["event_id"]) {
                unique.push(event.clone());
            }
        }
        unique
    }

    /// The event types of a payment in sequence order, asserting the sequence is gap-free from 1.
    pub fn sequence_of(&self, payment_id: &str) -> Vec<String> {
        let mut events = self.events_of(payment_id);
        events.retain(|e| e["sequence"].is_i64());
        events.sort_by_key(|e| e["sequence"].as_i64().unwrap());
        for (index, event) in events.iter().enumerate() {
            assert_eq!(
                event["sequence"].as_i64().unwrap(),
                index as i64 + 1,
                "sequence gap for {payment_id}: {events:?}"
            );
        }
        events.iter().map(|e| e["type"].as_str().unwrap().to_owned()).collect()
    }

    /// The customer finishes (or declines, or abandons) the humm redirect at the sandbox.
    pub async fn customer_finishes(&self, payment_id: &str, outcome: &str) {
        let response = self
            .http
            .post(self.sandbox.url(&format!("/sandbox/humm/{payment_id}/finish")))
            .json(&json!({ "outcome": outcome }))
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "finish {payment_id}: {}",
            response.status()
        );
    }

    /// The OTP the sandbox "sent by SMS" to `phone`.
    pub async fn otp_for(&self, phone: &str) -> String {
        let value: Value = self
            .http
            .get(self.sandbox.url(&format!("/sandbox/valu/otp/{phone}")))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        value["otp"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| panic!("no otp for {phone}: {value}"))
    }

    pub async fn ledger(&self) -> Value {
        self.http
            .get(self.sandbox.url("/sandbox/ledger"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Sale requests the sandbox received for `payment_id` (duplicates included).
    pub async fn sales_for(&self, payment_id: &str) -> u64 {
        self.ledger().await["sales_per_payment_id"][payment_id]
            .as_u64()
            .unwrap_or(0)
    }

    /// POSTs `body` to the orchestrator's ecommpay callback endpoint; returns the HTTP status.
    pub async fn post_ecommpay_callback(&self, body: &Value) -> u16 {
        self.http
            .post(self.app.url("/callbacks/ecommpay"))
            .json(body)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    /// One `i64` from the test database: `sql` with `$1` bound to `param`.
    pub async fn db_i64(&self, sql: &str, param: &str) -> i64 {
        let pool = self.app.db.pool().await;
        let value: i64 = sqlx::query_scalar(sql).bind(param).fetch_one(&pool).await.unwrap();
        pool.close().await;
        value
    }

    /// One optional text column of the payment (`review_reason`, `provider_reference`, …).
    pub async fn payment_text(&self, payment_id: &str, column: &str) -> Option<String> {
        let pool = self.app.db.pool().await;
        let value: Option<String> =
            sqlx::query_scalar(&format!("SELECT {column}::text FROM payments WHERE payment_id = $1"))
                .bind(payment_id)
                .fetch_one(&pool)
                .await
                .unwrap();
        pool.close().await;
        value
    }

    /// Stops the sandbox, so every later provider call fails to connect. An empty sandbox (no
    /// accounts) takes its place in `self.sandbox`, at another port.
    pub async fn stop_sandbox(&mut self) {
        let empty = bnpl::sandbox::spawn(SandboxConfig::default()).await.unwrap();
        let old = std::mem::replace(&mut self.sandbox, empty);
        old.shutdown().await.unwrap();
    }

    /// The payment's status in the database.
    pub async fn status_of(&self, payment_id: &str) -> Option<String> {
        let pool = self.app.db.pool().await;
        let status = sqlx::query_scalar("SELECT status FROM payments WHERE payment_id = $1")
            .bind(payment_id)
            .fetch_optional(&pool)
            .await
            .unwrap();
        pool.close().await;
        status
    }
}

/// A smoke test of the harness itself: the humm Gate happy path, end to end.
#[tokio::test]
async fn humm_gate_purchase_succeeds_end_to_end() {
    let mut env = spawn_sandboxed(fast_timing(), |_| {}).await;
    env.publish("purchase.create", &humm_purchase("ord-h-1", 15000)).await;
    env.wait_for_event("ord-h-1", "payment.action_required", Duration::from_secs(15))
        .await;
    env.customer_finishes("ord-h-1", "success").await;
    let done = env
        .wait_for_event("ord-h-1", "payment.succeeded", Duration::from_secs(15))
        .await;
    assert_eq!(done["amount"], json!({"minor": 15000, "currency": "GBP"}));
    assert_eq!(done["metadata"]["order_ref"], "ord-h-1");
    assert_eq!(
        env.sequence_of("ord-h-1"),
        [
            "payment.accepted",
            "payment.pending",
            "payment.action_required",
            "payment.succeeded"
        ]
    );
    env.app.stop().await.unwrap();
}
