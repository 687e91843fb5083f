//! Floors: a row that checked fewer cases than its floor proves nothing and fails the run, so the
//! suite cannot pass over an empty set (issue 14). Also the rows that only count what the run
//! exercised: refunds sent and succeeded, queues put to the test, forgeries, every sandbox fault
//! that fired, every process and server fault, and the flows beyond the plain purchase.
//!
//! Floors are fixed numbers at the default scale, about half of what a default run checks (the
//! figure after `observed` is one such run, seed 14183154608754795545 and others alike), times
//! the scale for rows that grow with the traffic.

use crate::checks::Check;
use crate::quiesce::ledger;
use crate::Run;
use sqlx::PgPool;

/// `(row name prefix, floor at scale 1, grows with the traffic)` for the invariant rows.
const INVARIANT_FLOORS: &[(&str, usize, bool)] = &[
    ("payment final, or needs_review", 25, true),             // observed 54
    ("refund final, or needs_review", 12, true),              // observed 31
    ("valid purchase.create has its payment", 25, true),      // observed 54
    ("payment agrees with the sandbox", 22, true),            // observed 50
    ("one final event type per payment", 25, true),           // observed 54
    ("per-payment sequence gap-free", 25, true),              // observed 54
    ("one final event type per refund", 12, true),            // observed 31
    ("no duplicate sales at the sandbox", 20, true),          // observed 45
    ("no duplicate refunds at the sandbox", 10, true),        // observed 27
    ("refund agrees with the sandbox", 12, true),             // observed 31
    ("no over-refund (database)", 8, true),                   // observed 20
    ("no over-refund (sandbox ledger)", 8, true),             // observed 19
    ("at most 1 refund in flight per account", 2, false),     // observed 3
    ("commands expected to apply were applied", 50, true),    // observed 117
    ("expected refusals refused with their code", 3, true),   // observed 7
    ("malformed commands dead-lettered", 4, true),            // observed 8
    ("dead letters = malformed commands injected", 8, true),  // observed 17
    ("refunds reached the sandbox in queue order", 10, true), // observed 27
    ("at most 5% in needs_review", 40, true),                 // observed 85
    ("forged callbacks refused", 10, true),                   // observed 22
    ("processes never exited on their own", 3, false),        // observed 7
    ("quiescent before the deadline", 1, false),              // always 1
];

/// Gives every invariant row its floor.
pub fn apply_floors(checks: &mut [Check], scale: usize) {
    for check in checks.iter_mut() {
        if let Some((_, floor, grows)) = INVARIANT_FLOORS
            .iter()
            .find(|(name, _, _)| check.name.starts_with(name))
        {
            check.floor = if *grows { floor * scale } else { *floor };
        }
    }
}

/// A row that counts what the run exercised, against its floor.
fn counted(name: impl Into<String>, observed: u64, floor: usize) -> Check {
    let mut check = Check::new(name);
    check.checked = usize::try_from(observed).unwrap_or(usize::MAX);
    check.floor = floor;
    check
}

/// The coverage rows.
pub async fn rows(run: &Run, db_url: &str, restarts: bool) -> Vec<Check> {
    let t = &run.tally;
    let scale = run.scale;
    let ledger = ledger(run).await.unwrap_or_default();
    let pool = PgPool::connect(db_url).await.expect("database for the coverage rows");
    let succeeded: i64 = sqlx::query_scalar("SELECT count(*) FROM refunds WHERE status = 'succeeded'")
        .fetch_one(&pool)
        .await
        .unwrap_or(0);
    // Queues where a refund was accepted while its predecessor was not yet final: the one in
    // flight rule was put to the test there.
    let overlapped: i64 = sqlx::query_scalar(
        "SELECT count(DISTINCT r.queue_key) FROM refunds r JOIN refunds prev
             ON prev.queue_key = r.queue_key AND prev.position = r.position - 1
         WHERE r.created_at < COALESCE(prev.final_at, 'infinity')",
    )
    .fetch_one(&pool)
    .await
    .unwrap_or(0);
    pool.close().await;
    let entries = ledger["refunds"]["entries"].as_array().cloned().unwrap_or_default();
    let sent: std::collections::HashSet<&str> = entries.iter().filter_map(|e| e["refund_id"].as_str()).collect();
    let in_flight_seen = ledger["accounts"]
        .as_object()
        .map(|accounts| {
            accounts
                .values()
                .filter(|a| a["max_in_flight"].as_u64() == Some(1))
                .count()
        })
        .unwrap_or(0);

    let mut rows = vec![
        counted("coverage: refunds sent to the sandbox", sent.len() as u64, 10 * scale), // observed 27
        counted("coverage: refunds succeeded", succeeded as u64, 7 * scale),             // observed 17
        counted(
            "coverage: over-capture refunds requested",
            t.get(&t.over_refunds_requested),
            1,
        ),
        counted(
            "coverage: queues whose refunds overlapped at intake",
            overlapped as u64,
            1,
        ), // observed 2
        counted(
            "coverage: accounts that had a refund in flight",
            in_flight_seen as u64,
            1,
        ), // observed 2
        counted("coverage: forged callbacks posted", t.get(&t.forged_posted), 5 * scale), // observed 10
        counted(
            "coverage: forged, signed by another account or provider",
            t.get(&t.forged_verified_posted),
            3 * scale, // observed 6
        ),
        counted("coverage: SIGKILLs", t.get(&t.kills), 2), // observed 5
        counted("coverage: broker connection cuts", t.get(&t.broker_cuts), 1), // observed 3
        counted("coverage: database cuts", t.get(&t.db_cuts), 1), // observed 2
        counted("coverage: Payment Pages opened", t.get(&t.pages_opened), 2 * scale), // observed 4
        counted(
            "coverage: operator resolutions (unopened pages)",
            t.get(&t.admin_resolved),
            scale,
        ), // observed 2
        counted("coverage: valU wrong OTPs", t.get(&t.wrong_otps), 1), // observed 2
        counted("coverage: valU OTP resends", t.get(&t.resends), 1), // observed 2
        counted(
            "coverage: operator cancels of waiting refunds",
            t.get(&t.admin_cancel_attempts),
            1,
        ),
        counted(
            "coverage: operator releases of settled heads",
            t.get(&t.admin_release_attempts),
            1,
        ),
        counted(
            "coverage: operator dead-letter replays",
            t.get(&t.admin_replayed),
            scale,
        ), // observed 2
    ];
    if restarts {
        rows.push(counted("coverage: RabbitMQ restarts", t.get(&t.broker_restarts), 1));
        rows.push(counted("coverage: PostgreSQL restarts", t.get(&t.db_restarts), 1));
    }
    for (marker, fired) in ledger["faults_fired"].as_object().cloned().unwrap_or_default() {
        rows.push(counted(
            format!("coverage: sandbox fault fired: {marker}"),
            fired.as_u64().unwrap_or(0),
            1, // observed 1 to 12 each
        ));
    }
    rows
}
