//! The builders reproduce the project vectors 1–3 (§1.5) byte for byte.

use super::*;
use crate::providers::ecommpay::signature;
use secrecy::SecretString;

fn account() -> EcommpayAccount {
    let mut a = EcommpayAccount::new(12345, SecretString::from("test-secret-key".to_owned())).unwrap();
    a.gate_base_url = Url::parse("https://api.ecommpay.com").unwrap();
    a
}

fn sale_request() -> SaleRequest {
    SaleRequest {
        payment_id: "ord-1001-humm".into(),
        amount_minor: 15000,
        currency: "GBP".into(),
        customer: Customer {
            id: "cust-42".into(),
            ip_address: "203.0.113.7".into(),
            first_name: "Jane".into(),
            last_name: "Doe".into(),
        },
        description: None,
        return_url: None,
    }
}

#[test]
fn sale_matches_project_vector_1() {
    let req = sale(&account(), &sale_request()).unwrap();
    assert_eq!(req.url.as_str(), "https://api.ecommpay.com/v2/payment/bnpl/humm/sale");
    assert_eq!(
        req.body.to_string(),
        r#"{"general":{"project_id":12345,"payment_id":"ord-1001-humm","signature":"SS/dhjGmSIawUA0KMllSNlRm51/ctujLxeQs9eEgLL8TsnOCE2ULZn08fiDm8lQYWg042YD0iVavith/4PihqA=="},"payment":{"amount":15000,"currency":"GBP"},"customer":{"id":"cust-42","ip_address":"203.0.113.7","first_name":"Jane","last_name":"Doe"}}"#
    );
}

#[test]
fn sale_with_callback_and_return_url_is_signed_over_everything() {
    let mut a = account();
    a.merchant_callback_url = Some(Url::parse("https://bnpl.example/callbacks/ecommpay").unwrap());
    let mut s = sale_request();
    s.return_url = Some(Url::parse("https://shop.example/checkout/return").unwrap());
    s.description = Some("Order 1001".into());
    let req = sale(&a, &s).unwrap();
    assert_eq!(
        req.body["general"]["merchant_callback_url"],
        "https://bnpl.example/callbacks/ecommpay"
    );
    assert_eq!(
        req.body["return_url"]["success"],
        "https://shop.example/checkout/return"
    );
    assert_eq!(
        req.body["return_url"]["decline"],
        "https://shop.example/checkout/return"
    );
    assert_eq!(req.body["payment"]["description"], "Order 1001");
    assert!(signature::verify(&req.body, &a.secret_key.current()));
}

#[test]
fn refund_matches_project_vector_2_and_uses_the_configured_path() {
    let refund_request = RefundRequest {
        payment_id: "ord-1001-humm".into(),
        refund_id: "rf-1001-1".into(),
        amount_minor: 5000,
        currency: "GBP".into(),
        description: Some("Partial refund 1".into()),
        provider_reference: None,
    };
    let req = refund(&account(), &refund_request).unwrap();
    assert_eq!(req.url.as_str(), "https://api.ecommpay.com/v2/payment/bnpl/humm/refund");
    assert_eq!(req.body["payment"]["merchant_refund_id"], "rf-1001-1");
    assert_eq!(
        req.body["general"]["signature"],
        "55fBKH5SnGRKXGdE/KOBlbpRaJWQANxolWD4h+2q0yim3n9p1EUl5UKuoMgup7hs7qoWYhEMCZ5Xeik6IqT82Q=="
    );

    let mut generic = account();
    generic.refund_path = "/v2/payment/refund".into();
    generic.gate_base_url = Url::parse("http://127.0.0.1:9000/ecommpay/").unwrap();
    let req = refund(
        &generic,
        &RefundRequest {
            description: None,
            ..refund_request
        },
    )
    .unwrap();
    assert_eq!(req.url.as_str(), "http://127.0.0.1:9000/ecommpay/v2/payment/refund");
    assert_eq!(req.body["payment"]["description"], "Refund rf-1001-1");
}

#[test]
fn status_matches_project_vector_3() {
    let req = status(&account(), "ord-1001-humm").unwrap();
    assert_eq!(req.url.as_str(), "https://api.ecommpay.com/v2/payment/status");
    assert_eq!(
        req.body.to_string(),
        r#"{"general":{"project_id":12345,"payment_id":"ord-1001-humm","signature":"S+MlLBFwGkohFE1jVOxBg/9gSRsod4Lgf9977dQbU4c2pmbk+0xP81nEQ+aWmp/lnFL1w8qoIyTSl1Np5+4+qw=="}}"#
    );
}

#[test]
fn debug_never_prints_the_secret() {
    let text = format!("{:?}", account());
    assert!(!text.contains("test-secret-key"), "{text}");
}
