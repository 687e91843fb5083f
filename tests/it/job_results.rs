//! Job results are group-committed (design §1b, issue 16): the sale results of purchases that
//! arrive together share transactions, and each lands exactly once; the row cache never shows a
//! change of such a transaction before it commits.

use crate::harness::*;
use futures_util::future::join_all;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);

#[tokio::test]
async fn sale_results_that_finish_together_share_a_transaction_and_each_lands_once() {
    // Intake's default concurrency (the tests run with 4): the sales of one prefetch window go
    // out together.
    let mut env = spawn_sandboxed_configured(fast_timing(), |_| {}, |config| config.intake.concurrency = 32).await;
    let ids: Vec<String> = (0..30).map(|n| format!("jr-{n}")).collect();
    let bodies: Vec<_> = ids.iter().map(|id| humm_purchase(id, 15000)).collect();
    // All at once: one prefetch window, so the sales go out together and their results meet at
    // the job committer.
    join_all(bodies.iter().map(|body| env.publish("purchase.create", body))).await;
    for id in &ids {
        env.wait_for_event(id, "payment.pending", WAIT).await;
    }
    let pool = env.app.db.pool().await;
    // Registration comes from the sale's result or, when it is quicker, from ecommpay's callback:
    // either way exactly once per payment.
    let (pendings, payments): (i64, i64) = sqlx::query_as(
        "SELECT count(*), count(DISTINCT payment_id) FROM audit_log
         WHERE to_status = 'pending' AND payment_id = ANY($1)",
    )
    .bind(&ids)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!((pendings, payments), (30, 30), "registered once each");
    // `xmin`: the transaction that wrote each sale result's audit row.
    let (results, transactions): (i64, i64) = sqlx::query_as(
        "SELECT count(*), count(DISTINCT xmin::text) FROM audit_log
         WHERE actor = 'job:humm_sale' AND payment_id = ANY($1)",
    )
    .bind(&ids)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(results >= 10, "most registrations are the sale's result: {results}");
    assert!(
        transactions < results,
        "{results} sale results in {transactions} transactions: none shared one"
    );
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
    sqlx::query(
        "INSERT INTO payments (payment_id, provider, account, amount_minor, currency, status,
                               command_hash, threshold_at, last_sequence)
         VALUES ($1, 'humm', 'default', 15000, 'GBP', 'accepted', 'h', now() + interval '1 day', 1)",
    )
    .bind(&payment_id)
    .execute(&pool)
    .await
    .unwrap();
    let mut other = pool.acquire().await.unwrap();
    let status = |row: Option<bnpl::store::payments::PaymentRow>| row.expect("the payment").status;
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
