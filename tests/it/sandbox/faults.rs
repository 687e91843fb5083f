//! Faults on demand: markers and runtime rates.

use std::time::Duration;

use bnpl::providers::ecommpay::signature::sign_in_place;
use serde_json::json;

use super::support::*;

#[tokio::test]
async fn bad_signature_fault_sends_a_forged_copy_first() {
    let e = env().await;
    assert_eq!(e.sale("ord-fault-bad-signature-callback", 1000).await.0, 200);
    e.receiver
        .wait_for("genuine", |b| b["payment"]["id"] == "ord-fault-bad-signature-callback")
        .await;
    assert!(e.receiver.all().iter().any(|r| !r.valid), "a forged copy arrived");
    let ledger = poll_ledger(&e, |l| l["callback_counters"]["ecommpay"]["acknowledged"] == 1).await;
    assert_eq!(ledger["callback_counters"]["ecommpay"]["forged_sent"], 1);
    assert_eq!(ledger["callback_counters"]["ecommpay"]["forged_acknowledged"], 0);
}

#[tokio::test]
async fn five_xx_fault_hits_once_and_registers_nothing() {
    let e = env().await;
    let r = e.sale("ord-fault-5xx", 1000).await;
    assert_eq!(r.0, 502);
    let (_, st) = e
        .gate(
            "/v2/payment/status",
            json!({"general": {"project_id": PROJECT, "payment_id": "ord-fault-5xx"}}),
            SECRET,
        )
        .await;
    assert_eq!(st["code"], "3061");
    assert_eq!(e.sale("ord-fault-5xx", 1000).await.0, 200);
}

#[tokio::test]
async fn timeout_after_register_stalls_a_sale_that_was_registered() {
    let e = env_with(0, |c| c.stall_ms = 2_000).await;
    let id = "ord-fault-timeout-after-register";
    let mut body = sale_body(id, 1000);
    sign_in_place(&mut body, &secret(SECRET));
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let sent = impatient
        .post(e.sandbox.url("/v2/payment/bnpl/humm/sale"))
        .json(&body)
        .send()
        .await;
    assert!(sent.is_err_and(|error| error.is_timeout()));
    // It exists at the provider: the status query finds it, a resend is a duplicate.
    let status = json!({"general": {"project_id": PROJECT, "payment_id": id}});
    let (code, st) = e.gate("/v2/payment/status", status, SECRET).await;
    assert_eq!(code, 200);
    assert_eq!(st["payment"]["status"], "awaiting redirect result");
    assert_eq!(e.sale(id, 1000).await.1["code"], "3041");
}

#[tokio::test]
async fn reorder_fault_sends_the_final_callback_before_the_intermediate() {
    let e = env().await;
    let id = "ord-fault-reorder-callbacks";
    assert_eq!(e.sale(id, 1000).await.0, 200);
    assert_eq!(e.finish(id, "success").await["status"], "success");
    e.receiver
        .wait_for("late intermediate", |b| {
            is_op(b, id, "sale", "awaiting redirect result")
        })
        .await;
    let got = e.receiver.all();
    let at = |status: &str| got.iter().position(|r| is_op(&r.body, id, "sale", status));
    assert!(at("success") < at("awaiting redirect result"), "final first");
}

#[tokio::test]
async fn lost_callback_fault_withholds_only_the_final_callback() {
    let e = env().await;
    let id = "ord-fault-lost-callback";
    assert_eq!(e.sale(id, 1000).await.0, 200);
    e.receiver
        .wait_for("intermediate", |b| is_op(b, id, "sale", "awaiting redirect result"))
        .await;
    e.finish(id, "success").await;
    poll_ledger(&e, |l| l["callback_counters"]["ecommpay"]["lost_by_fault"] == 1).await;
    assert!(!e.receiver.all().iter().any(|r| is_op(&r.body, id, "sale", "success")));
    let status = json!({"general": {"project_id": PROJECT, "payment_id": id}});
    assert_eq!(
        e.gate("/v2/payment/status", status, SECRET).await.1["payment"]["status"],
        "success"
    );
}

#[tokio::test]
async fn duplicate_callback_fault_delivers_each_callback_twice() {
    let e = env().await;
    let id = "ord-fault-duplicate-callback";
    assert_eq!(e.sale(id, 1000).await.0, 200);
    poll_ledger(&e, |l| l["callback_counters"]["ecommpay"]["acknowledged"] == 2).await;
    let copies = e
        .receiver
        .all()
        .iter()
        .filter(|r| r.body["payment"]["id"] == id)
        .count();
    assert_eq!(copies, 2);
}

#[tokio::test]
async fn slow_fault_delays_the_answer() {
    let e = env_with(0, |c| c.slow_response_ms = 400).await;
    let started = std::time::Instant::now();
    assert_eq!(e.sale("ord-fault-slow", 1000).await.0, 200);
    assert!(started.elapsed() >= Duration::from_millis(400));
}

#[tokio::test]
async fn auto_customer_finishes_every_redirect() {
    let e = env_with(0, |c| c.auto_customer.enabled = true).await;
    assert_eq!(e.sale("ord-auto", 1000).await.0, 200);
    e.receiver
        .wait_for("auto final", |b| is_op(b, "ord-auto", "sale", "success"))
        .await;
}

#[tokio::test]
async fn runtime_fault_rates_apply_to_new_payments() {
    let e = env().await;
    let url = e.sandbox.url("/sandbox/faults");
    let set = e.http.post(&url).json(&json!({"decline": 1.0})).send().await.unwrap();
    assert_eq!(set.status(), 200);
    let now: serde_json::Value = e.http.get(&url).send().await.unwrap().json().await.unwrap();
    assert_eq!(now["decline"], 1.0);
    assert_eq!(e.sale("ord-rated", 1000).await.0, 200);
    e.finish("ord-rated", "success").await;
    let fin = e
        .receiver
        .wait_for("declined", |b| is_op(b, "ord-rated", "sale", "decline"))
        .await;
    assert_eq!(fin["operation"]["code"], "20000");
}
