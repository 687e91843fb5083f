//! The end of the run: wait for quiescence (bounded), then check every invariant of issue 9 /
//! design §4 against the database, the events the suite consumed, the dead letters and the
//! sandbox's ledger and status APIs. Each check is a row of the final table.

use crate::accounting;
use crate::quiesce::ledger;
use crate::Run;
use serde_json::Value;
use sqlx::{PgPool, Row as _};
use std::collections::{BTreeMap, HashMap, HashSet};

const PAYMENT_FINAL: [&str; 4] = ["succeeded", "declined", "failed", "expired"];
const REFUND_FINAL: [&str; 4] = ["succeeded", "declined", "failed", "cancelled"];

/// One invariant: how many things were checked and which broke it.
pub struct Check {
    pub name: String,
    pub checked: usize,
    /// Fewer cases than this and the row proves nothing: it fails the run.
    pub floor: usize,
    pub violations: Vec<String>,
}

impl Check {
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            checked: 0,
            floor: 0,
            violations: Vec::new(),
        }
    }
    pub fn expect(&mut self, ok: bool, what: impl FnOnce() -> String) {
        self.checked += 1;
        if !ok {
            self.violations.push(what());
        }
    }
}

pub struct PaymentRow {
    pub id: String,
    pub provider: String,
    pub status: String,
    pub review: Option<String>,
    pub amount: i64,
    pub last_sequence: i64,
}

pub struct RefundRow {
    pub id: String,
    pub payment_id: String,
    pub status: String,
    pub amount: i64,
}

/// Every invariant, as table rows.
pub async fn verify(run: &Run, db_url: &str, dead: &[(Vec<u8>, String)]) -> Vec<Check> {
    let pool = PgPool::connect(db_url).await.expect("database for the checks");
    let payments: Vec<PaymentRow> = sqlx::query(
        "SELECT payment_id, provider, status, review_reason, amount_minor, last_sequence FROM payments ORDER BY payment_id",
    )
    .fetch_all(&pool)
    .await
    .expect("payments")
    .iter()
    .map(|r| PaymentRow {
        id: r.get(0),
        provider: r.get(1),
        status: r.get(2),
        review: r.get(3),
        amount: r.get(4),
        last_sequence: r.get(5),
    })
    .collect();
    let refunds: Vec<RefundRow> =
        sqlx::query("SELECT refund_id, payment_id, status, amount_minor FROM refunds ORDER BY refund_id")
            .fetch_all(&pool)
            .await
            .expect("refunds")
            .iter()
            .map(|r| RefundRow {
                id: r.get(0),
                payment_id: r.get(1),
                status: r.get(2),
                amount: r.get(3),
            })
            .collect();
    // Every stored outcome per message id: a replayed dead letter keeps its original's id.
    let mut commands: HashMap<String, Vec<(String, Option<String>)>> = HashMap::new();
    for r in sqlx::query("SELECT message_id, outcome, reason_code FROM commands WHERE message_id IS NOT NULL")
        .fetch_all(&pool)
        .await
        .expect("commands")
    {
        commands.entry(r.get(0)).or_default().push((r.get(1), r.get(2)));
    }
    let queues: Vec<(String, String, i64)> =
        sqlx::query_as("SELECT queue_key, refund_id, position FROM refunds ORDER BY queue_key, position")
            .fetch_all(&pool)
            .await
            .expect("refund queues");
    let dead_rows: i64 = sqlx::query_scalar("SELECT count(*) FROM dead_letters")
        .fetch_one(&pool)
        .await
        .expect("dead letters");
    pool.close().await;
    let ledger = ledger(run).await.expect("sandbox ledger");
    let mut checks = Vec::new();

    let mut settled = Check::new("payment final, or needs_review with a reason");
    for p in &payments {
        let ok = PAYMENT_FINAL.contains(&p.status.as_str()) || (p.status == "needs_review" && p.review.is_some());
        settled.expect(ok, || format!("{} is {} (review: {:?})", p.id, p.status, p.review));
    }
    checks.push(settled);

    let mut refund_settled = Check::new("refund final, or needs_review");
    for r in &refunds {
        let ok = REFUND_FINAL.contains(&r.status.as_str()) || r.status == "needs_review";
        refund_settled.expect(ok, || format!("refund {} of {} is {}", r.id, r.payment_id, r.status));
    }
    checks.push(refund_settled);

    let known: HashSet<&str> = payments.iter().map(|p| p.id.as_str()).collect();
    let mut created = Check::new("valid purchase.create has its payment");
    let wanted: Vec<String> = run
        .humm_ids
        .lock()
        .unwrap()
        .iter()
        .chain(run.valu_ids.lock().unwrap().iter())
        .cloned()
        .collect();
    for id in &wanted {
        created.expect(known.contains(id.as_str()), || format!("{id} has no payment row"));
    }
    checks.push(created);

    let mut agrees = Check::new("payment agrees with the sandbox");
    for p in &payments {
        if p.status == "needs_review" || p.review.is_some() {
            continue;
        }
        let at_provider = crate::provider::state(run, &p.id, &p.provider).await;
        let ok = match p.status.as_str() {
            "succeeded" => at_provider == "succeeded",
            _ => at_provider != "succeeded" && at_provider != "open",
        };
        agrees.expect(ok, || format!("{}: ours {}, sandbox {at_provider}", p.id, p.status));
    }
    checks.push(agrees);

    checks.extend(event_checks(run, &payments, &refunds));
    checks.extend(ledger_checks(&ledger, &payments, &refunds));

    checks.extend(accounting::class_checks(run, &commands));
    checks.push(accounting::fifo(&ledger, &queues));
    checks.push(accounting::review_share(&payments, &refunds));

    let injected: HashSet<Vec<u8>> = run.malformed.lock().unwrap().iter().cloned().collect();
    let mut letters = Check::new("dead letters = malformed commands injected");
    let got: HashSet<Vec<u8>> = dead.iter().map(|(body, _)| body.clone()).collect();
    for body in &injected {
        letters.expect(got.contains(body), || {
            format!("lost: {}", String::from_utf8_lossy(body))
        });
    }
    for (body, reason) in dead {
        letters.expect(injected.contains(body), || {
            format!("not malformed ({reason}): {}", String::from_utf8_lossy(body))
        });
    }
    letters.expect(dead_rows as usize == injected.len(), || {
        format!(
            "{dead_rows} dead_letters rows for {} malformed commands",
            injected.len()
        )
    });
    checks.push(letters);

    // Cross-account and cross-provider ones among them (correctly signed by another account).
    let mut forged = Check::new("forged callbacks refused, none acknowledged");
    let posted = run.tally.get(&run.tally.forged_posted);
    let rejected = run.tally.get(&run.tally.forged_rejected);
    forged.checked = posted as usize;
    if rejected != posted {
        forged.violations.push(format!(
            "{} of {posted} forged callbacks not refused",
            posted - rejected
        ));
    }
    for (provider, counters) in ledger["callback_counters"].as_object().cloned().unwrap_or_default() {
        forged.checked += counters["forged_sent"].as_u64().unwrap_or(0) as usize;
        let acknowledged = counters["forged_acknowledged"].as_u64().unwrap_or(0);
        if acknowledged > 0 {
            forged
                .violations
                .push(format!("{provider}: {acknowledged} forged callbacks acknowledged"));
        }
    }
    checks.push(forged);

    let mut alive = Check::new("processes never exited on their own");
    alive.checked = run.tally.get(&run.tally.process_starts) as usize;
    let exits = run.tally.get(&run.tally.unexpected_exits);
    if exits > 0 {
        alive.violations.push(format!("{exits} unexpected exits"));
    }
    checks.push(alive);
    checks
}

fn event_checks(run: &Run, payments: &[PaymentRow], refunds: &[RefundRow]) -> Vec<Check> {
    let mut finals = Check::new("one final event type per payment");
    let mut sequences = Check::new("per-payment sequence gap-free");
    let mut refund_finals = Check::new("one final event type per refund");
    let mut refund_events: HashMap<String, Vec<Value>> = HashMap::new();
    for p in payments {
        let events = run.events.events_of(&p.id);
        let final_events: Vec<&Value> = events
            .iter()
            .filter(|e| PAYMENT_FINAL.iter().any(|t| e["type"] == format!("payment.{t}")))
            .collect();
        let types: Vec<&str> = final_events.iter().filter_map(|e| e["type"].as_str()).collect();
        let expected = PAYMENT_FINAL
            .contains(&p.status.as_str())
            .then(|| format!("payment.{}", p.status));
        // An operator's resolution is announced as `payment.resolved` (design §4: aside).
        let resolved_to = events
            .iter()
            .rfind(|e| e["type"] == "payment.resolved")
            .map(|e| e["status"].as_str().unwrap_or_default().to_owned());
        let ok = match (&resolved_to, &expected) {
            (Some(to), _) => *to == p.status && types.len() <= 1,
            (None, Some(t)) => types.len() == 1 && types[0] == t,
            (None, None) => types.is_empty(),
        };
        finals.expect(ok, || format!("{} is {} but announced {types:?}", p.id, p.status));
        let mut numbers: Vec<i64> = events.iter().filter_map(|e| e["sequence"].as_i64()).collect();
        numbers.sort_unstable();
        let gap_free = numbers.iter().enumerate().all(|(i, n)| *n == i as i64 + 1);
        let complete = numbers.last().copied().unwrap_or(0) == p.last_sequence;
        sequences.expect(gap_free && complete, || {
            format!("{}: sequences {numbers:?}, last_sequence {}", p.id, p.last_sequence)
        });
        for e in events.iter().filter(|e| e["refund_id"].is_string()) {
            let id = e["refund_id"].as_str().unwrap_or_default().to_owned();
            refund_events.entry(id).or_default().push(e.clone());
        }
    }
    for r in refunds {
        let events = refund_events.remove(&r.id).unwrap_or_default();
        let types: Vec<&str> = events
            .iter()
            .filter_map(|e| e["type"].as_str())
            .filter(|t| REFUND_FINAL.iter().any(|f| *t == format!("refund.{f}")))
            .collect();
        let ok = if REFUND_FINAL.contains(&r.status.as_str()) {
            types.len() == 1 && types[0] == format!("refund.{}", r.status)
        } else {
            types.is_empty()
        };
        refund_finals.expect(ok, || {
            format!("refund {} is {} but announced {types:?}", r.id, r.status)
        });
    }
    vec![finals, sequences, refund_finals]
}

fn ledger_checks(ledger: &Value, payments: &[PaymentRow], refunds: &[RefundRow]) -> Vec<Check> {
    let mut sales = Check::new("no duplicate sales at the sandbox");
    for (id, count) in ledger["sales_per_payment_id"].as_object().cloned().unwrap_or_default() {
        let n = count.as_u64().unwrap_or(0);
        sales.expect(n <= 1, || format!("{id}: {n} sale requests"));
    }
    let duplicate_sales = ledger["duplicate_sales"].as_u64().unwrap_or(0);
    sales.expect(duplicate_sales == 0, || format!("duplicate_sales = {duplicate_sales}"));

    let entries: Vec<Value> = ledger["refunds"]["entries"].as_array().cloned().unwrap_or_default();
    let mut at_sandbox: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for e in &entries {
        let id = e["refund_id"].as_str().unwrap_or_default().to_owned();
        at_sandbox
            .entry(id)
            .or_default()
            .push(e["status"].as_str().unwrap_or_default().to_owned());
    }
    // A duplicate refund is one the provider took (or may still take) more than once. A declined
    // APS refund re-sent with the same `maintenance_reference` after a status query showed it not
    // applied is the documented safe retry (providers.md §2: "makes a retry of a declined refund
    // safe"), so declined attempts do not count; ecommpay refuses any reuse (3230) anyway.
    let mut dup_refunds = Check::new("no duplicate refunds at the sandbox");
    // The provider refuses a registered refund id sent again (ecommpay 3230, APS 00066) before
    // recording an entry, so a resend shows only in this counter, never in the entries below.
    let reused = ledger["reused_refund_ids"].as_u64();
    dup_refunds.expect(reused == Some(0), || format!("reused_refund_ids = {reused:?}"));
    for (id, statuses) in &at_sandbox {
        let taken = statuses.iter().filter(|status| *status != "declined").count();
        dup_refunds.expect(taken <= 1, || {
            format!("{id} accepted {} times: {statuses:?}", statuses.len())
        });
    }
    let mut refund_agree = Check::new("refund agrees with the sandbox");
    for r in refunds {
        let theirs = at_sandbox
            .get(&r.id)
            .and_then(|s| s.last())
            .map_or("absent", String::as_str);
        let ok = match r.status.as_str() {
            "succeeded" => theirs == "succeeded",
            // Parked although the provider never got it: the status query said "not applied",
            // which after an uncertain send makes a resend with the same id safe (design §1).
            "needs_review" => theirs != "absent",
            "cancelled" | "queued" => theirs == "absent",
            _ => theirs != "succeeded" && theirs != "processing",
        };
        refund_agree.expect(ok, || format!("refund {}: ours {}, sandbox {theirs}", r.id, r.status));
    }
    let amounts: HashMap<&str, i64> = payments.iter().map(|p| (p.id.as_str(), p.amount)).collect();
    let mut over_db = Check::new("no over-refund (database)");
    let mut over_ledger = Check::new("no over-refund (sandbox ledger)");
    let mut ours: HashMap<&str, (i64, i64)> = HashMap::new();
    for r in refunds {
        let entry = ours.entry(r.payment_id.as_str()).or_default();
        if r.status == "succeeded" {
            entry.0 += r.amount;
        }
        if ["succeeded", "queued", "in_flight", "needs_review"].contains(&r.status.as_str()) {
            entry.1 += r.amount;
        }
    }
    for (payment, (succeeded, counted)) in &ours {
        let cap = amounts.get(payment).copied().unwrap_or(0);
        over_db.expect(*succeeded <= cap && *counted <= cap, || {
            format!("{payment}: captured {cap}, refunded {succeeded}, counted {counted}")
        });
    }
    let mut theirs: HashMap<String, i64> = HashMap::new();
    for e in entries.iter().filter(|e| e["status"] == "succeeded") {
        *theirs
            .entry(e["payment_id"].as_str().unwrap_or_default().to_owned())
            .or_default() += e["amount"].as_i64().unwrap_or(0);
    }
    for (payment, refunded) in &theirs {
        let cap = amounts.get(payment.as_str()).copied().unwrap_or(0);
        over_ledger.expect(*refunded <= cap, || {
            format!("{payment}: captured {cap}, sandbox refunded {refunded}")
        });
    }
    let mut sequential = Check::new("at most 1 refund in flight per account");
    for (account, state) in ledger["accounts"].as_object().cloned().unwrap_or_default() {
        let max = state["max_in_flight"].as_u64().unwrap_or(0);
        let violations = state["violations"].as_u64().unwrap_or(0);
        sequential.expect(max <= 1 && violations == 0, || {
            format!("{account}: max_in_flight {max}, violations {violations}")
        });
    }
    let total = ledger["sequential_violations_total"].as_u64().unwrap_or(0);
    sequential.expect(total == 0, || format!("sequential_violations_total = {total}"));
    vec![sales, dup_refunds, refund_agree, over_db, over_ledger, sequential]
}
