//! Poison commands: each is refused at once (not retried as an outage for minutes), with the
//! field's JSON Pointer, one dead letter and one `command.rejected`, and the service goes on.

use super::{Hostile, Refusal};
use crate::harness::{humm_purchase, valu_purchase};
use crate::helpers::header;
use rand::distributions::Alphanumeric;
use rand::Rng as _;
use serde_json::{json, Value};

fn random_id(length: usize) -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(length)
        .map(char::from)
        .collect()
}

/// The refusal is `invalid`, its reason starts with `pointer`, and nothing in it is large.
fn assert_invalid(refusal: &Refusal, pointer: &str) {
    let reason = &refusal.rejected["reason"];
    assert_eq!(reason["code"], "invalid", "{}", refusal.rejected);
    let message = reason["message"].as_str().unwrap_or_default();
    assert!(message.starts_with(pointer), "{pointer}: {message}");
    assert!(
        message.chars().count() <= 600,
        "a bounded reason: {} characters",
        message.len()
    );
    let dead = refusal.dead_letter.as_ref().expect("dead-lettered");
    assert_eq!(header(dead, "x-bnpl-reason").as_deref(), Some("invalid"));
    let detail = header(dead, "x-bnpl-detail").unwrap_or_default();
    assert!(detail.len() <= 1024, "x-bnpl-detail is bounded: {} bytes", detail.len());
}

#[tokio::test]
async fn poison_ids_and_nul_bytes_are_rejected_at_once_and_kept() {
    let mut h = Hostile::start().await;

    // A NUL byte, which PostgreSQL's text cannot store: refused before anything is stored.
    let mut body = humm_purchase("nul-desc-1", 15000);
    body["description"] = json!("Order \u{0} 1");
    let refusal = h.refused("purchase.create", body.to_string().as_bytes(), true).await;
    assert_invalid(&refusal, "/description");
    assert_eq!(
        refusal.rejected["payment_id"], "nul-desc-1",
        "a valid id is kept as the subject"
    );

    // Ids far over the syntax: the subject is not kept, and the reason quotes only part of it.
    for length in [5_000, 200_000] {
        let body = humm_purchase(&random_id(length), 15000);
        let refusal = h.refused("purchase.create", body.to_string().as_bytes(), true).await;
        assert_invalid(&refusal, "/payment_id");
        assert!(refusal.rejected.get("payment_id").is_none_or(Value::is_null));
    }
    let cancel = json!({ "refund_id": random_id(5_000) });
    let refusal = h.refused("refund.cancel", cancel.to_string().as_bytes(), true).await;
    assert_invalid(&refusal, "/refund_id");

    // Every refused command is kept with its reason; a subject that failed its syntax is NULL.
    let pool = h.db.pool().await;
    let kept: Vec<(Option<String>, String, String)> = sqlx::query_as(
        "SELECT subject_id, outcome, reason_code FROM commands WHERE outcome = 'dead_lettered' ORDER BY id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    pool.close().await;
    let subjects: Vec<Option<&str>> = kept.iter().map(|(subject, _, _)| subject.as_deref()).collect();
    assert_eq!(subjects, [Some("nul-desc-1"), None, None, None], "{kept:?}");
    assert!(kept.iter().all(|(_, _, code)| code == "invalid"));
    h.stop().await;
}

#[tokio::test]
async fn oversized_fields_and_bad_amounts_are_invalid_with_their_pointer() {
    let mut h = Hostile::start().await;

    let mut body = humm_purchase("big-desc-1", 15000);
    body["description"] = json!("d".repeat(1_000_000));
    let refusal = h.refused("purchase.create", body.to_string().as_bytes(), true).await;
    assert_invalid(&refusal, "/description");

    // 1,000-deep metadata: refused whole (deeper than any JSON parser here will go).
    let deep = format!("{}1{}", "{\"k\":".repeat(1_000), "}".repeat(1_000));
    let text = humm_purchase("deep-meta-1", 15000)
        .to_string()
        .replace("{\"order_ref\":\"deep-meta-1\"}", &deep);
    assert!(text.len() > 5_000, "the deep metadata is in the body");
    let refusal = h.refused("purchase.create", text.as_bytes(), true).await;
    assert_eq!(refusal.rejected["reason"]["code"], "invalid");
    // Deep, but within what JSON parsers take: the limit of 8 levels names the field.
    let mut body = humm_purchase("deep-meta-2", 15000);
    body["metadata"] = serde_json::from_str(&format!("{}1{}", "{\"k\":".repeat(20), "}".repeat(20))).unwrap();
    let refusal = h.refused("purchase.create", body.to_string().as_bytes(), true).await;
    assert_invalid(&refusal, "/metadata");

    // Negative, zero and overflowing amounts, and a valU amount over the account's cap.
    for (id, minor) in [
        ("neg-1", json!(-15000)),
        ("zero-1", json!(0)),
        ("ovf-1", json!(9_223_372_036_854_775_808_u64)),
    ] {
        let mut body = humm_purchase(id, 15000);
        body["amount"]["minor"] = minor;
        let refusal = h.refused("purchase.create", body.to_string().as_bytes(), true).await;
        assert_invalid(&refusal, "/amount/minor");
    }
    let mut huge = valu_purchase("valu-huge-1", 100_000_001, "01012345678");
    huge["account"] = json!("default");
    let refusal = h.refused("purchase.create", huge.to_string().as_bytes(), true).await;
    assert_invalid(&refusal, "/amount/minor");
    // Item totals by checked arithmetic: a total that would wrap is refused, not mispriced.
    let mut body = valu_purchase("valu-wrap-1", 500_000, "01012345678");
    body["account"] = json!("default");
    body["items"] = json!([{"name": "a", "unit_price_minor": i64::MAX / 2, "quantity": 3}]);
    let refusal = h.refused("purchase.create", body.to_string().as_bytes(), true).await;
    assert_invalid(&refusal, "/items/0/unit_price_minor");
    let refund = json!({"refund_id": "rf-neg-1", "payment_id": "alive-1", "amount": {"minor": -1, "currency": "GBP"}});
    let refusal = h.refused("refund.create", refund.to_string().as_bytes(), true).await;
    assert_invalid(&refusal, "/amount/minor");

    // A humm amount over humm's own limits is the provider's rule: a business refusal,
    // announced but not a dead letter.
    let refusal = h
        .refused(
            "purchase.create",
            humm_purchase("humm-huge-1", 3_000_001).to_string().as_bytes(),
            false,
        )
        .await;
    assert_eq!(refusal.rejected["reason"]["code"], "amount_out_of_limits");
    h.stop().await;
}

/// A command published with the routing key the orchestrator's own dead letters travel under
/// (`dead`) cannot skip intake through the alternate exchange: it is an unknown command like any
/// other, kept, dead-lettered with *our* reason and announced.
#[tokio::test]
async fn a_command_routed_as_a_dead_letter_still_goes_through_intake() {
    let mut h = Hostile::start().await;
    let body = humm_purchase("dead-key-1", 15000);
    let refusal = h.refused("dead", body.to_string().as_bytes(), true).await;
    assert_eq!(
        refusal.rejected["reason"]["code"], "unknown_command",
        "{}",
        refusal.rejected
    );
    let dead = refusal.dead_letter.as_ref().expect("dead-lettered");
    assert_eq!(header(dead, "x-bnpl-reason").as_deref(), Some("unknown_command"));
    assert_eq!(header(dead, "x-bnpl-routing-key").as_deref(), Some("dead"));
    let pool = h.db.pool().await;
    let kept: i64 = sqlx::query_scalar("SELECT count(*) FROM commands WHERE outcome = 'dead_lettered'")
        .fetch_one(&pool)
        .await
        .unwrap();
    pool.close().await;
    assert_eq!(kept, 1, "the command is kept with its reason");
    h.stop().await;
}
