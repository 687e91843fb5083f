//! Job results are group-committed (design §1b, issue 16): results that finish together share a
//! transaction, and each lands exactly once, also when one of them was decided from a row another
//! process had moved meanwhile; the row cache never shows a change of such a transaction before it
//! commits.

use crate::helpers::fresh_services;
use bnpl::domain::payment_state::PaymentEvent;
use bnpl::flows::completion;
use bnpl::jobs::JobResult;
use bnpl::ledger::Change;
use bnpl::store::jobs::{self, NewJob};
use futures_util::future::join_all;
use std::time::Duration;

/// A humm payment in `accepted` at sequence 1, as intake leaves it.
async fn accepted_payment(pool: &sqlx::PgPool, payment_id: &str) {
    sqlx::query(
        "INSERT INTO payments (payment_id, provider, account, amount_minor, currency, status,
                               command_hash, threshold_at, last_sequence)
         VALUES ($1, 'humm', 'default', 15000, 'GBP', 'accepted', 'h', now() + interval '1 day', 1)",
    )
    .bind(payment_id)
    .execute(pool)
    .await
    .unwrap();
}

/// A payment in `accepted` for each of `ids`, each with a claimed `humm_sale` job.
async fn claimed_sales(pool: &sqlx::PgPool, ids: &[String]) -> Vec<jobs::ClaimedJob> {
    let mut claimed = Vec::new();
    for id in ids {
        accepted_payment(pool, id).await;
        let mut conn = pool.acquire().await.unwrap();
        let job = NewJob {
            kind: "humm_sale",
            payment_id: Some(id),
            refund_id: None,
            dedupe_key: None,
            payload: serde_json::json!({}),
            due_at: chrono::Utc::now(),
            max_attempts: 5,
        };
        claimed.push(
            jobs::insert_claimed(&mut conn, &job, Duration::from_secs(30))
                .await
                .unwrap(),
        );
    }
    claimed
}

/// Job results that finish together (queued before a committer runs: this test's runtime has one
/// thread) share one transaction through `completion::settle`, each hears back `Completed`, and
/// each payment and job is written once.
#[tokio::test]
async fn job_results_that_finish_together_share_one_transaction_and_each_lands_once() {
    let (_db, pool, services) = fresh_services().await;
    let ids: Vec<String> = (0..8).map(|n| format!("jr-{n}")).collect();
    let jobs = claimed_sales(&pool, &ids).await;
    let results = join_all(jobs.iter().map(|job| {
        completion::settle(
            &services,
            job,
            None,
            Some((PaymentEvent::Registered, Change::by("job:test"))),
        )
    }))
    .await;
    assert!(
        results.iter().all(|result| matches!(result, Ok(JobResult::Completed))),
        "{results:?}"
    );
    // `xmin`: the transaction that wrote each result's audit row.
    let (rows, payments, transactions): (i64, i64, i64) = sqlx::query_as(
        "SELECT count(*), count(DISTINCT payment_id), count(DISTINCT xmin::text) FROM audit_log
         WHERE actor = 'job:test'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!((rows, payments), (8, 8), "one result per payment, none twice");
    assert_eq!(transactions, 1, "the eight results in one transaction");
    let done: i64 = sqlx::query_scalar("SELECT count(*) FROM jobs WHERE state = 'done'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(done, 8, "each job completed with its result");
    pool.close().await;
}

/// A result decided from a row another process has moved since misses its compare-and-set inside
/// the batch: the ledger reads the row and decides again there, without failing its neighbours,
/// and every job still completes once, its payment's sequence gap-free.
#[tokio::test]
async fn a_batched_result_decided_from_a_stale_row_is_decided_again_and_every_job_completes_once() {
    let (_db, pool, services) = fresh_services().await;
    // Unique: the row cache is the process's, shared by the tests running beside this one.
    let run = uuid::Uuid::new_v4().simple().to_string();
    let ids: Vec<String> = (0..6).map(|n| format!("stale-{run}-{n}")).collect();
    let jobs = claimed_sales(&pool, &ids).await;
    let mut known = Vec::new();
    for id in &ids {
        let mut conn = pool.acquire().await.unwrap();
        known.push(bnpl::store::payments::get(&mut conn, id).await.unwrap().unwrap());
    }
    // Another process registers the fourth payment after this one read it.
    sqlx::query("UPDATE payments SET status = 'pending', last_sequence = 2 WHERE payment_id = $1")
        .bind(&ids[3])
        .execute(&pool)
        .await
        .unwrap();
    let results = join_all(jobs.iter().zip(&known).map(|(job, row)| {
        completion::settle(
            &services,
            job,
            Some(row.clone()),
            Some((PaymentEvent::Registered, Change::by("job:stale"))),
        )
    }))
    .await;
    assert!(
        results.iter().all(|result| matches!(result, Ok(JobResult::Completed))),
        "{results:?}"
    );
    let done: i64 = sqlx::query_scalar("SELECT count(*) FROM jobs WHERE state = 'done'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(done, 6, "each job completed once");
    let changed: Vec<(String, i64)> =
        sqlx::query_as("SELECT payment_id, last_sequence FROM payments WHERE status = 'pending' ORDER BY payment_id")
            .fetch_all(&pool)
            .await
            .unwrap();
    let expected: Vec<(String, i64)> = ids.iter().map(|id| (id.clone(), 2)).collect();
    assert_eq!(changed, expected, "every payment registered once, at sequence 2");
    let announced: Vec<String> =
        sqlx::query_scalar("SELECT payment_id FROM outbox WHERE event_type = 'payment.pending' ORDER BY payment_id")
            .fetch_all(&pool)
            .await
            .unwrap();
    let others: Vec<String> = ids.iter().filter(|id| **id != ids[3]).cloned().collect();
    assert_eq!(
        announced, others,
        "announced once by the results; the stale one was already registered"
    );
    let transactions: i64 =
        sqlx::query_scalar("SELECT count(DISTINCT xmin::text) FROM audit_log WHERE actor = 'job:stale'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(transactions, 1, "the batch stayed together, not result by result");
    pool.close().await;
}

/// A change made in a shared transaction (a batch of job results) is not shown to other writers
/// through the row cache before it commits: a batch that rolls back leaves no trace there.
#[tokio::test]
async fn a_change_in_a_shared_transaction_reaches_the_row_cache_only_once_committed() {
    use bnpl::domain::payment_state::PaymentEvent;
    use bnpl::ledger::{payment, rows, Change, Extras};
    let db = crate::helpers::TestDb::create().await;
    let pool = db.pool().await;
    bnpl::store::migrate(&pool).await.unwrap();
    // Unique: the row cache is the process's, shared by the tests running beside this one.
    let payment_id = format!("cache-{}", uuid::Uuid::new_v4().simple());
    accepted_payment(&pool, &payment_id).await;
    let mut other = pool.acquire().await.unwrap();
    let status =
        |row: Option<std::sync::Arc<bnpl::store::payments::PaymentRow>>| row.expect("the payment").status.clone();
    assert_eq!(status(rows::load(&mut other, &payment_id).await.unwrap()), "accepted");

    let mut tx = pool.begin().await.unwrap();
    let extras = Extras {
        cache_after_commit: true,
        ..Extras::default()
    };
    let outcome = payment::apply(
        &mut tx,
        &payment_id,
        None,
        PaymentEvent::Registered,
        &Change::by("test"),
        extras,
    )
    .await
    .unwrap();
    assert!(matches!(outcome, payment::Outcome::Done { .. }), "{outcome:?}");
    // Another writer, meanwhile, sees what is committed.
    assert_eq!(status(rows::load(&mut other, &payment_id).await.unwrap()), "accepted");
    tx.rollback().await.unwrap();
    assert_eq!(status(rows::load(&mut other, &payment_id).await.unwrap()), "accepted");
    drop(other);
    pool.close().await;
}

/// A status answer that finds a humm Gate sale already settled while its payment is still
/// `accepted` (an uncertain sale whose callbacks were lost): the answer knows the payment, so
/// ecommpay has the sale, and `pending` is announced before the final event, in the same
/// transaction (contract §3's Gate sequence `accepted → pending → … → succeeded`).
#[tokio::test]
async fn a_sale_first_known_from_a_status_answer_still_announces_pending() {
    let (_db, pool, services) = fresh_services().await;
    let payment_id = format!("known-{}", uuid::Uuid::new_v4().simple());
    let mut conn = pool.acquire().await.unwrap();
    let row = crate::helpers::create_humm_payment(&mut conn, &payment_id).await;
    let job = NewJob {
        kind: "humm_sale",
        payment_id: Some(&payment_id),
        refund_id: None,
        dedupe_key: None,
        payload: serde_json::json!({}),
        due_at: chrono::Utc::now(),
        max_attempts: 5,
    };
    let claimed = jobs::insert_claimed(&mut conn, &job, Duration::from_secs(30))
        .await
        .unwrap();
    drop(conn);
    let result = completion::settle_known(
        &services,
        &claimed,
        row,
        PaymentEvent::Succeeded,
        Change::by("job:humm_sale"),
    )
    .await;
    assert!(matches!(result, Ok(JobResult::Completed)), "{result:?}");
    let announced: Vec<(String, i64)> =
        sqlx::query_as("SELECT event_type, sequence FROM outbox WHERE payment_id = $1 ORDER BY sequence")
            .bind(&payment_id)
            .fetch_all(&pool)
            .await
            .unwrap();
    let expected = [
        ("payment.accepted", 1),
        ("payment.pending", 2),
        ("payment.succeeded", 3),
    ]
    .map(|(kind, sequence)| (kind.to_owned(), sequence));
    assert_eq!(announced, expected);
    let state: String = sqlx::query_scalar("SELECT state FROM jobs WHERE id = $1")
        .bind(claimed.id)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(state, "done");
}
