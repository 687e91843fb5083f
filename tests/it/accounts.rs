//! Pausing a provider account (contract §4, added 2026-11-29), with two `bnpl serve` processes
//! sharing one database and broker: a pause made through one holds in both. While paused a
//! purchase is accepted and stored but no sale reaches the sandbox; after the resume (through the
//! other process) it completes.

use crate::harness::*;
use crate::helpers::*;
use crate::processes::{sandbox_json, Process, TwoProcessSetup};
use lapin::BasicProperties;
use serde_json::{json, Value};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

async fn sales_of(sandbox: &bnpl::sandbox::SandboxHandle, payment_id: &str) -> u64 {
    let ledger = sandbox_json(sandbox, "/sandbox/ledger?lists=false").await;
    ledger["sales_per_payment_id"][payment_id].as_u64().unwrap_or(0)
}

#[tokio::test]
async fn a_paused_account_takes_purchases_but_calls_nobody_until_resumed() {
    let TwoProcessSetup {
        ports: (port_a, port_b),
        sandbox,
        db,
        prefix,
        config,
    } = TwoProcessSetup::new().await;
    let mut a = Process::start(&db, &prefix, &config, port_a, None).await;
    let mut b = Process::start(&db, &prefix, &config, port_b, None).await;
    let pool = db.pool().await;
    let operator = bnpl::store::tokens::create(&pool, "pause-ops", &["operate".to_owned()])
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let admin = |port: u16, path: &str, body: Value| {
        let request = http
            .post(format!("http://127.0.0.1:{port}/admin/v1{path}"))
            .bearer_auth(&operator)
            .json(&body);
        async move {
            let response = request.send().await.unwrap();
            (
                response.status().as_u16(),
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };

    let (status, _) = admin(port_a, "/accounts/humm/default/pause", json!({"reason": ""})).await;
    assert_eq!(status, 400, "a reason is required");
    let (status, _) = admin(port_a, "/accounts/humm/nope/pause", json!({"reason": "x"})).await;
    assert_eq!(status, 404);
    let (status, paused) = admin(
        port_a,
        "/accounts/humm/default/pause",
        json!({"reason": "ecommpay maintenance"}),
    )
    .await;
    assert_eq!(status, 200, "{paused}");
    assert_eq!(paused["state"], "paused");
    let (status, again) = admin(port_a, "/accounts/humm/default/pause", json!({"reason": "twice"})).await;
    assert_eq!(
        (status, again["reason"].as_str()),
        (200, Some("ecommpay maintenance")),
        "idempotent"
    );
    let listed: Value = http
        .get(format!("http://127.0.0.1:{port_b}/admin/v1/accounts"))
        .bearer_auth(&operator)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let humm = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|account| account["provider"] == "humm" && account["account"] == "default")
        .cloned()
        .unwrap();
    assert_eq!(humm["state"], "paused", "the other process sees it too: {listed}");

    // Purchases keep coming; whichever process takes them, no sale goes out.
    let probe = BrokerProbe::new(prefix.topology()).await;
    let mut events = probe.subscribe_events().await;
    for id in ["pause-1", "pause-2", "pause-3"] {
        let body = humm_purchase(id, 15000).to_string();
        probe
            .publish_command("purchase.create", body.as_bytes(), BasicProperties::default())
            .await;
    }
    let mut accepted = 0;
    while accepted < 3 {
        let delivery = next_delivery(&mut events, WAIT).await.expect("payment.accepted");
        if json_body(&delivery)["type"] == "payment.accepted" {
            accepted += 1;
        }
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    for id in ["pause-1", "pause-2", "pause-3"] {
        assert_eq!(sales_of(&sandbox, id).await, 0, "{id} was sent while paused");
    }
    // Their jobs wait with their attempts intact, not claimed and released in a loop: a claim
    // that a paused handler defers gives its attempt back, so only an untouched row shows that
    // nobody claims them.
    let sale_jobs = || {
        sqlx::query_as::<_, (String, i32, chrono::DateTime<chrono::Utc>)>(
            "SELECT state, attempts, updated_at FROM jobs WHERE kind = 'humm_sale' ORDER BY payment_id",
        )
        .fetch_all(&pool)
    };
    let waiting = sale_jobs().await.unwrap();
    let states: Vec<(&str, i32)> = waiting
        .iter()
        .map(|(state, attempts, _)| (state.as_str(), *attempts))
        .collect();
    assert_eq!(states, vec![("scheduled", 0); 3], "{waiting:?}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(sale_jobs().await.unwrap(), waiting, "claimed while paused");

    // Resume through the other process: every purchase completes.
    let (status, resumed) = admin(
        port_b,
        "/accounts/humm/default/resume",
        json!({"reason": "maintenance over"}),
    )
    .await;
    assert_eq!((status, resumed["state"].as_str()), (200, Some("active")));
    let mut succeeded = std::collections::BTreeSet::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    while succeeded.len() < 3 {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let event = json_body(&next_delivery(&mut events, left).await.expect("payment.succeeded"));
        if event["type"] == "payment.succeeded" {
            succeeded.insert(event["payment_id"].as_str().unwrap_or_default().to_owned());
        }
    }
    for id in ["pause-1", "pause-2", "pause-3"] {
        assert_eq!(sales_of(&sandbox, id).await, 1, "{id}");
    }
    let announced: Vec<String> =
        sqlx::query_scalar("SELECT event_type FROM outbox WHERE event_type LIKE 'account.%' ORDER BY id")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(announced, ["account.paused", "account.resumed"], "one event per change");

    // The CLI does the same, on the accounts of BNPL_CONFIG.
    let cli = |args: &[&str]| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_bnpl"))
            .arg("admin")
            .args(args)
            .env("BNPL_DATABASE_URL", &db.url)
            .env("BNPL_AMQP_PREFIX", &prefix.prefix)
            .env("BNPL_CONFIG", &config)
            .env("USER", "tester")
            .env_remove("RUST_LOG")
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).unwrap()
    };
    assert_eq!(
        cli(&["accounts", "pause", "valu", "default", "--reason", "APS incident"]),
        "valu:default is paused\n"
    );
    let table = cli(&["accounts"]);
    assert!(
        table.contains("valu      default  paused") || table.contains("paused"),
        "{table}"
    );
    let listed: Value = serde_json::from_str(&cli(&["accounts", "--json"])).unwrap();
    assert!(listed
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["provider"] == "valu" && a["state"] == "paused"));
    pool.close().await;
    a.kill().await;
    b.kill().await;
}
