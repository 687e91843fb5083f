//! The final table: what was injected, then each invariant with how many things it checked and
//! how many broke it.

use crate::checks::Check;
use crate::{Class, Run};
use serde_json::Value;
use std::time::Duration;

pub fn print_table(
    run: &Run,
    results: &[Check],
    ledger: &Value,
    dead_letters: usize,
    quiesce: Duration,
    total: Duration,
) -> usize {
    let t = &run.tally;
    let sent = run.sent.lock().unwrap();
    let count = |class: fn(&Class) -> bool| sent.iter().filter(|s| class(&s.class)).count();
    let (deliveries, distinct) = run.events.counts();
    let counters = &ledger["callback_counters"];
    let sum = |field: &str| -> u64 {
        counters
            .as_object()
            .map(|m| m.values().map(|c| c[field].as_u64().unwrap_or(0)).sum())
            .unwrap_or(0)
    };
    let markers = t.markers.lock().unwrap();
    let marker_total: u64 = markers.values().sum();
    println!();
    println!("== fault suite: figures ==");
    let figures: Vec<(String, String)> = vec![
        (
            "commands published".into(),
            format!(
                "{} ({} to apply, {} racing, {} to refuse, {} malformed; {} re-published after a broker fault)",
                sent.len(),
                count(|c| matches!(c, Class::Applies)),
                count(|c| matches!(c, Class::AppliesOr(_))),
                count(|c| matches!(c, Class::Refused(_))),
                count(|c| matches!(c, Class::Malformed)),
                t.get(&t.republished)
            ),
        ),
        (
            "payments (humm / valU)".into(),
            format!(
                "{} / {}",
                run.humm_ids.lock().unwrap().len(),
                run.valu_ids.lock().unwrap().len()
            ),
        ),
        ("refunds requested".into(), t.get(&t.refunds_requested).to_string()),
        (
            "Payment Pages opened / left to an operator".into(),
            format!("{} / {}", t.get(&t.pages_opened), t.get(&t.pages_abandoned)),
        ),
        (
            "valU wrong OTPs / resends".into(),
            format!("{} / {}", t.get(&t.wrong_otps), t.get(&t.resends)),
        ),
        (
            "operator: resolved / released (tried) / cancelled (tried) / replayed".into(),
            format!(
                "{} / {} ({}) / {} ({}) / {}",
                t.get(&t.admin_resolved),
                t.get(&t.admin_released),
                t.get(&t.admin_release_attempts),
                t.get(&t.admin_cancelled),
                t.get(&t.admin_cancel_attempts),
                t.get(&t.admin_replayed)
            ),
        ),
        (
            "SIGKILLs / process starts".into(),
            format!("{} / {}", t.get(&t.kills), t.get(&t.process_starts)),
        ),
        (
            "broker connection cuts (connections)".into(),
            format!("{} ({})", t.get(&t.broker_cuts), t.get(&t.connections_closed)),
        ),
        ("RabbitMQ restarts".into(), t.get(&t.broker_restarts).to_string()),
        (
            "database cuts / PostgreSQL restarts".into(),
            format!("{} / {}", t.get(&t.db_cuts), t.get(&t.db_restarts)),
        ),
        ("sandbox faults by marker".into(), format!("{marker_total} {markers:?}")),
        (
            "sandbox faults by rate (seen)".into(),
            format!(
                "{} callbacks lost, {} forged sent, {} duplicate sale requests",
                sum("lost_by_fault"),
                sum("forged_sent"),
                ledger["duplicate_sales"].as_u64().unwrap_or(0)
            ),
        ),
        (
            "callback attempts / acknowledged / gave up".into(),
            format!("{} / {} / {}", sum("attempts"), sum("acknowledged"), sum("gave_up")),
        ),
        (
            "forged callbacks posted by the suite".into(),
            format!(
                "{} ({} refused; {} of them signed by another account or provider)",
                t.get(&t.forged_posted),
                t.get(&t.forged_rejected),
                t.get(&t.forged_verified_posted)
            ),
        ),
        (
            "events consumed (distinct)".into(),
            format!("{deliveries} ({distinct})"),
        ),
        ("dead letters consumed".into(), dead_letters.to_string()),
        (
            "quiescence / whole run".into(),
            format!("{:.1} s / {:.1} s", quiesce.as_secs_f64(), total.as_secs_f64()),
        ),
    ];
    for (name, value) in &figures {
        println!("{name:<42} {value}");
    }
    println!();
    println!("== fault suite: invariants and coverage ==");
    println!("{:<60} {:>8} {:>6} {:>10}", "row", "checked", "floor", "violations");
    let mut violations = 0;
    for check in results {
        let below = check.checked < check.floor;
        println!(
            "{:<60} {:>8} {:>6} {:>10}{}",
            check.name,
            check.checked,
            check.floor,
            check.violations.len(),
            if below { "  FAIL: below its floor" } else { "" }
        );
        violations += check.violations.len() + usize::from(below);
    }
    println!(
        "{:<60} {:>8} {:>6} {:>10}",
        "TOTAL",
        results.iter().map(|c| c.checked).sum::<usize>(),
        "",
        violations
    );
    for check in results.iter().filter(|c| !c.violations.is_empty()) {
        println!("-- {}:", check.name);
        for v in check.violations.iter().take(20) {
            println!("   {v}");
        }
    }
    for note in t.notes.lock().unwrap().iter() {
        println!("note: {note}");
    }
    violations
}
