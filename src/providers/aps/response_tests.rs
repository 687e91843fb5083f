//! Synchronous APS answers, class by class, with integrity checks and CHECK_STATUS.

use super::*;
use serde_json::json;

fn raw(body: Value) -> RawResponse {
    RawResponse {
        status: 200,
        body: body.to_string().into_bytes(),
    }
}

fn expected() -> Expected {
    Expected::money("valu-ord-1001", 500000, "EGP")
}

fn answer(command: &str, code: &str, extra: Value) -> RawResponse {
    let mut v = json!({"command": command, "merchant_reference": "valu-ord-1001", "amount": "500000",
                       "currency": "EGP", "response_code": code, "response_message": "msg"});
    if let (Value::Object(base), Value::Object(extra)) = (&mut v, extra) {
        base.extend(extra);
    }
    raw(v)
}

#[test]
fn purchase_success_exposes_fort_id() {
    let r = answer(
        "PURCHASE",
        "14000",
        json!({"fort_id": "169999999999999999", "valu_transaction_id": "V1", "loan_number": 77}),
    );
    assert_eq!(
        parse_purchase(&r, &expected()),
        CreateOutcome::Accepted(Purchased {
            fort_id: Some("169999999999999999".into()),
            valu_transaction_id: Some("V1".into()),
            loan_number: Some("77".into()),
        })
    );
}

#[test]
fn purchase_classes() {
    let of = |code: &str| parse_purchase(&answer("PURCHASE", code, json!({})), &expected());
    assert!(matches!(of("15777"), CreateOutcome::Uncertain { .. }));
    assert!(matches!(of("19000"), CreateOutcome::Uncertain { .. }));
    assert!(matches!(of("20064"), CreateOutcome::Uncertain { .. }));
    assert!(matches!(of("00066"), CreateOutcome::Exists { .. }));
    assert!(matches!(of("00007"), CreateOutcome::Exists { .. }));
    assert!(matches!(of("00047"), CreateOutcome::Exists { .. }));
    assert!(matches!(of("00784"), CreateOutcome::Processing { .. }));
    assert_eq!(
        of("13666"),
        CreateOutcome::Terminal {
            code: "13666".into(),
            message: "msg".into()
        }
    );
    assert!(matches!(of("98765"), CreateOutcome::Uncertain { .. }));
}

#[test]
fn a_paid_answer_that_disagrees_is_a_mismatch() {
    let wrong_amount = raw(
        json!({"merchant_reference": "valu-ord-1001", "amount": "400000", "currency": "EGP", "response_code": "14000"}),
    );
    assert!(matches!(
        parse_purchase(&wrong_amount, &expected()),
        CreateOutcome::Mismatch { .. }
    ));
    let no_amount = raw(json!({"merchant_reference": "valu-ord-1001", "currency": "EGP", "response_code": "14000"}));
    assert!(matches!(
        parse_purchase(&no_amount, &expected()),
        CreateOutcome::Mismatch { .. }
    ));
    let other_ref =
        raw(json!({"merchant_reference": "x", "amount": "500000", "currency": "EGP", "response_code": "13666"}));
    assert!(matches!(
        parse_purchase(&other_ref, &expected()),
        CreateOutcome::Mismatch { .. }
    ));
}

#[test]
fn transport_and_format_failures() {
    let r500 = RawResponse {
        status: 500,
        body: Vec::new(),
    };
    assert!(matches!(
        parse_purchase(&r500, &expected()),
        CreateOutcome::Uncertain { .. }
    ));
    let html = RawResponse {
        status: 200,
        body: b"<html>".to_vec(),
    };
    assert!(matches!(
        parse_purchase(&html, &expected()),
        CreateOutcome::Uncertain { .. }
    ));
    // A timeout or a throttle in front of APS, with no APS answer: never a decline.
    let timeout = RawResponse {
        status: 408,
        body: b"<html>Request Timeout</html>".to_vec(),
    };
    assert!(matches!(
        parse_purchase(&timeout, &expected()),
        CreateOutcome::Uncertain { .. }
    ));
    let throttled = RawResponse {
        status: 429,
        body: b"<html>Too Many Requests</html>".to_vec(),
    };
    assert!(matches!(
        parse_purchase(&throttled, &expected()),
        CreateOutcome::RetryLater { .. }
    ));
    let forbidden = RawResponse {
        status: 403,
        body: b"denied".to_vec(),
    };
    assert!(matches!(
        parse_purchase(&forbidden, &expected()),
        CreateOutcome::Terminal { .. }
    ));
    assert!(matches!(
        parse_purchase(&raw(json!({"response_code": "14"})), &expected()),
        CreateOutcome::Uncertain { .. }
    ));
}

#[test]
fn customer_verify_and_otp_steps() {
    let verify = |code: &str| {
        parse_customer_verify(
            &raw(json!({"merchant_reference": "valu-ord-1001", "response_code": code})),
            "valu-ord-1001",
        )
    };
    assert_eq!(verify("90000"), CreateOutcome::Accepted(()));
    assert!(matches!(verify("00160"), CreateOutcome::Terminal { .. }));
    assert!(matches!(verify("91000"), CreateOutcome::Terminal { .. }));
    assert_eq!(
        parse_otp_verify(&answer("OTP_VERIFY", "92182", json!({})), &expected()),
        CreateOutcome::Accepted(())
    );
    assert!(matches!(
        parse_otp_verify(&answer("OTP_VERIFY", "93000", json!({})), &expected()),
        CreateOutcome::Terminal { .. }
    ));
}

#[test]
fn otp_generate_exposes_plans_and_the_purchase_transaction_id() {
    let r = answer(
        "OTP_GENERATE",
        "88000",
        json!({
            "merchant_order_id": "1001", "otp_status": "true", "tenure": "6-12",
            "installment_detail": {"plan_details": [
                {"number_of_installments": "6", "amount_per_month": "85000", "fees_amount": "1000"},
                {"number_of_installments": "12", "amount_per_month": "44000", "fees_amount": "0"}]}
        }),
    );
    let CreateOutcome::Accepted(otp) = parse_otp_generate(&r, &expected()) else {
        panic!()
    };
    assert_eq!(otp.tenures, vec![6, 12]);
    assert_eq!(
        otp.plans,
        vec![
            Plan {
                tenure_months: 6,
                monthly_minor: 85000,
                fees_minor: 1000
            },
            Plan {
                tenure_months: 12,
                monthly_minor: 44000,
                fees_minor: 0
            },
        ]
    );
    assert_eq!(otp.purchase_transaction_id(), Some("1001"));
    let with_id = answer(
        "OTP_GENERATE",
        "88000",
        json!({"transaction_id": "240719641384", "merchant_order_id": "1001"}),
    );
    let CreateOutcome::Accepted(otp) = parse_otp_generate(&with_id, &expected()) else {
        panic!()
    };
    assert_eq!(otp.purchase_transaction_id(), Some("240719641384"));
    assert!(matches!(
        parse_otp_generate(&answer("OTP_GENERATE", "89000", json!({})), &expected()),
        CreateOutcome::Terminal { .. }
    ));
}

#[test]
fn refund_is_completed_synchronously() {
    let refund_expected = Expected::money("valu-ord-1001", 100000, "EGP");
    let ok = raw(
        json!({"command": "REFUND", "merchant_reference": "valu-ord-1001", "amount": "100000", "currency": "EGP", "response_code": "06000", "fort_id": "F1"}),
    );
    assert_eq!(
        parse_refund(&ok, &refund_expected),
        CreateOutcome::Accepted(RefundAck::Completed {
            provider_reference: Some("F1".into()),
        })
    );
    let failed = raw(
        json!({"merchant_reference": "valu-ord-1001", "amount": "100000", "currency": "EGP", "response_code": "07000"}),
    );
    assert!(matches!(
        parse_refund(&failed, &refund_expected),
        CreateOutcome::Terminal { .. }
    ));
    let wrong = raw(
        json!({"merchant_reference": "valu-ord-1001", "amount": "500000", "currency": "EGP", "response_code": "06000"}),
    );
    assert!(matches!(
        parse_refund(&wrong, &refund_expected),
        CreateOutcome::Mismatch { .. }
    ));
}

fn status_answer(extra: Value) -> RawResponse {
    let mut v = json!({"query_command": "CHECK_STATUS", "merchant_reference": "valu-ord-1001",
                       "response_code": "12000", "response_message": "Success"});
    if let (Value::Object(base), Value::Object(extra)) = (&mut v, extra) {
        base.extend(extra);
    }
    raw(v)
}

#[test]
fn check_status_is_decided_by_transaction_code_not_by_12000() {
    let paid = status_answer(
        json!({"transaction_status": "14", "transaction_code": "14000", "transaction_message": "Success",
                                    "fort_id": "F1", "refunded_amount": "100000", "amount": "500000", "currency": "EGP"}),
    );
    assert_eq!(
        parse_check_status(&paid, &expected()),
        StatusOutcome::Known(ProviderStatus {
            state: PaymentState::Succeeded,
            refunded_minor: Some(100000),
            provider_reference: Some("F1".into()),
            declined_refunds: Vec::new(),
            refunds_in_progress: Vec::new(),
        })
    );
    let pending = status_answer(json!({"transaction_status": "15", "transaction_code": "15777"}));
    assert!(matches!(
        parse_check_status(&pending, &expected()),
        StatusOutcome::Known(ProviderStatus {
            state: PaymentState::Pending { .. },
            ..
        })
    ));
    let declined = status_answer(
        json!({"transaction_status": "13", "transaction_code": "13666", "transaction_message": "Declined"}),
    );
    assert!(matches!(
        parse_check_status(&declined, &expected()),
        StatusOutcome::Known(ProviderStatus {
            state: PaymentState::Declined { .. },
            ..
        })
    ));
    let nothing = status_answer(json!({}));
    assert!(matches!(
        parse_check_status(&nothing, &expected()),
        StatusOutcome::Known(ProviderStatus {
            state: PaymentState::Pending { .. },
            ..
        })
    ));
}

#[test]
fn check_status_failures() {
    assert_eq!(
        parse_check_status(&raw(json!({"response_code": "12036"})), &expected()),
        StatusOutcome::NotFound
    );
    assert!(matches!(
        parse_check_status(&raw(json!({"response_code": "11008"})), &expected()),
        StatusOutcome::Retryable { .. }
    ));
    assert!(matches!(
        parse_check_status(&raw(json!({})), &expected()),
        StatusOutcome::Retryable { .. }
    ));
    assert!(matches!(
        parse_check_status(
            &RawResponse {
                status: 502,
                body: vec![]
            },
            &expected()
        ),
        StatusOutcome::Retryable { .. }
    ));
    let other = status_answer(json!({"merchant_reference": "x", "transaction_code": "14000"}));
    assert!(matches!(
        parse_check_status(&other, &expected()),
        StatusOutcome::Mismatch { .. }
    ));
    let wrong_amount = status_answer(json!({"transaction_code": "14000", "amount": "1"}));
    assert!(matches!(
        parse_check_status(&wrong_amount, &expected()),
        StatusOutcome::Mismatch { .. }
    ));
    let no_reference = raw(json!({"response_code": "12000", "transaction_code": "14000"}));
    assert!(matches!(
        parse_check_status(&no_reference, &expected()),
        StatusOutcome::Mismatch { .. }
    ));
}

#[test]
fn the_breaker_counts_server_errors_and_refused_signatures_only() {
    let server_error = RawResponse {
        status: 503,
        body: vec![],
    };
    assert!(is_provider_failure(&server_error));
    assert!(is_provider_failure(&raw(json!({"response_code": "00008"}))));
    assert!(is_provider_failure(&raw(json!({"response_code": "12008"}))));
    // A decline, a success and an unknown order are the provider working.
    assert!(!is_provider_failure(&raw(json!({"response_code": "00016"}))));
    assert!(!is_provider_failure(&raw(json!({"response_code": "14000"}))));
    assert!(!is_provider_failure(&raw(json!({"response_code": "12036"}))));
}
