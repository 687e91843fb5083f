//! Refunds through the strictly sequential queue per provider account, over the sandbox.

use crate::harness::*;
use bnpl::config::AccountTiming;
use lapin::BasicProperties;
use serde_json::{json, Value};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);

fn refund(refund_id: &str, payment_id: &str, minor: i64, currency: &str) -> Value {
    json!({"refund_id": refund_id, "payment_id": payment_id, "amount": {"minor": minor, "currency": currency}, "reason": "item returned"})
}

/// The sandbox customer finishes every humm redirect at once, successfully.
fn auto_success(config: &mut bnpl::sandbox::SandboxConfig) {
    config.auto_customer.enabled = true;
    config.auto_customer.success_ratio = 1.0;
    config.auto_customer.delay_secs = 0.0;
}

async fn succeeded_humm(env: &mut Sandboxed, payment_id: &str, minor: i64) {
    env.publish("purchase.create", &humm_purchase(payment_id, minor)).await;
    env.wait_for_event(payment_id, "payment.succeeded", WAIT).await;
}

#[tokio::test]
async fn a_humm_refund_is_queued_submitted_and_succeeds_by_callback() {
    // The refund's status check comes late (base time 10 s), so the callback is what settles it;
    // the provider takes 0.5 s, so the send has stored its request id when the callback arrives.
    let timing = AccountTiming {
        base_time: Duration::from_secs(10),
        threshold_time: Duration::from_secs(30),
        ..fast_timing()
    };
    let mut env = spawn_sandboxed(timing, |config| {
        auto_success(config);
        config.humm.refund_processing_secs = 5_000.0;
    })
    .await;
    succeeded_humm(&mut env, "rf-pay-1", 15000).await;
    env.publish("refund.create", &refund("rf-1", "rf-pay-1", 5000, "GBP"))
        .await;
    let done = env.wait_for_event("rf-pay-1", "refund.succeeded", WAIT).await;
    assert_eq!(done["refund_id"], "rf-1");
    assert_eq!(done["refunded_total_minor"], 5000);
    // The payment's metadata is echoed on its refunds' events too (contract §2).
    for event in env.events_of("rf-pay-1") {
        assert_eq!(event["metadata"]["order_ref"], "rf-pay-1", "{event}");
    }
    let sequence = env.sequence_of("rf-pay-1");
    let after_payment = sequence.iter().position(|t| t == "payment.succeeded").unwrap() + 1;
    assert_eq!(
        sequence[after_payment..],
        ["refund.queued", "refund.submitted", "refund.succeeded"]
    );
    let pool = env.app.db.pool().await;
    let settled_by: String =
        sqlx::query_scalar("SELECT actor FROM audit_log WHERE refund_id = 'rf-1' AND to_status = 'succeeded'")
            .fetch_one(&pool)
            .await
            .unwrap();
    // The callback that settled it is kept, as every callback is (contract §4: 200 once stored).
    let kept: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM inbound_callbacks WHERE payment_id = 'rf-pay-1' AND verified AND outcome = 'applied'
           AND convert_from(body, 'UTF8')::jsonb #>> '{operation,type}' = 'refund'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    pool.close().await;
    assert_eq!(settled_by, "callback:ecommpay");
    assert_eq!(kept, 1, "the refund's callback is stored once");
    // A full second refund of the rest, then nothing is left to refund.
    env.publish("refund.create", &refund("rf-2", "rf-pay-1", 10000, "GBP"))
        .await;
    let second = env.wait_for_event("rf-pay-1", "refund.succeeded", WAIT).await;
    let _ = second;
    env.wait_until_events("rf-pay-1", 10, WAIT).await;
    assert_eq!(env.events_of("rf-pay-1").last().unwrap()["refunded_total_minor"], 15000);
    env.publish("refund.create", &refund("rf-3", "rf-pay-1", 1, "GBP"))
        .await;
    let rejected = env.wait_for_event("rf-3", "command.rejected", WAIT).await;
    assert_eq!(rejected["reason"]["code"], "over_refund");
    env.app.stop().await.unwrap();
}

#[tokio::test]
async fn a_valu_refund_succeeds_with_06000() {
    let mut env = spawn_sandboxed(fast_timing(), |_| {}).await;
    env.publish("purchase.create", &valu_purchase("rf-valu-1", 400_000, "01022220001"))
        .await;
    env.wait_for_event("rf-valu-1", "payment.action_required", WAIT).await;
    let otp = env.otp_for("01022220001").await;
    env.publish(
        "purchase.confirm",
        &json!({"payment_id": "rf-valu-1", "otp": otp, "tenure_months": 6}),
    )
    .await;
    env.wait_for_event("rf-valu-1", "payment.succeeded", WAIT).await;
    env.publish("refund.create", &refund("rf-valu-1-a", "rf-valu-1", 100_000, "EGP"))
        .await;
    let done = env.wait_for_event("rf-valu-1", "refund.succeeded", WAIT).await;
    assert_eq!(done["refunded_total_minor"], 100_000);
    env.app.stop().await.unwrap();
}

#[tokio::test]
async fn two_concurrent_partial_refunds_over_the_capture_accept_exactly_one() {
    let mut env = spawn_sandboxed(fast_timing(), auto_success).await;
    succeeded_humm(&mut env, "rf-pay-2", 10000).await;
    env.publish("refund.create", &refund("rf-2a", "rf-pay-2", 7000, "GBP"))
        .await;
    env.publish("refund.create", &refund("rf-2b", "rf-pay-2", 7000, "GBP"))
        .await;
    env.drain(Duration::from_secs(3)).await;
    let queued: Vec<Value> = env
        .events_of("rf-pay-2")
        .into_iter()
        .filter(|e| e["type"] == "refund.queued")
        .collect();
    assert_eq!(queued.len(), 1, "exactly one refund accepted: {queued:?}");
    let loser = if queued[0]["refund_id"] == "rf-2a" {
        "rf-2b"
    } else {
        "rf-2a"
    };
    let rejected = env.wait_for_event(loser, "command.rejected", WAIT).await;
    assert_eq!(rejected["reason"]["code"], "over_refund");
    env.app.stop().await.unwrap();
}

#[tokio::test]
async fn a_refund_from_a_user_not_on_the_allow_list_is_forbidden() {
    let mut env = spawn_sandboxed(fast_timing(), auto_success).await;
    succeeded_humm(&mut env, "rf-pay-3", 10000).await;
    // No user_id at all (the harness's publish adds the allowed `guest`; publish bare here).
    env.probe
        .publish_command(
            "refund.create",
            refund("rf-3a", "rf-pay-3", 100, "GBP").to_string().as_bytes(),
            BasicProperties::default(),
        )
        .await;
    let rejected = env.wait_for_event("rf-3a", "command.rejected", WAIT).await;
    assert_eq!(rejected["reason"]["code"], "forbidden");
    env.app.stop().await.unwrap();
}

#[tokio::test]
async fn a_queued_refund_can_be_cancelled_and_a_sent_one_cannot() {
    // humm takes 5 s (50,000 provider seconds × 0.0001) per refund: the first blocks the queue.
    let mut env = spawn_sandboxed(fast_timing(), |config| {
        auto_success(config);
        config.humm.refund_processing_secs = 50_000.0;
    })
    .await;
    succeeded_humm(&mut env, "rf-pay-4", 10000).await;
    env.publish("refund.create", &refund("rf-4a", "rf-pay-4", 1000, "GBP"))
        .await;
    env.wait_for_event("rf-pay-4", "refund.submitted", WAIT).await;
    env.publish("refund.create", &refund("rf-4b", "rf-pay-4", 1000, "GBP"))
        .await;
    env.wait_until_events("rf-pay-4", 7, WAIT).await;
    env.publish("refund.cancel", &json!({"refund_id": "rf-4b"})).await;
    env.drain(Duration::from_secs(1)).await;
    assert!(
        env.events_of("rf-4b").is_empty(),
        "cancel refused: {:?}",
        env.events_of("rf-4b")
    );
    let cancelled = env.wait_for_event("rf-pay-4", "refund.cancelled", WAIT).await;
    assert_eq!(cancelled["refund_id"], "rf-4b");
    // The same cancel again (a redelivery after a crash before the ack looks the same): a
    // duplicate, once, not a unique violation retried until the broker dead-letters it.
    env.publish("refund.cancel", &json!({"refund_id": "rf-4b"})).await;
    let pool = env.app.db.pool().await;
    let outcome_of_repeat = async {
        loop {
            let outcomes: Vec<String> = sqlx::query_scalar(
                "SELECT outcome FROM commands WHERE command_type = 'refund.cancel' AND subject_id = 'rf-4b' ORDER BY id",
            )
            .fetch_all(&pool)
            .await
            .unwrap();
            if outcomes.len() >= 2 {
                return outcomes;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let outcomes = tokio::time::timeout(WAIT, outcome_of_repeat)
        .await
        .expect("the repeated cancel was never recorded");
    assert_eq!(outcomes, ["applied", "duplicate"]);
    pool.close().await;
    env.publish("refund.cancel", &json!({"refund_id": "rf-4a"})).await;
    let refused = env.wait_for_event("rf-4a", "command.rejected", WAIT).await;
    assert_eq!(refused["reason"]["code"], "not_cancellable");
    let done = env.wait_for_event("rf-pay-4", "refund.succeeded", WAIT).await;
    assert_eq!(done["refund_id"], "rf-4a");
    // The cancelled refund was never sent.
    let ledger = env.ledger().await;
    let sent: Vec<&Value> = ledger["refunds"]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["refund_id"] == "rf-4b")
        .collect();
    assert!(sent.is_empty(), "a cancelled refund reached the provider: {sent:?}");
    env.app.stop().await.unwrap();
}

#[tokio::test]
async fn an_uncertain_refund_is_settled_by_status_query_and_never_sent_twice() {
    let mut env = spawn_sandboxed(fast_timing(), auto_success).await;
    succeeded_humm(&mut env, "rf-pay-5", 10000).await;
    // The sandbox registers the refund, then answers 500: our answer is uncertain. Its callback
    // is lost too, so only a status query can settle it (a callback would settle it before any
    // resend could show).
    let id = "5-fault-register-500-fault-lost-callback";
    env.publish("refund.create", &refund(id, "rf-pay-5", 2500, "GBP")).await;
    let done = env.wait_for_event("rf-pay-5", "refund.succeeded", WAIT).await;
    assert_eq!(done["refunded_total_minor"], 2500);
    let ledger = env.ledger().await;
    assert_eq!(
        ledger["refund_requests_per_refund_id"][id], 1,
        "the uncertain refund was not sent again"
    );
    assert_eq!(ledger["repeated_refund_requests"], 0);
    let accepted = ledger["refunds"]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["refund_id"] == id && r["status"] != "rejected")
        .count();
    assert_eq!(accepted, 1);
    env.app.stop().await.unwrap();
}

/// A refund the provider holds but has not finished (humm takes up to a working day) is not sent
/// again after an uncertain send: the status query lists its operation as processing, which is
/// not "not applied" (providers.md §1.6: keep waiting). Sent again, ecommpay would refuse the
/// reused id (3230), and APS could pay it twice.
#[tokio::test]
async fn an_uncertain_refund_still_processing_at_the_provider_is_waited_for_not_sent_again() {
    // humm takes 5 s (50,000 provider seconds × 0.0001): several status checks (base time 1.5 s,
    // then every second) see it processing before it succeeds, within the 8 s refund threshold.
    let mut env = spawn_sandboxed(fast_timing(), |config| {
        auto_success(config);
        config.humm.refund_processing_secs = 50_000.0;
    })
    .await;
    succeeded_humm(&mut env, "rf-pay-5p", 10000).await;
    // Registered, answered 500 (uncertain: we hold no request id), its callback lost.
    let id = "8-fault-register-500-fault-lost-callback";
    env.publish("refund.create", &refund(id, "rf-pay-5p", 2500, "GBP"))
        .await;
    let done = env.wait_for_event("rf-pay-5p", "refund.succeeded", WAIT).await;
    assert_eq!(done["refunded_total_minor"], 2500);
    let ledger = env.ledger().await;
    assert_eq!(
        ledger["refund_requests_per_refund_id"][id], 1,
        "the refund was sent again while the provider processed it"
    );
    assert_eq!(ledger["reused_refund_ids"], 0);
    env.app.stop().await.unwrap();
}

#[tokio::test]
async fn a_refund_with_no_answer_past_the_refund_threshold_needs_review_and_keeps_blocking() {
    // humm takes 20 s (200,000 provider seconds × 0.0001): longer than our 8 s refund threshold.
    let mut env = spawn_sandboxed(fast_timing(), |config| {
        auto_success(config);
        config.humm.refund_processing_secs = 200_000.0;
    })
    .await;
    succeeded_humm(&mut env, "rf-pay-6", 10000).await;
    env.publish("refund.create", &refund("rf-6a", "rf-pay-6", 1000, "GBP"))
        .await;
    env.wait_for_event("rf-pay-6", "refund.submitted", WAIT).await;
    env.publish("refund.create", &refund("rf-6b", "rf-pay-6", 1000, "GBP"))
        .await;
    let review = env.wait_for_event("rf-pay-6", "refund.needs_review", WAIT).await;
    assert_eq!(review["refund_id"], "rf-6a");
    assert_eq!(review["reason"]["code"], "no_definite_answer");
    // Not before the refund threshold: the checks before it found "not applied yet" and waited.
    let pool = env.app.db.pool().await;
    let overdue_from: chrono::DateTime<chrono::Utc> =
        sqlx::query_scalar("SELECT submitted_at + $2 FROM refunds WHERE refund_id = $1")
            .bind("rf-6a")
            .bind(fast_timing().refund_threshold)
            .fetch_one(&pool)
            .await
            .unwrap();
    pool.close().await;
    let reviewed_at: chrono::DateTime<chrono::Utc> = review["occurred_at"]
        .as_str()
        .and_then(|at| at.parse().ok())
        .expect("occurred_at");
    // Events carry milliseconds; the threshold, microseconds.
    assert!(
        reviewed_at >= overdue_from - chrono::Duration::milliseconds(1),
        "sent to review at {reviewed_at}, before the refund threshold ({overdue_from})"
    );
    // The queue stays blocked behind the refund under review: rf-6b is never sent.
    env.drain(Duration::from_secs(2)).await;
    let submitted: Vec<Value> = env
        .events_of("rf-pay-6")
        .into_iter()
        .filter(|e| e["type"] == "refund.submitted")
        .collect();
    assert_eq!(submitted.len(), 1, "{submitted:?}");
    let queued = env
        .db_i64(
            "SELECT count(*) FROM refunds WHERE refund_id = $1 AND status = 'queued'",
            "rf-6b",
        )
        .await;
    assert_eq!(queued, 1, "rf-6b still waits in the queue");
    env.app.stop().await.unwrap();
}

#[tokio::test]
async fn a_refund_the_provider_never_received_is_sent_again_with_the_same_id() {
    let mut env = spawn_sandboxed(fast_timing(), auto_success).await;
    succeeded_humm(&mut env, "rf-pay-7", 10000).await;
    // The sandbox answers 502 and registers nothing: uncertain, then "not applied" by status.
    env.publish("refund.create", &refund("rf-7-fault-5xx", "rf-pay-7", 1500, "GBP"))
        .await;
    let done = env.wait_for_event("rf-pay-7", "refund.succeeded", WAIT).await;
    assert_eq!(done["refunded_total_minor"], 1500);
    assert!(env
        .events_of("rf-pay-7")
        .iter()
        .all(|e| e["type"] != "refund.needs_review"));
    env.app.stop().await.unwrap();
}

/// Found by the refund queue model (tests/refund_queue): a send that never reached the provider,
/// checked only past the refund threshold, went to review and held its queue for ever, since no
/// answer could ever support releasing it. It is now checked in review too and sent again.
#[tokio::test]
async fn a_refund_lost_on_the_way_and_sent_to_review_is_sent_again_and_frees_its_queue() {
    // The first status check (after the base time) comes past the refund threshold.
    let timing = AccountTiming {
        refund_threshold: Duration::from_millis(500),
        ..fast_timing()
    };
    let mut env = spawn_sandboxed(timing, auto_success).await;
    succeeded_humm(&mut env, "rf-pay-13", 10000).await;
    // The sandbox answers 502 and registers nothing: the provider never has it.
    env.publish("refund.create", &refund("rf-13a-fault-5xx", "rf-pay-13", 1500, "GBP"))
        .await;
    // Intake takes commands concurrently: rf-13b must arrive after rf-13a has its place.
    let queued = env.wait_for_event("rf-pay-13", "refund.queued", WAIT).await;
    assert_eq!(queued["refund_id"], "rf-13a-fault-5xx");
    env.publish("refund.create", &refund("rf-13b", "rf-pay-13", 2000, "GBP"))
        .await;
    let review = env.wait_for_event("rf-pay-13", "refund.needs_review", WAIT).await;
    assert_eq!(review["refund_id"], "rf-13a-fault-5xx");
    // Settled from review, and its queue moves on.
    let done = env.wait_for_events("rf-pay-13", "refund.succeeded", 2, WAIT).await;
    assert_eq!(done[0]["refund_id"], "rf-13a-fault-5xx");
    assert_eq!(done[1]["refund_id"], "rf-13b");
    assert_eq!(done[1]["refunded_total_minor"], 3500);
    env.app.stop().await.unwrap();
}

#[tokio::test]
async fn a_repeated_callback_of_an_earlier_refund_does_not_touch_the_next_one() {
    let mut env = spawn_sandboxed(fast_timing(), |config| {
        auto_success(config);
        config.stall_ms = 3_000;
    })
    .await;
    succeeded_humm(&mut env, "rf-pay-8", 20000).await;
    // The first refund is declined and its callback sent twice; the second, of the same amount,
    // is promoted by the statement that declines the first, so it is in flight (its answer
    // stalled) when the copy arrives. Only the copy's request id tells it apart: by amount and
    // payment it would decline the second refund too.
    let first = "8-fault-decline-fault-duplicate-callback";
    let second = "rf-8b-fault-timeout-after-register";
    env.publish("refund.create", &refund(first, "rf-pay-8", 3000, "GBP"))
        .await;
    // Queued first (intake runs commands concurrently, so wait before sending the next).
    env.wait_for_event("rf-pay-8", "refund.queued", WAIT).await;
    env.publish("refund.create", &refund(second, "rf-pay-8", 3000, "GBP"))
        .await;
    let declined = env.wait_for_event("rf-pay-8", "refund.declined", WAIT).await;
    assert_eq!(declined["refund_id"], first);
    let succeeded = env.wait_for_event("rf-pay-8", "refund.succeeded", WAIT).await;
    assert_eq!(succeeded["refund_id"], second);
    assert_eq!(succeeded["refunded_total_minor"], 3000);
    let finals: Vec<(Value, Value)> = env
        .events_of("rf-pay-8")
        .iter()
        .filter(|e| {
            ["refund.declined", "refund.succeeded", "refund.needs_review"].contains(&e["type"].as_str().unwrap_or(""))
        })
        .map(|e| (e["refund_id"].clone(), e["type"].clone()))
        .collect();
    assert_eq!(
        finals,
        [
            (json!(first), json!("refund.declined")),
            (json!(second), json!("refund.succeeded"))
        ]
    );
    env.app.stop().await.unwrap();
}

#[tokio::test]
async fn a_declined_refund_frees_its_queue_for_the_next() {
    let mut env = spawn_sandboxed(fast_timing(), auto_success).await;
    succeeded_humm(&mut env, "rf-pay-9", 10000).await;
    env.publish("refund.create", &refund("rf-9a-fault-decline", "rf-pay-9", 2000, "GBP"))
        .await;
    // Queued first (intake runs commands concurrently, so wait before sending the next).
    env.wait_for_event("rf-pay-9", "refund.queued", WAIT).await;
    env.publish("refund.create", &refund("rf-9b", "rf-pay-9", 1000, "GBP"))
        .await;
    let declined = env.wait_for_event("rf-pay-9", "refund.declined", WAIT).await;
    assert_eq!(declined["refund_id"], "rf-9a-fault-decline");
    assert_eq!(declined["refunded_total_minor"], 0);
    let next = env.wait_for_event("rf-pay-9", "refund.succeeded", WAIT).await;
    assert_eq!(next["refund_id"], "rf-9b");
    assert!(env
        .events_of("rf-pay-9")
        .iter()
        .all(|e| e["type"] != "refund.needs_review"));
    env.app.stop().await.unwrap();
}

#[tokio::test]
async fn a_refund_that_failed_at_the_provider_is_settled_by_status_query_without_its_request_id() {
    // The send registers the refund but its answer is lost (500: no request id for us), the
    // provider ends it in `error`, and its callback never comes: only the status query can tell,
    // and it must tie the failed operation to our refund instead of resending until review.
    let mut env = spawn_sandboxed(fast_timing(), auto_success).await;
    succeeded_humm(&mut env, "rf-pay-10", 10000).await;
    let rates = json!({"decline": 0.0, "server_error": 0.0, "register_then_server_error": 0.0,
        "timeout_after_register": 0.0, "lost_callback": 1.0, "duplicate_callback": 0.0,
        "reorder_callbacks": 0.0, "bad_signature_callback": 0.0, "slow": 0.0, "provider_error": 0.0});
    let set = env
        .http
        .post(env.sandbox.url("/sandbox/faults"))
        .json(&rates)
        .send()
        .await
        .unwrap();
    assert!(set.status().is_success());
    let id = "fault-register-500-fault-provider-error";
    env.publish("refund.create", &refund(id, "rf-pay-10", 2500, "GBP"))
        .await;
    // The queue is not blocked behind it: the next refund goes through.
    env.wait_for_event("rf-pay-10", "refund.queued", WAIT).await;
    env.publish("refund.create", &refund("rf-10b", "rf-pay-10", 1000, "GBP"))
        .await;
    let failed = env.wait_for_event("rf-pay-10", "refund.failed", WAIT).await;
    assert_eq!(failed["refund_id"], id);
    assert_eq!(failed["reason"]["code"], "provider_error");
    assert_eq!(failed["refunded_total_minor"], 0);
    let next = env.wait_for_event("rf-pay-10", "refund.succeeded", WAIT).await;
    assert_eq!(next["refund_id"], "rf-10b");
    assert!(
        env.events_of("rf-pay-10")
            .iter()
            .all(|e| e["type"] != "refund.needs_review"),
        "{:?}",
        env.events_of("rf-pay-10")
    );
    env.app.stop().await.unwrap();
}
