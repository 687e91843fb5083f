//! Crashes at exact points (failpoints, `--features failpoints`): a process killed between a
//! provider call and the commit of its answer is restarted, and nothing is sent twice.

use crate::harness::*;
use crate::helpers::*;
use crate::processes::{write_config_with, Process};
use lapin::BasicProperties;
use serde_json::{json, Value};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

/// Waits until `payment_id` has an event of type `wanted` on `events`.
async fn wait_event(events: &mut lapin::Consumer, seen: &mut Vec<Value>, key: &str, wanted: &str) -> Value {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Some(found) = seen
            .iter()
            .find(|e| (e["payment_id"] == key || e["refund_id"] == key) && e["type"] == wanted)
        {
            return found.clone();
        }
        let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
        let delivery = next_delivery(events, remaining)
            .await
            .unwrap_or_else(|| panic!("no {wanted} for {key}; saw {seen:?}"));
        seen.push(json_body(&delivery));
    }
}

async fn ledger(sandbox: &bnpl::sandbox::SandboxHandle) -> Value {
    reqwest::get(sandbox.url("/sandbox/ledger"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_crash_between_the_sale_and_its_commit_sends_no_second_sale() {
    let port = free_port();
    // No auto-customer, the intermediate callback held back until the customer finishes
    // (`reorder`) and a late first status check: nothing but the rescued sale job moves the
    // payment on after the restart, so a job that resent the sale instead of asking first would
    // show as a second sale request.
    let sandbox = bnpl::sandbox::spawn(sandbox_config(&format!("http://127.0.0.1:{port}")))
        .await
        .unwrap();
    let db = TestDb::create().await;
    let prefix = TestPrefix::new();
    let config = write_config_with(sandbox.base_url(), "2s", &[]);
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, text.replace("base_time = \"1500ms\"", "base_time = \"6s\"")).unwrap();
    let probe = BrokerProbe::new(prefix.topology()).await;

    let mut first = Process::start(&db, &prefix, &config, port, Some("humm_sale.after_send=return")).await;
    let mut events = probe.subscribe_events().await;
    let mut seen = Vec::new();
    let mut body = humm_purchase("crash-sale-1", 15000);
    body["customer"]["first_name"] = json!("fault-reorder-callbacks");
    probe
        .publish_command(
            "purchase.create",
            body.to_string().as_bytes(),
            BasicProperties::default(),
        )
        .await;
    let status = first.exited(WAIT).await;
    assert!(
        !status.success(),
        "the failpoint aborted the process after the sale was sent"
    );
    assert_eq!(
        ledger(&sandbox).await["sales_per_payment_id"]["crash-sale-1"],
        1,
        "the sale reached ecommpay"
    );

    // Restart without the failpoint: once the dead process's lease runs out, the rescued sale
    // job asks ecommpay first, finds the sale and moves the payment on without sending it again.
    let mut second = Process::start(&db, &prefix, &config, port, None).await;
    wait_event(&mut events, &mut seen, "crash-sale-1", "payment.pending").await;
    let pool = db.pool().await;
    eventually(WAIT, "the sale job is done", || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM jobs WHERE kind = 'humm_sale' AND state = 'done'")
            .fetch_one(&pool)
            .await
            .unwrap()
            == 1
    })
    .await;
    pool.close().await;
    let ledger_now = ledger(&sandbox).await;
    assert_eq!(ledger_now["sales_per_payment_id"]["crash-sale-1"], 1, "no second sale");
    assert_eq!(ledger_now["duplicate_sales"], 0);

    // The customer finishes: the payment settles as usual.
    let finished = reqwest::Client::new()
        .post(sandbox.url("/sandbox/humm/crash-sale-1/finish"))
        .json(&json!({ "outcome": "success" }))
        .send()
        .await
        .unwrap();
    assert!(finished.status().is_success(), "finish: {}", finished.status());
    wait_event(&mut events, &mut seen, "crash-sale-1", "payment.succeeded").await;
    assert_eq!(ledger(&sandbox).await["duplicate_sales"], 0);
    second.kill().await;
    let _ = std::fs::remove_file(config);
}

#[tokio::test]
async fn a_crash_while_a_refund_is_in_flight_sends_no_second_refund_and_the_queue_goes_on() {
    let port = free_port();
    let mut sandbox_config = sandbox_config(&format!("http://127.0.0.1:{port}"));
    sandbox_config.auto_customer.enabled = true;
    sandbox_config.auto_customer.success_ratio = 1.0;
    let sandbox = bnpl::sandbox::spawn(sandbox_config).await.unwrap();
    let db = TestDb::create().await;
    let prefix = TestPrefix::new();
    let config = write_config_with(sandbox.base_url(), "2s", &[]);
    let probe = BrokerProbe::new(prefix.topology()).await;
    let guest = || BasicProperties::default().with_user_id("guest".into());

    // A succeeded payment to refund, made by a healthy process.
    let mut healthy = Process::start(&db, &prefix, &config, port, None).await;
    let mut events = probe.subscribe_events().await;
    let mut seen = Vec::new();
    probe
        .publish_command(
            "purchase.create",
            humm_purchase("crash-rf", 20000).to_string().as_bytes(),
            guest(),
        )
        .await;
    wait_event(&mut events, &mut seen, "crash-rf", "payment.succeeded").await;
    healthy.kill().await;

    let mut crashing = Process::start(&db, &prefix, &config, port, Some("refund_send.after_send=return")).await;
    // Its callback is lost: a callback would settle it before the restarted process's job ran,
    // and only that job can show a second send (the status check settles it instead).
    let first = json!({"refund_id": "crash-rf-1-fault-lost-callback", "payment_id": "crash-rf",
                       "amount": {"minor": 5000, "currency": "GBP"}});
    probe
        .publish_command("refund.create", first.to_string().as_bytes(), guest())
        .await;
    let status = crashing.exited(WAIT).await;
    assert!(
        !status.success(),
        "the failpoint aborted the process after the refund was sent"
    );

    let mut restarted = Process::start(&db, &prefix, &config, port, None).await;
    let second =
        json!({"refund_id": "crash-rf-2", "payment_id": "crash-rf", "amount": {"minor": 3000, "currency": "GBP"}});
    probe
        .publish_command("refund.create", second.to_string().as_bytes(), guest())
        .await;
    wait_event(
        &mut events,
        &mut seen,
        "crash-rf-1-fault-lost-callback",
        "refund.succeeded",
    )
    .await;
    let done = wait_event(&mut events, &mut seen, "crash-rf-2", "refund.succeeded").await;
    assert_eq!(done["refunded_total_minor"], 8000);
    let ledger = ledger(&sandbox).await;
    let sent: Vec<&Value> = ledger["refunds"]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["refund_id"] == "crash-rf-1-fault-lost-callback" && r["status"] != "rejected")
        .collect();
    assert_eq!(sent.len(), 1, "crash-rf-1 reached the provider once: {sent:?}");
    // A second send of the registered refund is refused (3230) without an entry: only this shows it.
    assert_eq!(ledger["reused_refund_ids"], 0, "crash-rf-1 was not sent again");
    assert_eq!(ledger["sequential_violations_total"], 0);
    restarted.kill().await;
    let _ = std::fs::remove_file(config);
}
