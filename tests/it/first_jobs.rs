//! A purchase's first jobs, written by the statement that creates the payment: the humm Gate
//! sale (claimed by intake and run inline) and every flow's first status check, each carrying the
//! payment's account (pausing and the circuit breaker go by it), the check due at created + base
//! time; a duplicate command writes none.

use crate::harness::*;
use crate::helpers::eventually;
use bnpl::config::AccountTiming;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(15);

/// Jobs of `kind` of the payment in `$1` that carry its account.
pub fn with_account(kind: &str) -> String {
    format!(
        "SELECT count(*) FROM jobs j JOIN payments p USING (payment_id)
         WHERE j.payment_id = $1 AND j.kind = '{kind}' AND j.account_key = p.provider || ':' || p.account"
    )
}

/// The payment's status checks still scheduled at created + base time (60 s, give or take the
/// second between the statement's snapshot and intake's clock).
const CHECK_AT_BASE_TIME: &str = "SELECT count(*) FROM jobs j JOIN payments p USING (payment_id)
     WHERE j.payment_id = $1 AND j.kind = 'status_check' AND j.state = 'scheduled'
       AND j.account_key = p.provider || ':' || p.account
       AND j.available_at BETWEEN p.created_at + interval '59 seconds' AND p.created_at + interval '61 seconds'";

/// A base time no test outlives, so the first status check stays as intake wrote it.
fn long_base_time() -> AccountTiming {
    AccountTiming {
        base_time: Duration::from_secs(60),
        ..fast_timing()
    }
}

#[tokio::test]
async fn each_flow_starts_with_its_jobs_on_the_payments_account_and_a_check_at_base_time() {
    let mut env = spawn_sandboxed(long_base_time(), |_| {}).await;
    env.publish("purchase.create", &humm_purchase("first-gate", 15000))
        .await;
    env.publish("purchase.create", &payment_page_purchase("first-page"))
        .await;
    env.publish("purchase.create", &valu_purchase("first-valu", 500_000, "01011110001"))
        .await;
    for id in ["first-gate", "first-page", "first-valu"] {
        env.wait_for_event(id, "payment.action_required", WAIT).await;
        assert_eq!(env.db_i64(CHECK_AT_BASE_TIME, id).await, 1, "{id}'s first status check");
    }
    assert_eq!(
        env.db_i64(&with_account("humm_sale"), "first-gate").await,
        1,
        "the Gate sale"
    );
    assert_eq!(
        env.db_i64(&with_account("humm_sale"), "first-page").await,
        0,
        "no sale before the customer opens the page"
    );
    assert_eq!(
        env.db_i64(&with_account("valu_start"), "first-valu").await,
        1,
        "valU's first call"
    );
    env.app.stop().await.unwrap();
}

/// Every job of the payment in `$1`, with its due time and last change, in one text.
const JOBS_AS_TEXT: &str =
    "SELECT string_agg(kind || ' ' || state || ' ' || available_at || ' ' || updated_at, '; ' ORDER BY id)
     FROM jobs WHERE payment_id = $1";

#[tokio::test]
async fn a_duplicate_command_schedules_no_second_job() {
    let mut env = spawn_sandboxed(long_base_time(), |_| {}).await;
    let command = humm_purchase("first-twice", 15000);
    env.publish("purchase.create", &command).await;
    env.wait_for_event("first-twice", "payment.action_required", WAIT).await;
    let pool = env.app.db.pool().await;
    let jobs = || async {
        sqlx::query_scalar::<_, String>(JOBS_AS_TEXT)
            .bind("first-twice")
            .fetch_one(&pool)
            .await
            .unwrap()
    };
    // The sale's job completes with its answer, which may land after the redirect's callback.
    eventually(WAIT, "the sale's job done", || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM jobs WHERE payment_id = 'first-twice' AND state = 'running'")
            .fetch_one(&pool)
            .await
            .unwrap()
            == 0
    })
    .await;
    let before = jobs().await;
    env.publish("purchase.create", &command).await;
    eventually(WAIT, "both deliveries recorded", || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM commands WHERE subject_id = 'first-twice'")
            .fetch_one(&pool)
            .await
            .unwrap()
            == 2
    })
    .await;
    // Neither a new job nor a rescheduled one (the check's dedupe would only move the old row).
    assert_eq!(jobs().await, before);
    assert!(
        before.contains("humm_sale") && before.contains("status_check"),
        "{before}"
    );
    pool.close().await;
    env.app.stop().await.unwrap();
}
