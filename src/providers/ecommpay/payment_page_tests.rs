//! The docs' Payment Page example (§1.5) as a URL, and the humm page's parameters.

use super::*;
use crate::providers::ecommpay::signature;

fn account() -> EcommpayAccount {
    let mut a = EcommpayAccount::new(120, SecretString::from("secret".to_owned())).unwrap();
    a.merchant_callback_url = Some(Url::parse("https://bnpl.example/callbacks/ecommpay").unwrap());
    a
}

fn query(url: &Url) -> Map<String, Value> {
    url.query_pairs()
        .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
        .collect()
}

#[test]
fn docs_example_signature_is_appended_url_encoded() {
    let params = json!({
        "project_id": 12345, "payment_id": "X03936", "payment_amount": 2035,
        "payment_currency": "USD", "payment_description": "Guyliner purchase",
        "customer_first_name": "Jack", "customer_id": "user007", "customer_last_name": "Sparrow",
        "customer_phone": "02081234567", "close_on_missclick": true
    });
    let Value::Object(params) = params else { unreachable!() };
    let base = Url::parse(PAYMENT_PAGE_URL_FOR_TEST).unwrap();
    let url = signed_url(&base, &params, &SecretString::from("secret".to_owned()));
    let text = url.as_str();
    assert!(text.ends_with(
        "&signature=SyA3cx%2FdmFrwjRcpbnwEK9zaklWKR9buIfTctQob%2FEHUTutFLpI0zWpSDFEWEwbZt%2F04i83395RCdEhtUMw83A%3D%3D"
    ), "{text}");
    assert!(text.contains("close_on_missclick=1"));
    assert!(text.contains("payment_description=Guyliner+purchase"));
}

const PAYMENT_PAGE_URL_FOR_TEST: &str = "https://paymentpage.ecommpay.com/payment";

#[test]
fn humm_page_forces_the_method_and_verifies_as_signed() {
    let request = PaymentPageRequest {
        payment_id: "580".into(),
        amount_minor: 3000,
        currency: "GBP".into(),
        customer_id: "customer1".into(),
        first_name: "John".into(),
        last_name: "Doe".into(),
        description: None,
        return_url: Some(Url::parse("https://shop.example/checkout/return?o=1").unwrap()),
    };
    let url = payment_page_url(&account(), &request);
    assert!(url
        .as_str()
        .starts_with("https://paymentpage.ecommpay.com/payment?project_id=120&"));
    let params = query(&url);
    assert_eq!(params["force_payment_method"], "bnpl-humm");
    assert_eq!(params["payment_amount"], "3000");
    assert_eq!(
        params["merchant_callback_url"],
        "https://bnpl.example/callbacks/ecommpay"
    );
    assert_eq!(
        params["redirect_success_url"],
        "https://shop.example/checkout/return?o=1"
    );
    // What the page receives (all strings) verifies under the key: strings and numbers sign alike.
    assert!(signature::verify(
        &Value::Object(params),
        &account().secret_key.current()
    ));
}

#[test]
fn nested_values_travel_and_sign_as_json_text() {
    let Value::Object(params) = json!({"payment_id": "p", "interface_type": {"id": 18}}) else {
        unreachable!()
    };
    let secret = SecretString::from("k".to_owned());
    let url = signed_url(&Url::parse("https://pp.example/payment").unwrap(), &params, &secret);
    let received = query(&url);
    assert_eq!(received["interface_type"], r#"{"id":18}"#);
    assert!(signature::verify(&Value::Object(received), &secret));
}
