//! `refund.create` decides under its payment's row lock (`flows::refund_create::store`): a second
//! command for the same payment, stored while the first one's transaction is still open, waits
//! for it and is then weighed with the first one counted. These tests hold the first transaction
//! open, see the second one wait for a lock, then commit the first: without the payment's lock the
//! second passes its checks on the old balance and only fails later, as an error the intake would
//! retry, on the refund queue's sequence step.

use crate::helpers::{fresh_services, succeeded_humm_payment_with_refunds, wait_for_a_lock_wait};
use bnpl::domain::{Currency, Money, RefundId};
use bnpl::flows::refund_create::{self, RefundCreate, Stored};
use bnpl::flows::Services;
use bnpl::ledger::Origin;
use sqlx::PgPool;
use std::time::Duration;

const PAYMENT: &str = "ord-lock";

/// A command refunding `minor` pence of [`PAYMENT`] (100.00 GBP, succeeded).
fn refund_of(refund_id: &str, minor: i64) -> RefundCreate {
    RefundCreate {
        refund_id: RefundId::new(refund_id).expect("a valid refund id"),
        payment_id: PAYMENT.to_owned(),
        amount: Money::new(minor, Currency::GBP),
        reason: None,
    }
}

/// Stores `first` in a transaction held open until `second`, stored on another connection, waits
/// for a lock; then commits `first`. Returns what storing `second` did (its transaction is rolled
/// back: only its answer matters).
async fn store_while_another_is_open(
    pool: &PgPool,
    services: &Services,
    first: &RefundCreate,
    second: &RefundCreate,
) -> Result<Stored, sqlx::Error> {
    let mut first_tx = pool.begin().await.unwrap();
    let stored = refund_create::store(&mut first_tx, services, first, "finance", Origin::default())
        .await
        .unwrap();
    assert!(matches!(stored, Stored::Queued(_)), "the first refund is queued");
    let mut second_tx = pool.begin().await.unwrap();
    let commit_first_once_second_waits = async {
        wait_for_a_lock_wait(pool, Duration::from_secs(10)).await;
        first_tx.commit().await.unwrap();
    };
    let (second_stored, ()) = tokio::join!(
        refund_create::store(&mut second_tx, services, second, "finance", Origin::default()),
        commit_first_once_second_waits,
    );
    second_tx.rollback().await.unwrap();
    second_stored
}

async fn succeeded_payment() -> (crate::helpers::TestDb, PgPool, Services) {
    let (db, pool, services) = fresh_services().await;
    let mut conn = pool.acquire().await.unwrap();
    succeeded_humm_payment_with_refunds(&mut conn, PAYMENT, &[]).await;
    (db, pool, services)
}

/// Two refunds of 60.00 GBP against 100.00 GBP captured: the second is refused as an over-refund,
/// a business answer, not an error.
#[tokio::test]
async fn a_refund_stored_beside_an_open_one_is_weighed_with_it_counted() {
    let (_db, pool, services) = succeeded_payment().await;
    let second = store_while_another_is_open(
        &pool,
        &services,
        &refund_of("rf-lock-a", 6_000),
        &refund_of("rf-lock-b", 6_000),
    )
    .await;
    match second {
        Ok(Stored::Refused(refusal)) => assert_eq!(refusal.code, "over_refund", "{refusal:?}"),
        Ok(Stored::Queued(refund)) => panic!("over-refunded: {} queued too", refund.refund_id),
        Ok(Stored::Duplicate) => panic!("a different refund was taken for a duplicate"),
        Err(error) => panic!("the second refund failed instead of being refused: {error}"),
    }
    let queued: i64 = sqlx::query_scalar("SELECT count(*) FROM refunds WHERE payment_id = $1")
        .bind(PAYMENT)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(queued, 1, "only the first refund is stored");
}

/// The same `refund.create` stored twice at once (a re-published command, two intake workers):
/// the copy is a duplicate, not an error and not a second refund.
#[tokio::test]
async fn a_copy_stored_beside_the_open_original_is_a_duplicate() {
    let (_db, pool, services) = succeeded_payment().await;
    let command = refund_of("rf-lock-c", 2_500);
    let second = store_while_another_is_open(&pool, &services, &command, &command).await;
    match second {
        Ok(Stored::Duplicate) => {}
        Ok(Stored::Queued(refund)) => panic!("the copy was queued as {}", refund.refund_id),
        Ok(Stored::Refused(refusal)) => panic!("the copy was refused: {refusal:?}"),
        Err(error) => panic!("the copy failed instead of being a duplicate: {error}"),
    }
}
