//! The ledger: what the sandbox accepted and sent, for tests and the fault suite to assert on.
//!
//! Accounts are named `ecommpay:<project_id>` and `aps:<merchant_identifier>`. Lists are bounded
//! (`ledger_capacity`, oldest dropped first, `dropped` counts them); counters never drop anything.
//! Invariant: `in_flight` of an account is the number of its refunds accepted and not yet final,
//! and `max_in_flight` is the largest value it ever had; anything above 1 is a sequential-refund
//! violation by the client (humm and APS refunds are strictly sequential, providers.md §1.6).

use std::collections::{BTreeMap, HashMap, VecDeque};

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{json, Value};

/// A list that keeps its newest `cap` entries, addressed by a sequence number.
#[derive(Debug)]
pub(crate) struct BoundedLog<T> {
    entries: VecDeque<T>,
    first_seq: u64,
    cap: usize,
}

impl<T> BoundedLog<T> {
    pub(crate) fn new(cap: usize) -> Self {
        Self {
            entries: VecDeque::new(),
            first_seq: 0,
            cap: cap.max(1),
        }
    }

    pub(crate) fn push(&mut self, entry: T) -> u64 {
        if self.entries.len() == self.cap {
            self.entries.pop_front();
            self.first_seq += 1;
        }
        self.entries.push_back(entry);
        self.first_seq + self.entries.len() as u64 - 1
    }

    fn get_mut(&mut self, seq: u64) -> Option<&mut T> {
        let index = usize::try_from(seq.checked_sub(self.first_seq)?).ok()?;
        self.entries.get_mut(index)
    }
}

impl<T: Serialize> BoundedLog<T> {
    pub(crate) fn to_json(&self) -> Value {
        json!({ "dropped": self.first_seq, "entries": self.entries.iter().collect::<Vec<_>>() })
    }
}

/// A sale (ecommpay sale, APS PURCHASE) the sandbox accepted.
#[derive(Debug, Serialize)]
pub struct SaleEntry {
    pub provider: &'static str,
    pub account: String,
    pub payment_id: String,
    pub amount: i64,
    pub currency: String,
    pub at: DateTime<Utc>,
}

/// A refund the sandbox accepted, with its latest status.
#[derive(Debug, Serialize)]
pub struct RefundEntry {
    pub provider: &'static str,
    pub account: String,
    pub payment_id: String,
    pub refund_id: String,
    pub amount: i64,
    pub status: &'static str,
    pub at: DateTime<Utc>,
}

/// A refund that arrived while another refund of the same account was being processed.
#[derive(Debug, Serialize)]
pub struct Violation {
    pub account: String,
    pub payment_id: String,
    pub refund_id: String,
    pub in_flight: Vec<String>,
    pub rejected: bool,
    pub at: DateTime<Utc>,
}

/// One callback (or APS feedback) and how its delivery went.
#[derive(Debug, Serialize)]
pub struct CallbackEntry {
    pub provider: &'static str,
    pub payment_id: String,
    pub kind: &'static str,
    pub forged: bool,
    pub url: String,
    pub attempts: u32,
    pub acknowledged: bool,
    pub gave_up: bool,
    pub last_http_status: Option<u16>,
}

/// Refund bookkeeping of one provider account.
#[derive(Debug, Default, Serialize)]
pub struct AccountRefunds {
    pub in_flight: Vec<String>,
    pub max_in_flight: usize,
    pub arrival_order: Vec<String>,
    pub violations: u64,
}

/// Counters over all callbacks of one provider.
#[derive(Debug, Default, Serialize, Clone, Copy)]
pub struct CallbackCounters {
    /// Genuine callbacks queued for delivery.
    pub sent: u64,
    /// Genuine callbacks the merchant acknowledged.
    pub acknowledged: u64,
    /// Delivery attempts, first tries and retries.
    pub attempts: u64,
    /// Callbacks given up after the provider's last retry.
    pub gave_up: u64,
    /// Final callbacks withheld by the `lost-callback` fault.
    pub lost_by_fault: u64,
    /// Forged (bad signature) callbacks sent.
    pub forged_sent: u64,
    /// Forged callbacks the merchant answered with success: each one is a bug in the merchant.
    pub forged_acknowledged: u64,
}

/// Requests counted per id (a sale's payment id, a refund's id), and how many came for an id
/// already seen.
#[derive(Debug, Default)]
struct RequestCounts {
    per_id: HashMap<String, u32>,
    repeats: u64,
}

impl RequestCounts {
    fn count(&mut self, id: &str) {
        let count = self.per_id.entry(id.to_owned()).or_insert(0);
        *count += 1;
        if *count > 1 {
            self.repeats += 1;
        }
    }
}

/// Everything `GET /sandbox/ledger` reports.
#[derive(Debug)]
pub(crate) struct Ledger {
    sales: BoundedLog<SaleEntry>,
    refunds: BoundedLog<RefundEntry>,
    violations: BoundedLog<Violation>,
    callbacks: BoundedLog<CallbackEntry>,
    sale_requests: RequestCounts,
    refund_requests: RequestCounts,
    reused_refund_ids: u64,
    accounts: BTreeMap<String, AccountRefunds>,
    counters: BTreeMap<&'static str, CallbackCounters>,
    capacity_rejections: u64,
    cap: usize,
}

impl Ledger {
    pub(crate) fn new(cap: usize) -> Self {
        Self {
            sales: BoundedLog::new(cap),
            refunds: BoundedLog::new(cap),
            violations: BoundedLog::new(cap),
            callbacks: BoundedLog::new(cap),
            sale_requests: RequestCounts::default(),
            refund_requests: RequestCounts::default(),
            reused_refund_ids: 0,
            accounts: BTreeMap::new(),
            counters: BTreeMap::new(),
            capacity_rejections: 0,
            cap,
        }
    }

    /// A signed, well-formed sale request for `payment_id` arrived (accepted or a duplicate).
    pub(crate) fn sale_requested(&mut self, payment_id: &str) {
        self.sale_requests.count(payment_id);
    }

    /// A well-formed refund request with the merchant's refund id arrived (accepted, or refused
    /// as a duplicate or for any other reason): a refund sent twice shows here even when the
    /// provider refuses the second copy and records no refund for it. A safe retry (of a refund
    /// the provider did not register, asked to send later, or declined) counts too: this counts
    /// requests, and whether a second one was allowed is the test's to say.
    pub(crate) fn refund_requested(&mut self, refund_id: &str) {
        self.refund_requests.count(refund_id);
    }

    /// A refund request was refused because its refund id was already registered (ecommpay
    /// 3230, APS 00066): the merchant sent a refund the provider had again. Never a safe retry
    /// (a refund that was not registered, or was declined at APS, is not refused this way).
    pub(crate) fn refund_id_reused(&mut self) {
        self.reused_refund_ids += 1;
    }

    pub(crate) fn sale_accepted(&mut self, entry: SaleEntry) {
        self.sales.push(entry);
    }

    /// A refund was accepted: it is in flight until `refund_final`. One arriving while another
    /// of its account is in flight is recorded as a sequential-refund violation. Returns the
    /// entry's sequence number for `refund_final`.
    pub(crate) fn refund_accepted(&mut self, entry: RefundEntry) -> u64 {
        let account = self.accounts.entry(entry.account.clone()).or_default();
        if !account.in_flight.is_empty() {
            account.violations += 1;
            self.violations.push(Violation {
                account: entry.account.clone(),
                payment_id: entry.payment_id.clone(),
                refund_id: entry.refund_id.clone(),
                in_flight: account.in_flight.clone(),
                rejected: false,
                at: entry.at,
            });
        }
        account.in_flight.push(entry.refund_id.clone());
        account.max_in_flight = account.max_in_flight.max(account.in_flight.len());
        push_bounded(&mut account.arrival_order, &entry.refund_id, self.cap);
        self.refunds.push(entry)
    }

    /// A refund was refused because another of its account is still processing (ecommpay 3285).
    pub(crate) fn refund_rejected_in_flight(&mut self, account: &str, payment_id: &str, refund_id: &str) {
        let entry = self.accounts.entry(account.to_owned()).or_default();
        entry.violations += 1;
        push_bounded(&mut entry.arrival_order, refund_id, self.cap);
        self.violations.push(Violation {
            account: account.to_owned(),
            payment_id: payment_id.to_owned(),
            refund_id: refund_id.to_owned(),
            in_flight: entry.in_flight.clone(),
            rejected: true,
            at: Utc::now(),
        });
    }

    /// Refunds of `account` now being processed.
    pub(crate) fn in_flight(&self, account: &str) -> &[String] {
        self.accounts.get(account).map_or(&[], |a| a.in_flight.as_slice())
    }

    /// The refund `seq` (from `refund_accepted`) reached a final status.
    pub(crate) fn refund_final(&mut self, seq: u64, account: &str, refund_id: &str, status: &'static str) {
        if let Some(entry) = self.refunds.get_mut(seq) {
            entry.status = status;
        }
        if let Some(a) = self.accounts.get_mut(account) {
            if let Some(pos) = a.in_flight.iter().position(|r| r == refund_id) {
                a.in_flight.remove(pos);
            }
        }
    }

    pub(crate) fn capacity_rejected(&mut self) {
        self.capacity_rejections += 1;
    }

    pub(crate) fn callback_queued(&mut self, entry: CallbackEntry) -> u64 {
        let c = self.counters.entry(entry.provider).or_default();
        if entry.forged {
            c.forged_sent += 1;
        } else {
            c.sent += 1;
        }
        self.callbacks.push(entry)
    }

    pub(crate) fn callback_lost(&mut self, provider: &'static str) {
        self.counters.entry(provider).or_default().lost_by_fault += 1;
    }

    /// One delivery attempt of callback `seq` ended with `status` (None: no HTTP answer).
    pub(crate) fn callback_attempt(
        &mut self,
        seq: u64,
        provider: &'static str,
        forged: bool,
        status: Option<u16>,
        acknowledged: bool,
        gave_up: bool,
    ) {
        let c = self.counters.entry(provider).or_default();
        c.attempts += 1;
        if acknowledged {
            if forged {
                c.forged_acknowledged += 1;
            } else {
                c.acknowledged += 1;
            }
        } else if gave_up && !forged {
            c.gave_up += 1;
        }
        if let Some(entry) = self.callbacks.get_mut(seq) {
            entry.attempts += 1;
            entry.last_http_status = status;
            entry.acknowledged = acknowledged;
            entry.gave_up = gave_up && !acknowledged;
        }
    }

    /// The JSON of `GET /sandbox/ledger`; `lists = false` leaves out the (long) entry lists.
    pub(crate) fn snapshot(&self, lists: bool) -> Value {
        let violations_total: u64 = self.accounts.values().map(|a| a.violations).sum();
        let mut out = json!({
            "sales_per_payment_id": self.sale_requests.per_id,
            "duplicate_sales": self.sale_requests.repeats,
            "refund_requests_per_refund_id": self.refund_requests.per_id,
            "repeated_refund_requests": self.refund_requests.repeats,
            "reused_refund_ids": self.reused_refund_ids,
            "accounts": self.accounts,
            "sequential_violations_total": violations_total,
            "callback_counters": self.counters,
            "capacity_rejections": self.capacity_rejections,
        });
        if lists {
            if let Value::Object(map) = &mut out {
                map.insert("sales".into(), self.sales.to_json());
                map.insert("refunds".into(), self.refunds.to_json());
                map.insert("sequential_violations".into(), self.violations.to_json());
                map.insert("callbacks".into(), self.callbacks.to_json());
            }
        }
        out
    }
}

fn push_bounded(list: &mut Vec<String>, item: &str, cap: usize) {
    if list.len() >= cap.max(1) {
        list.remove(0);
    }
    list.push(item.to_owned());
}
