//! Following each purchase the way an order system and its customer would: humm Gate (the
//! sandbox's customer finishes the redirect), humm Payment Page (the customer opens the page, or
//! never does and an operator resolves it), and valU (OTP, sometimes a wrong one first or a
//! resend), then the refunds of those that succeed.

use crate::load::{wait_for, FOLLOW_DEADLINE};
use crate::refunds::refunds;
use crate::{Class, Run};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// A confirm or resend races the payment's own life (threshold, a decline by fault, a first
/// confirm still running): these refusals are legitimate.
const CUSTOMER_STEP_REFUSALS: &[&str] = &["not_awaiting_confirmation", "confirmation_in_progress"];

pub fn humm_body(id: &str, amount: i64, flow: &str) -> Value {
    json!({
        "payment_id": id, "provider": "humm", "account": "default", "flow": flow,
        "amount": {"minor": amount, "currency": "GBP"},
        "customer": {"id": "cust-fs", "first_name": "Jane", "last_name": "Doe", "ip_address": "203.0.113.7"},
        "description": "Fault suite order", "return_url": "https://shop.example/return",
        "metadata": {"order_ref": id}
    })
}

pub async fn follow_humm(run: Arc<Run>, id: String, amount: i64, seed: u64) {
    let body = humm_body(&id, amount, "gate");
    run.publish("purchase.create", &body, Class::Applies).await;
    run.humm_ids.lock().unwrap().push(id.clone());
    let mut rng = StdRng::seed_from_u64(seed);
    if rng.gen_bool(0.1) {
        // The same command again (a re-publishing order system): one payment, no second sale.
        run.publish("purchase.create", &body, Class::Applies).await;
    }
    if wait_for(&run, &id, "payment.succeeded").await && rng.gen_bool(0.6) {
        refunds(&run, &id, amount, "GBP", &mut rng).await;
    }
}

/// A Payment Page purchase: nothing exists at ecommpay until the customer opens the page. Every
/// third one is never opened; an operator resolves it (`admin`).
pub async fn follow_page(run: Arc<Run>, i: usize, id: String, amount: i64, seed: u64) {
    run.publish(
        "purchase.create",
        &humm_body(&id, amount, "payment_page"),
        Class::Applies,
    )
    .await;
    run.humm_ids.lock().unwrap().push(id.clone());
    let mut rng = StdRng::seed_from_u64(seed);
    if !wait_for(&run, &id, "payment.action_required").await {
        return;
    }
    if i % 3 == 0 {
        run.tally.pages_abandoned.fetch_add(1, Ordering::Relaxed);
        run.abandoned_pages.lock().unwrap().push(id);
        return;
    }
    let offer = run.events.find(&id, "payment.action_required").unwrap_or_default();
    let Some(url) = offer["action"]["url"].as_str() else {
        run.tally.note(format!("{id}: no page URL in {offer}"));
        return;
    };
    // The customer opens the page (the sandbox registers the payment and redirects to humm,
    // where its automatic customer finishes).
    match run.http.get(url).timeout(Duration::from_secs(20)).send().await {
        Ok(_) => {
            run.tally.pages_opened.fetch_add(1, Ordering::Relaxed);
        }
        Err(error) => run.tally.note(format!("{id}: opening the page failed: {error}")),
    }
    if wait_for(&run, &id, "payment.succeeded").await && rng.gen_bool(0.5) {
        refunds(&run, &id, amount, "GBP", &mut rng).await;
    }
}

/// valU: OTP, then confirm. Payment `i % 3 == 1` first confirms with a wrong OTP; `i % 3 == 2`
/// first asks for the OTP again.
pub async fn follow_valu(run: Arc<Run>, i: usize, id: String, amount: i64, phone: String, seed: u64) {
    let body = json!({
        "payment_id": id, "provider": "valu", "account": "default",
        "amount": {"minor": amount, "currency": "EGP"}, "down_payment_minor": 0,
        "customer": {"id": "cust-fv", "first_name": "Omar", "last_name": "Ali", "phone": phone, "email": "omar@example.com"},
        "items": [{"name": "Laptop", "category": "Electronics", "unit_price_minor": amount, "quantity": 1}],
        "description": "Fault suite order"
    });
    run.publish("purchase.create", &body, Class::Applies).await;
    run.valu_ids.lock().unwrap().push(id.clone());
    let mut rng = StdRng::seed_from_u64(seed);
    if !wait_for(&run, &id, "payment.action_required").await {
        return;
    }
    let offer = run.events.find(&id, "payment.action_required").unwrap_or_default();
    let tenure = offer["action"]["plans"][0]["tenure_months"].as_u64().unwrap_or(6);
    let step = Class::AppliesOr(CUSTOMER_STEP_REFUSALS);
    match i % 3 {
        1 => {
            let Some(otp) = otp_for(&run, &phone).await else {
                return;
            };
            let wrong = if otp == "000000" { "111111" } else { "000000" };
            let confirm = json!({"payment_id": id, "otp": wrong, "tenure_months": tenure});
            run.publish("purchase.confirm", &confirm, step).await;
            run.tally.wrong_otps.fetch_add(1, Ordering::Relaxed);
            // The refusal comes back as a second `action_required` (reason `otp_invalid`).
            if !wait_for_count(&run, &id, "payment.action_required", 2).await {
                return;
            }
        }
        2 => {
            run.publish("purchase.resend_otp", &json!({"payment_id": id}), step)
                .await;
            run.tally.resends.fetch_add(1, Ordering::Relaxed);
            if !wait_for_count(&run, &id, "payment.action_required", 2).await {
                return;
            }
        }
        _ => {}
    }
    let Some(otp) = otp_for(&run, &phone).await else {
        run.tally
            .note(format!("{id}: the sandbox never showed an OTP for its phone"));
        return;
    };
    let confirm = json!({"payment_id": id, "otp": otp, "tenure_months": tenure});
    run.publish("purchase.confirm", &confirm, step).await;
    if rng.gen_bool(0.3) {
        run.publish("purchase.confirm", &confirm, step).await;
    }
    if wait_for(&run, &id, "payment.succeeded").await && rng.gen_bool(0.6) {
        refunds(&run, &id, amount, "EGP", &mut rng).await;
    }
}

/// Waits until `id` has `count` events of type `wanted`; false when it ended or time ran out.
async fn wait_for_count(run: &Run, id: &str, wanted: &str, count: usize) -> bool {
    let started = Instant::now();
    while started.elapsed() < FOLLOW_DEADLINE {
        let events = run.events.events_of(id);
        if events.iter().filter(|e| e["type"] == wanted).count() >= count {
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
