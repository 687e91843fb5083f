//! The refundable balance against what providers said after we closed a refund: a declined refund
//! a provider later reported succeeded (kept `declined`, flagged for review, contract §3) still
//! counts against the capture, so its amount cannot be refunded a second time.

use crate::helpers::{fresh_services, succeeded_humm_payment_with_refunds};
use bnpl::domain::{Currency, Money, RefundId};
use bnpl::flows::refund_create::{self, RefundCreate, Stored};
use bnpl::ledger::Origin;

const PAYMENT: &str = "ord-flagged-refund";

fn refund_of(refund_id: &str, minor: i64) -> RefundCreate {
    RefundCreate {
        refund_id: RefundId::new(refund_id).expect("a valid refund id"),
        payment_id: PAYMENT.to_owned(),
        amount: Money::new(minor, Currency::GBP),
        reason: None,
    }
}

#[tokio::test]
async fn a_declined_refund_the_provider_reported_succeeded_still_counts() {
    let (_db, pool, services) = fresh_services().await;
    let mut conn = pool.acquire().await.unwrap();
    // 100.00 GBP captured; a 10.00 refund that we declined and the provider then reported done.
    succeeded_humm_payment_with_refunds(&mut conn, PAYMENT, &["rf-flagged-1"]).await;
    sqlx::query("UPDATE refunds SET status = 'declined', review_reason = 'success_after_close' WHERE refund_id = 'rf-flagged-1'")
        .execute(&mut *conn)
        .await
        .unwrap();
    let mut tx = pool.begin().await.unwrap();
    let whole = refund_create::store(
        &mut tx,
        &services,
        &refund_of("rf-flagged-2", 10_000),
        "finance",
        Origin::default(),
    )
    .await
    .unwrap();
    match whole {
        Stored::Refused(refusal) => assert_eq!(refusal.code, "over_refund", "{refusal:?}"),
        other => panic!(
            "the whole capture was refundable again: {}",
            matches!(other, Stored::Queued(_))
        ),
    }
    let rest = refund_create::store(
        &mut tx,
        &services,
        &refund_of("rf-flagged-3", 9_000),
        "finance",
        Origin::default(),
    )
    .await
    .unwrap();
    assert!(matches!(rest, Stored::Queued(_)), "the rest is refundable");
    tx.rollback().await.unwrap();
    drop(conn);
    pool.close().await;
}
