//! Both providers behind the one [`Connector`] trait, as the job runner uses it.

use super::*;
use crate::providers::aps::{signature::ShaType, ApsAccount};
use crate::providers::ecommpay::EcommpayAccount;
use outcome::{PaymentState, ProviderStatus};
use secrecy::SecretString;
use serde_json::json;

fn ecommpay() -> EcommpayAccount {
    EcommpayAccount::new(12345, SecretString::from("test-secret-key".to_owned())).unwrap()
}

fn aps() -> ApsAccount {
    ApsAccount {
        base_url: Url::parse("https://sbpaymentservices.payfort.com/FortAPI/paymentApi").unwrap(),
        access_code: "TESTACCESSCODE000001".into(),
        merchant_identifier: "TESTMID1".into(),
        request_phrase: SecretString::from("reqPhrase#2025".to_owned()).into(),
        response_phrase: SecretString::from("resPhrase#2025".to_owned()).into(),
        sha_type: ShaType::Sha256,
        language: "en".into(),
        request_timeout: std::time::Duration::from_secs(30),
    }
}

/// What a status check job does, for any provider.
fn check<C: Connector>(connector: &C, answer: &RawResponse, expected: &Expected) -> StatusOutcome {
    connector.parse_status(answer, expected)
}

fn refund(payment_id: &str) -> RefundRequest {
    RefundRequest {
        payment_id: payment_id.into(),
        refund_id: "rf-1".into(),
        amount_minor: 5000,
        currency: "GBP".into(),
        description: None,
        provider_reference: None,
    }
}

#[test]
fn ecommpay_through_the_trait() {
    let account = ecommpay();
    let request = account.status_request("ord-1001-humm").unwrap();
    assert_eq!(request.url.path(), "/v2/payment/status");
    let request = account.refund_request(&refund("ord-1")).unwrap();
    assert_eq!(request.body["payment"]["merchant_refund_id"], "rf-1");
    let answer = RawResponse {
        status: 200,
        body: br#"{"status":"success","request_id":"rq","payment_id":"ord-1"}"#.to_vec(),
    };
    assert_eq!(
        account.parse_refund(&answer, &Expected::money("ord-1", 5000, "GBP")),
        CreateOutcome::Accepted(RefundAck::Registered {
            request_id: Some("rq".into())
        })
    );
    let status = json!({"payment": {"id": "ord-1", "status": "success", "sum": {"amount": 5000, "currency": "GBP"}}});
    let answer = RawResponse {
        status: 200,
        body: status.to_string().into_bytes(),
    };
    assert_eq!(
        check(&account, &answer, &Expected::money("ord-1", 5000, "GBP")),
        StatusOutcome::Known(ProviderStatus {
            state: PaymentState::Succeeded,
            refunded_minor: Some(0),
            provider_reference: None,
            declined_refunds: Vec::new(),
            refunds_in_progress: Vec::new(),
        })
    );
    assert_eq!(account.verify_callback(b"{}").unwrap_err(), CallbackError::BadSignature);
}

#[test]
fn aps_through_the_trait() {
    let account = aps();
    let request = account.status_request("valu-ord-1001").unwrap();
    assert_eq!(request.body["query_command"], "CHECK_STATUS");
    let request = account.refund_request(&refund("valu-ord-1001")).unwrap();
    assert_eq!(request.body["maintenance_reference"], "rf-1");
    let answer = RawResponse {
        status: 200,
        body: br#"{"response_code":"12036"}"#.to_vec(),
    };
    assert_eq!(
        check(&account, &answer, &Expected::reference("valu-ord-1001")),
        StatusOutcome::NotFound
    );
    assert_eq!(
        account.verify_callback(b"merchant_reference=x").unwrap_err(),
        CallbackError::BadSignature
    );
}

#[test]
fn answers_about_another_account_never_settle_ours() {
    let account = ecommpay();
    let status = json!({"project_id": 99999, "payment": {"id": "ord-1", "status": "success", "sum": {"amount": 5000, "currency": "GBP"}}});
    let answer = RawResponse {
        status: 200,
        body: status.to_string().into_bytes(),
    };
    let expected = Expected::money("ord-1", 5000, "GBP");
    assert!(matches!(
        check(&account, &answer, &expected),
        StatusOutcome::Mismatch { .. }
    ));
    let refund = br#"{"project_id":99999,"status":"success","request_id":"rq","payment_id":"ord-1"}"#.to_vec();
    let answer = RawResponse {
        status: 200,
        body: refund,
    };
    assert!(matches!(
        account.parse_refund(&answer, &expected),
        CreateOutcome::Mismatch { .. }
    ));

    let account = aps();
    let answer = RawResponse {
        status: 200,
        body: br#"{"response_code":"12036","merchant_identifier":"OTHERMID"}"#.to_vec(),
    };
    assert!(matches!(
        check(&account, &answer, &Expected::reference("valu-ord-1001")),
        StatusOutcome::Mismatch { .. }
    ));
    let answer = RawResponse {
        status: 200,
        body: br#"{"response_code":"12036","merchant_identifier":"TESTMID1","access_code":"OTHERCODE"}"#.to_vec(),
    };
    assert!(matches!(
        check(&account, &answer, &Expected::reference("valu-ord-1001")),
        StatusOutcome::Mismatch { .. }
    ));
}
