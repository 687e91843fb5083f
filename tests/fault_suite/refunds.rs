//! Refunds of a succeeded payment, published back to back so they race for the balance and the
//! queue: one to three within the capture (each must apply), sometimes repeated, sometimes one
//! over the capture (which must be refused as `over_refund`), sometimes the last one cancelled
//! (a race with its send: `refund.cancelled` or `not_cancellable`, nothing else).

use crate::load::{with_marker, REFUND_MARKERS};
use crate::{Class, Run};
use rand::rngs::StdRng;
use rand::Rng;
use serde_json::json;
use std::sync::atomic::Ordering;

/// The suffix of refunds an operator cancels through the admin API while they wait in the queue
/// (`admin`); the traffic never cancels these itself.
pub const ADMIN_CANCEL: &str = "opcancel";

pub async fn refunds(run: &Run, payment_id: &str, amount: i64, currency: &str, rng: &mut StdRng) {
    if !run.knobs.refunds {
        return;
    }
    // Every other refunded payment gets a burst of three, so queues always fill.
    let bursts = run.tally.refunded_payments.fetch_add(1, Ordering::Relaxed);
    let count = if bursts % 2 == 0 { 3 } else { rng.gen_range(1..=2) };
    let mut last = None;
    let mut first = None;
    for k in 0..count {
        let n = run.tally.refunds_requested.fetch_add(1, Ordering::Relaxed);
        first.get_or_insert(n);
        let marker = (n % 3 == 1).then(|| REFUND_MARKERS[(n as usize / 3) % REFUND_MARKERS.len()]);
        run.count_marker(marker);
        let mut refund_id = with_marker(format!("fs-r{n}"), marker);
        // The third of a burst waits behind the other two: an operator may cancel it there.
        let for_operator = k == 2 && marker.is_none();
        if for_operator {
            refund_id = format!("{refund_id}-{ADMIN_CANCEL}");
        }
        // At most 30% each, so even three stay within the capture: every one must apply.
        let minor = ((amount as f64) * rng.gen_range(0.1..0.3)).round().max(1.0) as i64;
        let body = json!({"refund_id": refund_id, "payment_id": payment_id,
                          "amount": {"minor": minor, "currency": currency}, "reason": "fault suite"});
        run.publish("refund.create", &body, Class::Applies).await;
        if rng.gen_bool(0.1) {
            run.publish("refund.create", &body, Class::Applies).await;
        }
        if !for_operator {
            last = Some(refund_id);
        }
    }
    if first.is_some_and(|n| n % 4 == 0) {
        // More than was captured, whatever else is refunded: always refused. Every fourth
        // refunded payment, so every run has some.
        let n = run.tally.refunds_requested.fetch_add(1, Ordering::Relaxed);
        run.tally.over_refunds_requested.fetch_add(1, Ordering::Relaxed);
        let body = json!({"refund_id": format!("fs-r{n}-over"), "payment_id": payment_id,
                          "amount": {"minor": amount + 1, "currency": currency}, "reason": "fault suite"});
        run.publish("refund.create", &body, Class::Refused("over_refund")).await;
    }
    if let Some(refund_id) = last.filter(|_| rng.gen_bool(0.15)) {
        // An order system cancels a refund it knows was queued; then the only race left is
        // with its send.
        if !queued(run, payment_id, &refund_id).await {
            return;
        }
        let cancel = json!({"refund_id": refund_id});
        run.publish("refund.cancel", &cancel, Class::AppliesOr(&["not_cancellable"]))
            .await;
    }
}

/// Waits until `refund_id` (of `payment_id`) was announced `refund.queued`.
async fn queued(run: &Run, payment_id: &str, refund_id: &str) -> bool {
    let started = tokio::time::Instant::now();
    while started.elapsed() < crate::load::FOLLOW_DEADLINE {
        let events = run.events.events_of(payment_id);
        if events
            .iter()
            .any(|e| e["type"] == "refund.queued" && e["refund_id"] == refund_id)
        {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    false
}
