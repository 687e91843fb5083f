//! valU through APS: the full flow, authentication, OTP limits, refunds.

use bnpl::providers::aps::signature::{verify_response, ShaType};
use serde_json::json;

use super::support::*;

#[tokio::test]
async fn valu_full_flow_ends_in_check_status_14000() {
    let e = env().await;
    let res = secret(RES_PHRASE);
    let a = e
        .aps(
            valu(
                "valu-1",
                ("service_command", "CUSTOMER_VERIFY"),
                json!({"payment_option": "VALU", "phone_number": PHONE}),
            ),
            REQ_PHRASE,
        )
        .await;
    assert_eq!(code(&a), "90000");
    assert!(verify_response(&a, &res, ShaType::Sha256));
    let g = otp_generate(&e, "valu-1").await;
    assert_eq!(code(&g), "88000", "{g:?}");
    assert!(verify_response(&g, &res, ShaType::Sha256));
    assert_eq!(g["tenure"], "6-9-12-18");
    assert_eq!(g["installment_detail"]["plan_details"].as_array().unwrap().len(), 4);
    let transaction_id = g["transaction_id"].as_str().unwrap().to_owned();
    let otp = read_otp(&e).await;
    let v = e
        .aps(
            valu(
                "valu-1",
                ("service_command", "OTP_VERIFY"),
                json!({"payment_option": "VALU",
        "phone_number": PHONE, "amount": "500000", "currency": "EGP", "merchant_order_id": "valu-1",
        "otp": otp, "total_downpayment": "0"}),
            ),
            REQ_PHRASE,
        )
        .await;
    assert_eq!(code(&v), "92182", "{v:?}");
    let p = valu_purchase(&e, "valu-1", &otp, &transaction_id).await;
    assert_eq!(code(&p), "14000", "{p:?}");
    assert!(verify_response(&p, &res, ShaType::Sha256));
    let fort_id = p["fort_id"].as_str().unwrap().to_owned();
    assert_eq!(code(&valu_purchase(&e, "valu-1", &otp, &transaction_id).await), "00047");
    let s = e
        .aps(valu("valu-1", ("query_command", "CHECK_STATUS"), json!({})), REQ_PHRASE)
        .await;
    assert_eq!(code(&s), "12000");
    assert_eq!(s["transaction_code"], "14000");
    assert_eq!(s["fort_id"], fort_id.as_str());
    assert_eq!(s["refunded_amount"], "0");
    // Direct feedback arrives form-encoded and signed with the response phrase.
    let fb = e.receiver.wait_for("feedback", |b| b["command"] == "PURCHASE").await;
    assert_eq!(fb["response_code"], "14000");
    let ledger = e.ledger().await;
    assert_eq!(ledger["sales_per_payment_id"]["valu-1"], 2);
    assert_eq!(ledger["duplicate_sales"], 1);
}

#[tokio::test]
async fn valu_rejects_wrong_phrase_unknown_customer_and_wrong_otps() {
    let e = env().await;
    let a = e
        .aps(
            valu(
                "valu-x",
                ("service_command", "CUSTOMER_VERIFY"),
                json!({"payment_option": "VALU", "phone_number": PHONE}),
            ),
            "wrong",
        )
        .await;
    assert_eq!(code(&a), "00008");
    let n = e
        .aps(
            valu(
                "valu-x",
                ("service_command", "CUSTOMER_VERIFY"),
                json!({"payment_option": "VALU", "phone_number": "01000000000"}),
            ),
            REQ_PHRASE,
        )
        .await;
    assert_eq!(code(&n), "00160");
    let g = otp_generate(&e, "valu-x").await;
    let tid = g["transaction_id"].as_str().unwrap().to_owned();
    assert_eq!(code(&valu_purchase(&e, "valu-x", "000000x", &tid).await), "13666");
    assert_eq!(code(&valu_purchase(&e, "valu-x", "000000y", &tid).await), "13666");
    assert_eq!(code(&valu_purchase(&e, "valu-x", "000000z", &tid).await), "13123");
    let otp = read_otp(&e).await;
    assert_eq!(
        code(&valu_purchase(&e, "valu-x", &otp, &tid).await),
        "13123",
        "declined for good"
    );
}

#[tokio::test]
async fn aps_refunds_answer_06000_and_overlaps_are_counted() {
    let e = env_with(0, |c| c.valu.refund_processing_secs = 1_000.0).await; // 1 s scaled
    for reference in ["valu-r1", "valu-r2"] {
        let g = otp_generate(&e, reference).await;
        let otp = read_otp(&e).await;
        let tid = g["transaction_id"].as_str().unwrap().to_owned();
        assert_eq!(code(&valu_purchase(&e, reference, &otp, &tid).await), "14000");
    }
    let refund = |reference: &'static str, amount: &'static str, m: &'static str| {
        e.aps(
            valu(
                reference,
                ("command", "REFUND"),
                json!({"amount": amount, "currency": "EGP", "maintenance_reference": m}),
            ),
            REQ_PHRASE,
        )
    };
    let (r1, r2) = tokio::join!(refund("valu-r1", "100000", "m1"), refund("valu-r2", "100000", "m2"));
    assert_eq!((code(&r1), code(&r2)), ("06000", "06000"));
    assert_eq!(code(&refund("valu-r1", "400001", "m3").await), "00042");
    let s = e
        .aps(
            valu("valu-r1", ("query_command", "CHECK_STATUS"), json!({})),
            REQ_PHRASE,
        )
        .await;
    assert_eq!(s["refunded_amount"], "100000");
    let ledger = e.ledger().await;
    let account = &ledger["accounts"][format!("aps:{MID}")];
    assert_eq!(account["violations"], 1);
    assert_eq!(account["max_in_flight"], 2);
}

#[tokio::test]
async fn an_expired_otp_is_refused() {
    // A 300 s OTP lifetime at time_scale 0.001 is 0.3 s.
    let e = env().await;
    let g = otp_generate(&e, "valu-exp").await;
    assert_eq!(code(&g), "88000");
    let otp = read_otp(&e).await;
    let url = e.sandbox.url(&format!("/sandbox/valu/otp/{PHONE}"));
    poll_async("OTP expiry", || async {
        let sms: serde_json::Value = e.http.get(&url).send().await.unwrap().json().await.unwrap();
        (sms["expires_in_ms"] == 0).then_some(())
    })
    .await;
    // `expires_in_ms` rounds down: 0 may still mean a fraction of a millisecond left.
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let v = e
        .aps(
            valu(
                "valu-exp",
                ("service_command", "OTP_VERIFY"),
                json!({"payment_option": "VALU", "phone_number": PHONE, "amount": "500000",
                       "currency": "EGP", "merchant_order_id": "valu-exp", "otp": otp,
                       "total_downpayment": "0"}),
            ),
            REQ_PHRASE,
        )
        .await;
    assert_eq!(code(&v), "93778");
}
