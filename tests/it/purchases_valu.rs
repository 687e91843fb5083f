//! valU purchases end to end through APS (the sandbox over HTTP): customer verify, OTP generate,
//! the customer's OTP, OTP verify and purchase; wrong OTPs, resends, expiry, non-customers.

use crate::first_jobs::with_account;
use crate::harness::*;
use bnpl::config::AccountTiming;
use serde_json::json;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(15);

#[tokio::test]
async fn valu_purchase_succeeds_with_the_event_sequence_of_the_contract() {
    let mut env = spawn_sandboxed(fast_timing(), |_| {}).await;
    env.publish("purchase.create", &valu_purchase("valu-ok-1", 500_000, "01011110001"))
        .await;
    let offer = env.wait_for_event("valu-ok-1", "payment.action_required", WAIT).await;
    assert_eq!(offer["action"]["kind"], "otp");
    let plans = offer["action"]["plans"].as_array().expect("plans");
    assert!(!plans.is_empty(), "OTP_GENERATE's plans are offered: {offer}");
    let tenure = plans[0]["tenure_months"].as_u64().unwrap();
    assert!(plans[0]["monthly_minor"].as_i64().unwrap() > 0);

    let otp = env.otp_for("01011110001").await;
    env.publish(
        "purchase.confirm",
        &json!({"payment_id": "valu-ok-1", "otp": otp, "tenure_months": tenure}),
    )
    .await;
    let done = env.wait_for_event("valu-ok-1", "payment.succeeded", WAIT).await;
    assert!(done["provider_reference"].is_string(), "the fort_id is kept: {done}");
    assert_eq!(
        env.sequence_of("valu-ok-1"),
        [
            "payment.accepted",
            "payment.action_required",
            "payment.pending",
            "payment.succeeded"
        ]
    );
    env.app.stop().await.unwrap();
}

/// Intake schedules a valU payment's first call and its first status check together; both carry
/// the payment's account, which pausing and the circuit breaker go by.
#[tokio::test]
async fn a_valu_purchase_schedules_its_first_call_and_its_status_check_at_intake() {
    let mut env = spawn_sandboxed(fast_timing(), |_| {}).await;
    env.publish("purchase.create", &valu_purchase("valu-jobs-1", 500_000, "01011110001"))
        .await;
    env.wait_for_event("valu-jobs-1", "payment.action_required", WAIT).await;
    assert_eq!(
        env.db_i64(&with_account("valu_start"), "valu-jobs-1").await,
        1,
        "the first call"
    );
    assert!(
        env.db_i64(&with_account("status_check"), "valu-jobs-1").await >= 1,
        "the status check, due at created + base time"
    );
    env.app.stop().await.unwrap();
}

/// The first call is due at once, so intake's commit wakes the job runners (`NOTIFY`) rather
/// than leaving the call to their next poll.
#[tokio::test]
async fn a_valu_purchase_wakes_the_job_runners_at_intake() {
    let mut env = spawn_sandboxed(fast_timing(), |_| {}).await;
    let pool = env.app.db.pool().await;
    let mut listener = sqlx::postgres::PgListener::connect_with(&pool).await.unwrap();
    listener.listen(bnpl::jobs::runner::NOTIFY_CHANNEL).await.unwrap();
    env.publish("purchase.create", &valu_purchase("valu-wake-1", 500_000, "01011110001"))
        .await;
    let woken = tokio::time::timeout(WAIT, listener.recv()).await;
    assert!(
        matches!(woken, Ok(Ok(_))),
        "intake's commit wakes the runners: {woken:?}"
    );
    env.wait_for_event("valu-wake-1", "payment.action_required", WAIT).await;
    env.app.stop().await.unwrap();
}

#[tokio::test]
async fn a_wrong_otp_then_the_right_one_succeeds() {
    let mut env = spawn_sandboxed(fast_timing(), |_| {}).await;
    env.publish(
        "purchase.create",
        &valu_purchase("valu-wrong-1", 300_000, "01011110002"),
    )
    .await;
    env.wait_for_event("valu-wrong-1", "payment.action_required", WAIT)
        .await;
    let otp = env.otp_for("01011110002").await;
    let wrong = if otp == "000000" { "111111" } else { "000000" };
    env.publish(
        "purchase.confirm",
        &json!({"payment_id": "valu-wrong-1", "otp": wrong, "tenure_months": 6}),
    )
    .await;
    env.wait_until_events("valu-wrong-1", 3, WAIT).await;
    let retry = env.events_of("valu-wrong-1").into_iter().last().unwrap();
    assert_eq!(retry["type"], "payment.action_required");
    assert_eq!(retry["reason"]["code"], "otp_invalid");
    assert_eq!(retry["reason"]["attempts_left"], 2);
    env.publish(
        "purchase.confirm",
        &json!({"payment_id": "valu-wrong-1", "otp": otp, "tenure_months": 6}),
    )
    .await;
    env.wait_for_event("valu-wrong-1", "payment.succeeded", WAIT).await;
    assert_eq!(
        env.sequence_of("valu-wrong-1"),
        [
            "payment.accepted",
            "payment.action_required",
            "payment.action_required",
            "payment.pending",
            "payment.succeeded"
        ]
    );
    env.app.stop().await.unwrap();
}

#[tokio::test]
async fn three_wrong_otps_decline_the_payment() {
    // APS would take five: the decline after three is the orchestrator's own limit.
    let mut env = spawn_sandboxed(fast_timing(), |config| config.valu.otp_attempts = 5).await;
    env.publish("purchase.create", &valu_purchase("valu-3wrong", 300_000, "01011110003"))
        .await;
    env.wait_for_event("valu-3wrong", "payment.action_required", WAIT).await;
    let otp = env.otp_for("01011110003").await;
    for (attempt, wrong) in ["000001", "000002", "000003"]
        .iter()
        .filter(|w| **w != otp)
        .take(3)
        .enumerate()
    {
        env.publish(
            "purchase.confirm",
            &json!({"payment_id": "valu-3wrong", "otp": wrong, "tenure_months": 6}),
        )
        .await;
        env.wait_until_events("valu-3wrong", 3 + attempt, WAIT).await;
    }
    let declined = env.wait_for_event("valu-3wrong", "payment.declined", WAIT).await;
    assert_eq!(declined["reason"]["code"], "otp_attempts_exceeded");
    // The right code after the limit changes nothing: the payment is final.
    env.publish(
        "purchase.confirm",
        &json!({"payment_id": "valu-3wrong", "otp": otp, "tenure_months": 6}),
    )
    .await;
    env.drain(Duration::from_secs(2)).await;
    assert_eq!(env.status_of("valu-3wrong").await.as_deref(), Some("declined"));
    assert!(env
        .events_of("valu-3wrong")
        .iter()
        .all(|e| e["type"] != "payment.succeeded"));
    assert_eq!(env.sales_for("valu-3wrong").await, 0, "no PURCHASE after the limit");
    env.app.stop().await.unwrap();
}

#[tokio::test]
async fn resend_otp_gives_a_new_code_that_confirms() {
    // The resend comes late enough that the first code's expiry falls before the confirm: the
    // new code's lifetime, not the first one's, decides (the sandbox's own codes live longer).
    let timing = AccountTiming {
        otp_lifetime: Duration::from_secs(4),
        threshold_time: Duration::from_secs(30),
        ..fast_timing()
    };
    let mut env = spawn_sandboxed(timing.clone(), |config| config.valu.otp_lifetime_secs *= 4.0).await;
    env.publish("purchase.create", &valu_purchase("valu-resend", 200_000, "01011110004"))
        .await;
    env.wait_for_event("valu-resend", "payment.action_required", WAIT).await;
    let offered = tokio::time::Instant::now();
    tokio::time::sleep(timing.otp_lifetime / 2).await;
    env.publish("purchase.resend_otp", &json!({"payment_id": "valu-resend"}))
        .await;
    env.wait_until_events("valu-resend", 3, WAIT).await;
    let second = env.otp_for("01011110004").await;
    assert_eq!(env.events_of("valu-resend")[2]["type"], "payment.action_required");
    // Past the first code's lifetime (its expiry job has run), inside the second's.
    tokio::time::sleep_until(offered + timing.otp_lifetime + Duration::from_millis(1500)).await;
    env.drain(Duration::from_millis(200)).await;
    assert_eq!(
        env.count_of("valu-resend", "payment.expired"),
        0,
        "expired by the first code's job"
    );
    assert_eq!(env.status_of("valu-resend").await.as_deref(), Some("action_required"));
    env.publish(
        "purchase.confirm",
        &json!({"payment_id": "valu-resend", "otp": second, "tenure_months": 6}),
    )
    .await;
    env.wait_for_event("valu-resend", "payment.succeeded", WAIT).await;
    env.app.stop().await.unwrap();
}

#[tokio::test]
async fn a_phone_valu_does_not_know_is_declined_with_a_clear_reason() {
    let mut env = spawn_sandboxed(fast_timing(), |_| {}).await;
    let phone = bnpl::sandbox::config::DEMO_NOT_CUSTOMER_PHONE;
    env.publish("purchase.create", &valu_purchase("valu-nobody", 200_000, phone))
        .await;
    let declined = env.wait_for_event("valu-nobody", "payment.declined", WAIT).await;
    assert_eq!(declined["reason"]["code"], "not_a_valu_customer");
    assert_eq!(declined["reason"]["provider_code"], "00160");
    env.app.stop().await.unwrap();
}

#[tokio::test]
async fn an_otp_never_confirmed_expires() {
    let mut env = spawn_sandboxed(fast_timing(), |_| {}).await;
    env.publish("purchase.create", &valu_purchase("valu-expire", 200_000, "01011110005"))
        .await;
    env.wait_for_event("valu-expire", "payment.action_required", WAIT).await;
    let expired = env
        .wait_for_event("valu-expire", "payment.expired", Duration::from_secs(20))
        .await;
    // Contract §3 "Event hygiene": `expired` carries no reason (the OTP's expiry is in the
    // payment's history).
    assert!(expired["reason"].is_null(), "{expired}");
    assert_eq!(
        env.payment_text("valu-expire", "reason->>'code'").await.as_deref(),
        Some("otp_expired")
    );
    env.app.stop().await.unwrap();
}

#[tokio::test]
async fn an_uncertain_purchase_is_settled_without_a_second_purchase() {
    // What is under test is the uncertain answer, not the customer's clock: the OTP and the
    // threshold get time to spare, so a loaded machine (the suite runs tests side by side) does
    // not expire the OTP between the offer and the confirm and send the payment to review.
    let timing = AccountTiming {
        otp_lifetime: Duration::from_secs(60),
        threshold_time: Duration::from_secs(60),
        ..fast_timing()
    };
    // Without APS's notification, only a status query can settle the payment: with it, the
    // notification settled the payment before any resend could show.
    let mut env = spawn_sandboxed(timing, |config| {
        config.valu.otp_lifetime_secs = 600_000.0;
        config.aps_merchants[0].notification_url = None;
    })
    .await;
    // PURCHASE is registered, then answered 500: uncertain, so never resent blindly.
    let id = "valu-fault-register-500";
    env.publish("purchase.create", &valu_purchase(id, 300_000, "01011110006"))
        .await;
    env.wait_for_event(id, "payment.action_required", WAIT).await;
    let otp = env.otp_for("01011110006").await;
    env.publish(
        "purchase.confirm",
        &json!({"payment_id": id, "otp": otp, "tenure_months": 6}),
    )
    .await;
    env.wait_for_event(id, "payment.succeeded", WAIT).await;
    assert_eq!(env.sales_for(id).await, 1, "one PURCHASE at APS");
    assert_eq!(env.ledger().await["duplicate_sales"], 0);
    env.app.stop().await.unwrap();
}

/// The same `purchase.resend_otp` message twice (its `message_id` again, as a redelivery brings
/// it): one new code, and the copy is kept as a duplicate like every command (contract §1).
#[tokio::test]
async fn the_same_resend_twice_sends_one_code_and_keeps_the_copy_as_a_duplicate() {
    let mut env = spawn_sandboxed(fast_timing(), |_| {}).await;
    env.publish(
        "purchase.create",
        &valu_purchase("valu-resend-2", 200_000, "01011110005"),
    )
    .await;
    env.wait_for_event("valu-resend-2", "payment.action_required", WAIT)
        .await;
    let body = json!({"payment_id": "valu-resend-2"}).to_string();
    for _ in 0..2 {
        let properties = lapin::BasicProperties::default().with_message_id("resend-m-1".into());
        env.publish_raw("purchase.resend_otp", body.as_bytes(), properties)
            .await;
    }
    let pool = env.app.db.pool().await;
    crate::helpers::eventually(WAIT, "both copies are kept", || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM commands WHERE command_type = 'purchase.resend_otp'")
            .fetch_one(&pool)
            .await
            .unwrap()
            == 2
    })
    .await;
    let outcomes: Vec<String> =
        sqlx::query_scalar("SELECT outcome FROM commands WHERE command_type = 'purchase.resend_otp' ORDER BY id")
            .fetch_all(&pool)
            .await
            .unwrap();
    pool.close().await;
    assert_eq!(outcomes, ["applied", "duplicate"]);
    env.wait_until_events("valu-resend-2", 3, WAIT).await;
    env.drain(Duration::from_millis(500)).await;
    assert_eq!(
        env.count_of("valu-resend-2", "payment.action_required"),
        2,
        "one new code"
    );
    env.app.stop().await.unwrap();
}

/// The customer's OTP was verified (the order's last step at APS is OTP_VERIFY, status 92) but the
/// PURCHASE never went out (its first attempt failed before sending). The job's next attempt asks
/// CHECK_STATUS first, hears "OTP verified, no PURCHASE", and sends the PURCHASE: it used to read
/// that as "PURCHASE still processing" and retry until its attempts ran out, leaving a customer
/// who had typed the right code in `pending` and then in review.
#[tokio::test]
async fn a_purchase_not_sent_after_the_otp_was_verified_is_sent_on_the_next_attempt() {
    let timing = AccountTiming {
        otp_lifetime: Duration::from_secs(60),
        threshold_time: Duration::from_secs(60),
        ..fast_timing()
    };
    let mut env = spawn_sandboxed(timing, |config| config.valu.otp_lifetime_secs = 600_000.0).await;
    let id = "valu-verified-unsent";
    let phone = "01011110009";
    env.publish("purchase.create", &valu_purchase(id, 300_000, phone)).await;
    env.wait_for_event(id, "payment.action_required", WAIT).await;
    let otp = env.otp_for(phone).await;
    // OTP_VERIFY at APS, as our job's first step did.
    let mut params = serde_json::Map::new();
    for (name, value) in [
        ("service_command", "OTP_VERIFY"),
        ("access_code", ACCESS_CODE),
        ("merchant_identifier", MERCHANT),
        ("merchant_reference", id),
        ("language", "en"),
        ("payment_option", "VALU"),
        ("phone_number", phone),
        ("amount", "300000"),
        ("currency", "EGP"),
        ("otp", otp.as_str()),
        ("total_downpayment", "0"),
    ] {
        params.insert(name.into(), json!(value));
    }
    let signature = bnpl::providers::aps::signature::sign_request(
        &params,
        &secrecy::SecretString::from(REQUEST_PHRASE),
        bnpl::providers::aps::signature::ShaType::Sha256,
    );
    params.insert("signature".into(), json!(signature));
    let verified: serde_json::Value = env
        .http
        .post(env.sandbox.url("/FortAPI/paymentApi"))
        .json(&params)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(verified["response_code"], "92182", "{verified}");
    // Our side as the first step left it: `pending`, with the PURCHASE job's first attempt spent.
    let pool = env.app.db.pool().await;
    let mut tx = pool.begin().await.unwrap();
    let change = bnpl::ledger::Change::by("test");
    bnpl::ledger::payment::apply(
        &mut tx,
        id,
        None,
        bnpl::domain::PaymentEvent::ConfirmSent,
        &change,
        Default::default(),
    )
    .await
    .unwrap();
    let payload = json!({"otp": otp, "tenure_months": 6});
    bnpl::flows::schedule::valu_confirm(&mut tx, id, &payload)
        .await
        .unwrap();
    sqlx::query("UPDATE jobs SET attempts = 1 WHERE payment_id = $1 AND kind = 'valu_confirm' AND state = 'scheduled'")
        .bind(id)
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    pool.close().await;
    env.wait_for_event(id, "payment.succeeded", WAIT).await;
    assert_eq!(env.sales_for(id).await, 1, "one PURCHASE at APS");
    env.app.stop().await.unwrap();
}
