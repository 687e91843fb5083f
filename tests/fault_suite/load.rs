//! The traffic's timeline: humm Gate and Payment Page purchases and valU purchases (followed by
//! their refunds: `purchases`, `refunds`), malformed and refused commands, and forged callbacks
//! (`forged`), spread over the fault window. Every publish carries a fresh AMQP `message_id`,
//! kept for the final accounting.

use crate::purchases::{follow_humm, follow_page, follow_valu};
use crate::{Class, Run};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;
use tokio::time::Instant;

/// Payment markers, handed out in turn to every third payment so each kind occurs at any size.
const PAYMENT_MARKERS: [&str; 10] = [
    "fault-decline",
    "fault-5xx",
    "fault-register-500",
    "fault-timeout-after-register",
    "fault-lost-callback",
    "fault-duplicate-callback",
    "fault-reorder-callbacks",
    "fault-bad-signature-callback",
    "fault-slow",
    "fault-provider-error",
];
pub const REFUND_MARKERS: [&str; 8] = [
    "fault-decline",
    "fault-5xx",
    "fault-register-500",
    "fault-timeout-after-register",
    "fault-lost-callback",
    "fault-duplicate-callback",
    "fault-bad-signature-callback",
    "fault-provider-error",
];
/// How long a payment may take to reach the state the traffic waits for.
pub const FOLLOW_DEADLINE: Duration = Duration::from_secs(60);

/// Publishes everything over `window`; returns when every follow-up (confirms, refunds) is done.
pub async fn drive(run: Arc<Run>, window: Duration, seed: u64) {
    let scale = run.scale;
    let (humm, valu, pages) = (40 * scale, 6 * scale, 6 * scale);
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
    for i in 0..pages {
        plan.push((at(i, pages, &mut rng), Item::Page(i)));
    }
    for i in 0..8 * scale {
        plan.push((at(i, 8 * scale, &mut rng), Item::Malformed(i)));
    }
    for i in 0..4 * scale {
        plan.push((at(i, 4 * scale, &mut rng), Item::Refused(i)));
    }
    if run.knobs.forged {
        for i in 0..10 * scale {
            plan.push((at(i, 10 * scale, &mut rng) + Duration::from_secs(2), Item::Forged(i)));
        }
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
                follow.spawn(follow_valu(run, i, id, amount, format!("0105{:07}", i), item_seed));
            }
            Item::Page(i) => {
                let amount = rng.gen_range(1_000..200_000);
                follow.spawn(follow_page(run, i, format!("fs-p{i}"), amount, item_seed));
            }
            Item::Malformed(i) => {
                follow.spawn(async move { malformed(&run, i).await });
            }
            Item::Refused(i) => {
                follow.spawn(async move { refused(&run, i).await });
            }
            Item::Forged(i) => {
                follow.spawn(async move { crate::forged::post(&run, i, item_seed).await });
            }
        }
    }
    while follow.join_next().await.is_some() {}
}

enum Item {
    Humm(usize),
    Valu(usize),
    Page(usize),
    Malformed(usize),
    Refused(usize),
    Forged(usize),
}

pub fn with_marker(base: String, marker: Option<&str>) -> String {
    match marker {
        Some(marker) => format!("{base}-{marker}"),
        None => base,
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
        run.publish("purchase.create", &body, Class::Refused("unsupported_currency"))
            .await;
    } else {
        let body = json!({"refund_id": format!("fs-nopay{i}"), "payment_id": "fs-nobody",
                          "amount": {"minor": 100, "currency": "GBP"}});
        run.publish("refund.create", &body, Class::Refused("unknown_payment"))
            .await;
    }
}

/// Waits for an event of type `wanted`; false when the payment ended otherwise or time ran out.
pub async fn wait_for(run: &Run, id: &str, wanted: &str) -> bool {
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
