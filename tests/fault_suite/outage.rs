//! The provider-outage phase (issue 19): midway through the fault window the sandbox answers every
//! request of the humm `default` account with 503 for a while, then recovers. The account's
//! breaker (tuned in `cluster::write_config`) must open, probe, and close again; the invariant rows
//! then show that nothing was lost, sent twice or over-refunded meanwhile, and [`circuit_rows`]
//! that the circuit did open and close and ended closed.

use crate::checks::Check;
use crate::cluster::PROJECT;
use crate::Run;
use sqlx::PgPool;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// How long the provider stays down: several cool-downs, shorter than a payment's threshold.
const DOWN_FOR: Duration = Duration::from_secs(6);

async fn switch(run: &Run, down: bool) -> bool {
    let body = serde_json::json!({"account": format!("ecommpay:{PROJECT}"), "down": down});
    for _ in 0..5 {
        let answer = run
            .http
            .post(format!("{}/sandbox/outage", run.sandbox_url))
            .json(&body)
            .send()
            .await;
        if answer.is_ok_and(|a| a.status().is_success()) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    false
}

/// Purchases published as the outage begins: each process's breaker judges the calls it made
/// itself (at least `min_calls` in its window), and at scale 1 the traffic alone may leave a
/// process with too few calls in six seconds, so the circuit would never open (a coverage row
/// below its floor, seen in CI at seed 9119070189511780473). These make the calls certain; they
/// are purchases like any other, checked by every invariant row.
const OUTAGE_PURCHASES: i64 = 12;

/// Plays the outage once, starting at 40% of `window`.
pub async fn play(run: std::sync::Arc<Run>, window: Duration) {
    tokio::time::sleep(window.mul_f64(0.4)).await;
    if !switch(&run, true).await {
        run.tally.note("the sandbox outage switch did not answer".into());
        return;
    }
    run.tally.provider_outages.fetch_add(1, Ordering::Relaxed);
    for i in 0..OUTAGE_PURCHASES {
        let id = format!("fs-o{i}");
        let body = crate::purchases::humm_body(&id, 5_000 + i, "gate");
        run.publish("purchase.create", &body, crate::Class::Applies).await;
        run.humm_ids.lock().unwrap().push(id);
    }
    tokio::time::sleep(DOWN_FOR).await;
    if !switch(&run, false).await {
        run.tally
            .note("the sandbox outage switch did not answer to end the outage".into());
    }
}

/// The breaker's rows: it opened and closed during the run, and no account ends the run open.
pub async fn circuit_rows(run: &Run, pool: &PgPool) -> Vec<Check> {
    let count = |event_type: &'static str| async move {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM outbox WHERE event_type = $1")
            .bind(event_type)
            .fetch_one(pool)
            .await
            .unwrap_or(0)
    };
    let mut rows = Vec::new();
    for (name, event_type) in [
        ("coverage: circuit opened by the breaker", "account.circuit_opened"),
        ("coverage: circuit closed by a probe", "account.circuit_closed"),
    ] {
        let mut row = Check::new(name);
        row.checked = usize::try_from(count(event_type).await).unwrap_or(0);
        row.floor = 1;
        rows.push(row);
    }
    let mut outages = Check::new("coverage: provider outages played");
    outages.checked = usize::try_from(run.tally.get(&run.tally.provider_outages)).unwrap_or(0);
    outages.floor = 1;
    rows.push(outages);
    let states: Vec<(String, String)> = sqlx::query_as("SELECT account_key, state FROM account_states")
        .fetch_all(pool)
        .await
        .unwrap_or_default();
    let mut closed = Check::new("every circuit closed again");
    for (account, state) in &states {
        closed.expect(state == "active", || format!("{account} ends the run {state}"));
    }
    rows.push(closed);
    rows
}
