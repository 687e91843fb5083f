//! Callbacks from the wrong signer, and floods of forgeries: a verified callback only touches
//! payments of the account and provider that signed it, and genuine callbacks are never
//! throttled (contract §7).

use super::Hostile;
use crate::harness::{ecommpay_sale_callback, humm_purchase, valu_purchase, PROJECT, SECRET};
use crate::processes::second;
use bnpl::providers::aps::signature::{sign_response, ShaType};
use secrecy::SecretString;
use serde_json::{json, Map, Value};

/// An ecommpay sale success for `payment_id`, signed by `project` with `secret`.
fn ecommpay_success(payment_id: &str, amount_minor: i64, currency: &str, project: u64, secret: &str) -> Value {
    let mut body = ecommpay_sale_callback(payment_id, amount_minor, "success", SECRET);
    body["project_id"] = json!(project);
    body["payment"]["sum"]["currency"] = json!(currency);
    body["operation"]["sum_initial"]["currency"] = json!(currency);
    body["operation"]["sum_converted"]["currency"] = json!(currency);
    body.as_object_mut().map(|object| object.remove("signature"));
    bnpl::providers::ecommpay::signature::sign_in_place(&mut body, &SecretString::from(secret));
    body
}

/// An APS PURCHASE success notification for `merchant_reference`, signed by the second merchant.
fn aps_success_from_second_merchant(merchant_reference: &str, amount_minor: i64) -> Vec<u8> {
    let mut params = Map::new();
    for (name, value) in [
        ("command", "PURCHASE"),
        ("access_code", second::ACCESS_CODE),
        ("merchant_identifier", second::MERCHANT),
        ("merchant_reference", merchant_reference),
        ("amount", &amount_minor.to_string()),
        ("currency", "EGP"),
        ("language", "en"),
        ("payment_option", "VALU"),
        ("fort_id", "169999999999999999"),
        ("response_code", "14000"),
        ("response_message", "Success"),
        ("status", "14"),
    ] {
        params.insert(name.to_owned(), json!(value));
    }
    let signature = sign_response(&params, &SecretString::from(second::RESPONSE_PHRASE), ShaType::Sha256);
    params.insert("signature".to_owned(), json!(signature));
    let pairs: Vec<(String, String)> = params
        .into_iter()
        .map(|(name, value)| (name, value.as_str().unwrap_or_default().to_owned()))
        .collect();
    serde_urlencoded::to_string(pairs).unwrap().into_bytes()
}

/// Two valU accounts are configured: a command names its account.
fn with_account(mut body: Value) -> Value {
    body["account"] = json!("default");
    body
}

impl Hostile {
    async fn post(&self, path: &str, content_type: &str, body: Vec<u8>) -> u16 {
        self.http
            .post(self.url(path))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    async fn post_ecommpay(&self, body: &Value) -> u16 {
        self.post("/callbacks/ecommpay", "application/json", body.to_string().into_bytes())
            .await
    }

    async fn stored_outcomes(&self, payment_id: &str) -> Vec<String> {
        let pool = self.db.pool().await;
        let outcomes = sqlx::query_scalar("SELECT outcome FROM inbound_callbacks WHERE payment_id = $1 ORDER BY id")
            .bind(payment_id)
            .fetch_all(&pool)
            .await
            .unwrap();
        pool.close().await;
        outcomes
    }
}

#[tokio::test]
async fn a_callback_signed_by_another_account_or_provider_changes_nothing() {
    let mut h = Hostile::start().await;
    // A humm payment of project A (`default`), waiting for its customer.
    h.publish(
        "purchase.create",
        humm_purchase("victim-humm", 15000).to_string().as_bytes(),
    )
    .await;
    h.event("victim-humm", "payment.action_required").await;
    // A valU payment of merchant A, waiting for its OTP.
    h.publish(
        "purchase.create",
        with_account(valu_purchase("victim-valu", 500_000, "01012345678"))
            .to_string()
            .as_bytes(),
    )
    .await;
    h.event("victim-valu", "payment.action_required").await;

    // Project B's own key, correctly used, about project A's payment.
    let cross_account = ecommpay_success("victim-humm", 15000, "GBP", second::PROJECT, second::SECRET);
    assert_eq!(h.post_ecommpay(&cross_account).await, 400);
    // A humm project's key, correctly used, about a valU payment.
    let cross_provider = ecommpay_success("victim-valu", 500_000, "EGP", PROJECT, SECRET);
    assert_eq!(h.post_ecommpay(&cross_provider).await, 400);
    // APS merchant B's response phrase, correctly used, about merchant A's order.
    let cross_merchant = aps_success_from_second_merchant("victim-valu", 500_000);
    let status = h
        .post("/callbacks/aps", "application/x-www-form-urlencoded", cross_merchant)
        .await;
    assert_eq!(status, 400);

    assert_eq!(h.status_of("victim-humm").await, "action_required", "nothing changed");
    assert_eq!(h.status_of("victim-valu").await, "action_required", "nothing changed");
    assert_eq!(
        h.stored_outcomes("victim-valu").await,
        ["account_mismatch", "account_mismatch"]
    );
    assert!(h
        .stored_outcomes("victim-humm")
        .await
        .contains(&"account_mismatch".to_owned()));
    let counted = h
        .metric_with("bnpl_callbacks_total", &["outcome=\"account_mismatch\""])
        .await;
    assert_eq!(counted, 3.0);

    // A mismatch comes from a real provider: it is never charged to the sender. Far more than the
    // throttle's quota, and the genuine callbacks from the same address still go through.
    for _ in 0..60 {
        assert_eq!(h.post_ecommpay(&cross_account).await, 400);
    }
    // Had they been charged, this address would be blocked now and a forgery would meet 429.
    let mut forged = ecommpay_sale_callback("victim-humm", 15000, "success", "not-the-key");
    forged["payment"]["id"] = json!("victim-humm");
    assert_eq!(h.post_ecommpay(&forged).await, 400, "the mismatches were not charged");
    h.customer_finishes("victim-humm", "success").await;
    h.event("victim-humm", "payment.succeeded").await;
    h.still_alive().await;
    h.stop().await;
}

#[tokio::test]
async fn floods_of_forged_callbacks_never_throttle_genuine_ones() {
    let mut h = Hostile::start().await;
    // First, before the flood blocks this address (a throttled forgery is not stored), one
    // forgery far longer than what is kept of it: the flood's are about 700 bytes, under the cut.
    let mut long = ecommpay_sale_callback("flooded-0", 15000, "success", "not-the-key");
    long["padding"] = json!("x".repeat(100 * 1024));
    let long_length = i32::try_from(long.to_string().len()).unwrap();
    assert_eq!(h.post_ecommpay(&long).await, 400);
    for round in 0..3 {
        let payment_id = format!("flooded-{round}");
        h.publish(
            "purchase.create",
            humm_purchase(&payment_id, 15000).to_string().as_bytes(),
        )
        .await;
        h.event(&payment_id, "payment.action_required").await;
        // Forgeries from this address (127.0.0.1, as the sandbox's genuine callbacks are), far
        // past the throttle's quota, interleaved with the customer finishing the payment.
        let forged = {
            let mut body = ecommpay_sale_callback(&payment_id, 15000, "success", "not-the-key");
            body["payment"]["id"] = json!(payment_id);
            body
        };
        let mut statuses = Vec::new();
        for n in 0..100 {
            if n == 50 {
                h.customer_finishes(&payment_id, "success").await;
            }
            statuses.push(h.post_ecommpay(&forged).await);
        }
        assert!(
            statuses.iter().all(|status| *status == 400 || *status == 429),
            "{statuses:?}"
        );
        assert!(statuses.contains(&429), "the forger is throttled");
        h.event(&payment_id, "payment.succeeded").await;
    }
    // Every genuine callback was acknowledged at its first attempt: none met the throttle.
    let ledger: Value = h
        .http
        .get(h.sandbox.url("/sandbox/ledger"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let genuine: Vec<&Value> = ledger["callbacks"]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["payment_id"].as_str().is_some_and(|id| id.starts_with("flooded-")) && c["forged"] == false)
        .collect();
    assert!(!genuine.is_empty());
    for callback in genuine {
        assert_eq!(callback["attempts"], 1, "{callback}");
        assert_eq!(callback["acknowledged"], true, "{callback}");
    }
    // Unverified bodies are stored truncated, with their length (the long forgery above).
    let pool = h.db.pool().await;
    let (largest, lengths): (Option<i32>, Option<i64>) =
        sqlx::query_as("SELECT max(octet_length(body)), count(body_length) FROM inbound_callbacks WHERE NOT verified")
            .fetch_one(&pool)
            .await
            .unwrap();
    let kept: Option<(i32, i32)> = sqlx::query_as(
        "SELECT octet_length(body), body_length FROM inbound_callbacks WHERE NOT verified AND body_length = $1",
    )
    .bind(long_length)
    .fetch_optional(&pool)
    .await
    .unwrap();
    pool.close().await;
    assert!(largest.unwrap_or(0) <= 4096);
    assert!(lengths.unwrap_or(0) > 0);
    assert_eq!(
        kept,
        Some((4096, long_length)),
        "the long forgery is kept cut, with its length"
    );
    h.still_alive().await;
    h.stop().await;
}

/// `body` signed again with the default project's key after a change.
fn resigned(mut body: Value) -> Value {
    body.as_object_mut().map(|object| object.remove("signature"));
    bnpl::providers::ecommpay::signature::sign_in_place(&mut body, &SecretString::from(SECRET));
    body
}

/// Values PostgreSQL cannot store (a NUL) or that no payment of ours could have, in callbacks the
/// provider really signed: each is stored and answered at once (a 5xx would bring the same body
/// back for days, failing its group-commit batch each time), never charged to the sender, and
/// the payment it names still settles.
#[tokio::test]
async fn verified_callbacks_with_unstorable_values_are_stored_and_answered_not_retried() {
    let mut h = Hostile::start().await;
    h.publish(
        "purchase.create",
        humm_purchase("dirty-humm", 15000).to_string().as_bytes(),
    )
    .await;
    h.event("dirty-humm", "payment.action_required").await;

    // References no payment of ours could have: stored as `unknown_payment`, answered 200.
    let nul_id = ecommpay_success("dirty\u{0}humm", 15000, "GBP", PROJECT, SECRET);
    let long_id = ecommpay_success(&"d".repeat(10_000), 15000, "GBP", PROJECT, SECRET);
    assert_eq!(h.post_ecommpay(&nul_id).await, 200);
    assert_eq!(h.post_ecommpay(&long_id).await, 200);
    // Far past the throttle's quota: a real provider sent them, so they are never charged, and a
    // forgery from the same address still meets 400, not 429.
    for _ in 0..60 {
        assert_eq!(h.post_ecommpay(&nul_id).await, 200);
    }
    let forged = ecommpay_sale_callback("dirty-humm", 15000, "success", "not-the-key");
    assert_eq!(
        h.post_ecommpay(&forged).await,
        400,
        "the unreadable callbacks were not charged"
    );

    // A decline whose message and provider reference hold a NUL: applied, its texts cleaned.
    let mut decline = ecommpay_sale_callback("dirty-humm", 15000, "decline", SECRET);
    decline["operation"]["message"] = json!("General\u{0}decline");
    decline["operation"]["provider"]["payment_id"] = json!("REF\u{0}1");
    assert_eq!(h.post_ecommpay(&resigned(decline)).await, 200);
    let declined = h.event("dirty-humm", "payment.declined").await;
    assert_eq!(declined["reason"]["provider_message"], "General decline", "{declined}");

    let pool = h.db.pool().await;
    let stored: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM inbound_callbacks WHERE verified AND outcome = 'unknown_payment' AND payment_id IS NULL",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    pool.close().await;
    assert_eq!(stored, 62, "every unreadable callback is kept whole, once");
    h.still_alive().await;
    h.stop().await;
}
