//! Shared state of one running sandbox: configuration, the in-memory store, the HTTP client that
//! sends callbacks, and the task tracker that owns every background task.
//!
//! Invariants: the store sits behind one tokio `Mutex` that is never held across network I/O or
//! a sleep (handlers copy what they need and release it); every background task is spawned on
//! `tasks` and stops when `shutdown` is cancelled, so dropping the sandbox leaves nothing behind.

use std::collections::{HashMap, HashSet, VecDeque};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Mutex, Notify};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::aps::order::ApsOrder;
use super::config::{AutoCustomer, SandboxConfig};
use super::ecommpay::payment::EcPayment;
use super::faults::{Fault, FaultRates, FaultSet, FiredCounters};
use super::ledger::Ledger;

/// `(project_id, payment_id)`.
pub(crate) type EcKey = (u64, String);
/// `(merchant_identifier, merchant_reference)`.
pub(crate) type ApsKey = (String, String);

/// An OTP "sent by SMS" to a phone: what the customer reads.
#[derive(Debug, Clone)]
pub(crate) struct Sms {
    pub otp: String,
    pub merchant_identifier: String,
    pub merchant_reference: String,
    pub expires_at: Instant,
}

/// Everything mutable, behind one lock.
pub(crate) struct Store {
    pub ecommpay: HashMap<EcKey, EcPayment>,
    /// `merchant_refund_id`s per project (ecommpay 3230 on reuse).
    pub ec_refund_ids: HashSet<(u64, String)>,
    /// humm payments awaiting their threshold, in creation order (one threshold for all, so the
    /// order of deadlines is the order of creation): swept by one task, not one timer each.
    pub thresholds: VecDeque<(Instant, EcKey)>,
    pub aps: HashMap<ApsKey, ApsOrder>,
    pub sms: HashMap<String, Sms>,
    /// Marker-triggered one-shot request faults already used, by `op:account:id:marker`.
    pub one_shot_used: HashSet<String>,
    pub ledger: Ledger,
    /// Every API request by account, and the accounts switched down.
    pub requests: super::requests::Requests,
    pub faults: FaultRates,
    pub auto_customer: AutoCustomer,
}

/// The sandbox's shared state.
pub(crate) struct Shared {
    pub config: SandboxConfig,
    pub base_url: String,
    pub store: Mutex<Store>,
    pub http: reqwest::Client,
    pub tasks: TaskTracker,
    pub shutdown: CancellationToken,
    /// Wakes the threshold sweeper when a payment is added.
    pub threshold_added: Notify,
    /// Faults that took effect.
    pub fired: FiredCounters,
    counter: AtomicU64,
}

impl Shared {
    /// Whether `fault` is in `faults`; when it is, the caller acts on it now, so it is counted
    /// as fired.
    pub(crate) fn applies(&self, faults: FaultSet, fault: Fault) -> bool {
        let applies = faults.has(fault);
        if applies {
            self.fired.fire(fault);
        }
        applies
    }

    pub(crate) fn new(
        config: SandboxConfig,
        base_url: String,
        shutdown: CancellationToken,
    ) -> anyhow::Result<Arc<Self>> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(config.callback_timeout_ms))
            // APS counts a 302 as acknowledged (providers.md §2.5): never follow it.
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let store = Store {
            ecommpay: HashMap::new(),
            ec_refund_ids: HashSet::new(),
            thresholds: VecDeque::new(),
            aps: HashMap::new(),
            sms: HashMap::new(),
            one_shot_used: HashSet::new(),
            ledger: Ledger::new(config.ledger_capacity),
            requests: super::requests::Requests::default(),
            faults: config.faults.clone(),
            auto_customer: config.auto_customer.clone(),
        };
        Ok(Arc::new(Self {
            config,
            base_url,
            store: Mutex::new(store),
            http,
            tasks: TaskTracker::new(),
            shutdown,
            threshold_added: Notify::new(),
            fired: FiredCounters::default(),
            counter: AtomicU64::new(1),
        }))
    }

    /// A number unique within this sandbox, for provider ids.
    pub(crate) fn next_number(&self) -> u64 {
        self.counter.fetch_add(1, Ordering::Relaxed)
    }

    /// Runs `future` as a tracked background task that ends at shutdown.
    pub(crate) fn spawn<F>(self: &Arc<Self>, future: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let cancel = self.shutdown.clone();
        self.tasks.spawn(async move {
            tokio::select! {
                () = cancel.cancelled() => {}
                () = future => {}
            }
        });
    }

    /// Sleeps for `duration`; false when the sandbox shut down meanwhile.
    pub(crate) async fn sleep(&self, duration: Duration) -> bool {
        tokio::select! {
            () = self.shutdown.cancelled() => false,
            () = tokio::time::sleep(duration) => true,
        }
    }

    /// The request faults of one request: its markers (one-shot ones only the first time, keyed
    /// by `op_key`) plus a fresh draw from the current rates.
    pub(crate) async fn request_faults(&self, op_key: &str, marker_sources: &[&str]) -> FaultSet {
        let markers = FaultSet::from_markers(marker_sources.iter().copied());
        let mut store = self.store.lock().await;
        let drawn = FaultSet::default().with_rates(&store.faults);
        let mut out = FaultSet::default();
        for fault in [
            Fault::ServerError,
            Fault::RegisterThenServerError,
            Fault::TimeoutAfterRegister,
        ] {
            if markers.has(fault) && store.one_shot_used.insert(format!("{op_key}:{}", fault.marker())) {
                out.insert(fault);
            }
            if drawn.has(fault) {
                out.insert(fault);
            }
        }
        if markers.has(Fault::Slow) || drawn.has(Fault::Slow) {
            out.insert(Fault::Slow);
        }
        out
    }

    /// The outcome and callback faults of a new payment or refund: markers plus current rates.
    pub(crate) async fn record_faults(&self, marker_sources: &[&str]) -> FaultSet {
        let rates = self.store.lock().await.faults.clone();
        FaultSet::from_markers(marker_sources.iter().copied()).with_rates(&rates)
    }

    /// Whether the store may take one more payment or order (`max_records`).
    pub(crate) fn has_room(&self, store: &Store) -> bool {
        store.ecommpay.len() + store.aps.len() < self.config.max_records
    }
}
