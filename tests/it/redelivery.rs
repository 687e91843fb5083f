//! A refused command the broker delivers again (its ack lost after the commit) is recorded once:
//! `intake::dead_letter` on real PostgreSQL, with the envelope's `redelivered` flag as RabbitMQ
//! sets it. No end-to-end test can lose an ack on purpose, so these call the recorder directly.

use crate::helpers::TestDb;
use bnpl::intake::dead_letter;
use bnpl::intake::envelope::{CommandType, Envelope, Malformed, ParsedCommand};
use sqlx::PgPool;

fn envelope(routing_key: &str, body: &str, redelivered: bool) -> Envelope {
    Envelope {
        routing_key: routing_key.to_owned(),
        body: body.as_bytes().to_vec(),
        message_id: Some("m-1".to_owned()),
        user_id: Some("guest".to_owned()),
        reply_to: None,
        correlation_id: None,
        content_type: Some("application/json".to_owned()),
        redelivered,
        replay: None,
        traceparent: None,
    }
}

/// `(commands, dead letters, command.rejected events)` stored so far.
async fn recorded(pool: &PgPool) -> (i64, i64, i64) {
    sqlx::query_as(
        "SELECT (SELECT count(*) FROM commands), (SELECT count(*) FROM dead_letters),
                (SELECT count(*) FROM outbox WHERE event_type = 'command.rejected')",
    )
    .fetch_one(pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_redelivered_malformed_command_is_dead_lettered_once() {
    let (_db, pool) = TestDb::migrated().await;
    let malformed = Malformed {
        code: "invalid",
        detail: "/amount_minor: expected an integer".to_owned(),
        subject_id: Some("redelivered-1".to_owned()),
    };
    let body = r#"{"payment_id": "redelivered-1", "amount_minor": "ten"}"#;
    dead_letter::record(&pool, &envelope("purchase.create", body, false), &malformed)
        .await
        .unwrap();
    assert_eq!(recorded(&pool).await, (1, 1, 1));
    dead_letter::record(&pool, &envelope("purchase.create", body, true), &malformed)
        .await
        .unwrap();
    assert_eq!(recorded(&pool).await, (1, 1, 1), "the redelivery added nothing");
    // Sent again by its publisher (not a redelivery), the same body is a new message, kept too.
    dead_letter::record(&pool, &envelope("purchase.create", body, false), &malformed)
        .await
        .unwrap();
    assert_eq!(recorded(&pool).await, (2, 2, 2));
}

#[tokio::test]
async fn a_redelivered_refused_command_is_rejected_once() {
    let (_db, pool) = TestDb::migrated().await;
    let body = r#"{"payment_id": "redelivered-2", "account": "nope"}"#;
    let command = ParsedCommand {
        command_type: CommandType::PurchaseCreate,
        subject_id: "redelivered-2".to_owned(),
        body: serde_json::from_str(body).unwrap(),
    };
    let refuse = |redelivered| {
        let pool = pool.clone();
        let command = command.clone();
        async move {
            let envelope = envelope("purchase.create", body, redelivered);
            dead_letter::refuse(&pool, &envelope, &command, "unknown_account", "no such account")
                .await
                .unwrap();
        }
    };
    refuse(false).await;
    assert_eq!(recorded(&pool).await, (1, 0, 1));
    refuse(true).await;
    assert_eq!(recorded(&pool).await, (1, 0, 1), "the redelivery added nothing");
}

/// The same body sent again by its publisher as another message (another `message_id`), whose
/// first delivery did not get as far as a commit, is redelivered: it is its own command and gets
/// its own record and `command.rejected`, not folded into the first message's.
#[tokio::test]
async fn a_redelivered_copy_from_another_message_is_recorded_on_its_own() {
    let (_db, pool) = TestDb::migrated().await;
    let malformed = Malformed {
        code: "invalid",
        detail: "/amount_minor: expected an integer".to_owned(),
        subject_id: Some("redelivered-3".to_owned()),
    };
    let body = r#"{"payment_id": "redelivered-3", "amount_minor": "ten"}"#;
    dead_letter::record(&pool, &envelope("purchase.create", body, false), &malformed)
        .await
        .unwrap();
    let second = Envelope {
        message_id: Some("m-2".to_owned()),
        ..envelope("purchase.create", body, true)
    };
    dead_letter::record(&pool, &second, &malformed).await.unwrap();
    assert_eq!(recorded(&pool).await, (2, 2, 2), "the second message is recorded too");
    dead_letter::record(&pool, &second, &malformed).await.unwrap();
    assert_eq!(recorded(&pool).await, (2, 2, 2), "its own redelivery adds nothing");

    let command = ParsedCommand {
        command_type: CommandType::PurchaseCreate,
        subject_id: "redelivered-4".to_owned(),
        body: serde_json::json!({"payment_id": "redelivered-4", "account": "nope"}),
    };
    let refused_body = command.body.to_string();
    for message_id in ["m-1", "m-3"] {
        let envelope = Envelope {
            message_id: Some(message_id.to_owned()),
            ..envelope("purchase.create", &refused_body, message_id == "m-3")
        };
        dead_letter::refuse(&pool, &envelope, &command, "unknown_account", "no such account")
            .await
            .unwrap();
    }
    assert_eq!(
        recorded(&pool).await,
        (4, 2, 4),
        "both refused messages are kept and announced"
    );
}
