//! The relay's in-memory wake-up (`store::outbox_wake`): while this process's relay leads, the
//! busy writers (intake, a job's result, callbacks) send no `NOTIFY`, which PostgreSQL would
//! serialise their commits on, and their events still leave at once, woken by the bell after
//! each commit rather than by the relay's poll (1 s).

use crate::harness::*;
use sqlx::postgres::PgListener;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(15);

/// A humm Gate purchase, published and finished by the customer, to `payment.succeeded`.
async fn purchase_to_the_end(env: &mut Sandboxed, payment_id: &str) {
    env.publish("purchase.create", &humm_purchase(payment_id, 15000)).await;
    env.wait_for_event(payment_id, "payment.action_required", WAIT).await;
    env.customer_finishes(payment_id, "success").await;
    env.wait_for_event(payment_id, "payment.succeeded", WAIT).await;
}

/// Seconds from each event's commit (about its transaction's start, `created_at`) to its
/// publication, for the events of `payment_ids`, shortest first.
async fn publish_delays(pool: &sqlx::PgPool, payment_ids: &[&str]) -> Vec<f64> {
    sqlx::query_scalar(
        "SELECT extract(epoch FROM published_at - created_at)::float8 FROM outbox
         WHERE payment_id = ANY($1) ORDER BY 1",
    )
    .bind(payment_ids)
    .fetch_all(pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn while_its_relay_leads_the_busy_writers_skip_the_notify_and_their_events_leave_at_once() {
    let mut env = spawn_sandboxed(fast_timing(), |_| {}).await;
    // Its events published, the relay of the process leads.
    purchase_to_the_end(&mut env, "w-0").await;
    let pool = env.app.db.pool().await;
    let mut listener = PgListener::connect_with(&pool).await.unwrap();
    listener.listen(bnpl::store::outbox::NOTIFY_CHANNEL).await.unwrap();

    let ids = ["w-1", "w-2", "w-3"];
    for id in ids {
        purchase_to_the_end(&mut env, id).await;
    }

    // A Payment Page purchase: intake alone writes its two events (`accepted`, then
    // `action_required` with the page), and nothing runs after it, so only intake's ring can
    // wake the relay for them.
    let mut page = humm_purchase("w-page", 15000);
    page["flow"] = serde_json::json!("payment_page");
    env.publish("purchase.create", &page).await;
    env.wait_for_event("w-page", "payment.action_required", WAIT).await;

    let heard = tokio::time::timeout(Duration::from_millis(300), listener.recv()).await;
    assert!(heard.is_err(), "a busy writer notified: {heard:?}");
    // From commit (about the transaction's start, `created_at`) to published: moments, not the
    // poll's second. Callbacks write half of a Gate purchase's events, so a lost callback ring
    // shows in the median; the page purchase stands for intake's.
    let delays = publish_delays(&pool, &ids).await;
    assert!(delays.len() >= 4 * ids.len(), "events of {ids:?}: {delays:?}");
    let median = delays[delays.len() / 2];
    assert!(
        median < 0.25,
        "median seconds from commit to published: {median} ({delays:?})"
    );
    let page_delays = publish_delays(&pool, &["w-page"]).await;
    assert_eq!(page_delays.len(), 2, "{page_delays:?}");
    assert!(
        page_delays.iter().all(|&delay| delay < 0.5),
        "seconds from intake's commit to published: {page_delays:?}"
    );
    // The listener holds one of the pool's connections: closing waits for it.
    drop(listener);
    pool.close().await;
}
