//! Every event type, driven through real flows against the sandbox (issue 15, contract §3 "Event
//! hygiene"): `reason` and `action` only where the contract allows them (and present, null,
//! elsewhere), timestamps in RFC 3339 UTC with milliseconds, `flow` only on humm payments,
//! `schema_version` everywhere, and every body one of the typed events. The test fails if any
//! variant of `EventType` was never observed, so an event added later cannot slip through.

use crate::harness::*;
use bnpl::domain::events::{Event, EventType};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

/// `2026-11-23T10:00:00.123Z`: RFC 3339, UTC, milliseconds.
fn is_millisecond_utc(text: &str) -> bool {
    let bytes = text.as_bytes();
    text.len() == 24
        && chrono::DateTime::parse_from_rfc3339(text).is_ok()
        && bytes[19] == b'.'
        && bytes[23] == b'Z'
        && bytes[20..23].iter().all(u8::is_ascii_digit)
}

/// The contract's hygiene rules for one event; the problems found.
pub(crate) fn hygiene(event: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let kind = event["type"].as_str().unwrap_or_default();
    let mut expect = |ok: bool, what: &str| {
        if !ok {
            problems.push(format!("{kind}: {what}"));
        }
    };
    expect(event["schema_version"] == 1, "schema_version 1");
    expect(
        event["occurred_at"].as_str().is_some_and(is_millisecond_utc),
        "occurred_at in RFC 3339 UTC with milliseconds",
    );
    expect(serde_json::from_value::<Event>(event.clone()).is_ok(), "a typed event");
    let reason = event.get("reason");
    if kind.starts_with("payment.") {
        let action = event.get("action");
        expect(action.is_some() && reason.is_some(), "action and reason keys present");
        let action_allowed = kind == "payment.action_required";
        expect(
            action_allowed || action.is_some_and(Value::is_null),
            "action only on action_required",
        );
        let reason_allowed = [
            "payment.declined",
            "payment.failed",
            "payment.needs_review",
            "payment.resolved",
            "payment.action_required",
        ]
        .contains(&kind);
        expect(
            reason_allowed || reason.is_some_and(Value::is_null),
            "no reason on this type",
        );
        if kind == "payment.action_required" && !reason.is_some_and(Value::is_null) {
            expect(
                reason.is_some_and(|r| r["code"] == "otp_invalid"),
                "a reason only after a wrong OTP",
            );
        }
        let humm = event["provider"] == "humm";
        expect(humm == event.get("flow").is_some(), "flow present for humm only");
        if let Some(at) = event["action"]["expires_at"].as_str() {
            expect(is_millisecond_utc(at), "expires_at in milliseconds");
        }
        expect(event["sequence"].is_i64(), "a sequence");
    } else if kind.starts_with("refund.") {
        expect(reason.is_some(), "reason key present");
        let reason_allowed = ["refund.declined", "refund.failed", "refund.needs_review"].contains(&kind)
            || event.get("resolved_by").is_some();
        expect(
            reason_allowed || reason.is_some_and(Value::is_null),
            "no reason on this type",
        );
        expect(event["sequence"].is_i64(), "a sequence");
    } else if kind.starts_with("account.") {
        expect(event.get("sequence").is_none(), "no sequence (no payment)");
        let state_fits = (kind == "account.paused") == (event["state"] == "paused");
        expect(
            state_fits && event["changed_by"].is_string(),
            "the new state and who changed it",
        );
        expect(reason.is_some_and(Value::is_string), "the operator's reason");
    } else {
        expect(reason.is_some_and(|r| r["code"].is_string()), "a coded reason");
    }
    problems
}

fn refund(refund_id: &str, payment_id: &str, minor: i64, currency: &str) -> Value {
    json!({"refund_id": refund_id, "payment_id": payment_id, "amount": {"minor": minor, "currency": currency}})
}

/// The sandbox project of the account in manual refund mode.
const MANUAL_PROJECT: u64 = 1002;

#[tokio::test]
async fn every_event_type_is_announced_with_its_contract_hygiene() {
    let mut env = spawn_sandboxed_configured(
        fast_timing(),
        |config| {
            // A valU refund takes 20 s at the sandbox, past the 8 s refund threshold: review.
            config.valu.refund_processing_secs = 200_000.0;
            // Payment links' callbacks come to this orchestrator (payment.external).
            crate::external_payments::callbacks_to_the_app(config);
            // A second project, for an account in manual refund mode (refund.action_required).
            let mut manual = config.ecommpay_projects[0].clone();
            manual.project_id = MANUAL_PROJECT;
            manual.callback_url = None;
            config.ecommpay_projects.push(manual);
        },
        |config| {
            // A breaker quick to trip on an outage, and only on one: 3 of 4 calls within 3 s.
            let mut manual = config.accounts.humm["default"].clone();
            manual.project_id = MANUAL_PROJECT;
            manual.refund_mode = bnpl::config::RefundMode::Manual;
            config.accounts.humm.insert("manual".to_owned(), manual);
            if let Some(humm) = config.accounts.humm.get_mut("default") {
                humm.adopt_external = true;
                humm.limits.breaker = bnpl::config::BreakerSettings {
                    enabled: true,
                    failure_ratio: 0.75,
                    min_calls: 3,
                    window: Duration::from_secs(3),
                    cool_down: Duration::from_secs(1),
                };
            }
        },
    )
    .await;
    let pool = env.app.db.pool().await;
    let operator = bnpl::store::tokens::create(&pool, "events-ops", &["operate".to_owned()])
        .await
        .unwrap();

    // humm: success, decline, a provider error, a page never opened, a contradiction resolved.
    for id in ["ev-ok", "ev-decline", "ev-fault-provider-error", "ev-review"] {
        env.publish("purchase.create", &humm_purchase(id, 15000)).await;
    }
    let mut page = humm_purchase("ev-page", 15000);
    page["flow"] = json!("payment_page");
    env.publish("purchase.create", &page).await;
    for id in ["ev-ok", "ev-decline", "ev-fault-provider-error", "ev-review"] {
        env.wait_for_event(id, "payment.action_required", WAIT).await;
    }
    env.customer_finishes("ev-ok", "success").await;
    env.customer_finishes("ev-decline", "decline").await;
    env.customer_finishes("ev-fault-provider-error", "success").await;
    let wrong = ecommpay_sale_callback("ev-review", 14000, "success", SECRET);
    assert_eq!(env.post_ecommpay_callback(&wrong).await, 200);
    env.wait_for_event("ev-review", "payment.needs_review", WAIT).await;
    let resolved = env
        .http
        .post(env.app.url("/admin/v1/payments/ev-review/resolve"))
        .bearer_auth(&operator)
        .json(&json!({"to": "declined", "reason": "the customer cancelled by phone"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resolved.status(), 200);
    env.wait_for_event("ev-review", "payment.resolved", WAIT).await;
    env.wait_for_event("ev-decline", "payment.declined", WAIT).await;
    env.wait_for_event("ev-fault-provider-error", "payment.failed", WAIT)
        .await;

    // humm refunds: one succeeds, one is declined, one fails, one is cancelled while queued.
    env.wait_for_event("ev-ok", "payment.succeeded", WAIT).await;
    env.publish("refund.create", &refund("ev-rf-ok", "ev-ok", 1000, "GBP"))
        .await;
    env.publish("refund.create", &refund("ev-rf-fault-decline", "ev-ok", 1000, "GBP"))
        .await;
    env.publish(
        "refund.create",
        &refund("ev-rf-fault-provider-error", "ev-ok", 1000, "GBP"),
    )
    .await;
    env.publish("refund.create", &refund("ev-rf-cancel", "ev-ok", 1000, "GBP"))
        .await;
    env.wait_for_events("ev-ok", "refund.queued", 4, WAIT).await;
    env.publish("refund.cancel", &json!({"refund_id": "ev-rf-cancel"}))
        .await;
    env.wait_for_event("ev-ok", "refund.cancelled", WAIT).await;
    env.wait_for_event("ev-ok", "refund.failed", WAIT).await;

    // valU: a wrong OTP first, then the right one; its refund gets no answer in time: review.
    env.publish("purchase.create", &valu_purchase("ev-valu", 300_000, "01011110042"))
        .await;
    env.wait_for_event("ev-valu", "payment.action_required", WAIT).await;
    env.publish("purchase.resend_otp", &json!({"payment_id": "ev-valu"}))
        .await;
    env.wait_for_events("ev-valu", "payment.action_required", 2, WAIT).await;
    let otp = env.otp_for("01011110042").await;
    let wrong_otp = if otp == "000000" { "111111" } else { "000000" };
    env.publish(
        "purchase.confirm",
        &json!({"payment_id": "ev-valu", "otp": wrong_otp, "tenure_months": 6}),
    )
    .await;
    env.wait_for_events("ev-valu", "payment.action_required", 3, WAIT).await;
    env.publish(
        "purchase.confirm",
        &json!({"payment_id": "ev-valu", "otp": otp, "tenure_months": 6}),
    )
    .await;
    env.wait_for_event("ev-valu", "payment.succeeded", WAIT).await;
    env.publish("refund.create", &refund("ev-rf-valu", "ev-valu", 1000, "EGP"))
        .await;
    env.wait_for_event("ev-valu", "refund.needs_review", WAIT).await;

    // An over-refund is refused; so is a command without its fields; a page never opened
    // expires at its threshold.
    env.publish("refund.create", &refund("ev-rf-over", "ev-ok", 1_000_000, "GBP"))
        .await;
    let over = env.wait_for_event("ev-rf-over", "command.rejected", WAIT).await;
    assert_eq!(over["reason"]["code"], "over_refund");
    env.publish("purchase.create", &json!({"payment_id": "ev-bad", "provider": "humm"}))
        .await;
    env.wait_for_event("ev-bad", "command.rejected", WAIT).await;
    env.wait_for_event("ev-page", "payment.expired", WAIT).await;

    // On the account in manual refund mode, a refund is announced for finance to file.
    let mut manual = humm_purchase("ev-manual", 15000);
    manual["account"] = json!("manual");
    env.publish("purchase.create", &manual).await;
    env.wait_for_event("ev-manual", "payment.action_required", WAIT).await;
    env.customer_finishes("ev-manual", "success").await;
    env.wait_for_event("ev-manual", "payment.succeeded", WAIT).await;
    env.publish("refund.create", &refund("ev-rf-manual", "ev-manual", 1000, "GBP"))
        .await;
    env.wait_for_event("ev-manual", "refund.action_required", WAIT).await;

    // A customer pays through a payment link: the sale is adopted.
    crate::external_payments::pay_by_link(&env, "ev-link", 12_000).await;
    env.wait_for_event("ev-link", "payment.external", WAIT).await;

    // An operator pauses an account and resumes it.
    for action in ["pause", "resume"] {
        let answer = env
            .http
            .post(env.app.url(&format!("/admin/v1/accounts/humm/default/{action}")))
            .bearer_auth(&operator)
            .json(&json!({"reason": "provider maintenance"}))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200);
    }
    env.wait_for_event("account:humm:default", "account.resumed", WAIT)
        .await;

    // The humm provider goes down: its circuit opens; it comes back: the probe closes it.
    let (http, outage_url) = (env.http.clone(), env.sandbox.url("/sandbox/outage"));
    let outage = |down: bool| {
        http.post(&outage_url)
            .json(&json!({"account": format!("ecommpay:{PROJECT}"), "down": down}))
            .send()
    };
    assert!(outage(true).await.unwrap().status().is_success());
    for id in ["ev-outage-1", "ev-outage-2", "ev-outage-3", "ev-outage-4"] {
        env.publish("purchase.create", &humm_purchase(id, 15000)).await;
    }
    env.wait_for_event("account:humm:default", "account.circuit_opened", WAIT)
        .await;
    assert!(outage(false).await.unwrap().status().is_success());
    env.wait_for_event("account:humm:default", "account.circuit_closed", WAIT)
        .await;
    env.drain(Duration::from_millis(300)).await;

    let events = env.all_events();
    let mut problems: Vec<String> = events.iter().flat_map(hygiene).collect();
    // Every event also validates against its published JSON Schema (docs/schema/events/).
    problems.extend(events.iter().flat_map(crate::contract::event_problems));
    assert!(problems.is_empty(), "{problems:#?}");
    let observed: BTreeSet<String> = events
        .iter()
        .filter_map(|e| e["type"].as_str().map(str::to_owned))
        .collect();
    let missing: Vec<&str> = EventType::ALL
        .iter()
        .map(|t| t.as_str())
        .filter(|t| !observed.contains(*t))
        .collect();
    assert!(missing.is_empty(), "never observed: {missing:?}");
    pool.close().await;
    env.app.stop().await.unwrap();
}

#[test]
fn the_hygiene_check_itself_catches_what_it_should() {
    let good = json!({
        "event_id": "01a2278e-326e-7639-ae25-5f846e63a1ff", "type": "payment.succeeded", "schema_version": 1,
        "sequence": 4, "occurred_at": "2026-11-23T10:00:00.123Z", "payment_id": "p", "provider": "valu",
        "account": "default", "status": "succeeded", "amount": {"minor": 1, "currency": "EGP"},
        "action": null, "provider_reference": null, "reason": null, "metadata": {}
    });
    assert_eq!(hygiene(&good), Vec::<String>::new());
    for (field, value) in [
        ("reason", json!({"code": "otp_invalid", "message": "wrong OTP"})),
        (
            "action",
            json!({"kind": "redirect", "method": "GET", "url": "u", "body": {}}),
        ),
        ("flow", json!("gate")),
        ("occurred_at", json!("2026-11-23T10:00:00Z")),
    ] {
        let mut bad = good.clone();
        bad[field] = value;
        assert!(!hygiene(&bad).is_empty(), "{field}");
    }
}
