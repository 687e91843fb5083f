//! Intake: commands that cannot be processed are dead-lettered with their reason and announced.

use crate::helpers::*;
use lapin::BasicProperties;
use std::time::Duration;

#[tokio::test]
async fn malformed_commands_are_dead_lettered_with_reason_and_rejected() {
    let mut app = spawn_app().await;
    let topology = app.topology();
    let probe = BrokerProbe::new(topology.clone()).await;
    let mut events = probe.subscribe_events().await;
    let mut dead = probe.consume(&topology.dead()).await;

    probe
        .publish_command("purchase.create", b"{not json", BasicProperties::default())
        .await;
    let letter = next_delivery(&mut dead, Duration::from_secs(15))
        .await
        .expect("bad JSON is dead-lettered");
    assert_eq!(header(&letter, "x-bnpl-reason").as_deref(), Some("invalid"));
    assert!(header(&letter, "x-bnpl-detail").unwrap().contains("not valid JSON"));
    assert_eq!(letter.data, b"{not json");
    let rejected = json_body(
        &next_delivery(&mut events, Duration::from_secs(15))
            .await
            .expect("rejection event"),
    );
    assert_eq!(rejected["type"], "command.rejected");
    assert_eq!(rejected["command_type"], "purchase.create");
    assert_eq!(rejected["reason"]["code"], "invalid");
    assert!(rejected["event_id"].is_string());

    probe
        .publish_command(
            "refund.create",
            br#"{"payment_id":"ord-1"}"#,
            BasicProperties::default(),
        )
        .await;
    let letter = next_delivery(&mut dead, Duration::from_secs(15))
        .await
        .expect("schema failure is dead-lettered");
    assert_eq!(header(&letter, "x-bnpl-reason").as_deref(), Some("invalid"));
    assert!(header(&letter, "x-bnpl-detail").unwrap().contains("refund_id"));

    // An unknown routing key is routed to intake by the alternate exchanges, then dead-lettered
    // with its reason like any command that cannot be processed.
    probe
        .publish_command("purchase.explode", b"{}", BasicProperties::default())
        .await;
    let letter = next_delivery(&mut dead, Duration::from_secs(15))
        .await
        .expect("unknown type lands in dead");
    assert_eq!(
        header(&letter, "x-bnpl-routing-key").as_deref(),
        Some("purchase.explode")
    );
    assert_eq!(header(&letter, "x-bnpl-reason").as_deref(), Some("unknown_command"));

    let pool = app.db.pool().await;
    let kept: i64 = sqlx::query_scalar("SELECT count(*) FROM commands WHERE outcome = 'dead_lettered'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(kept, 3, "every malformed command is kept with its reason");
    pool.close().await;
    app.stop().await.unwrap();
}

#[tokio::test]
async fn reply_to_gets_the_first_outcome() {
    let mut app = spawn_app().await;
    let probe = BrokerProbe::new(app.topology()).await;
    let (mut replies, properties) = reply_queue(&probe, "corr-42").await;
    probe.publish_command("purchase.create", b"[]", properties).await;
    let reply = next_delivery(&mut replies, Duration::from_secs(15))
        .await
        .expect("a direct reply");
    assert_eq!(
        reply.properties.correlation_id().as_ref().map(|c| c.as_str()),
        Some("corr-42")
    );
    assert_eq!(json_body(&reply)["type"], "command.rejected");
    app.stop().await.unwrap();
}

/// A valid command's direct reply is its first outcome only (contract §2): `payment.accepted`,
/// once, while the payment goes on to its other events.
#[tokio::test]
async fn reply_to_gets_only_the_first_outcome_of_a_purchase() {
    let mut env = crate::harness::spawn_sandboxed(crate::harness::fast_timing(), |config| {
        config.auto_customer.enabled = true;
        config.auto_customer.success_ratio = 1.0;
        config.auto_customer.delay_secs = 0.0;
    })
    .await;
    let (mut replies, properties) = reply_queue(&env.probe, "corr-43").await;
    let body = crate::harness::humm_purchase("reply-1", 15000).to_string();
    env.publish_raw("purchase.create", body.as_bytes(), properties).await;
    let reply = next_delivery(&mut replies, Duration::from_secs(15))
        .await
        .expect("a direct reply");
    assert_eq!(
        reply.properties.correlation_id().as_ref().map(|c| c.as_str()),
        Some("corr-43")
    );
    assert_eq!(json_body(&reply)["type"], "payment.accepted");
    env.wait_for_event("reply-1", "payment.succeeded", Duration::from_secs(15))
        .await;
    assert!(
        next_delivery(&mut replies, Duration::from_secs(1)).await.is_none(),
        "one reply only"
    );
    env.app.stop().await.unwrap();
}

/// A private queue for direct replies, its consumer, and the properties that ask for a reply there
/// under `correlation_id`.
async fn reply_queue(probe: &BrokerProbe, correlation_id: &str) -> (lapin::Consumer, BasicProperties) {
    let queue = probe.private_queue().await;
    let replies = probe.consume(&queue).await;
    let properties = BasicProperties::default()
        .with_reply_to(queue.into())
        .with_correlation_id(correlation_id.into());
    (replies, properties)
}
