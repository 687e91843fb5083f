//! humm purchases end to end (issue 6 acceptance): Gate and Payment Page flows against the
//! sandbox over HTTP, callbacks and status checks, provider faults, and intake's idempotency and
//! refusals. Each test has its own database, queue prefix and sandbox, so ids repeat freely.

use crate::harness::*;
use crate::helpers::*;
use bnpl::config::AccountTiming;
use futures_util::future::join_all;
use lapin::options::BasicPublishOptions;
use lapin::BasicProperties;
use serde_json::{json, Value};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(15);
/// Long enough for threshold (8 s) + grace (3 s) + a status check or two.
const DECISION_WAIT: Duration = Duration::from_secs(25);
const FINAL_TYPES: [&str; 4] = [
    "payment.succeeded",
    "payment.declined",
    "payment.failed",
    "payment.expired",
];

fn final_events(env: &Sandboxed, payment_id: &str) -> Vec<Value> {
    env.events_of(payment_id)
        .into_iter()
        .filter(|e| FINAL_TYPES.contains(&e["type"].as_str().unwrap_or_default()))
        .collect()
}

/// Waits until the payment has no scheduled or running job left (its status checks ended).
async fn jobs_settle(env: &Sandboxed, payment_id: &str) {
    let pool = env.app.db.pool().await;
    eventually(DECISION_WAIT, "no live jobs for the payment", || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM jobs WHERE payment_id = $1 AND state IN ('scheduled', 'running')",
        )
        .bind(payment_id)
        .fetch_one(&pool)
        .await
        .unwrap()
            == 0
    })
    .await;
    pool.close().await;
}

/// Asserts the Gate sequence `accepted → pending → rest…` (gap-free). `pending` is tolerated
/// missing until the race shown by `gate_announces_pending_even_when_the_redirect_beats_the_sale_answer`
/// is fixed; then drop the tolerance.
fn assert_gate_sequence(env: &Sandboxed, payment_id: &str, rest: &[&str]) {
    let mut expected = vec!["payment.accepted", "payment.pending"];
    expected.extend_from_slice(rest);
    assert_eq!(env.sequence_of(payment_id), expected, "sequence of {payment_id}");
}

/// Asserts the contract §3 envelope and payment fields common to every event of a payment.
fn assert_payment_event(event: &Value, payment_id: &str, amount_minor: i64) {
    let event_id = event["event_id"].as_str().expect("event_id");
    uuid::Uuid::parse_str(event_id).expect("event_id is a UUID");
    let occurred_at = event["occurred_at"].as_str().expect("occurred_at");
    chrono::DateTime::parse_from_rfc3339(occurred_at).expect("occurred_at is RFC 3339");
    assert_eq!(event["payment_id"], payment_id);
    assert_eq!(event["provider"], "humm");
    assert_eq!(event["account"], "default");
    assert_eq!(event["amount"], json!({"minor": amount_minor, "currency": "GBP"}));
    assert_eq!(
        event["metadata"],
        json!({"order_ref": payment_id}),
        "metadata echoed: {event}"
    );
    let type_ = event["type"].as_str().unwrap();
    assert_eq!(
        Some(event["status"].as_str().unwrap()),
        type_.strip_prefix("payment."),
        "status matches type: {event}"
    );
}

// 1. Gate happy path.
#[tokio::test]
async fn gate_happy_path_has_the_contract_sequence_and_fields() {
    let mut env = spawn_sandboxed(fast_timing(), |_| {}).await;
    env.publish("purchase.create", &humm_purchase("g-1", 15000)).await;
    let action = env.wait_for_event("g-1", "payment.action_required", WAIT).await;
    assert_eq!(action["action"]["kind"], "redirect");
    assert_eq!(action["action"]["method"], "POST");
    let url = action["action"]["url"].as_str().expect("redirect url");
    assert!(
        url.starts_with(&env.sandbox.url("/sandbox/humm/g-1")),
        "redirect to the humm page: {url}"
    );
    assert!(action["action"]["body"].is_object(), "redirect body: {action}");
    env.customer_finishes("g-1", "success").await;
    let done = env.wait_for_event("g-1", "payment.succeeded", WAIT).await;
    jobs_settle(&env, "g-1").await;
    env.drain(Duration::from_millis(500)).await;

    assert_gate_sequence(&env, "g-1", &["payment.action_required", "payment.succeeded"]);
    let events = env.events_of("g-1");
    let mut ids: Vec<&str> = events.iter().map(|e| e["event_id"].as_str().unwrap()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), events.len(), "distinct event ids");
    for event in &events {
        assert_payment_event(event, "g-1", 15000);
    }
    let reference = done["provider_reference"].as_str().unwrap_or_default();
    assert!(!reference.is_empty(), "provider_reference on success: {done}");
    assert!(done["reason"].is_null(), "no reason on success: {done}");
    assert_eq!(env.status_of("g-1").await.as_deref(), Some("succeeded"));
    assert_eq!(env.sales_for("g-1").await, 1);
    env.app.stop().await.unwrap();
}

// 2. Gate decline: the customer declines, and the `fault-decline` marker.
#[tokio::test]
async fn gate_decline_carries_the_provider_code() {
    let mut env = spawn_sandboxed(fast_timing(), |_| {}).await;
    env.publish("purchase.create", &humm_purchase("d-1", 15000)).await;
    env.publish("purchase.create", &humm_purchase("d-2-fault-decline", 15000))
        .await;
    env.wait_for_event("d-1", "payment.action_required", WAIT).await;
    env.wait_for_event("d-2-fault-decline", "payment.action_required", WAIT)
        .await;
    env.customer_finishes("d-1", "decline").await;
    // The marker declines whatever the customer does.
    env.customer_finishes("d-2-fault-decline", "success").await;
    for id in ["d-1", "d-2-fault-decline"] {
        let declined = env.wait_for_event(id, "payment.declined", WAIT).await;
        assert_eq!(declined["status"], "declined");
        assert_eq!(declined["reason"]["code"], "declined", "{declined}");
        assert_eq!(declined["reason"]["provider_code"], "20000", "{declined}");
        assert_eq!(declined["reason"]["provider_message"], "General decline");
        assert!(declined["reason"]["message"].is_string());
        assert_payment_event(&declined, id, 15000);
        assert_gate_sequence(&env, id, &["payment.action_required", "payment.declined"]);
        assert_eq!(env.status_of(id).await.as_deref(), Some("declined"));
    }
    env.app.stop().await.unwrap();
}

// 3. Payment Page: the signed page URL at once, then the redirect once opened.
#[tokio::test]
async fn payment_page_flow_offers_the_signed_page_then_the_redirect() {
    let mut env = spawn_sandboxed(fast_timing(), |_| {}).await;
    env.publish("purchase.create", &payment_page_purchase("pp-1")).await;
    let offered = env.wait_for_event("pp-1", "payment.action_required", WAIT).await;
    assert_payment_event(&offered, "pp-1", 15000);
    assert_eq!(offered["action"]["kind"], "redirect");
    let page_url = offered["action"]["url"].as_str().expect("page url").to_owned();
    assert!(
        page_url.starts_with(&env.sandbox.url("/payment?")),
        "a sandbox Payment Page URL: {page_url}"
    );
    let parsed = url::Url::parse(&page_url).unwrap();
    let query: std::collections::HashMap<String, String> = parsed.query_pairs().into_owned().collect();
    assert_eq!(query.get("payment_id").map(String::as_str), Some("pp-1"));
    assert_eq!(
        query.get("force_payment_method").map(String::as_str),
        Some("bnpl-humm"),
        "contract §2: force_payment_method=bnpl-humm"
    );
    assert!(query.get("signature").is_some_and(|s| !s.is_empty()));
    // Nothing exists at ecommpay until the customer opens the page.
    assert_eq!(env.sales_for("pp-1").await, 0);
    // The customer takes their time: the status checks from the base time on find nothing at
    // ecommpay, and a page not yet opened stays open until the threshold.
    tokio::time::sleep(fast_timing().base_time * 2).await;

    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let opened = browser.get(&page_url).send().await.unwrap();
    assert_eq!(opened.status().as_u16(), 302, "the page accepts our signature");
    let location = opened.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.contains("/sandbox/humm/pp-1"), "{location}");

    let redirects = env.wait_for_events("pp-1", "payment.action_required", 2, WAIT).await;
    assert_eq!(redirects[1]["action"]["kind"], "redirect");
    assert_eq!(redirects[1]["action"]["method"], "POST");
    assert!(redirects[1]["action"]["url"]
        .as_str()
        .unwrap()
        .contains("/sandbox/humm/pp-1"));
    env.customer_finishes("pp-1", "success").await;
    let done = env.wait_for_event("pp-1", "payment.succeeded", WAIT).await;
    assert!(!done["provider_reference"].as_str().unwrap_or_default().is_empty());
    jobs_settle(&env, "pp-1").await;
    env.drain(Duration::from_millis(500)).await;
    assert_eq!(
        env.sequence_of("pp-1"),
        [
            "payment.accepted",
            "payment.action_required",
            "payment.action_required",
            "payment.succeeded"
        ]
    );
    assert_eq!(env.sales_for("pp-1").await, 1);
    env.app.stop().await.unwrap();
}

// 4. Payment Page never opened → expired at threshold + grace.
#[tokio::test]
async fn payment_page_never_opened_expires() {
    let mut env = spawn_sandboxed(fast_timing(), |_| {}).await;
    env.publish("purchase.create", &payment_page_purchase("pp-2")).await;
    env.wait_for_event("pp-2", "payment.action_required", WAIT).await;
    let expired = env.wait_for_event("pp-2", "payment.expired", DECISION_WAIT).await;
    assert_payment_event(&expired, "pp-2", 15000);
    jobs_settle(&env, "pp-2").await;
    env.drain(Duration::from_millis(500)).await;
    assert_eq!(
        env.sequence_of("pp-2"),
        ["payment.accepted", "payment.action_required", "payment.expired"]
    );
    assert_eq!(env.status_of("pp-2").await.as_deref(), Some("expired"));
    assert_eq!(env.sales_for("pp-2").await, 0);
    // Not before the threshold and its grace: until then the customer may still open the page.
    let pool = env.app.db.pool().await;
    let (final_at, decided_from): (chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>) =
        sqlx::query_as("SELECT final_at, threshold_at + $2 FROM payments WHERE payment_id = $1")
            .bind("pp-2")
            .bind(fast_timing().threshold_grace)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(
        final_at >= decided_from,
        "expired at {final_at}, before threshold + grace ({decided_from})"
    );
    env.app.stop().await.unwrap();
}

/// With no base time the first status check is due at once, so intake's commit wakes the job
/// runners (the sale itself runs inline and needs no wake-up).
#[tokio::test]
async fn a_status_check_due_at_intake_wakes_the_job_runners() {
    let timing = AccountTiming {
        base_time: Duration::ZERO,
        ..fast_timing()
    };
    let mut env = spawn_sandboxed(timing, |_| {}).await;
    let pool = env.app.db.pool().await;
    let mut listener = sqlx::postgres::PgListener::connect_with(&pool).await.unwrap();
    listener.listen(bnpl::jobs::runner::NOTIFY_CHANNEL).await.unwrap();
    env.publish("purchase.create", &humm_purchase("due-check-1", 15000))
        .await;
    let woken = tokio::time::timeout(WAIT, listener.recv()).await;
    assert!(
        matches!(woken, Ok(Ok(_))),
        "intake's commit wakes the runners: {woken:?}"
    );
    env.app.stop().await.unwrap();
}

// 5. Lost final callback → the status check settles it.
#[tokio::test]
async fn lost_final_callback_is_settled_by_the_status_check() {
    let mut env = spawn_sandboxed(fast_timing(), |_| {}).await;
    let id = "lost-fault-lost-callback";
    env.publish("purchase.create", &humm_purchase(id, 15000)).await;
    env.wait_for_event(id, "payment.action_required", WAIT).await;
    env.customer_finishes(id, "success").await;
    let done = env.wait_for_event(id, "payment.succeeded", WAIT).await;
    assert!(
        !done["provider_reference"].as_str().unwrap_or_default().is_empty(),
        "provider_reference from the status answer: {done}"
    );
    jobs_settle(&env, id).await;
    env.drain(Duration::from_millis(500)).await;
    assert_eq!(final_events(&env, id).len(), 1);
    assert_gate_sequence(&env, id, &["payment.action_required", "payment.succeeded"]);
    let ledger = env.ledger().await;
    assert!(
        ledger["callback_counters"]["ecommpay"]["lost_by_fault"].as_u64() >= Some(1),
        "the final callback really was lost: {}",
        ledger["callback_counters"]
    );
    // No callback ever told us: the status check did.
    let applied = env
        .db_i64(
            "SELECT count(*) FROM audit_log WHERE payment_id = $1 AND to_status = 'succeeded' AND actor = 'job:status_check'",
            id,
        )
        .await;
    assert_eq!(applied, 1, "settled by the status check");
    env.app.stop().await.unwrap();
}

// 6. Customer never finishes → ecommpay's own threshold decline, exactly once.
#[tokio::test]
async fn customer_never_finishing_gets_the_providers_threshold_decline_once() {
    let mut env = spawn_sandboxed(fast_timing(), |_| {}).await;
    env.publish("purchase.create", &humm_purchase("nf-1", 15000)).await;
    env.wait_for_event("nf-1", "payment.action_required", WAIT).await;
    let declined = env.wait_for_event("nf-1", "payment.declined", DECISION_WAIT).await;
    assert_eq!(declined["reason"]["provider_code"], "603", "{declined}");
    assert_eq!(declined["reason"]["provider_message"], "Auto decline");
    // Past the threshold decision: nothing more may come.
    jobs_settle(&env, "nf-1").await;
    env.drain(Duration::from_secs(1)).await;
    assert_eq!(final_events(&env, "nf-1").len(), 1);
    assert_eq!(env.count_of("nf-1", "payment.needs_review"), 0);
    assert_gate_sequence(&env, "nf-1", &["payment.action_required", "payment.declined"]);
    assert_eq!(env.status_of("nf-1").await.as_deref(), Some("declined"));
    assert_eq!(env.payment_text("nf-1", "review_reason").await, None);
    assert_eq!(env.sales_for("nf-1").await, 1);
    env.app.stop().await.unwrap();
}

// 7. Provider silent after the threshold → needs_review.
#[tokio::test]
async fn provider_silent_at_the_threshold_means_needs_review() {
    let mut env = spawn_sandboxed(fast_timing(), |_| {}).await;
    env.publish("purchase.create", &humm_purchase("sil-1", 15000)).await;
    env.wait_for_event("sil-1", "payment.action_required", WAIT).await;
    env.stop_sandbox().await;
    let review = env
        .wait_for_event("sil-1", "payment.needs_review", Duration::from_secs(35))
        .await;
    assert_eq!(review["status"], "needs_review");
    assert_eq!(review["reason"]["code"], "no_definite_answer", "{review}");
    jobs_settle(&env, "sil-1").await;
    env.drain(Duration::from_millis(500)).await;
    assert!(final_events(&env, "sil-1").is_empty());
    assert_eq!(env.count_of("sil-1", "payment.needs_review"), 1);
    assert_eq!(env.status_of("sil-1").await.as_deref(), Some("needs_review"));
    assert_eq!(
        env.payment_text("sil-1", "review_reason").await.as_deref(),
        Some("no_definite_answer")
    );
    env.app.stop().await.unwrap();
}

/// At threshold + grace the last status query decides, and a payment the provider still holds
/// open (its own threshold is later here) goes to review: no final status is guessed for it.
#[tokio::test]
async fn still_open_at_the_provider_at_the_threshold_means_needs_review() {
    let mut env = spawn_sandboxed(fast_timing(), |config| config.humm.threshold_secs *= 10.0).await;
    env.publish("purchase.create", &humm_purchase("open-1", 15000)).await;
    env.wait_for_event("open-1", "payment.action_required", WAIT).await;
    let review = env
        .wait_for_event("open-1", "payment.needs_review", DECISION_WAIT)
        .await;
    assert_eq!(review["reason"]["code"], "no_definite_answer", "{review}");
    jobs_settle(&env, "open-1").await;
    env.drain(Duration::from_millis(500)).await;
    assert!(final_events(&env, "open-1").is_empty());
    assert_eq!(env.status_of("open-1").await.as_deref(), Some("needs_review"));
    let pool = env.app.db.pool().await;
    let decided_by: Vec<(String, String)> = sqlx::query_as(
        "SELECT actor, detail->>'note' FROM audit_log WHERE payment_id = $1 AND to_status = 'needs_review'",
    )
    .bind("open-1")
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        decided_by,
        [(
            "job:status_check".to_owned(),
            "still not final at threshold + grace".to_owned()
        )],
        "decided by the last status query, which found the payment still open"
    );
    pool.close().await;
    env.app.stop().await.unwrap();
}

/// An uncertain sale (the sandbox registered it, we got no good answer) is settled by status
/// query, with one sale in the ledger. The final callback is lost too (`first_name` marker), so
/// only a status query can tell us the outcome. The intermediate callback is held back until the
/// customer finished (`reorder`), and the first status check comes late: otherwise either moves
/// the payment on before the sale job's second run, which then has nothing to send, and a blind
/// resend would go unseen. So it is the job's own status query that finds the sale registered.
async fn uncertain_sale_is_settled_by_status_query(payment_id: &str, stall_ms: u64, job_wait: Duration) {
    let timing = AccountTiming {
        base_time: Duration::from_secs(5),
        ..fast_timing()
    };
    let mut env = spawn_sandboxed(timing, |sandbox| sandbox.stall_ms = stall_ms).await;
    let mut body = humm_purchase(payment_id, 15000);
    body["customer"]["first_name"] = json!("fault-lost-callback-fault-reorder-callbacks");
    env.publish("purchase.create", &body).await;
    env.wait_for_event(payment_id, "payment.pending", WAIT).await;
    env.customer_finishes(payment_id, "success").await;
    env.wait_for_event(payment_id, "payment.succeeded", WAIT).await;
    // The sale job ends (it saw the uncertain answer, then the settled payment), never exhausted.
    let pool = env.app.db.pool().await;
    eventually(job_wait, "the humm_sale job is done", || async {
        sqlx::query_scalar::<_, String>("SELECT state FROM jobs WHERE payment_id = $1 AND kind = 'humm_sale'")
            .bind(payment_id)
            .fetch_one(&pool)
            .await
            .unwrap()
            == "done"
    })
    .await;
    let (attempts, last_error): (i32, Option<String>) =
        sqlx::query_as("SELECT attempts, last_error FROM jobs WHERE payment_id = $1 AND kind = 'humm_sale'")
            .bind(payment_id)
            .fetch_one(&pool)
            .await
            .unwrap();
    pool.close().await;
    assert!(
        attempts >= 2,
        "the first answer was uncertain, so the job ran again (attempts {attempts}, last error {last_error:?})"
    );
    jobs_settle(&env, payment_id).await;
    env.drain(Duration::from_millis(500)).await;
    assert_eq!(env.sales_for(payment_id).await, 1, "no second sale");
    assert_eq!(env.ledger().await["duplicate_sales"], 0);
    assert_eq!(final_events(&env, payment_id).len(), 1);
    assert_eq!(env.status_of(payment_id).await.as_deref(), Some("succeeded"));
    env.app.stop().await.unwrap();
}

// 8a. The sale is registered but its answer stalls past our request timeout (2 s in the harness).
#[tokio::test]
async fn timeout_after_register_sends_no_second_sale() {
    uncertain_sale_is_settled_by_status_query("to-fault-timeout-after-register", 3_000, Duration::from_secs(20)).await;
}

// 8b. The same class of uncertainty, fast: registered, then answered 500.
#[tokio::test]
async fn register_then_500_sends_no_second_sale() {
    uncertain_sale_is_settled_by_status_query("r500-fault-register-500", 30_000, WAIT).await;
}

// 8c. A 502 before registering: the status query says "not found", so the sale is resent with
// the same id and the payment goes on normally.
#[tokio::test]
async fn sale_not_registered_is_resent_with_the_same_id() {
    let mut env = spawn_sandboxed(fast_timing(), |_| {}).await;
    let id = "r502-fault-5xx";
    env.publish("purchase.create", &humm_purchase(id, 15000)).await;
    env.wait_for_event(id, "payment.action_required", WAIT).await;
    env.customer_finishes(id, "success").await;
    env.wait_for_event(id, "payment.succeeded", WAIT).await;
    let ledger = env.ledger().await;
    let registered: Vec<&Value> = ledger["sales"]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["payment_id"] == id)
        .collect();
    assert_eq!(registered.len(), 1, "registered once: {ledger}");
    // The 502 came before the sandbox took the request, so the one resend is the only request
    // it saw; a further resend would be refused (3041) without an entry and show only here.
    assert_eq!(env.sales_for(id).await, 1, "sent again once: {ledger}");
    assert_eq!(ledger["duplicate_sales"], 0);
    assert_eq!(final_events(&env, id).len(), 1);
    env.app.stop().await.unwrap();
}

// 9a. Every callback delivered twice.
#[tokio::test]
async fn duplicate_callbacks_give_one_final_state_and_event() {
    let mut env = spawn_sandboxed(fast_timing(), |_| {}).await;
    let id = "dup-fault-duplicate-callback";
    env.publish("purchase.create", &humm_purchase(id, 15000)).await;
    env.wait_for_event(id, "payment.action_required", WAIT).await;
    env.customer_finishes(id, "success").await;
    env.wait_for_event(id, "payment.succeeded", WAIT).await;
    let pool = env.app.db.pool().await;
    eventually(WAIT, "both copies of the final callback stored", || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM inbound_callbacks WHERE payment_id = $1 AND verified")
            .bind(id)
            .fetch_one(&pool)
            .await
            .unwrap()
            >= 4
    })
    .await;
    pool.close().await;
    jobs_settle(&env, id).await;
    env.drain(Duration::from_millis(500)).await;
    assert_eq!(final_events(&env, id).len(), 1);
    assert_eq!(env.count_of(id, "payment.succeeded"), 1);
    assert_eq!(env.status_of(id).await.as_deref(), Some("succeeded"));
    // Every copy was acknowledged (stale and duplicate ones with 200).
    let ledger = env.ledger().await;
    let counters = &ledger["callback_counters"]["ecommpay"];
    assert_eq!(counters["acknowledged"], counters["sent"], "{counters}");
    env.app.stop().await.unwrap();
}

// 9b. A duplicate intermediate callback is the same redirect, not a new one: it is not announced
// again (contract §3 "answer 200 for stale or duplicate callbacks").
#[tokio::test]
async fn duplicate_intermediate_callback_is_not_announced_twice() {
    let mut env = spawn_sandboxed(fast_timing(), |_| {}).await;
    let id = "dupi-fault-duplicate-callback";
    env.publish("purchase.create", &humm_purchase(id, 15000)).await;
    env.wait_for_event(id, "payment.action_required", WAIT).await;
    let pool = env.app.db.pool().await;
    eventually(WAIT, "both copies of the intermediate callback stored", || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM inbound_callbacks WHERE payment_id = $1 AND verified")
            .bind(id)
            .fetch_one(&pool)
            .await
            .unwrap()
            >= 2
    })
    .await;
    pool.close().await;
    env.drain(Duration::from_millis(700)).await;
    assert_eq!(
        env.count_of(id, "payment.action_required"),
        1,
        "{:?}",
        env.sequence_of(id)
    );
    env.app.stop().await.unwrap();
}

// 9c. The final callback before the intermediate one.
#[tokio::test]
async fn reordered_callbacks_give_one_final_state_and_event() {
    let mut env = spawn_sandboxed(fast_timing(), |_| {}).await;
    let id = "reo-fault-reorder-callbacks";
    env.publish("purchase.create", &humm_purchase(id, 15000)).await;
    env.wait_for_event(id, "payment.pending", WAIT).await;
    env.customer_finishes(id, "success").await;
    env.wait_for_event(id, "payment.succeeded", WAIT).await;
    let pool = env.app.db.pool().await;
    eventually(WAIT, "the stale intermediate callback arrived", || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM inbound_callbacks WHERE payment_id = $1 AND verified AND outcome = 'stale'",
        )
        .bind(id)
        .fetch_one(&pool)
        .await
        .unwrap()
            >= 1
    })
    .await;
    pool.close().await;
    jobs_settle(&env, id).await;
    env.drain(Duration::from_millis(500)).await;
    assert_eq!(final_events(&env, id).len(), 1);
    assert_eq!(env.status_of(id).await.as_deref(), Some("succeeded"));
    let sequence = env.sequence_of(id);
    assert_eq!(
        sequence.last().map(String::as_str),
        Some("payment.succeeded"),
        "{sequence:?}"
    );
    assert_eq!(
        sequence
            .iter()
            .filter(|t| t.as_str() == "payment.action_required")
            .count(),
        0,
        "a redirect after the final state is not announced: {sequence:?}"
    );
    env.app.stop().await.unwrap();
}

// 10a. A callback signed with the wrong key: 400, stored unverified, no change.
#[tokio::test]
async fn forged_callback_is_refused_and_changes_nothing() {
    let mut env = spawn_sandboxed(fast_timing(), |_| {}).await;
    env.publish("purchase.create", &humm_purchase("fg-1", 15000)).await;
    env.wait_for_event("fg-1", "payment.action_required", WAIT).await;
    let forged = ecommpay_sale_callback("fg-1", 15000, "success", "not-the-secret");
    assert_eq!(env.post_ecommpay_callback(&forged).await, 400);
    // Unsigned, too.
    let mut unsigned = forged.clone();
    unsigned.as_object_mut().unwrap().remove("signature");
    assert_eq!(env.post_ecommpay_callback(&unsigned).await, 400);
    assert_eq!(
        env.db_i64(
            "SELECT count(*) FROM inbound_callbacks WHERE provider = $1 AND NOT verified",
            "ecommpay"
        )
        .await,
        2,
        "refused callbacks are kept, unverified"
    );
    env.drain(Duration::from_millis(700)).await;
    assert_eq!(env.status_of("fg-1").await.as_deref(), Some("action_required"));
    assert_gate_sequence(&env, "fg-1", &["payment.action_required"]);
    // The real outcome still applies.
    env.customer_finishes("fg-1", "decline").await;
    env.wait_for_event("fg-1", "payment.declined", WAIT).await;
    env.app.stop().await.unwrap();
}

// 10b. The sandbox sends a forged copy before every callback: refused, the payment still succeeds.
#[tokio::test]
async fn forged_copies_from_the_sandbox_are_refused() {
    let mut env = spawn_sandboxed(fast_timing(), |_| {}).await;
    let id = "bs-fault-bad-signature-callback";
    env.publish("purchase.create", &humm_purchase(id, 15000)).await;
    env.wait_for_event(id, "payment.action_required", WAIT).await;
    env.customer_finishes(id, "success").await;
    env.wait_for_event(id, "payment.succeeded", WAIT).await;
    jobs_settle(&env, id).await;
    env.drain(Duration::from_millis(500)).await;
    assert_eq!(final_events(&env, id).len(), 1);
    let ledger = env.ledger().await;
    let counters = &ledger["callback_counters"]["ecommpay"];
    assert!(counters["forged_sent"].as_u64() >= Some(2), "{counters}");
    assert_eq!(counters["forged_acknowledged"], 0, "{counters}");
    assert!(
        env.db_i64(
            "SELECT count(*) FROM inbound_callbacks WHERE provider = $1 AND NOT verified",
            "ecommpay"
        )
        .await
            >= 2
    );
    env.app.stop().await.unwrap();
}

// 11. A success for a payment we had declined: state stays, review flag, needs_review event.
#[tokio::test]
async fn late_success_after_decline_raises_needs_review() {
    let mut env = spawn_sandboxed(fast_timing(), |_| {}).await;
    env.publish("purchase.create", &humm_purchase("late-1", 15000)).await;
    env.wait_for_event("late-1", "payment.action_required", WAIT).await;
    env.customer_finishes("late-1", "decline").await;
    env.wait_for_event("late-1", "payment.declined", WAIT).await;

    let late = ecommpay_sale_callback("late-1", 15000, "success", SECRET);
    assert_eq!(env.post_ecommpay_callback(&late).await, 200);
    let review = env.wait_for_event("late-1", "payment.needs_review", WAIT).await;
    assert_eq!(review["status"], "declined", "the final state stays: {review}");
    assert_eq!(review["reason"]["code"], "success_after_close", "{review}");
    assert_eq!(env.status_of("late-1").await.as_deref(), Some("declined"));
    assert_eq!(
        env.payment_text("late-1", "review_reason").await.as_deref(),
        Some("success_after_close")
    );
    // The same late callback again is news already told: still one review event.
    assert_eq!(env.post_ecommpay_callback(&late).await, 200);
    env.drain(Duration::from_millis(700)).await;
    assert_eq!(final_events(&env, "late-1").len(), 1);
    let sequence = env.sequence_of("late-1");
    assert_eq!(
        sequence.last().map(String::as_str),
        Some("payment.needs_review"),
        "{sequence:?}"
    );
    env.app.stop().await.unwrap();
}

// 12a. The same command twice.
#[tokio::test]
async fn the_same_command_twice_is_one_payment_and_one_sale() {
    let mut env = spawn_sandboxed(fast_timing(), |_| {}).await;
    let body = humm_purchase("twice-1", 15000);
    env.publish("purchase.create", &body).await;
    env.publish("purchase.create", &body).await;
    env.wait_for_event("twice-1", "payment.action_required", WAIT).await;
    let pool = env.app.db.pool().await;
    eventually(WAIT, "both deliveries recorded", || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM commands WHERE subject_id = 'twice-1'")
            .fetch_one(&pool)
            .await
            .unwrap()
            == 2
    })
    .await;
    pool.close().await;
    env.drain(Duration::from_millis(700)).await;
    assert_eq!(env.count_of("twice-1", "payment.accepted"), 1);
    assert_eq!(env.count_of("twice-1", "command.rejected"), 0);
    assert_eq!(env.sales_for("twice-1").await, 1);
    env.app.stop().await.unwrap();
}

// 12b. The same command 100 times at once.
#[tokio::test]
async fn the_same_command_100_times_concurrently_is_one_payment_and_one_sale() {
    let mut env = spawn_sandboxed(fast_timing(), |_| {}).await;
    let body = humm_purchase("many-1", 15000);
    join_all((0..100).map(|_| env.publish("purchase.create", &body))).await;
    env.wait_for_event("many-1", "payment.action_required", WAIT).await;
    let pool = env.app.db.pool().await;
    eventually(Duration::from_secs(20), "all 100 deliveries recorded", || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM commands WHERE subject_id = 'many-1'")
            .fetch_one(&pool)
            .await
            .unwrap()
            == 100
    })
    .await;
    let payments: i64 = sqlx::query_scalar("SELECT count(*) FROM payments")
        .fetch_one(&pool)
        .await
        .unwrap();
    let applied: i64 =
        sqlx::query_scalar("SELECT count(*) FROM commands WHERE subject_id = 'many-1' AND outcome = 'applied'")
            .fetch_one(&pool)
            .await
            .unwrap();
    pool.close().await;
    assert_eq!(payments, 1);
    assert_eq!(applied, 1);
    env.drain(Duration::from_millis(700)).await;
    assert_eq!(env.count_of("many-1", "payment.accepted"), 1);
    assert_eq!(env.count_of("many-1", "command.rejected"), 0);
    assert_eq!(env.sales_for("many-1").await, 1);
    assert_eq!(env.ledger().await["duplicate_sales"], 0);
    env.customer_finishes("many-1", "success").await;
    env.wait_for_event("many-1", "payment.succeeded", WAIT).await;
    env.app.stop().await.unwrap();
}

/// Asserts nothing reaches the dead letters within `quiet`.
async fn assert_no_dead_letter(dead: &mut lapin::Consumer, quiet: Duration) {
    if let Some(letter) = next_delivery(dead, quiet).await {
        panic!(
            "unexpected dead letter {:?} ({:?}): {}",
            letter.routing_key,
            header(&letter, "x-bnpl-reason"),
            String::from_utf8_lossy(&letter.data)
        );
    }
}

// 13. Same payment_id, different body → conflict, not a dead letter.
#[tokio::test]
async fn same_payment_id_with_another_body_is_a_conflict() {
    let mut env = spawn_sandboxed(fast_timing(), |_| {}).await;
    let mut dead = env.probe.consume(&env.app.topology().dead()).await;
    env.publish("purchase.create", &humm_purchase("cf-1", 15000)).await;
    env.wait_for_event("cf-1", "payment.accepted", WAIT).await;
    env.publish("purchase.create", &humm_purchase("cf-1", 16000)).await;
    let rejected = env.wait_for_event("cf-1", "command.rejected", WAIT).await;
    assert_eq!(rejected["reason"]["code"], "conflict", "{rejected}");
    assert_eq!(rejected["command_type"], "purchase.create");
    assert_no_dead_letter(&mut dead, Duration::from_secs(1)).await;
    assert_eq!(env.count_of("cf-1", "payment.accepted"), 1);
    assert_eq!(
        env.db_i64("SELECT amount_minor FROM payments WHERE payment_id = $1", "cf-1")
            .await,
        15000,
        "the first body stands"
    );
    env.app.stop().await.unwrap();
}

// 14a. Business refusals: command.rejected with the code, no dead letter.
#[tokio::test]
async fn business_refusals_are_rejected_without_dead_letters() {
    let mut env = spawn_sandboxed(fast_timing(), |_| {}).await;
    let mut dead = env.probe.consume(&env.app.topology().dead()).await;
    let mut cases: Vec<(&str, Value, &str)> = Vec::new();
    let mut body = humm_purchase("br-currency", 15000);
    body["amount"]["currency"] = json!("EGP");
    cases.push(("br-currency", body, "unsupported_currency"));
    cases.push(("br-low", humm_purchase("br-low", 99), "amount_out_of_limits"));
    cases.push(("br-high", humm_purchase("br-high", 3_000_001), "amount_out_of_limits"));
    let mut body = humm_purchase("br-provider", 15000);
    body["provider"] = json!("klarna");
    cases.push(("br-provider", body, "unknown_provider"));
    let mut body = humm_purchase("br-account", 15000);
    body["account"] = json!("nope");
    cases.push(("br-account", body, "unknown_account"));
    let mut body = valu_purchase("br-valu-account", 50000, "01012345678");
    body["account"] = json!("nope");
    cases.push(("br-valu-account", body, "unknown_account"));
    for (_, body, _) in &cases {
        env.publish("purchase.create", body).await;
    }
    for (id, _, code) in &cases {
        let rejected = env.wait_for_event(id, "command.rejected", WAIT).await;
        assert_eq!(rejected["reason"]["code"], *code, "{id}: {rejected}");
        assert_eq!(rejected["command_type"], "purchase.create");
        assert!(rejected["reason"]["message"].is_string());
    }
    assert_no_dead_letter(&mut dead, Duration::from_secs(1)).await;
    let pool = env.app.db.pool().await;
    let payments: i64 = sqlx::query_scalar("SELECT count(*) FROM payments")
        .fetch_one(&pool)
        .await
        .unwrap();
    let kept: i64 = sqlx::query_scalar("SELECT count(*) FROM commands WHERE outcome = 'rejected'")
        .fetch_one(&pool)
        .await
        .unwrap();
    pool.close().await;
    assert_eq!(payments, 0);
    assert_eq!(kept, cases.len() as i64, "refused commands are kept");
    env.app.stop().await.unwrap();
}

// 14b. Malformed commands: command.rejected + a dead letter with its reason; the consumer goes on.
#[tokio::test]
async fn malformed_commands_are_dead_lettered_and_the_consumer_goes_on() {
    let mut env = spawn_sandboxed(fast_timing(), |_| {}).await;
    let topology = env.app.topology();
    let mut dead = env.probe.consume(&topology.dead()).await;

    // Bad JSON.
    env.publish_raw("purchase.create", b"{\"payment_id\": ", BasicProperties::default())
        .await;
    let letter = next_delivery(&mut dead, WAIT).await.expect("bad JSON dead-lettered");
    assert_eq!(header(&letter, "x-bnpl-reason").as_deref(), Some("invalid"));
    let rejected = env.wait_for_events("", "command.rejected", 1, WAIT).await;
    assert_eq!(rejected[0]["reason"]["code"], "invalid");

    // A missing field.
    let mut body = humm_purchase("mf-1", 15000);
    body.as_object_mut().unwrap().remove("amount");
    env.publish("purchase.create", &body).await;
    let letter = next_delivery(&mut dead, WAIT)
        .await
        .expect("schema failure dead-lettered");
    assert_eq!(header(&letter, "x-bnpl-reason").as_deref(), Some("invalid"));
    assert!(
        header(&letter, "x-bnpl-detail").unwrap_or_default().contains("amount"),
        "{:?}",
        header(&letter, "x-bnpl-detail")
    );
    let rejected = env.wait_for_event("mf-1", "command.rejected", WAIT).await;
    assert_eq!(rejected["reason"]["code"], "invalid");

    // A payment_id the providers cannot take (contract §2: 1–40 of A-Z a-z 0-9 - _ .).
    for bad_id in ["has space", "x".repeat(41).as_str()] {
        env.publish("purchase.create", &humm_purchase(bad_id, 15000)).await;
        let letter = next_delivery(&mut dead, WAIT)
            .await
            .expect("bad payment_id dead-lettered");
        assert_eq!(header(&letter, "x-bnpl-reason").as_deref(), Some("invalid"));
        let rejected = env.wait_for_event(bad_id, "command.rejected", WAIT).await;
        assert_eq!(rejected["reason"]["code"], "invalid", "{rejected}");
    }

    // An unknown command type that reaches intake (published straight to the purchases queue).
    env.probe
        .channel
        .basic_publish(
            "",
            &topology.purchases(),
            BasicPublishOptions::default(),
            br#"{"payment_id":"uk-1"}"#,
            BasicProperties::default()
                .with_content_type("application/json".into())
                .with_delivery_mode(2),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    let letter = next_delivery(&mut dead, WAIT)
        .await
        .expect("unknown type dead-lettered");
    assert_eq!(header(&letter, "x-bnpl-reason").as_deref(), Some("unknown_command"));
    let rejected = env.wait_for_event("uk-1", "command.rejected", WAIT).await;
    assert_eq!(rejected["reason"]["code"], "unknown_command", "{rejected}");

    // An unknown routing key reaches intake through the alternate exchanges and is dead-lettered
    // with its reason and its original key.
    env.publish("purchase.explode", &json!({"payment_id": "ae-1"})).await;
    let letter = next_delivery(&mut dead, WAIT).await.expect("unroutable dead-lettered");
    assert_eq!(
        header(&letter, "x-bnpl-routing-key").as_deref(),
        Some("purchase.explode")
    );
    assert_eq!(header(&letter, "x-bnpl-reason").as_deref(), Some("unknown_command"));

    // Nothing else is dead-lettered, and the consumer still works.
    assert_no_dead_letter(&mut dead, Duration::from_millis(500)).await;
    env.publish("purchase.create", &humm_purchase("after-1", 15000)).await;
    env.wait_for_event("after-1", "payment.action_required", WAIT).await;
    env.customer_finishes("after-1", "success").await;
    env.wait_for_event("after-1", "payment.succeeded", WAIT).await;
    assert_no_dead_letter(&mut dead, Duration::from_millis(300)).await;
    env.app.stop().await.unwrap();
}

// 14c. Contract §1: unknown command types are dead-lettered *with the reason in headers* and
// announced as `command.rejected`. One published with an unknown routing key goes through the
// alternate exchange straight to the dead letters, so neither happens.
#[tokio::test]
async fn unknown_routing_key_is_rejected_with_a_reason() {
    let mut env = spawn_sandboxed(fast_timing(), |_| {}).await;
    let mut dead = env.probe.consume(&env.app.topology().dead()).await;
    env.publish("purchase.explode", &json!({"payment_id": "ae-2"})).await;
    let letter = next_delivery(&mut dead, WAIT).await.expect("dead-lettered");
    assert_eq!(header(&letter, "x-bnpl-reason").as_deref(), Some("unknown_command"));
    let rejected = env.wait_for_event("ae-2", "command.rejected", WAIT).await;
    assert_eq!(rejected["reason"]["code"], "unknown_command");
    env.app.stop().await.unwrap();
}

// 15. The database goes away while commands flow: nothing is dead-lettered, all are processed.
#[tokio::test]
async fn database_outage_while_commands_flow_dead_letters_nothing() {
    let mut env = spawn_sandboxed(fast_timing(), |_| {}).await;
    let topology = env.app.topology();
    let mut dead = env.probe.consume(&topology.dead()).await;
    let publisher = BrokerProbe::new(topology.clone()).await;
    let ids: Vec<String> = (0..30).map(|n| format!("db-{n}")).collect();
    let bodies: Vec<Value> = ids.iter().map(|id| humm_purchase(id, 15000)).collect();
    let flow = tokio::spawn(async move {
        for body in bodies {
            publisher
                .publish_command(
                    "purchase.create",
                    body.to_string().as_bytes(),
                    BasicProperties::default().with_user_id("guest".into()),
                )
                .await;
            // Pacing, so the outage falls in the middle of the stream.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    env.wait_for_event("db-3", "payment.accepted", WAIT).await;
    env.app.db.cut_off().await;
    eventually(WAIT, "/readyz 503", || async { env.app.readyz_status().await == 503 }).await;
    flow.await.unwrap();
    // Let the outage outlast the stream by a few health probes before it ends.
    let pool_probe_deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    while tokio::time::Instant::now() < pool_probe_deadline {
        assert_eq!(env.app.readyz_status().await, 503, "still down");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    env.app.db.restore().await;
    for id in &ids {
        env.wait_for_event(id, "payment.accepted", Duration::from_secs(30))
            .await;
    }
    assert_no_dead_letter(&mut dead, Duration::from_secs(1)).await;
    let pool = env.app.db.pool().await;
    let (commands, applied, letters): (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM commands),
                (SELECT count(*) FROM commands WHERE outcome = 'applied'),
                (SELECT count(*) FROM dead_letters)",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    pool.close().await;
    assert_eq!((commands, applied, letters), (30, 30, 0));
    for id in &ids {
        assert_eq!(env.count_of(id, "payment.accepted"), 1, "{id}");
        assert_eq!(env.count_of(id, "command.rejected"), 0, "{id}");
    }
    env.app.stop().await.unwrap();
}

// 15b. Contract §1: while PostgreSQL is unreachable the consumers *stop* (basic.cancel), also when
// commands keep arriving and every handler slot is held by a command waiting for the database.
#[tokio::test]
async fn consumers_stop_during_an_outage_while_commands_flow() {
    let mut env = spawn_sandboxed(fast_timing(), |_| {}).await;
    let topology = env.app.topology();
    let queue = topology.purchases();
    eventually(WAIT, "consuming", || async { consumer_count(&queue).await == Some(1) }).await;
    env.publish("purchase.create", &humm_purchase("cs-0", 15000)).await;
    env.wait_for_event("cs-0", "payment.accepted", WAIT).await;
    env.app.db.cut_off().await;
    // More commands than intake runs at once (test concurrency 4), within the prefetch.
    for n in 1..=12 {
        env.publish("purchase.create", &humm_purchase(&format!("cs-{n}"), 15000))
            .await;
    }
    eventually(WAIT, "/readyz 503", || async { env.app.readyz_status().await == 503 }).await;
    // A quorum queue still lists a cancelled consumer while it holds unacked deliveries, so the
    // proof that consuming stopped is that new commands stay in the queue, undelivered. Under
    // load the consumers can stop before all of cs-1..12 were delivered; those wait too, so the
    // count is taken relative to what was waiting before the next five.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let waiting_before = ready_messages(&queue).await.expect("queue exists");
    for n in 13..=17 {
        env.publish("purchase.create", &humm_purchase(&format!("cs-{n}"), 15000))
            .await;
    }
    let expected = Some(waiting_before + 5);
    eventually(Duration::from_secs(10), "new commands wait in the queue", || async {
        ready_messages(&queue).await == expected
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        ready_messages(&queue).await,
        expected,
        "nothing is taken during the outage (waiting before: {waiting_before})"
    );
    env.app.db.restore().await;
    for n in 1..=17 {
        env.wait_for_event(&format!("cs-{n}"), "payment.accepted", Duration::from_secs(30))
            .await;
    }
    env.app.stop().await.unwrap();
}

// 1b. Contract §3: a humm Gate payment is announced `pending` before `action_required`, even
// when ecommpay's intermediate callback (sent as it registers the sale) reaches us before the
// sale's own answer. `fault-slow` holds the answer 1 s, so the callback always wins here; in the
// other tests it wins at random.
#[tokio::test]
async fn gate_announces_pending_even_when_the_redirect_beats_the_sale_answer() {
    let mut env = spawn_sandboxed(fast_timing(), |sandbox| sandbox.slow_response_ms = 1000).await;
    let id = "race-fault-slow";
    env.publish("purchase.create", &humm_purchase(id, 15000)).await;
    env.wait_for_event(id, "payment.action_required", WAIT).await;
    env.customer_finishes(id, "success").await;
    env.wait_for_event(id, "payment.succeeded", WAIT).await;
    jobs_settle(&env, id).await;
    env.drain(Duration::from_millis(500)).await;
    assert_eq!(
        env.sequence_of(id),
        [
            "payment.accepted",
            "payment.pending",
            "payment.action_required",
            "payment.succeeded"
        ]
    );
    env.app.stop().await.unwrap();
}

// 11b. A success whose amount contradicts our records → needs_review; a later definite answer
// settles it (contract §3: `needs_review` is not final).
#[tokio::test]
async fn contradicting_amount_goes_to_review_until_a_definite_answer() {
    let mut env = spawn_sandboxed(fast_timing(), |_| {}).await;
    env.publish("purchase.create", &humm_purchase("ct-1", 15000)).await;
    env.wait_for_event("ct-1", "payment.action_required", WAIT).await;
    let wrong = ecommpay_sale_callback("ct-1", 14000, "success", SECRET);
    assert_eq!(env.post_ecommpay_callback(&wrong).await, 200);
    let review = env.wait_for_event("ct-1", "payment.needs_review", WAIT).await;
    assert_eq!(review["status"], "needs_review");
    assert_eq!(review["reason"]["code"], "contradiction", "{review}");
    assert_eq!(env.status_of("ct-1").await.as_deref(), Some("needs_review"));
    env.customer_finishes("ct-1", "success").await;
    env.wait_for_event("ct-1", "payment.succeeded", WAIT).await;
    jobs_settle(&env, "ct-1").await;
    env.drain(Duration::from_millis(500)).await;
    assert_eq!(final_events(&env, "ct-1").len(), 1);
    assert_eq!(env.status_of("ct-1").await.as_deref(), Some("succeeded"));
    env.app.stop().await.unwrap();
}

// Issue 8: the callback endpoints stay open but throttle senders whose callbacks keep failing.
#[tokio::test]
async fn a_sender_of_many_forged_callbacks_is_throttled() {
    let env = spawn_sandboxed(fast_timing(), |_| {}).await;
    let forged =
        json!({"project_id": PROJECT, "payment": {"id": "nobody", "status": "success"}, "signature": "Zm9yZ2Vk"});
    let mut statuses = Vec::new();
    for _ in 0..40 {
        statuses.push(env.post_ecommpay_callback(&forged).await);
    }
    assert!(statuses[..30].iter().all(|s| *s == 400), "{statuses:?}");
    assert_eq!(*statuses.last().unwrap(), 429, "{statuses:?}");
    let refused: i64 = env
        .db_i64(
            "SELECT count(*) FROM inbound_callbacks WHERE verified = false AND $1 <> ''",
            "x",
        )
        .await;
    assert!(refused >= 30, "every refused callback is stored: {refused}");
}

/// A status check that finds a humm Gate sale already settled while the payment is still
/// `accepted` (its sale's answer and callbacks lost): the answer knows the payment, so ecommpay
/// has the sale, and `pending` is announced before `succeeded` (contract §3's Gate sequence). The
/// sale is made at the sandbox as a payment link (its callbacks go to a closed port), the payment
/// created as intake would, with only its status check.
#[tokio::test]
async fn a_status_check_finding_an_accepted_sale_settled_still_announces_pending() {
    let mut env = spawn_sandboxed(fast_timing(), |sandbox| {
        sandbox.ecommpay_projects[0].callback_url = Some(format!("http://127.0.0.1:{}/callbacks", free_port()));
    })
    .await;
    let id = "sc-known-1";
    crate::external_payments::pay_by_link(&env, id, 10_000).await;
    env.customer_finishes(id, "success").await;
    let pool = env.app.db.pool().await;
    let mut conn = pool.acquire().await.unwrap();
    create_humm_payment(&mut conn, id).await;
    bnpl::flows::schedule::status_check(&mut conn, id, chrono::Utc::now(), 0)
        .await
        .unwrap();
    drop(conn);
    env.wait_for_event(id, "payment.succeeded", WAIT).await;
    assert_gate_sequence(&env, id, &["payment.succeeded"]);
    let registered_by: String =
        sqlx::query_scalar("SELECT actor FROM audit_log WHERE payment_id = $1 AND to_status = 'pending'")
            .bind(id)
            .fetch_one(&pool)
            .await
            .unwrap();
    pool.close().await;
    assert_eq!(registered_by, "job:status_check");
    env.app.stop().await.unwrap();
}

/// A humm Gate sale settled at the sandbox (made as a payment link, its callbacks going to a
/// closed port, and finished by the customer) whose payment exists here still `accepted`, as
/// intake would have left it, with a `humm_sale` job set up by `job_sql` (`$1` is the payment).
async fn settled_sale_with_its_job(payment_id: &str, job_sql: &str) -> Sandboxed {
    let env = spawn_sandboxed(fast_timing(), |sandbox| {
        sandbox.ecommpay_projects[0].callback_url = Some(format!("http://127.0.0.1:{}/callbacks", free_port()));
    })
    .await;
    crate::external_payments::pay_by_link(&env, payment_id, 10_000).await;
    env.customer_finishes(payment_id, "success").await;
    let pool = env.app.db.pool().await;
    let mut tx = pool.begin().await.unwrap();
    create_humm_payment(&mut tx, payment_id).await;
    bnpl::flows::schedule::humm_sale(&mut tx, payment_id).await.unwrap();
    sqlx::query(job_sql).bind(payment_id).execute(&mut *tx).await.unwrap();
    tx.commit().await.unwrap();
    pool.close().await;
    env
}

/// The sale is settled from the sale job's own status answer, `pending` first and by the job,
/// and the link's sale is the only one the sandbox ever saw.
async fn assert_settled_by_the_sale_job(env: &mut Sandboxed, payment_id: &str) {
    env.wait_for_event(payment_id, "payment.succeeded", WAIT).await;
    assert_gate_sequence(env, payment_id, &["payment.succeeded"]);
    let pool = env.app.db.pool().await;
    let registered_by: String =
        sqlx::query_scalar("SELECT actor FROM audit_log WHERE payment_id = $1 AND to_status = 'pending'")
            .bind(payment_id)
            .fetch_one(&pool)
            .await
            .unwrap();
    pool.close().await;
    assert_eq!(registered_by, "job:humm_sale");
    assert_eq!(
        env.sales_for(payment_id).await,
        1,
        "the link's sale only: none sent again"
    );
}

/// The sale job's own status query (its second attempt, after an uncertain first) that finds the
/// sale already settled while the payment is still `accepted` announces `pending` first, like the
/// status check above, and sends no second sale.
#[tokio::test]
async fn the_sale_jobs_status_query_finding_its_sale_settled_still_announces_pending() {
    let id = "sale-known-1";
    let mut env = settled_sale_with_its_job(
        id,
        "UPDATE jobs SET attempts = 1 WHERE payment_id = $1 AND kind = 'humm_sale'",
    )
    .await;
    assert_settled_by_the_sale_job(&mut env, id).await;
    env.app.stop().await.unwrap();
}

/// A sale job an operator retries after it used up its attempts (its sales uncertain, its status
/// queries failing) asks the provider before it sends anything, like any repeated attempt
/// (design §1: never resend blindly); the fresh attempt budget does not make it a first try.
#[tokio::test]
async fn a_sale_job_retried_by_an_operator_asks_before_it_sends() {
    let id = "sale-retried-1";
    let mut env = settled_sale_with_its_job(
        id,
        "UPDATE jobs SET state = 'exhausted', attempts = max_attempts, lease_token = NULL
         WHERE payment_id = $1 AND kind = 'humm_sale'",
    )
    .await;
    let pool = env.app.db.pool().await;
    let job_id: i64 = sqlx::query_scalar("SELECT id FROM jobs WHERE payment_id = $1 AND kind = 'humm_sale'")
        .bind(id)
        .fetch_one(&pool)
        .await
        .unwrap();
    bnpl::admin::jobs::decide(
        &pool,
        job_id,
        bnpl::admin::jobs::Decision::Retry,
        "provider is back",
        "ops:test",
    )
    .await
    .unwrap();
    pool.close().await;
    assert_settled_by_the_sale_job(&mut env, id).await;
    env.app.stop().await.unwrap();
}
