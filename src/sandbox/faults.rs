//! Faults on demand: magic markers per payment, and probabilities for every payment.
//!
//! A marker is a substring of the payment's id (ecommpay `payment_id`, APS `merchant_reference`),
//! of the refund's id (`merchant_refund_id`, `maintenance_reference`) or of the humm customer's
//! `first_name`, compared case-insensitively. Every marker is itself a valid payment id
//! (`A-Za-z0-9-_.`, well under 40 chars) and none is a substring of another, so
//! `ord-7-fault-slow-fault-decline` carries exactly two faults.
//!
//! Invariant: faults are decided once, when the payment or refund is registered, and stored with
//! it, so a rate change through `POST /sandbox/faults` never changes a payment already in flight.
//! The two request faults (`5xx`, `timeout-after-register`) hit only the first request that
//! carries them, so the client's recovery (status query, resend with the same id) can succeed.

use rand::Rng;
use serde::{Deserialize, Serialize};

/// One fault, with its magic marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fault {
    /// The customer's (or refund's) outcome is a decline whatever the customer does.
    Decline,
    /// The request is answered 502 without being registered (first time only).
    ServerError,
    /// The request is registered, then answered 500 (first time only).
    RegisterThenServerError,
    /// The request is registered, then the answer is held for `stall_ms` (first time only).
    TimeoutAfterRegister,
    /// The final callback / feedback is never sent.
    LostCallback,
    /// Every callback is delivered twice.
    DuplicateCallback,
    /// The final result is delivered before the earlier (intermediate / pending) one.
    ReorderCallbacks,
    /// Each callback is preceded by a forged copy whose signature is wrong.
    BadSignatureCallback,
    /// Every response is delayed by `slow_response_ms`.
    Slow,
    /// The provider ends the sale or refund in `error` (a technical failure, not a decline: no
    /// money moved), ecommpay only.
    ProviderError,
}

impl Fault {
    /// Every fault, in marker order.
    pub const ALL: [Fault; 10] = [
        Fault::Decline,
        Fault::ServerError,
        Fault::RegisterThenServerError,
        Fault::TimeoutAfterRegister,
        Fault::LostCallback,
        Fault::DuplicateCallback,
        Fault::ReorderCallbacks,
        Fault::BadSignatureCallback,
        Fault::Slow,
        Fault::ProviderError,
    ];

    /// The magic marker that triggers the fault.
    pub const fn marker(self) -> &'static str {
        match self {
            Fault::Decline => "fault-decline",
            Fault::ServerError => "fault-5xx",
            Fault::RegisterThenServerError => "fault-register-500",
            Fault::TimeoutAfterRegister => "fault-timeout-after-register",
            Fault::LostCallback => "fault-lost-callback",
            Fault::DuplicateCallback => "fault-duplicate-callback",
            Fault::ReorderCallbacks => "fault-reorder-callbacks",
            Fault::BadSignatureCallback => "fault-bad-signature-callback",
            Fault::Slow => "fault-slow",
            Fault::ProviderError => "fault-provider-error",
        }
    }

    const fn bit(self) -> u16 {
        1 << self as u16
    }
}

/// How often each fault took effect (the sandbox acted on it, not merely drew it), by marker:
/// `faults_fired` in the ledger, so a test can tell a fault it asked for from one that fired.
#[derive(Debug, Default)]
pub struct FiredCounters([std::sync::atomic::AtomicU64; Fault::ALL.len()]);

impl FiredCounters {
    pub fn fire(&self, fault: Fault) {
        if let Some(index) = Fault::ALL.iter().position(|f| *f == fault) {
            self.0[index].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// `{marker: count}` for every fault.
    pub fn to_json(&self) -> serde_json::Value {
        let counts: serde_json::Map<String, serde_json::Value> = Fault::ALL
            .iter()
            .zip(&self.0)
            .map(|(fault, count)| {
                let count = count.load(std::sync::atomic::Ordering::Relaxed);
                (fault.marker().to_owned(), serde_json::Value::from(count))
            })
            .collect();
        serde_json::Value::Object(counts)
    }
}

/// A set of faults attached to one payment or refund.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FaultSet(u16);

impl FaultSet {
    /// The faults whose markers occur in any of `values`.
    pub fn from_markers<'a>(values: impl IntoIterator<Item = &'a str>) -> Self {
        let mut set = FaultSet::default();
        for value in values {
            let value = value.to_ascii_lowercase();
            for fault in Fault::ALL {
                if value.contains(fault.marker()) {
                    set.insert(fault);
                }
            }
        }
        set
    }

    /// Adds the faults drawn from `rates`.
    pub fn with_rates(mut self, rates: &FaultRates) -> Self {
        let mut rng = rand::thread_rng();
        for fault in Fault::ALL {
            let p = rates.rate(fault);
            if p > 0.0 && rng.gen_bool(p.min(1.0)) {
                self.insert(fault);
            }
        }
        self
    }

    /// Adds one fault.
    pub fn insert(&mut self, fault: Fault) {
        self.0 |= fault.bit();
    }

    /// Removes one fault (one-shot faults are removed once used).
    pub fn remove(&mut self, fault: Fault) {
        self.0 &= !fault.bit();
    }

    /// Whether the set holds `fault`.
    pub fn has(self, fault: Fault) -> bool {
        self.0 & fault.bit() != 0
    }
}

/// Fault probabilities (0.0..=1.0), drawn per payment or refund at registration. Settable at
/// run time with `POST /sandbox/faults` (the whole object; missing fields are 0).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct FaultRates {
    /// Outcome is a decline.
    pub decline: f64,
    /// First request answered 502, not registered.
    pub server_error: f64,
    /// First request registered, then answered 500.
    pub register_then_server_error: f64,
    /// First request registered, answer stalled.
    pub timeout_after_register: f64,
    /// Final callback never sent.
    pub lost_callback: f64,
    /// Callbacks delivered twice.
    pub duplicate_callback: f64,
    /// Final callback before the earlier one.
    pub reorder_callbacks: f64,
    /// Forged callback before each genuine one.
    pub bad_signature_callback: f64,
    /// Responses delayed.
    pub slow: f64,
    pub provider_error: f64,
}

impl FaultRates {
    fn rate(&self, fault: Fault) -> f64 {
        let p = match fault {
            Fault::Decline => self.decline,
            Fault::ServerError => self.server_error,
            Fault::RegisterThenServerError => self.register_then_server_error,
            Fault::TimeoutAfterRegister => self.timeout_after_register,
            Fault::LostCallback => self.lost_callback,
            Fault::DuplicateCallback => self.duplicate_callback,
            Fault::ReorderCallbacks => self.reorder_callbacks,
            Fault::BadSignatureCallback => self.bad_signature_callback,
            Fault::Slow => self.slow,
            Fault::ProviderError => self.provider_error,
        };
        if p.is_finite() {
            p.max(0.0)
        } else {
            0.0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_are_valid_ids_and_not_substrings_of_each_other() {
        for a in Fault::ALL {
            let m = a.marker();
            assert!(m.len() <= 40);
            assert!(m.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)));
            for b in Fault::ALL {
                assert!(a == b || !b.marker().contains(m), "{m} in {}", b.marker());
            }
        }
    }

    #[test]
    fn markers_combine_and_ignore_case() {
        let set = FaultSet::from_markers(["ord-7-Fault-Slow-fault-decline"]);
        assert!(set.has(Fault::Slow) && set.has(Fault::Decline));
        assert!(!set.has(Fault::ServerError));
    }
}
