//! The traffic: humm Gate and valU purchases, refunds (partial, concurrent, over the capture,
//! cancelled, repeated), malformed and refused commands, and forged callbacks, spread over the
//! fault window. Every publish carries a fresh AMQP `message_id`, kept for the final accounting.

use crate::cluster::{
    ACCESS_CODE, MERCHANT, PROJECT, SECOND_ACCESS_CODE, SECOND_MERCHANT, SECOND_PROJECT, SECOND_RESPONSE_PHRASE,
    SECOND_SECRET, SECRET,
};
use crate::{Class, Run};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use secrecy::SecretString;
use serde_json::{json, Map, Value};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;
use tokio::time::Instant;

/// Payment markers, handed out in turn to every third payment so each kind occurs at any size.
const PAYMENT_MARKERS: [&str; 9] = [
    "fault-decline",
    "fault-5xx",
    "fault-register-500",
    "fault-timeout-after-register",
    "fault-lost-callback",
    "fault-duplicate-callback",
    "fault-reorder-callbacks",
    "fault-bad-signature-callback",
    "fault-slow",
];
const REFUND_MARKERS: [&str; 7] = [
    "fault-decline",
    "fault-5xx",
    "fault-register-500",
    "fault-timeout-after-register",
    "fault-lost-callback",
    "fault-duplicate-callback",
    "fault-bad-signature-callback",
];
/// How long a payment may take to reach the state the traffic waits for.
const FOLLOW_DEADLINE: Duration = Duration::from_secs(60);

/// Publishes everything over `window`; returns when every follow-up (confirms, refunds) is done.
pub async fn drive(run: Arc<Run>, window: Duration, seed: u64) {
    let scale = run.scale;
    let (humm, valu) = (40 * scale, 6 * scale);
    let mut rng = StdRng::seed_from_u64(seed);
    // One timeline of (when, what) so the traffic interleaves.
    let mut plan: Vec<(Duration, Item)> = Vec::new();
    let at = |i: usize, n: usize, rng: &mut StdRng| {
        let base = window.as_millis() as u64 * i as u64 / n.max(1) as u64;
        Duration::from_millis(base + rng.gen_range(0..500))
    };
    for i in 0..humm {
        plan.push((at(i, humm, &mut rng), Item::Humm(i)));
    }
    for i in 0..valu {
        plan.push((at(i, valu, &mut rng), Item::Valu(i)));
    }
    for i in 0..8 * scale {
        plan.push((at(i, 8 * scale, &mut rng), Item::Malformed(i)));
    }
    for i in 0..4 * scale {
        plan.push((at(i, 4 * scale, &mut rng), Item::Refused(i)));
    }
    for i in 0..10 * scale {
        plan.push((at(i, 10 * scale, &mut rng) + Duration::from_secs(2), Item::Forged(i)));
    }
    plan.sort_by_key(|(when, _)| *when);
    let started = Instant::now();
    let mut follow = JoinSet::new();
    for (when, item) in plan {
        tokio::time::sleep_until(started + when).await;
        let run = Arc::clone(&run);
        let item_seed = rng.gen();
        match item {
            Item::Humm(i) => {
                let marker = (i % 3 == 0).then(|| PAYMENT_MARKERS[(i / 3) % PAYMENT_MARKERS.len()]);
                let id = with_marker(format!("fs-h{i}"), marker);
                run.count_marker(marker);
                let amount = rng.gen_range(1_000..200_000);
                follow.spawn(follow_humm(run, id, amount, item_seed));
            }
            Item::Valu(i) => {
                let marker = (i % 2 == 0).then(|| PAYMENT_MARKERS[(i / 2 + 3) % PAYMENT_MARKERS.len()]);
                let id = with_marker(format!("fs-v{i}"), marker);
                run.count_marker(marker);
                let amount = rng.gen_range(100_000..600_000);
                follow.spawn(follow_valu(run, id, amount, format!("0105{:07}", i), item_seed));
            }
            Item::Malformed(i) => {
                follow.spawn(async move { malformed(&run, i).await });
            }
            Item::Refused(i) => {
                follow.spawn(async move { refused(&run, i).await });
            }
            Item::Forged(i) => {
                follow.spawn(async move { forged(&run, i, item_seed).await });
            }
        }
    }
    while follow.join_next().await.is_some() {}
}

enum Item {
    Humm(usize),
    Valu(usize),
    Malformed(usize),
    Refused(usize),
    Forged(usize),
}

fn with_marker(base: String, marker: Option<&str>) -> String {
    match marker {
        Some(marker) => format!("{base}-{marker}"),
        None => base,
    }
}

async fn follow_humm(run: Arc<Run>, id: String, amount: i64, seed: u64) {
    let body = json!({
        "payment_id": id, "provider": "humm", "account": "default", "flow": "gate",
        "amount": {"minor": amount, "currency": "GBP"},
        "customer": {"id": "cust-fs", "first_name": "Jane", "last_name": "Doe", "ip_address": "203.0.113.7"},
        "description": "Fault suite order", "return_url": "https://shop.example/return",
        "metadata": {"order_ref": id}
    });
    run.publish("purchase.create", &body, Class::Valid).await;
    run.humm_ids.lock().unwrap().push(id.clone());
    let mut rng = StdRng::seed_from_u64(seed);
    if rng.gen_bool(0.1) {
        // The same command again (a re-publishing order system): one payment, no second sale.
        run.publish("purchase.create", &body, Class::Valid).await;
    }
    if wait_for(&run, &id, "payment.succeeded").await && rng.gen_bool(0.6) {
        refunds(&run, &id, amount, "GBP", &mut rng).await;
    }
}

async fn follow_valu(run: Arc<Run>, id: String, amount: i64, phone: String, seed: u64) {
    let body = json!({
        "payment_id": id, "provider": "valu", "account": "default",
        "amount": {"minor": amount, "currency": "EGP"}, "down_payment_minor": 0,
        "customer": {"id": "cust-fv", "first_name": "Omar", "last_name": "Ali", "phone": phone, "email": "omar@example.com"},
        "items": [{"name": "Laptop", "category": "Electronics", "unit_price_minor": amount, "quantity": 1}],
        "description": "Fault suite order"
    });
    run.publish("purchase.create", &body, Class::Valid).await;
    run.valu_ids.lock().unwrap().push(id.clone());
    let mut rng = StdRng::seed_from_u64(seed);
    if !wait_for(&run, &id, "payment.action_required").await {
        return;
    }
    let offer = run.events.find(&id, "payment.action_required").unwrap_or_default();
    let tenure = offer["action"]["plans"][0]["tenure_months"].as_u64().unwrap_or(6);
    let Some(otp) = otp_for(&run, &phone).await else {
        run.tally
            .note(format!("{id}: the sandbox never showed an OTP for its phone"));
        return;
    };
    let confirm = json!({"payment_id": id, "otp": otp, "tenure_months": tenure});
    run.publish("purchase.confirm", &confirm, Class::Valid).await;
    if rng.gen_bool(0.3) {
        run.publish("purchase.confirm", &confirm, Class::Valid).await;
    }
    if wait_for(&run, &id, "payment.succeeded").await && rng.gen_bool(0.6) {
        refunds(&run, &id, amount, "EGP", &mut rng).await;
    }
}

/// Waits for an event of type `wanted`; false when the payment ended otherwise or time ran out.
async fn wait_for(run: &Run, id: &str, wanted: &str) -> bool {
    let started = Instant::now();
    while started.elapsed() < FOLLOW_DEADLINE {
        let events = run.events.events_of(id);
        if events.iter().any(|e| e["type"] == wanted) {
            return true;
        }
        let ended = [
            "payment.declined",
            "payment.failed",
            "payment.expired",
            "payment.succeeded",
        ];
        if events.iter().any(|e| ended.iter().any(|t| e["type"] == *t)) {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    false
}

async fn otp_for(run: &Run, phone: &str) -> Option<String> {
    for _ in 0..20 {
        let answer = run
            .http
            .get(format!("{}/sandbox/valu/otp/{phone}", run.sandbox_url))
            .send()
            .await;
        if let Ok(response) = answer {
            if let Ok(value) = response.json::<Value>().await {
                if let Some(otp) = value["otp"].as_str() {
                    return Some(otp.to_owned());
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    None
}

/// One to three refunds of a succeeded payment published back to back (so they race for the
/// balance and the queue), sometimes over the capture, repeated or cancelled.
async fn refunds(run: &Run, payment_id: &str, amount: i64, currency: &str, rng: &mut StdRng) {
    let count = rng.gen_range(1..=3);
    let mut last = None;
    for _ in 0..count {
        let n = run.tally.refunds_requested.fetch_add(1, Ordering::Relaxed);
        let marker = (n % 3 == 1).then(|| REFUND_MARKERS[(n as usize / 3) % REFUND_MARKERS.len()]);
        run.count_marker(marker);
        let refund_id = with_marker(format!("fs-r{n}"), marker);
        let minor = ((amount as f64) * rng.gen_range(0.2..0.6)).round().max(1.0) as i64;
        let body = json!({"refund_id": refund_id, "payment_id": payment_id,
                          "amount": {"minor": minor, "currency": currency}, "reason": "fault suite"});
        run.publish("refund.create", &body, Class::Valid).await;
        if rng.gen_bool(0.1) {
            run.publish("refund.create", &body, Class::Valid).await;
        }
        last = Some(refund_id);
    }
    if let Some(refund_id) = last.filter(|_| rng.gen_bool(0.15)) {
        run.publish("refund.cancel", &json!({"refund_id": refund_id}), Class::Valid)
            .await;
    }
}

/// Commands that cannot be processed at all: each must come out of `PREFIX.dead` exactly once.
/// Bodies are unique, so each dead letter names the command it came from.
async fn malformed(run: &Run, i: usize) {
    let nonce = uuid::Uuid::new_v4().simple().to_string();
    let (key, body) = match i % 4 {
        0 => ("purchase.create", format!("{{\"payment_id\": \"fs-bad-{nonce}\", oops")),
        1 => (
            "refund.create",
            format!(r#"{{"payment_id":"fs-h0","amount":{{"minor":100,"currency":"GBP"}},"nonce":"{nonce}"}}"#),
        ),
        2 => (
            "purchase.explode",
            format!(r#"{{"payment_id":"fs-unk-{i}","nonce":"{nonce}"}}"#),
        ),
        _ => (
            "purchase.create",
            format!(r#"{{"payment_id":"fs-schema-{i}","provider":"humm","amount":"lots","nonce":"{nonce}"}}"#),
        ),
    };
    run.malformed.lock().unwrap().push(body.clone().into_bytes());
    run.publish_raw(key, body.as_bytes(), Class::Malformed).await;
}

/// Well-formed commands refused on business grounds: stored and announced, never dead letters.
async fn refused(run: &Run, i: usize) {
    if i % 2 == 0 {
        let body = json!({
            "payment_id": format!("fs-usd{i}"), "provider": "humm", "account": "default",
            "amount": {"minor": 5000, "currency": "USD"},
            "customer": {"id": "c", "first_name": "A", "last_name": "B", "ip_address": "203.0.113.7"},
            "return_url": "https://shop.example/return"
        });
        run.publish("purchase.create", &body, Class::Refused).await;
    } else {
        let body = json!({"refund_id": format!("fs-nopay{i}"), "payment_id": "fs-nobody",
                          "amount": {"minor": 100, "currency": "GBP"}});
        run.publish("refund.create", &body, Class::Refused).await;
    }
}

/// A forged success about a real payment, posted until a process answers (a dead one refuses the
/// connection). Every answer must be a refusal: 400, or 429 once the forger is throttled. Five
/// kinds (contract §7): signed with a wrong key (ecommpay, APS), or correctly signed by another
/// account (the second ecommpay project about a `default` humm payment; the second APS merchant
/// about a `default` valU payment) or another provider (the humm project's key about a valU
/// payment); the last three are verified, so they are refused as `account_mismatch`, always 400.
async fn forged(run: &Run, i: usize, seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let kind = Forgery::ALL[i % Forgery::ALL.len()];
    let ids = match kind {
        Forgery::WrongKeyEcommpay | Forgery::CrossAccountEcommpay => &run.humm_ids,
        Forgery::WrongKeyAps | Forgery::CrossMerchantAps | Forgery::CrossProviderEcommpay => &run.valu_ids,
    };
    let Some(id) = ids.lock().unwrap().choose(&mut rng).cloned() else {
        return;
    };
    let (path, body, content_type) = match kind {
        Forgery::WrongKeyAps => aps_success(&id, MERCHANT, ACCESS_CODE, &SecretString::from("not-the-real-key")),
        Forgery::CrossMerchantAps => aps_success(
            &id,
            SECOND_MERCHANT,
            SECOND_ACCESS_CODE,
            &SecretString::from(SECOND_RESPONSE_PHRASE),
        ),
        Forgery::WrongKeyEcommpay => ecommpay_success(&id, PROJECT, "GBP", &SecretString::from("not-the-real-key")),
        Forgery::CrossAccountEcommpay => {
            ecommpay_success(&id, SECOND_PROJECT, "GBP", &SecretString::from(SECOND_SECRET))
        }
        Forgery::CrossProviderEcommpay => ecommpay_success(&id, PROJECT, "EGP", &SecretString::from(SECRET)),
    };
    if kind.verified() {
        run.tally.forged_verified_posted.fetch_add(1, Ordering::Relaxed);
    }
    let targets = run.callback_targets.clone();
    for _ in 0..60 {
        let target = targets.choose(&mut rng).cloned().unwrap_or_default();
        let answer = run
            .http
            .post(format!("{target}{path}"))
            .header("content-type", content_type)
            .body(body.clone())
            .timeout(Duration::from_secs(10))
            .send()
            .await;
        match answer.map(|r| r.status().as_u16()) {
            // Down, or the database is cut (it stores the refusal first): ask again later.
            Err(_) | Ok(502 | 503) => tokio::time::sleep(Duration::from_millis(500)).await,
            Ok(status) => {
                run.tally.forged_posted.fetch_add(1, Ordering::Relaxed);
                // A verified forgery (another account's) is never throttled: always 400.
                if status == 400 || (status == 429 && !kind.verified()) {
                    run.tally.forged_rejected.fetch_add(1, Ordering::Relaxed);
                } else {
                    run.tally.note(format!("forged callback to {path} answered {status}"));
                }
                return;
            }
        }
    }
    run.tally.note(format!("forged callback to {path} never got an answer"));
}

/// The kinds of forged callback the suite posts.
#[derive(Debug, Clone, Copy)]
enum Forgery {
    WrongKeyEcommpay,
    WrongKeyAps,
    CrossAccountEcommpay,
    CrossMerchantAps,
    CrossProviderEcommpay,
}

impl Forgery {
    const ALL: [Forgery; 5] = [
        Forgery::WrongKeyEcommpay,
        Forgery::WrongKeyAps,
        Forgery::CrossAccountEcommpay,
        Forgery::CrossMerchantAps,
        Forgery::CrossProviderEcommpay,
    ];

    /// Correctly signed by a configured account, just not the payment's.
    fn verified(self) -> bool {
        matches!(
            self,
            Forgery::CrossAccountEcommpay | Forgery::CrossMerchantAps | Forgery::CrossProviderEcommpay
        )
    }
}

/// An APS PURCHASE success notification, form-encoded, signed with `phrase`.
fn aps_success(
    id: &str,
    merchant: &str,
    access_code: &str,
    phrase: &SecretString,
) -> (&'static str, String, &'static str) {
    let mut fields = Map::new();
    for (k, v) in [
        ("command", "PURCHASE"),
        ("merchant_reference", id),
        ("merchant_identifier", merchant),
        ("access_code", access_code),
        ("amount", "100000"),
        ("currency", "EGP"),
        ("response_code", "14000"),
        ("status", "14"),
        ("response_message", "Success"),
        ("fort_id", "169999999999"),
        ("payment_option", "VALU"),
    ] {
        fields.insert(k.to_owned(), Value::String(v.to_owned()));
    }
    let signature = bnpl::providers::aps::signature::sign_response(
        &fields,
        phrase,
        bnpl::providers::aps::signature::ShaType::Sha256,
    );
    fields.insert("signature".into(), Value::String(signature));
    let pairs: Vec<(String, String)> = fields
        .into_iter()
        .map(|(k, v)| (k, v.as_str().unwrap_or_default().to_owned()))
        .collect();
    let form = serde_urlencoded::to_string(pairs).unwrap_or_default();
    ("/callbacks/aps", form, "application/x-www-form-urlencoded")
}

/// An ecommpay sale success callback, JSON, naming `project` and signed with `key`.
fn ecommpay_success(
    id: &str,
    project: u64,
    currency: &str,
    key: &SecretString,
) -> (&'static str, String, &'static str) {
    let mut body = json!({
        "project_id": project,
        "payment": {"id": id, "type": "bnpl", "status": "success", "method": "bnpl",
                    "sum": {"amount": 100, "currency": currency}},
        "operation": {"id": 990_001, "type": "sale", "status": "success", "code": "0", "message": "Success",
                      "sum_initial": {"amount": 100, "currency": currency}, "request_id": "forged-1"}
    });
    bnpl::providers::ecommpay::signature::sign_in_place(&mut body, key);
    ("/callbacks/ecommpay", body.to_string(), "application/json")
}
