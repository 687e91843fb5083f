//! An operator at work during the chaos, through the admin API (via the balancer, so a killed
//! process is just skipped): resolving Payment Page purchases the customer never opened,
//! releasing a refund head with the provider's own evidence (the sandbox's ledger shows the
//! refund final), cancelling refunds that wait in their queue, and replaying dead letters with a
//! fixed body. Nothing an operator does may break an invariant.

use crate::refunds::ADMIN_CANCEL;
use crate::Run;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const ROUND: Duration = Duration::from_millis(400);

/// Acts until `stop`, then takes one last round.
pub async fn operate(run: Arc<Run>, stop: CancellationToken) {
    let mut replayed = HashSet::new();
    loop {
        let last = stop.is_cancelled();
        resolve_abandoned(&run).await;
        cancel_waiting(&run).await;
        release_settled_heads(&run).await;
        replay_fixed(&run, &mut replayed).await;
        if last {
            return;
        }
        tokio::select! {
            () = tokio::time::sleep(ROUND) => {}
            () = stop.cancelled() => {}
        }
    }
}

async fn call(run: &Run, method: reqwest::Method, path: &str, body: Option<Value>) -> Option<(u16, Value)> {
    let mut request = run
        .http
        .request(method, format!("{}/admin/v1{path}", run.admin_url))
        .bearer_auth(&run.admin_token)
        .timeout(Duration::from_secs(10));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.ok()?;
    let status = response.status().as_u16();
    Some((status, response.json().await.unwrap_or(Value::Null)))
}

/// A page never opened: the operator declines it (`payment.resolved`) before its threshold.
async fn resolve_abandoned(run: &Run) {
    let pending: Vec<String> = std::mem::take(&mut *run.abandoned_pages.lock().unwrap());
    for id in pending {
        let body = json!({"to": "declined", "reason": "the customer never opened the payment page"});
        match call(
            run,
            reqwest::Method::POST,
            &format!("/payments/{id}/resolve"),
            Some(body),
        )
        .await
        {
            Some((200, _)) => {
                run.tally.admin_resolved.fetch_add(1, Ordering::Relaxed);
            }
            // Down (a killed node, a cut database): try again next round.
            None | Some((502 | 503, _)) => run.abandoned_pages.lock().unwrap().push(id),
            Some((status, answer)) => run.tally.note(format!("resolve {id}: {status} {answer}")),
        }
    }
}

/// Refunds meant for the operator, cancelled while they still wait in their queue.
async fn cancel_waiting(run: &Run) {
    let Some((200, queued)) = call(run, reqwest::Method::GET, "/refunds?status=queued&limit=1000", None).await else {
        return;
    };
    for refund in queued.as_array().into_iter().flatten() {
        let Some(id) = refund["refund_id"].as_str().filter(|id| id.ends_with(ADMIN_CANCEL)) else {
            continue;
        };
        run.tally.admin_cancel_attempts.fetch_add(1, Ordering::Relaxed);
        let body = json!({"reason": "the customer kept the item"});
        match call(run, reqwest::Method::POST, &format!("/refunds/{id}/cancel"), Some(body)).await {
            Some((200, _)) => {
                run.tally.admin_cancelled.fetch_add(1, Ordering::Relaxed);
            }
            // Sent meanwhile (`not_cancellable`), or down: both fine.
            Some((409 | 502 | 503, _)) | None => {}
            Some((status, answer)) => run.tally.note(format!("cancel {id}: {status} {answer}")),
        }
    }
}

/// A head in flight: the operator asks the provider (`status-check`, a stored answer) and, when the
/// answer supports an outcome, records it with that answer as evidence, as contract §4 requires.
/// The orchestrator may settle it first (409).
async fn release_settled_heads(run: &Run) {
    let Some((200, in_flight)) = call(run, reqwest::Method::GET, "/refunds?status=in_flight&limit=1000", None).await
    else {
        return;
    };
    let heads: Vec<String> = in_flight
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["refund_id"].as_str().map(str::to_owned))
        .collect();
    for id in heads {
        let Some((200, answer)) = call(run, reqwest::Method::POST, &format!("/refunds/{id}/status-check"), None).await
        else {
            continue;
        };
        let outcome = match answer["supports"].as_str() {
            Some(outcome @ ("succeeded" | "declined")) => outcome.to_owned(),
            _ => continue,
        };
        run.tally.admin_release_attempts.fetch_add(1, Ordering::Relaxed);
        let body = json!({
            "outcome": outcome,
            "answer_id": answer["answer_id"],
            "reason": format!("the provider's status answer shows the refund {outcome}"),
        });
        match call(
            run,
            reqwest::Method::POST,
            &format!("/refunds/{id}/release"),
            Some(body),
        )
        .await
        {
            Some((200, _)) => {
                run.tally.admin_released.fetch_add(1, Ordering::Relaxed);
            }
            Some((409 | 502 | 503, _)) | None => {}
            Some((status, answer)) => run.tally.note(format!("release {id}: {status} {answer}")),
        }
    }
}

/// The suite's schema failures (`"amount":"lots"`) replayed with a fixed body: a valid humm
/// purchase of its own, which must then complete like any other.
async fn replay_fixed(run: &Run, replayed: &mut HashSet<i64>) {
    let Some((200, letters)) = call(run, reqwest::Method::GET, "/dead-letters?limit=1000", None).await else {
        return;
    };
    for letter in letters.as_array().into_iter().flatten() {
        let Some(id) = letter["id"].as_i64() else { continue };
        let schema_failure = letter["detail"].as_str().is_some_and(|d| d.starts_with("/amount"));
        if !schema_failure || replayed.contains(&id) {
            continue;
        }
        let payment_id = format!("fs-replay-{id}");
        let fixed = json!({
            "payment_id": payment_id, "provider": "humm", "account": "default", "flow": "gate",
            "amount": {"minor": 4200, "currency": "GBP"},
            "customer": {"id": "cust-fs", "first_name": "Jane", "last_name": "Doe", "ip_address": "203.0.113.7"},
            "return_url": "https://shop.example/return"
        });
        let replay = json!({"body": fixed});
        match call(
            run,
            reqwest::Method::POST,
            &format!("/dead-letters/{id}/replay"),
            Some(replay),
        )
        .await
        {
            Some((202, _)) => {
                replayed.insert(id);
                run.humm_ids.lock().unwrap().push(payment_id);
                run.tally.admin_replayed.fetch_add(1, Ordering::Relaxed);
            }
            Some((502 | 503, _)) | None => {}
            Some((status, answer)) => {
                replayed.insert(id);
                run.tally.note(format!("replay {id}: {status} {answer}"));
            }
        }
    }
}
