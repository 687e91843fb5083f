//! humm through ecommpay Gate and Payment Page: callbacks, signatures, rules, refunds, threshold.

use bnpl::providers::ecommpay::signature::{sign_in_place, verify};
use serde_json::{json, Value};

use super::support::*;

#[tokio::test]
async fn humm_sale_sends_signed_intermediate_then_final_callback() {
    let e = env().await;
    let (status, body) = e.sale("ord-1", 15_000).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "success");
    assert_eq!(body["payment_id"], "ord-1");
    assert_eq!(body["project_id"], PROJECT);
    assert!(body["request_id"].as_str().is_some_and(|r| !r.is_empty()));

    let inter = e
        .receiver
        .wait_for("intermediate", |b| {
            is_op(b, "ord-1", "sale", "awaiting redirect result")
        })
        .await;
    assert_eq!(inter["payment"]["status"], "awaiting redirect result");
    let redirect = inter["redirect_data"]["url"].as_str().unwrap();
    assert!(redirect.starts_with(e.sandbox.base_url()), "{redirect}");
    assert_eq!(inter["redirect_data"]["method"], "POST");
    // The customer's page answers, then the customer finishes.
    let page = e.http.post(redirect).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(e.finish("ord-1", "success").await["status"], "success");

    let fin = e
        .receiver
        .wait_for("final", |b| is_op(b, "ord-1", "sale", "success"))
        .await;
    assert_eq!(fin["payment"]["status"], "success");
    assert_eq!(fin["operation"]["code"], "0");
    assert_eq!(fin["operation"]["message"], "Success");
    assert_eq!(fin["operation"]["request_id"], body["request_id"]);
    assert_eq!(fin["operation"]["sum_initial"]["amount"], 15_000);
    assert!(e.receiver.all().iter().all(|r| r.valid), "every callback verifies");

    // Finishing twice is refused; the status query reports success and is signed.
    assert_eq!(e.finish("ord-1", "decline").await["status"], "success");
    let (s, st) = e
        .gate(
            "/v2/payment/status",
            json!({"general": {"project_id": PROJECT, "payment_id": "ord-1"}}),
            SECRET,
        )
        .await;
    assert_eq!(s, 200);
    assert!(verify(&st, &secret(SECRET)));
    assert_eq!(st["payment"]["status"], "success");
    assert_eq!(st["operations"][0]["type"], "sale");
}

#[tokio::test]
async fn humm_decline_by_customer_sends_general_decline() {
    let e = env().await;
    assert_eq!(e.sale("ord-dec", 500).await.0, 200);
    e.finish("ord-dec", "decline").await;
    let fin = e
        .receiver
        .wait_for("decline", |b| is_op(b, "ord-dec", "sale", "decline"))
        .await;
    assert_eq!(fin["operation"]["code"], "20000");
    assert_eq!(fin["payment"]["status"], "decline");
}

#[tokio::test]
async fn ecommpay_rejects_wrong_key_and_missing_signature() {
    let e = env().await;
    let (status, body) = e
        .gate(
            "/v2/payment/bnpl/humm/sale",
            sale_body("ord-bad", 1000),
            "not-the-secret",
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["code"], "3261");
    let r = e
        .http
        .post(e.sandbox.url("/v2/payment/bnpl/humm/sale"))
        .json(&sale_body("ord-bad", 1000))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "3262");
    let ledger = e.ledger().await;
    assert!(ledger["sales"]["entries"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn duplicate_payment_id_is_3041_and_counted() {
    let e = env().await;
    assert_eq!(e.sale("ord-dup", 1000).await.0, 200);
    let (status, body) = e.sale("ord-dup", 1000).await;
    assert_eq!((status, body["code"].as_str()), (400, Some("3041")));
    let ledger = e.ledger().await;
    assert_eq!(ledger["sales_per_payment_id"]["ord-dup"], 2);
    assert_eq!(ledger["duplicate_sales"], 1);
    assert_eq!(ledger["sales"]["entries"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn humm_limits_are_enforced() {
    let e = env().await;
    for (id, amount) in [("ord-low", 99), ("ord-high", 3_000_001)] {
        let (status, body) = e.sale(id, amount).await;
        assert_eq!(status, 400, "{id}");
        assert_eq!(body["errors"][0]["field"], "payment.amount");
    }
    let mut eur = sale_body("ord-eur", 1000);
    eur["payment"]["currency"] = json!("EUR");
    let (status, body) = e.gate("/v2/payment/bnpl/humm/sale", eur, SECRET).await;
    assert_eq!(
        (status, body["errors"][0]["field"].as_str()),
        (400, Some("payment.currency"))
    );
    assert_eq!(e.sale("ord-max", 3_000_000).await.0, 200);
    assert_eq!(e.sale("ord-min", 100).await.0, 200);
}

#[tokio::test]
async fn refund_over_captured_is_3283_and_refund_callback_reports_partial() {
    let e = env().await;
    e.paid("ord-rf", 10_000).await;
    let (status, body) = e.refund("ord-rf", 10_001, "rf-over").await;
    assert_eq!((status, body["code"].as_str()), (400, Some("3283")));
    let (status, body) = e.refund("ord-rf", 4_000, "rf-1").await;
    assert_eq!(status, 200, "{body}");
    let cb = e
        .receiver
        .wait_for("refund callback", |b| is_op(b, "ord-rf", "refund", "success"))
        .await;
    assert_eq!(cb["payment"]["status"], "partially refunded");
    assert_eq!(cb["operation"]["sum_initial"]["amount"], 4_000);
    assert_eq!(cb["operation"]["request_id"], body["request_id"]);
    let (_, st) = e
        .gate(
            "/v2/payment/status",
            json!({"general": {"project_id": PROJECT, "payment_id": "ord-rf"}}),
            SECRET,
        )
        .await;
    assert_eq!(st["payment"]["status"], "partially refunded");
    assert_eq!(st["operations"][1]["type"], "refund");
    assert_eq!(st["operations"][1]["status"], "success");
    // What is left is 6,000: 6,001 is over, the same refund id is 3230.
    assert_eq!(e.refund("ord-rf", 6_001, "rf-2").await.1["code"], "3283");
    assert_eq!(e.refund("ord-rf", 1, "rf-1").await.1["code"], "3230");
}

#[tokio::test]
async fn second_refund_while_one_is_processing_is_3285_and_a_violation() {
    let e = env_with(0, |c| c.humm.refund_processing_secs = 2_000.0).await; // 2 s scaled
    e.paid("ord-a", 10_000).await;
    e.paid("ord-b", 10_000).await;
    assert_eq!(e.refund("ord-a", 1_000, "rf-a").await.0, 200);
    let (status, body) = e.refund("ord-b", 1_000, "rf-b").await;
    assert_eq!((status, body["code"].as_str()), (400, Some("3285")));
    let ledger = e.ledger().await;
    let account = &ledger["accounts"][format!("ecommpay:{PROJECT}")];
    assert_eq!(account["violations"], 1);
    assert_eq!(account["in_flight"], json!(["rf-a"]));
    assert_eq!(account["arrival_order"], json!(["rf-a", "rf-b"]));
    assert_eq!(ledger["sequential_violations"]["entries"][0]["rejected"], true);
    // Once the first is processed, the next is accepted.
    e.receiver
        .wait_for("refund a", |b| is_op(b, "ord-a", "refund", "success"))
        .await;
    assert_eq!(e.refund("ord-b", 1_000, "rf-b2").await.0, 200);
    assert_eq!(
        e.ledger().await["accounts"][format!("ecommpay:{PROJECT}")]["max_in_flight"],
        1
    );
}

#[tokio::test]
async fn callbacks_are_retried_until_answered_200() {
    let e = env_with(2, |_| {}).await;
    assert_eq!(e.sale("ord-retry", 1000).await.0, 200);
    let ledger = poll_ledger(&e, |l| l["callback_counters"]["ecommpay"]["acknowledged"] == 1).await;
    let copies = e
        .receiver
        .all()
        .iter()
        .filter(|r| r.body["payment"]["id"] == "ord-retry")
        .count();
    assert_eq!(copies, 3, "two failures, then the acknowledged one");
    let cb = &ledger["callbacks"]["entries"][0];
    assert_eq!(cb["attempts"], 3);
    assert_eq!(cb["acknowledged"], true);
    assert_eq!(ledger["callback_counters"]["ecommpay"]["attempts"], 3);
}

#[tokio::test]
async fn unfinished_humm_payment_is_declined_at_the_threshold() {
    // 24 h at time_scale 0.00002 is 1.7 s.
    let e = env_with(0, |c| c.time_scale = 0.000_02).await;
    assert_eq!(e.sale("ord-late", 1000).await.0, 200);
    assert_eq!(
        e.finish("ord-late", "abandon").await["status"],
        "awaiting redirect result"
    );
    let fin = e
        .receiver
        .wait_for("threshold decline", |b| is_op(b, "ord-late", "sale", "decline"))
        .await;
    assert_eq!(fin["payment"]["status"], "decline");
    assert_eq!(fin["operation"]["code"], "603");
}

#[tokio::test]
async fn payment_page_registers_on_open_and_starts_the_redirect() {
    let e = env().await;
    let mut params = json!({"project_id": PROJECT, "payment_id": "ord-pp", "payment_amount": 2500,
        "payment_currency": "GBP", "customer_id": "c1", "customer_first_name": "John",
        "customer_last_name": "Doe", "force_payment_method": "bnpl-humm"});
    sign_in_place(&mut params, &secret(SECRET));
    let pairs: Vec<(String, String)> = params
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().map_or_else(|| v.to_string(), str::to_owned)))
        .collect();
    let query = serde_urlencoded::to_string(&pairs).unwrap();
    let no_redirect = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    assert_eq!(e.ledger().await["sales"]["entries"].as_array().unwrap().len(), 0);
    let r = no_redirect
        .get(e.sandbox.url(&format!("/payment?{query}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    e.receiver
        .wait_for("page intermediate", |b| {
            is_op(b, "ord-pp", "sale", "awaiting redirect result")
        })
        .await;
    // Reopening the same page is not a second sale; a tampered page is refused.
    assert_eq!(
        no_redirect
            .get(e.sandbox.url(&format!("/payment?{query}")))
            .send()
            .await
            .unwrap()
            .status(),
        302
    );
    let tampered = query.replace("2500", "2400");
    assert_eq!(
        no_redirect
            .get(e.sandbox.url(&format!("/payment?{tampered}")))
            .send()
            .await
            .unwrap()
            .status(),
        400
    );
    assert_eq!(e.ledger().await["sales_per_payment_id"]["ord-pp"], 1);
}
