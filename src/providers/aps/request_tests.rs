//! The builders reproduce the project vectors 1–5 (§2.4) exactly.

use super::*;
use crate::providers::aps::signature::{verify_request, ShaType};
use secrecy::SecretString;
use url::Url;

fn account(sha_type: ShaType) -> ApsAccount {
    ApsAccount {
        base_url: Url::parse("https://sbpaymentservices.payfort.com/FortAPI/paymentApi").unwrap(),
        access_code: "TESTACCESSCODE000001".into(),
        merchant_identifier: "TESTMID1".into(),
        request_phrase: SecretString::from("reqPhrase#2025".to_owned()).into(),
        response_phrase: SecretString::from("resPhrase#2025".to_owned()).into(),
        sha_type,
        language: "en".into(),
        request_timeout: std::time::Duration::from_secs(30),
    }
}

fn signature_of(request: &ProviderRequest) -> &str {
    request.body["signature"].as_str().unwrap()
}

#[test]
fn customer_verify_matches_project_vector_1() {
    let a = account(ShaType::Sha256);
    let req = customer_verify(&a, "valu-ord-1001", "01012345678");
    assert_eq!(req.url, a.base_url);
    assert_eq!(req.body["service_command"], "CUSTOMER_VERIFY");
    assert_eq!(
        signature_of(&req),
        "4ad2b5ef6441ed437f5040fdc5a0c7f319f3f42dc6a972a5f93dfce9417646ce"
    );
}

#[test]
fn otp_generate_matches_project_vector_2() {
    let step = OtpGenerate {
        merchant_reference: "valu-ord-1001".into(),
        phone_number: "01012345678".into(),
        merchant_order_id: "1001".into(),
        amount_minor: 500000,
        currency: "EGP".into(),
        down_payment_minor: 0,
        products: vec![Product {
            name: "Laptop".into(),
            price_minor: 500000,
            category: "Electronics".into(),
        }],
    };
    let req = otp_generate(&account(ShaType::Sha256), &step);
    assert_eq!(req.body["include_installments"], "YES");
    assert_eq!(req.body["total_downpayment"], "0");
    assert_eq!(
        signature_of(&req),
        "55f26db717941d5e8b09cff939d7cc1d795db93e27633e2b8825d96741711b77"
    );
}

fn purchase_step() -> Purchase {
    Purchase {
        merchant_reference: "valu-ord-1001".into(),
        phone_number: "01012345678".into(),
        merchant_order_id: "1001".into(),
        amount_minor: 500000,
        currency: "EGP".into(),
        down_payment_minor: 0,
        otp: "123456".into(),
        tenure_months: 6,
        customer_email: "buyer@example.com".into(),
        purchase_description: "Order1001".into(),
        transaction_id: "240719641384".into(),
    }
}

#[test]
fn purchase_matches_project_vector_3_in_sha256_and_hmac256() {
    let req = purchase(&account(ShaType::Sha256), &purchase_step());
    assert_eq!(req.body["total_down_payment"], "0");
    assert!(req.body.get("total_downpayment").is_none());
    assert_eq!(
        signature_of(&req),
        "82c02d2390e4a7b6f72f28a981205667b9d675734f2189536310d5ef61aeae04"
    );
    let req = purchase(&account(ShaType::Hmac256), &purchase_step());
    assert_eq!(
        signature_of(&req),
        "a5308d7d9d24fc2cddee08b38843a6eb941c3cff0f84b58167ecc388848a900f"
    );
}

#[test]
fn refund_matches_project_vector_4() {
    let refund_request = RefundRequest {
        payment_id: "valu-ord-1001".into(),
        refund_id: "valu-ord-1001-rf1".into(),
        amount_minor: 100000,
        currency: "EGP".into(),
        description: None,
        provider_reference: Some("169999999999999999".into()),
    };
    let req = refund(&account(ShaType::Sha256), &refund_request);
    assert_eq!(req.body["maintenance_reference"], "valu-ord-1001-rf1");
    assert_eq!(
        signature_of(&req),
        "deca3533573618f8dc9af8734bf25cc264c4c30ba3110dc98a58833a0ee774bf"
    );
}

#[test]
fn check_status_matches_project_vector_5() {
    let req = check_status(&account(ShaType::Sha256), "valu-ord-1001");
    assert_eq!(
        signature_of(&req),
        "63281e430ea5e09b2f1e7b4da25048f136a071ebb3a5ea6ad79b10ab9fc222f4"
    );
}

#[test]
fn otp_verify_is_signed_and_verifiable_with_every_sha_type() {
    for sha in [ShaType::Sha256, ShaType::Sha512, ShaType::Hmac256, ShaType::Hmac512] {
        let a = account(sha);
        let step = OtpVerify {
            merchant_reference: "valu-ord-1001".into(),
            phone_number: "01012345678".into(),
            merchant_order_id: "1001".into(),
            amount_minor: 500000,
            currency: "EGP".into(),
            down_payment_minor: 0,
            otp: "123456".into(),
        };
        let req = otp_verify(&a, &step);
        assert_eq!(req.body["service_command"], "OTP_VERIFY");
        assert_eq!(req.body["otp"], "123456");
        assert!(verify_request(
            req.body.as_object().unwrap(),
            &a.request_phrase.current(),
            sha
        ));
    }
}

#[test]
fn debug_never_prints_the_phrases() {
    let text = format!("{:?}", account(ShaType::Sha256));
    assert!(
        !text.contains("reqPhrase#2025") && !text.contains("resPhrase#2025"),
        "{text}"
    );
}

/// An optional value the purchase lacks (no email on the command, no transaction id in the
/// OTP_GENERATE answer) is left out, not sent empty (§2.4.7).
#[test]
fn a_purchase_sends_no_empty_optional_parameter() {
    let step = Purchase {
        customer_email: String::new(),
        transaction_id: String::new(),
        ..purchase_step()
    };
    let req = purchase(&account(ShaType::Sha256), &step);
    assert!(req.body.get("customer_email").is_none(), "{}", req.body);
    assert!(req.body.get("transaction_id").is_none(), "{}", req.body);
    assert_eq!(req.body["purchase_description"], "Order1001");
}
