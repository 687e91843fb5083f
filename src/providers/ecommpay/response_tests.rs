//! Registration and status answers, class by class.

use super::*;
use serde_json::json;

fn raw(status: u16, body: Value) -> RawResponse {
    RawResponse {
        status,
        body: body.to_string().into_bytes(),
    }
}

#[test]
fn a_200_registers_the_sale_with_its_request_id() {
    let body = json!({"status": "success", "request_id": "req-abc-1", "project_id": 12345, "payment_id": "ord-1"});
    assert_eq!(
        parse_sale(&raw(200, body), "ord-1"),
        CreateOutcome::Accepted(Registered {
            request_id: Some("req-abc-1".into())
        })
    );
}

#[test]
fn an_echo_of_another_payment_id_is_a_mismatch() {
    let body = json!({"status": "success", "request_id": "r", "payment_id": "ord-2"});
    assert!(matches!(
        parse_sale(&raw(200, body), "ord-1"),
        CreateOutcome::Mismatch { .. }
    ));
}

type Check = fn(&CreateOutcome<Registered>) -> bool;

#[test]
fn rejection_codes_follow_the_table() {
    let cases: [(&str, Check); 6] = [
        ("3041", |o| matches!(o, CreateOutcome::Exists { .. })),
        ("3062", |o| matches!(o, CreateOutcome::Processing { .. })),
        ("314", |o| matches!(o, CreateOutcome::RetryLater { .. })),
        ("2004", |o| matches!(o, CreateOutcome::Terminal { .. })),
        ("3061", |o| matches!(o, CreateOutcome::Uncertain { .. })),
        ("77777", |o| matches!(o, CreateOutcome::Uncertain { .. })),
    ];
    for (code, check) in cases {
        for status in [200, 400] {
            let body = json!({"status": "error", "code": code, "message": "m", "payment_id": "ord-1"});
            let outcome = parse_sale(&raw(status, body), "ord-1");
            assert!(check(&outcome), "{code} {status}: {outcome:?}");
        }
    }
    let errors = json!({"errors": [{"code": 3230, "message": "merchant_refund_id exists", "field": "x"}]});
    assert!(matches!(
        parse_refund(&raw(400, errors), "ord-1"),
        CreateOutcome::Exists { .. }
    ));
}

#[test]
fn transport_level_answers() {
    assert!(matches!(
        parse_sale(&raw(502, json!({})), "o"),
        CreateOutcome::Uncertain { .. }
    ));
    let garbage = RawResponse {
        status: 200,
        body: b"<html>".to_vec(),
    };
    assert!(matches!(parse_sale(&garbage, "o"), CreateOutcome::Uncertain { .. }));
    assert!(matches!(
        parse_sale(&raw(200, json!([1])), "o"),
        CreateOutcome::Uncertain { .. }
    ));
    assert!(matches!(
        parse_sale(&raw(200, json!({"status": "error"})), "o"),
        CreateOutcome::Uncertain { .. }
    ));
    assert!(matches!(
        parse_sale(&raw(429, json!({})), "o"),
        CreateOutcome::RetryLater { .. }
    ));
    assert!(matches!(
        parse_sale(&raw(404, json!({})), "o"),
        CreateOutcome::Terminal { .. }
    ));
}

#[test]
fn refund_registration_keeps_the_request_id() {
    let body = json!({"status": "success", "request_id": "rq-9", "payment_id": "ord-1"});
    assert_eq!(
        parse_refund(&raw(200, body), "ord-1"),
        CreateOutcome::Accepted(RefundAck::Registered {
            request_id: Some("rq-9".into())
        })
    );
}

fn status_body(payment_status: &str, operations: Value) -> Value {
    json!({
        "project_id": 12345,
        "payment": {"id": "ord-1", "status": payment_status, "sum": {"amount": 10000, "currency": "GBP"}},
        "operations": operations,
    })
}

fn sale_op(status: &str, code: &str) -> Value {
    json!({"id": 29741010169841_u64, "type": "sale", "status": status, "code": code, "message": "m",
           "sum_initial": {"amount": 15000, "currency": "GBP"}})
}

fn refund_op(status: &str, amount: i64) -> Value {
    json!({"type": "refund", "status": status, "sum_initial": {"amount": amount, "currency": "GBP"}})
}

#[test]
fn status_success_with_refunds_reports_the_refunded_total() {
    let expected = Expected::money("ord-1", 15000, "GBP");
    let ops = json!([
        sale_op("success", "0"),
        refund_op("success", 5000),
        refund_op("decline", 1000)
    ]);
    let outcome = parse_status(&raw(200, status_body("partially refunded", ops)), &expected);
    assert_eq!(
        outcome,
        StatusOutcome::Known(ProviderStatus {
            state: PaymentState::Succeeded,
            refunded_minor: Some(5000),
            provider_reference: Some("29741010169841".into()),
            declined_refunds: Vec::new(),
            refunds_in_progress: Vec::new(),
        })
    );
}

#[test]
fn status_plain_success_uses_payment_sum_and_has_no_refunds() {
    let expected = Expected::money("ord-1", 10000, "GBP");
    let outcome = parse_status(&raw(200, status_body("success", json!([]))), &expected);
    let StatusOutcome::Known(status) = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(
        (status.state, status.refunded_minor),
        (PaymentState::Succeeded, Some(0))
    );
}

#[test]
fn status_states_and_failures() {
    let expected = Expected::money("ord-1", 15000, "GBP");
    let decline = parse_status(
        &raw(200, status_body("decline", json!([sale_op("decline", "20000")]))),
        &expected,
    );
    assert!(
        matches!(decline, StatusOutcome::Known(ProviderStatus { state: PaymentState::Declined { ref code, .. }, .. }) if code == "20000")
    );
    let odd = parse_status(&raw(200, status_body("being reviewed", json!([]))), &expected);
    assert!(matches!(
        odd,
        StatusOutcome::Known(ProviderStatus {
            state: PaymentState::Pending { .. },
            ..
        })
    ));
    let mismatch = parse_status(
        &raw(200, status_body("success", json!([sale_op("success", "0")]))),
        &Expected::money("ord-1", 15001, "GBP"),
    );
    assert!(matches!(mismatch, StatusOutcome::Mismatch { .. }));
    let other = parse_status(
        &raw(200, status_body("success", json!([]))),
        &Expected::reference("ord-2"),
    );
    assert!(matches!(other, StatusOutcome::Mismatch { .. }));
    let not_found = json!({"status": "error", "code": "3061", "message": "Transaction not found"});
    assert_eq!(parse_status(&raw(400, not_found), &expected), StatusOutcome::NotFound);
    let refused = json!({"code": "3261", "message": "invalid signature"});
    assert!(matches!(
        parse_status(&raw(400, refused), &expected),
        StatusOutcome::Retryable { .. }
    ));
    assert!(matches!(
        parse_status(&raw(503, json!({})), &expected),
        StatusOutcome::Retryable { .. }
    ));
    assert!(matches!(
        parse_status(&raw(200, json!({"x": 1})), &expected),
        StatusOutcome::Retryable { .. }
    ));
}

#[test]
fn status_lists_declined_refund_operations_by_request_id() {
    let expected = Expected::money("ord-1", 15000, "GBP");
    let declined = json!({"type": "refund", "status": "decline", "code": "20000", "message": "General decline",
                          "request_id": "req-7", "sum_initial": {"amount": 1000, "currency": "GBP"}});
    let ops = json!([
        sale_op("success", "0"),
        refund_op("decline", 500),
        declined,
        refund_op("success", 2000)
    ]);
    let StatusOutcome::Known(status) = parse_status(&raw(200, status_body("partially refunded", ops)), &expected)
    else {
        panic!("a known status");
    };
    // The declined operation without a request id cannot be tied to a refund of ours.
    assert_eq!(
        status.declined_refunds,
        vec![DeclinedRefund {
            request_id: "req-7".into(),
            code: "20000".into(),
            message: "General decline".into(),
            amount_minor: Some(1000),
            failed: false,
        }]
    );
    assert_eq!(status.refunded_minor, Some(2000));
}

#[test]
fn status_lists_failed_refund_operations_as_failed() {
    let expected = Expected::money("ord-1", 15000, "GBP");
    let error = json!({"type": "refund", "status": "error", "code": "502", "message": "Internal error",
                       "request_id": "req-9", "sum_initial": {"amount": 700, "currency": "GBP"}});
    let ops = json!([sale_op("success", "0"), error]);
    let StatusOutcome::Known(status) = parse_status(&raw(200, status_body("success", ops)), &expected) else {
        panic!("a known status");
    };
    assert_eq!(
        status.declined_refunds,
        vec![DeclinedRefund {
            request_id: "req-9".into(),
            code: "502".into(),
            message: "Internal error".into(),
            amount_minor: Some(700),
            failed: true,
        }]
    );
}

#[test]
fn a_refused_signature_is_not_sent_never_a_decline() {
    // A key mix-up (a rotation half done) must not decline every payment: nothing was registered.
    for code in ["3261", "3262"] {
        let body = json!({"status": "error", "code": code, "message": "Invalid signature"});
        assert!(
            matches!(
                parse_sale(&raw(400, body.clone()), "ord-1"),
                CreateOutcome::NotSent { .. }
            ),
            "{code}"
        );
        assert!(
            matches!(parse_refund(&raw(400, body), "ord-1"), CreateOutcome::NotSent { .. }),
            "{code}"
        );
    }
}

#[test]
fn the_breaker_counts_server_errors_unavailability_and_refused_signatures_only() {
    assert!(is_provider_failure(&raw(502, json!({}))));
    assert!(is_provider_failure(&raw(
        400,
        json!({"code": "314", "message": "Provider not available"})
    )));
    assert!(is_provider_failure(&raw(
        400,
        json!({"code": 3261, "message": "Invalid signature"})
    )));
    assert!(is_provider_failure(&raw(
        400,
        json!({"errors": [{"code": "3262", "message": "Empty signature"}]})
    )));
    // A decline, an accepted request and an unknown payment are the provider working.
    assert!(!is_provider_failure(&raw(
        400,
        json!({"code": "100", "message": "General decline"})
    )));
    assert!(!is_provider_failure(&raw(
        200,
        json!({"status": "success", "request_id": "r"})
    )));
    assert!(!is_provider_failure(&raw(
        404,
        json!({"code": "3061", "message": "Not found"})
    )));
}

/// An answer may carry one `operation` instead of an `operations` list: it is read the same way.
#[test]
fn a_single_operation_is_read_like_a_list_of_one() {
    let expected = Expected::money("ord-1", 15000, "GBP");
    let listed = status_body("success", json!([sale_op("success", "0")]));
    let mut single = status_body("success", json!(null));
    let single_map = single.as_object_mut().unwrap();
    single_map.remove("operations");
    single_map.insert("operation".into(), sale_op("success", "0"));
    let from_list = parse_status(&raw(200, listed), &expected);
    assert_eq!(parse_status(&raw(200, single), &expected), from_list);
    let StatusOutcome::Known(status) = from_list else {
        panic!("{from_list:?}")
    };
    assert_eq!(status.provider_reference.as_deref(), Some("29741010169841"));
}

/// A declined payment's status answer lists the decline's errors beside the payment: it is read
/// from the payment (a definite decline), not taken for a refused query (retried until the
/// threshold, then review). An answer without a payment is still the query's own error.
#[test]
fn errors_beside_the_payment_describe_it_and_do_not_fail_the_query() {
    let expected = Expected::money("ord-1", 15000, "GBP");
    let mut body = status_body("decline", json!([sale_op("decline", "20100")]));
    body["errors"] = json!([{"code": "20100", "message": "declined by humm"}]);
    let StatusOutcome::Known(status) = parse_status(&raw(200, body), &expected) else {
        panic!("a described payment is known");
    };
    assert!(
        matches!(status.state, PaymentState::Declined { ref code, .. } if code == "20100"),
        "{:?}",
        status.state
    );
    let refused = json!({"status": "error", "errors": [{"code": "3061", "message": "Transaction not found"}]});
    assert_eq!(parse_status(&raw(400, refused), &expected), StatusOutcome::NotFound);
}
