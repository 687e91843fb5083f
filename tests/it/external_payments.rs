//! Payments made outside the orchestrator (issue 20, contract §7), against the sandbox over HTTP:
//! a customer pays through a payment link in ecommpay's dashboard, and its signed callbacks name a
//! payment we never created. An account that opted in adopts it; its state comes from status
//! queries only; it can be refunded through the same queue and appears in reconciliation. Without
//! opting in, the callbacks are stored and answered 200, and nothing is created. An unknown
//! account is still refused.

use crate::admin::token;
use crate::harness::*;
use serde_json::{json, Value};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);

/// The sandbox project sends link payments' callbacks to this orchestrator (its dashboard
/// setting), as it already does for valU notifications.
pub(crate) fn callbacks_to_the_app(sandbox: &mut bnpl::sandbox::SandboxConfig) {
    let aps = sandbox.aps_merchants[0].notification_url.clone().unwrap();
    sandbox.ecommpay_projects[0].callback_url = Some(aps.replace("/callbacks/aps", "/callbacks/ecommpay"));
}

pub(crate) async fn pay_by_link(env: &Sandboxed, payment_id: &str, amount: i64) {
    let response = env
        .http
        .post(env.sandbox.url(&format!("/sandbox/ecommpay/{PROJECT}/payment-link")))
        .json(&json!({ "payment_id": payment_id, "amount": amount }))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.text().await.unwrap());
}

#[tokio::test]
async fn a_payment_link_sale_is_adopted_settled_by_a_status_query_and_refunded() {
    let mut env = spawn_sandboxed_configured(fast_timing(), callbacks_to_the_app, |config| {
        config.accounts.humm.get_mut("default").unwrap().adopt_external = true;
    })
    .await;
    pay_by_link(&env, "link-1", 12_000).await;

    // Adopted from its first (redirect) callback: pending, announced as payment.external.
    let adopted = env.wait_for_event("link-1", "payment.external", WAIT).await;
    assert_eq!(adopted["status"], "pending");
    assert_eq!(adopted["sequence"], 1);
    assert_eq!(adopted["amount"], json!({"minor": 12000, "currency": "GBP"}));
    assert_eq!(env.payment_text("link-1", "origin").await.as_deref(), Some("external"));

    // The customer pays; the success reaches us by callback, but the state comes from the status
    // query that callback brings forward.
    env.customer_finishes("link-1", "success").await;
    let done = env.wait_for_event("link-1", "payment.succeeded", WAIT).await;
    assert_eq!(done["sequence"], 2);
    let pool = env.app.db.pool().await;
    let actors: Vec<String> = sqlx::query_scalar(
        "SELECT actor FROM audit_log WHERE payment_id = 'link-1' AND to_status IS NOT NULL ORDER BY id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let by_callback: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE payment_id = 'link-1' AND to_status = 'succeeded'
           AND actor LIKE 'callback:%'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(by_callback, 0, "{actors:?}");

    // Refunded through the same sequential queue.
    env.publish(
        "refund.create",
        &json!({"refund_id": "link-rf-1", "payment_id": "link-1",
                "amount": {"minor": 5000, "currency": "GBP"}, "reason": "returned"}),
    )
    .await;
    let refunded = env.wait_for_event("link-1", "refund.succeeded", WAIT).await;
    assert_eq!(refunded["refunded_total_minor"], 5000);

    // It appears in reconciliation.
    let finance = token(&pool, "finance", &["finance"]).await;
    let today = chrono::Utc::now().date_naive();
    let csv = env
        .app
        .http
        .get(env.app.url(&format!(
            "/admin/v1/reports/reconciliation.csv?from={}&to={}",
            today - chrono::Duration::days(1),
            today + chrono::Duration::days(1)
        )))
        .bearer_auth(&finance)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(csv.lines().any(|line| line.contains("link-1")), "{csv}");

    // A verified callback whose id the contract refuses is stored, answered 200, not adopted.
    let odd = ecommpay_sale_callback("link 2/odd", 1000, "success", SECRET);
    assert_eq!(env.post_ecommpay_callback(&odd).await, 200);
    let stored: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM inbound_callbacks WHERE payment_id = 'link 2/odd' AND outcome = 'unknown_payment'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(stored, 1);
    assert_eq!(env.status_of("link 2/odd").await, None);

    // A callback signed for an account we do not have is still refused.
    let mut foreign: Value = ecommpay_sale_callback("link-3", 1000, "success", SECRET);
    foreign["project_id"] = json!(4242);
    bnpl::providers::ecommpay::signature::sign_in_place(&mut foreign, &secrecy::SecretString::from(SECRET));
    assert_eq!(env.post_ecommpay_callback(&foreign).await, 400);
    assert_eq!(env.status_of("link-3").await, None);

    // A currency reported in another spelling is the provider's own, and kept as such (" gbp"
    // used to reach the CHAR(3) column as it came: a 503 on every retry).
    let mut spelled: Value = ecommpay_sale_callback("link-4", 1000, "success", SECRET);
    for path in [["payment", "sum"], ["operation", "sum_initial"]] {
        spelled[path[0]][path[1]]["currency"] = json!(" gbp");
    }
    spelled.as_object_mut().map(|object| object.remove("signature"));
    bnpl::providers::ecommpay::signature::sign_in_place(&mut spelled, &secrecy::SecretString::from(SECRET));
    assert_eq!(env.post_ecommpay_callback(&spelled).await, 200);
    let currency: String = sqlx::query_scalar("SELECT currency::text FROM payments WHERE payment_id = 'link-4'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(currency, "GBP");
    pool.close().await;
}

#[tokio::test]
async fn without_opting_in_a_payment_link_sale_is_only_stored() {
    let env = spawn_sandboxed(fast_timing(), callbacks_to_the_app).await;
    pay_by_link(&env, "link-9", 12_000).await;
    env.customer_finishes("link-9", "success").await;
    let pool = env.app.db.pool().await;
    crate::helpers::eventually(WAIT, "both callbacks are stored", || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM inbound_callbacks WHERE payment_id = 'link-9' AND outcome = 'unknown_payment'",
        )
        .fetch_one(&pool)
        .await
        .unwrap()
            >= 2
    })
    .await;
    assert_eq!(env.status_of("link-9").await, None, "nothing adopted");
    let ledger = env.ledger().await;
    assert_eq!(ledger["callback_counters"]["ecommpay"]["acknowledged"], 2, "{ledger}");
    pool.close().await;
}
