//! What leaves for the broker is bounded, and a row the broker can never take is parked, never
//! looped on the connection the consumers share (contract §7, design §1c).

use super::Hostile;
use crate::helpers::{eventually, header, next_delivery};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

impl Hostile {
    async fn insert_dead_letter(&self, detail: &str, body: &[u8], purged: bool) -> i64 {
        let pool = self.db.pool().await;
        let id = sqlx::query_scalar(
            "WITH inserted AS (
                 INSERT INTO dead_letters (routing_key, reason, detail, body, purged_at)
                 VALUES ('purchase.create', 'invalid', $1, $2, CASE WHEN $3 THEN now() END) RETURNING id)
             SELECT id FROM inserted, pg_notify('bnpl_outbox', 'dead')",
        )
        .bind(detail)
        .bind(body)
        .bind(purged)
        .fetch_one(&pool)
        .await
        .unwrap();
        pool.close().await;
        id
    }

    async fn dead_letter_state(&self, id: i64) -> (bool, bool, Option<String>) {
        let pool = self.db.pool().await;
        let state = sqlx::query_as(
            "SELECT published_at IS NOT NULL, parked_at IS NOT NULL, publish_error FROM dead_letters WHERE id = $1",
        )
        .bind(id)
        .fetch_one(&pool)
        .await
        .unwrap();
        pool.close().await;
        state
    }
}

#[tokio::test]
async fn an_oversized_dead_letter_is_bounded_or_parked_and_a_purged_one_never_leaves() {
    let mut h = Hostile::start().await;

    // A detail far over the AMQP frame size: published, with the header cut to 1 KiB.
    let detail = "d".repeat(200_000);
    let id = h.insert_dead_letter(&detail, b"{\"probe\":1}", false).await;
    let delivery = next_delivery(&mut h.dead, WAIT)
        .await
        .expect("the dead letter is published");
    assert_eq!(delivery.data, b"{\"probe\":1}");
    let header_value = header(&delivery, "x-bnpl-detail").unwrap();
    assert!(header_value.len() <= 1024, "{} bytes", header_value.len());
    assert!(header_value.starts_with("ddd"));
    // Marked once the broker's confirm is in (an instant after the delivery itself).
    eventually(WAIT, "the dead letter is marked published", || async {
        h.dead_letter_state(id).await.0
    })
    .await;
    let pool = h.db.pool().await;
    let stored: i32 = sqlx::query_scalar("SELECT length(detail) FROM dead_letters WHERE id = $1")
        .bind(id)
        .fetch_one(&pool)
        .await
        .unwrap();
    pool.close().await;
    assert_eq!(stored, 200_000, "the full text stays in the database");

    // A body over the broker's message size limit: parked with its error and counted.
    let huge = vec![b'x'; 17 * 1024 * 1024];
    let parked = h.insert_dead_letter("too big", &huge, false).await;
    eventually(WAIT, "the oversized row is parked", || async {
        h.dead_letter_state(parked).await.1
    })
    .await;
    let (published, _, error) = h.dead_letter_state(parked).await;
    assert!(!published);
    assert!(error.unwrap_or_default().contains("limit"));
    assert_eq!(
        h.metric_with("bnpl_relay_parked_total", &["table=\"dead_letters\""])
            .await,
        1.0
    );

    // A purged dead letter is never published.
    let purged = h.insert_dead_letter("purged", b"{\"probe\":2}", true).await;
    h.still_alive().await;
    assert_eq!(h.dead_letter_state(purged).await, (false, false, None));
    assert!(next_delivery(&mut h.dead, Duration::from_millis(500)).await.is_none());
    h.stop().await;
}

#[tokio::test]
async fn a_value_the_database_refuses_is_a_bad_command_rejected_at_once() {
    let mut h = Hostile::start().await;
    // A rule only PostgreSQL knows (a CHECK added to this test's own database): a command that
    // passes every limit of ours but breaks it is refused by SQLSTATE 23514.
    let pool = h.db.pool().await;
    sqlx::query("ALTER TABLE payments ADD CONSTRAINT no_forbidden CHECK (description IS DISTINCT FROM 'forbidden')")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let mut body = crate::harness::humm_purchase("db-refused-1", 15000);
    body["description"] = serde_json::json!("forbidden");
    let started = std::time::Instant::now();
    let refusal = h.refused("purchase.create", body.to_string().as_bytes(), true).await;
    assert_eq!(refusal.rejected["reason"]["code"], "invalid");
    let message = refusal.rejected["reason"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("23514"), "{message}");
    assert_eq!(refusal.rejected["payment_id"], "db-refused-1");
    // Rejected at once, not after minutes of "database unavailable" retries.
    assert!(started.elapsed() < Duration::from_secs(25), "{:?}", started.elapsed());
    h.stop().await;
}

/// A row the broker itself keeps refusing while the connection stays up (its exchange deleted
/// under the running relay, so every publish of it meets a channel-level 404) is parked after a
/// few tries with the broker's error, not resent in a loop; the shared connection never drops.
/// The oversized row above is parked before it is sent, so it never reaches this rule.
#[tokio::test]
async fn a_row_the_broker_keeps_refusing_is_parked_and_the_connection_stays() {
    let h = Hostile::start().await;
    let exchange = h.prefix.topology().dead_letter_exchange();
    h.probe
        .channel
        .exchange_delete(&exchange, lapin::options::ExchangeDeleteOptions::default())
        .await
        .unwrap();
    let id = h
        .insert_dead_letter("refused by the broker", b"{\"probe\":3}", false)
        .await;
    eventually(WAIT, "the refused row is parked", || async {
        h.dead_letter_state(id).await.1
    })
    .await;
    let (published, _, error) = h.dead_letter_state(id).await;
    assert!(!published);
    let error = error.unwrap_or_default();
    assert!(error.contains("404") || error.contains("NOT_FOUND"), "{error}");
    assert_eq!(
        h.metric_with("bnpl_relay_parked_total", &["table=\"dead_letters\""])
            .await,
        1.0
    );
    assert_eq!(
        h.metric("bnpl_broker_connections_lost_total").await,
        Some(0.0),
        "the broker connection never dropped"
    );
    h.stop().await;
}

/// A broker that takes an event and refuses it (a nack: here a queue bound to the events that is
/// full with `reject-publish`) is in a state of its own, not refusing the row: the event is never
/// parked, where no consumer would ever see it, and goes out once the broker takes it again.
#[tokio::test]
async fn an_event_the_broker_nacks_is_sent_again_never_parked() {
    use lapin::types::{AMQPValue, FieldTable};
    let mut h = Hostile::start().await;
    let topology = h.prefix.topology();
    let full = format!("{}.always-full", topology.prefix());
    let mut arguments = FieldTable::default();
    arguments.insert("x-max-length".into(), AMQPValue::LongInt(0));
    arguments.insert("x-overflow".into(), AMQPValue::LongString("reject-publish".into()));
    h.probe
        .channel
        .queue_declare(&full, lapin::options::QueueDeclareOptions::default(), arguments)
        .await
        .unwrap();
    h.probe
        .channel
        .queue_bind(
            &full,
            &topology.events(),
            "#",
            lapin::options::QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    let purchase = crate::harness::humm_purchase("nacked-1", 15000);
    h.publish("purchase.create", purchase.to_string().as_bytes()).await;
    let pool = h.db.pool().await;
    let nacked = || async {
        let (parked, unpublished): (i64, i64) = sqlx::query_as(
            "SELECT count(*) FILTER (WHERE parked_at IS NOT NULL), count(*) FILTER (WHERE published_at IS NULL)
             FROM outbox WHERE payment_id = 'nacked-1'",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        (parked, unpublished)
    };
    // Far more tries than the three that park a row the broker keeps refusing.
    eventually(WAIT, "the payment's events are refused", || async {
        nacked().await.1 > 0
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(nacked().await.0, 0, "a nacked event was parked");
    h.probe
        .channel
        .queue_delete(&full, lapin::options::QueueDeleteOptions::default())
        .await
        .unwrap();
    eventually(WAIT, "every event went out once the broker took it", || async {
        nacked().await == (0, 0)
    })
    .await;
    h.event("nacked-1", "payment.action_required").await;
    pool.close().await;
    h.stop().await;
}
