//! Callback delivery with the providers' retry schedules, and the callback faults.
//!
//! ecommpay (providers.md §1.3, en_Gate_Callbacks.html): delivered only when answered HTTP 200;
//! otherwise retried 6 times 10 s apart, then every `70 + 10·1.12^(n−4)` s (n = attempt number)
//! until that reaches 4 h, then every 4 h, at most 120 attempts within 11 days.
//! APS (providers.md §2.5, transactionfeedback): acknowledged by any 2xx or 302, otherwise
//! retried 10 times 10 s apart. Every interval is scaled by `time_scale`.
//!
//! A forged copy (fault `bad-signature-callback`) is sent once, never retried: it exists to see
//! whether the merchant refuses it, and an acknowledgement of it is counted in the ledger.

use std::sync::Arc;

use serde_json::Value;

use super::faults::{Fault, FaultSet};
use super::ledger::CallbackEntry;
use super::state::Shared;

/// Which provider's delivery rules apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Schedule {
    Ecommpay,
    Aps,
}

/// A body as it goes on the wire.
#[derive(Debug, Clone)]
pub(crate) enum Payload {
    /// ecommpay: signed JSON.
    Json(Value),
    /// APS: form-encoded, `signature` among the fields.
    Form(Vec<(String, String)>),
}

/// One callback to deliver.
#[derive(Debug, Clone)]
pub(crate) struct Outgoing {
    pub schedule: Schedule,
    pub payment_id: String,
    pub kind: &'static str,
    pub url: String,
    pub payload: Payload,
}

impl Schedule {
    fn provider(self) -> &'static str {
        match self {
            Schedule::Ecommpay => "ecommpay",
            Schedule::Aps => "aps",
        }
    }

    fn max_attempts(self) -> u32 {
        match self {
            Schedule::Ecommpay => 120,
            Schedule::Aps => 11,
        }
    }

    /// Provider-time seconds to wait after failed attempt number `attempt` (1-based).
    pub(crate) fn delay_after(self, attempt: u32) -> f64 {
        match self {
            Schedule::Aps => 10.0,
            Schedule::Ecommpay if attempt <= 6 => 10.0,
            Schedule::Ecommpay => {
                let n = f64::from(attempt + 1);
                (70.0 + 10.0 * 1.12_f64.powf(n - 4.0)).min(4.0 * 3600.0)
            }
        }
    }

    fn acknowledged(self, status: reqwest::StatusCode) -> bool {
        match self {
            Schedule::Ecommpay => status == reqwest::StatusCode::OK,
            Schedule::Aps => status.is_success() || status == reqwest::StatusCode::FOUND,
        }
    }
}

/// 11 days: ecommpay stops retrying after that, whatever the attempt count.
const ECOMMPAY_RETRY_WINDOW_SECS: f64 = 11.0 * 24.0 * 3600.0;

/// Delivers `out` applying the callback faults in `faults` (lost, duplicate, bad signature);
/// true when the genuine callback was acknowledged.
pub(crate) async fn deliver_with_faults(shared: &Arc<Shared>, out: Outgoing, faults: FaultSet) -> bool {
    if shared.applies(faults, Fault::BadSignatureCallback) {
        let mut forged = out.clone();
        forge(&mut forged.payload);
        deliver(shared, forged, true).await;
    }
    let acknowledged = deliver(shared, out.clone(), false).await;
    if shared.applies(faults, Fault::DuplicateCallback) {
        deliver(shared, out, false).await;
    }
    acknowledged
}

/// Records a final callback withheld by the `lost-callback` fault.
pub(crate) async fn record_lost(shared: &Shared, schedule: Schedule) {
    shared.store.lock().await.ledger.callback_lost(schedule.provider());
}

/// Delivers one callback, retrying on its provider's schedule; true when acknowledged.
pub(crate) async fn deliver(shared: &Arc<Shared>, out: Outgoing, forged: bool) -> bool {
    let provider = out.schedule.provider();
    let seq = shared.store.lock().await.ledger.callback_queued(CallbackEntry {
        provider,
        payment_id: out.payment_id.clone(),
        kind: out.kind,
        forged,
        url: out.url.clone(),
        attempts: 0,
        acknowledged: false,
        gave_up: false,
        last_http_status: None,
    });
    let max_attempts = if forged { 1 } else { out.schedule.max_attempts() };
    let mut elapsed = 0.0;
    for attempt in 1..=max_attempts {
        let status = send_once(shared, &out).await;
        let acknowledged = status.is_some_and(|s| out.schedule.acknowledged(s));
        let delay = out.schedule.delay_after(attempt);
        let last = attempt == max_attempts
            || (out.schedule == Schedule::Ecommpay && elapsed + delay > ECOMMPAY_RETRY_WINDOW_SECS);
        shared.store.lock().await.ledger.callback_attempt(
            seq,
            provider,
            forged,
            status.map(|s| s.as_u16()),
            acknowledged,
            last,
        );
        if acknowledged {
            return true;
        }
        if last {
            tracing::warn!(payment_id = %out.payment_id, provider, kind = out.kind, attempt, "callback given up");
            return false;
        }
        elapsed += delay;
        if !shared.sleep(shared.config.scaled(delay)).await {
            return false;
        }
    }
    false
}

async fn send_once(shared: &Shared, out: &Outgoing) -> Option<reqwest::StatusCode> {
    let request = shared.http.post(&out.url);
    let request = match &out.payload {
        Payload::Json(body) => request.json(body),
        Payload::Form(fields) => request.form(fields),
    };
    match request.send().await {
        Ok(response) => Some(response.status()),
        Err(error) => {
            tracing::debug!(payment_id = %out.payment_id, %error, "callback attempt failed");
            None
        }
    }
}

/// Replaces the signature with one of the right shape that matches nothing.
fn forge(payload: &mut Payload) {
    match payload {
        Payload::Json(Value::Object(map)) => {
            map.insert(
                "signature".into(),
                Value::String(format!("{}AAAA", "Zm9yZ2Vk".repeat(10))),
            );
        }
        Payload::Json(_) => {}
        Payload::Form(fields) => {
            for (name, value) in fields.iter_mut() {
                if name == "signature" {
                    *value = "0".repeat(value.len().max(64));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ecommpay_schedule_follows_the_docs() {
        for attempt in 1..=6 {
            assert_eq!(Schedule::Ecommpay.delay_after(attempt), 10.0);
        }
        // Attempt 8 comes 70 + 10·1.12^(8−4) s after attempt 7.
        let d = Schedule::Ecommpay.delay_after(7);
        assert!((d - (70.0 + 10.0 * 1.12_f64.powi(4))).abs() < 1e-9);
        assert_eq!(Schedule::Ecommpay.delay_after(119), 4.0 * 3600.0);
        assert_eq!(Schedule::Aps.delay_after(3), 10.0);
    }
}
