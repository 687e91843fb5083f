//! `purchase.confirm` schedules one confirmation job per payment at a time: a second confirm
//! while the first one's job waits (a paused account, a retry's backoff, busy runners) is refused
//! as `confirmation_in_progress`, never folded into the waiting job, where it would be recorded
//! applied while the first one's code is the one sent.

use crate::helpers::TestDb;
use bnpl::flows::schedule;
use serde_json::json;

#[tokio::test]
async fn a_second_confirmation_while_the_first_waits_is_refused_not_folded_in() {
    let (_db, pool) = TestDb::migrated().await;
    let mut conn = pool.acquire().await.unwrap();
    crate::helpers::create_humm_payment(&mut conn, "conf-1").await;
    let first = schedule::valu_confirm(&mut conn, "conf-1", &json!({"otp": "111111", "tenure_months": 6}))
        .await
        .unwrap();
    assert!(first.is_some(), "the first confirmation is scheduled");
    let second = schedule::valu_confirm(&mut conn, "conf-1", &json!({"otp": "123456", "tenure_months": 6}))
        .await
        .unwrap();
    assert_eq!(second, None, "the second is refused while the first waits");
    let payloads: Vec<serde_json::Value> =
        sqlx::query_scalar("SELECT payload FROM jobs WHERE payment_id = 'conf-1' AND kind = 'valu_confirm'")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(payloads, [json!({"otp": "111111", "tenure_months": 6})]);
}
