//! Issue 7's acceptance: 60 refund commands over 3 provider accounts, published concurrently,
//! consumed by two `bnpl` processes. The sandbox ledger must show at most one refund in flight
//! per account at every moment, no sequential-refund violation, and each account's refunds
//! arriving in queue-position order.

use crate::harness::*;
use crate::helpers::*;
use crate::processes::{write_config_with, Process};
use bnpl::sandbox::EcommpayProject;
use lapin::BasicProperties;
use secrecy::SecretString;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::Duration;

const PROJECTS: [u64; 3] = [2001, 2002, 2003];

#[tokio::test]
async fn sixty_refunds_over_three_accounts_and_two_processes_stay_strictly_sequential() {
    let (port_a, port_b) = (free_port(), free_port());
    let mut sandbox_config = sandbox_config(&format!("http://127.0.0.1:{port_a}"));
    sandbox_config.auto_customer.enabled = true;
    sandbox_config.auto_customer.success_ratio = 1.0;
    for project in PROJECTS {
        sandbox_config.ecommpay_projects.push(EcommpayProject {
            project_id: project,
            secret_key: SecretString::from(SECRET),
            callback_url: None,
        });
    }
    let sandbox = bnpl::sandbox::spawn(sandbox_config).await.unwrap();
    let db = TestDb::create().await;
    let prefix = TestPrefix::new();
    let config = write_config_with(sandbox.base_url(), "5s", &PROJECTS);
    let probe = BrokerProbe::new(prefix.topology()).await;
    let mut a = Process::start(&db, &prefix, &config, port_a, None).await;
    let mut b = Process::start(&db, &prefix, &config, port_b, None).await;
    let mut events = probe.subscribe_events().await;
    let guest = || BasicProperties::default().with_user_id("guest".into());

    // Two succeeded payments per account.
    let mut payments = Vec::new();
    for project in PROJECTS {
        for n in 0..2 {
            let id = format!("par-{project}-{n}");
            let mut body = humm_purchase(&id, 100_000);
            body["account"] = json!(format!("p{project}"));
            probe
                .publish_command("purchase.create", body.to_string().as_bytes(), guest())
                .await;
            payments.push((project, id));
        }
    }
    let mut seen: Vec<Value> = Vec::new();
    let count = |seen: &Vec<Value>, kind: &str| seen.iter().filter(|e| e["type"] == kind).count();
    collect(&mut events, &mut seen, |seen| count(seen, "payment.succeeded") == 6).await;

    // 60 refunds, published concurrently from three connections (one per account).
    let mut publishers = Vec::new();
    for project in PROJECTS {
        let topology = prefix.topology();
        let mine: Vec<String> = payments
            .iter()
            .filter(|(p, _)| *p == project)
            .map(|(_, id)| id.clone())
            .collect();
        publishers.push(tokio::spawn(async move {
            let publisher = BrokerProbe::new(topology).await;
            for n in 0..20 {
                let refund = json!({
                    "refund_id": format!("par-rf-{project}-{n}"),
                    "payment_id": mine[n % 2],
                    "amount": {"minor": 1000, "currency": "GBP"},
                });
                let properties = BasicProperties::default().with_user_id("guest".into());
                publisher
                    .publish_command("refund.create", refund.to_string().as_bytes(), properties)
                    .await;
            }
        }));
    }
    for publisher in publishers {
        publisher.await.unwrap();
    }
    collect(&mut events, &mut seen, |seen| count(seen, "refund.succeeded") >= 60).await;

    let ledger: Value = reqwest::get(sandbox.url("/sandbox/ledger"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        ledger["sequential_violations_total"], 0,
        "{}",
        ledger["sequential_violations"]
    );
    let pool = db.pool().await;
    for project in PROJECTS {
        let account = &ledger["accounts"][format!("ecommpay:{project}")];
        assert_eq!(account["max_in_flight"], 1, "account {project}: {account}");
        let arrived: Vec<String> = account["arrival_order"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap().to_owned())
            .collect();
        let positions: Vec<String> =
            sqlx::query_scalar("SELECT refund_id FROM refunds WHERE queue_key = $1 ORDER BY position")
                .bind(format!("humm:p{project}"))
                .fetch_all(&pool)
                .await
                .unwrap();
        assert_eq!(positions.len(), 20);
        assert_eq!(
            arrived, positions,
            "account {project}: refunds arrive in queue-position order"
        );
    }
    let mut per_payment: HashMap<String, i64> = HashMap::new();
    for event in seen.iter().filter(|e| e["type"] == "refund.succeeded") {
        let total = event["refunded_total_minor"].as_i64().unwrap();
        let entry = per_payment
            .entry(event["payment_id"].as_str().unwrap().to_owned())
            .or_default();
        *entry = (*entry).max(total);
    }
    assert!(per_payment.values().all(|total| *total == 10_000), "{per_payment:?}");
    pool.close().await;
    a.kill().await;
    b.kill().await;
    let _ = std::fs::remove_file(config);
}

async fn collect(events: &mut lapin::Consumer, seen: &mut Vec<Value>, done: impl Fn(&Vec<Value>) -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while !done(seen) {
        let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
        let Some(delivery) = next_delivery(events, remaining).await else {
            let kinds: Vec<&Value> = seen.iter().map(|e| &e["type"]).collect();
            panic!("timed out; saw {} events: {kinds:?}", seen.len());
        };
        seen.push(json_body(&delivery));
    }
}
