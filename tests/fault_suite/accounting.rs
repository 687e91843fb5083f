//! How each command ended, and in which order refunds reached the provider: the strict classes
//! (a refund that should apply and was refused fails the run), FIFO per account at the sandbox,
//! the share parked in `needs_review`, and the quiescence deadline.

use crate::checks::{Check, PaymentRow, RefundRow};
use crate::{Class, Run};
use serde_json::Value;
use std::collections::{HashMap, HashSet};

/// Each command ended as its class says: applied (or a duplicate) when it must apply, refused
/// with exactly the expected code, dead-lettered when malformed.
pub fn class_checks(run: &Run, commands: &HashMap<String, Vec<(String, Option<String>)>>) -> Vec<Check> {
    let mut applies = Check::new("commands expected to apply were applied");
    let mut refusals = Check::new("expected refusals refused with their code");
    let mut malformed = Check::new("malformed commands dead-lettered");
    for sent in run.sent.lock().unwrap().iter() {
        let outcomes = commands.get(&sent.message_id).cloned().unwrap_or_default();
        let has = |outcome: &str, code: Option<&str>| {
            outcomes
                .iter()
                .any(|(o, c)| o == outcome && code.is_none_or(|code| c.as_deref() == Some(code)))
        };
        let applied = has("applied", None) || has("duplicate", None);
        let describe = || {
            format!(
                "{} {} ({:?}): {outcomes:?}",
                sent.routing_key, sent.message_id, sent.class
            )
        };
        match sent.class {
            Class::Applies => applies.expect(applied && !has("rejected", None), describe),
            Class::AppliesOr(codes) => {
                let refused_as_allowed = codes.iter().any(|code| has("rejected", Some(code)));
                applies.expect(
                    (applied || refused_as_allowed)
                        && outcomes
                            .iter()
                            .all(|(o, c)| o != "rejected" || c.as_deref().is_some_and(|c| codes.contains(&c))),
                    describe,
                );
            }
            Class::Refused(code) => refusals.expect(has("rejected", Some(code)) && !applied, describe),
            Class::Malformed => malformed.expect(has("dead_lettered", None), describe),
        }
    }
    vec![applies, refusals, malformed]
}

/// Per account, refunds reached the provider in their queue positions (first arrivals only: a
/// declined refund may be re-sent with the same id).
pub fn fifo(ledger: &Value, queues: &[(String, String, i64)]) -> Check {
    let mut check = Check::new("refunds reached the sandbox in queue order (FIFO)");
    let position: HashMap<&str, (&str, i64)> = queues
        .iter()
        .map(|(queue, id, position)| (id.as_str(), (queue.as_str(), *position)))
        .collect();
    let mut seen = HashSet::new();
    let mut last: HashMap<&str, (i64, String)> = HashMap::new();
    for entry in ledger["refunds"]["entries"].as_array().into_iter().flatten() {
        let id = entry["refund_id"].as_str().unwrap_or_default();
        let Some((queue, at)) = position.get(id).copied() else {
            continue;
        };
        if !seen.insert(id.to_owned()) {
            continue;
        }
        let previous = last.insert(queue, (at, id.to_owned()));
        check.expect(previous.as_ref().is_none_or(|(before, _)| *before < at), || {
            let (before, before_id) = previous.clone().unwrap_or_default();
            format!("{queue}: {id} (position {at}) arrived after {before_id} (position {before})")
        });
    }
    check
}

/// At most 5% of payments and refunds may end in `needs_review`: parking everything must fail.
pub fn review_share(payments: &[PaymentRow], refunds: &[RefundRow]) -> Check {
    let parked = payments.iter().filter(|p| p.status == "needs_review").count()
        + refunds.iter().filter(|r| r.status == "needs_review").count();
    let total = payments.len() + refunds.len();
    let share = parked as f64 / total.max(1) as f64;
    let mut check = Check::new(format!("at most 5% in needs_review (here {:.1}%)", share * 100.0));
    check.checked = total;
    if share > 0.05 {
        // Which, and why: a floor failure must say what to look at.
        let named: Vec<String> = payments
            .iter()
            .filter(|p| p.status == "needs_review")
            .map(|p| format!("payment {} ({})", p.id, p.review.as_deref().unwrap_or("no reason")))
            .chain(
                refunds
                    .iter()
                    .filter(|r| r.status == "needs_review")
                    .map(|r| format!("refund {} of {}", r.id, r.payment_id)),
            )
            .collect();
        check.violations.push(format!(
            "{parked} of {total} ended in needs_review: {}",
            named.join("; ")
        ));
    }
    check
}

/// Reaching the quiescence deadline is a failure, not a note.
pub fn quiescent(open: &[String], took: std::time::Duration, deadline: std::time::Duration) -> Check {
    let mut check = Check::new("quiescent before the deadline");
    check.expect(open.is_empty(), || {
        format!("still open after {took:?} (deadline {deadline:?}): {open:?}")
    });
    check
}
