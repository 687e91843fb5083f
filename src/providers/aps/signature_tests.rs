//! Every APS vector of `../shared/spec/providers.md` §2.4, with its full input and output.

use super::*;
use serde_json::json;

fn phrase(text: &str) -> SecretString {
    SecretString::from(text.to_owned())
}

fn params(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => panic!("vector parameters must be an object"),
    }
}

#[test]
fn official_customer_verify() {
    let p = params(json!({
        "access_code": "zx0IPmPy5jp1vAz8Kpg7", "language": "en", "merchant_identifier": "CycHZxVj",
        "merchant_reference": "XYZ9239-yu898", "payment_option": "VALU",
        "phone_number": "00008557694", "service_command": "CUSTOMER_VERIFY"
    }));
    assert_eq!(
        sign_request(&p, &phrase("PASS"), ShaType::Sha256),
        "f0c49b9dae92b3da04d82689f698189ac65f62596280cd253cb24130ce5a1ed6"
    );
}

#[test]
fn official_otp_generate_with_products() {
    let p = params(json!({
        "service_command": "OTP_GENERATE", "access_code": "zx0IPmPy5jp1vAz8Kpg7",
        "merchant_identifier": "CycHZxVj", "merchant_reference": "XYZ9239-yu898",
        "payment_option": "VALU", "phone_number": "00008557694", "language": "en",
        "amount": "10000", "currency": "EGP", "merchant_order_id": "Valu123",
        "products": [{"product_name": "iphone", "product_price": "10000", "product_category": "phone"}]
    }));
    assert_eq!(
        sign_request(&p, &phrase("PASS"), ShaType::Sha256),
        "c9a58adbe7fa5311b79a6362f28aa3e02c10cde5a37f10456e1caa6bd06a6951"
    );
}

#[test]
fn official_purchase_is_compared_case_insensitively() {
    let mut p = params(json!({
        "command": "PURCHASE", "merchant_reference": "Test010", "amount": "1000",
        "access_code": "SILgpo7pWbmzuURp2qri", "merchant_identifier": "MxvOupuG",
        "currency": "USD", "language": "en", "customer_email": "test@gmail.com"
    }));
    let expected = "94C38AFC7BDAE0114FC8C740EDF12416F22998241CE4B4EA70D5521233A2C882";
    assert_eq!(
        sign_request(&p, &phrase("PASS"), ShaType::Sha256),
        expected.to_ascii_lowercase()
    );
    p.insert("signature".into(), json!(expected));
    assert!(verify_request(&p, &phrase("PASS"), ShaType::Sha256));
}

fn common() -> Map<String, Value> {
    params(json!({
        "access_code": "TESTACCESSCODE000001", "merchant_identifier": "TESTMID1",
        "language": "en", "merchant_reference": "valu-ord-1001"
    }))
}

fn with(mut base: Map<String, Value>, extra: Value) -> Map<String, Value> {
    base.extend(params(extra));
    base
}

fn valu(extra: Value) -> Map<String, Value> {
    with(
        with(
            common(),
            json!({"payment_option": "VALU", "phone_number": "01012345678"}),
        ),
        extra,
    )
}

#[test]
fn project_customer_verify() {
    let p = valu(json!({"service_command": "CUSTOMER_VERIFY"}));
    assert_eq!(
        sign_request(&p, &phrase("reqPhrase#2025"), ShaType::Sha256),
        "4ad2b5ef6441ed437f5040fdc5a0c7f319f3f42dc6a972a5f93dfce9417646ce"
    );
}

#[test]
fn project_otp_generate() {
    let p = valu(json!({
        "service_command": "OTP_GENERATE", "merchant_order_id": "1001", "amount": "500000",
        "currency": "EGP", "include_installments": "YES", "total_downpayment": "0",
        "products": [{"product_name": "Laptop", "product_price": "500000", "product_category": "Electronics"}]
    }));
    let text = signing_string(&p, &phrase("reqPhrase#2025"), &["signature"]);
    assert!(text.contains("products=[{product_name=Laptop, product_price=500000, product_category=Electronics}]"));
    assert_eq!(
        sign_request(&p, &phrase("reqPhrase#2025"), ShaType::Sha256),
        "55f26db717941d5e8b09cff939d7cc1d795db93e27633e2b8825d96741711b77"
    );
}

#[test]
fn project_purchase_sha256_and_hmac256() {
    let p = valu(json!({
        "command": "PURCHASE", "amount": "500000", "currency": "EGP", "customer_code": "01012345678",
        "customer_email": "buyer@example.com", "merchant_order_id": "1001", "otp": "123456",
        "purchase_description": "Order1001", "tenure": "6", "total_down_payment": "0",
        "transaction_id": "240719641384"
    }));
    let request_phrase = phrase("reqPhrase#2025");
    assert_eq!(
        signing_string(&p, &request_phrase, &["signature"]),
        "reqPhrase#2025access_code=TESTACCESSCODE000001amount=500000command=PURCHASEcurrency=EGPcustomer_code=01012345678customer_email=buyer@example.comlanguage=enmerchant_identifier=TESTMID1merchant_order_id=1001merchant_reference=valu-ord-1001otp=123456payment_option=VALUphone_number=01012345678purchase_description=Order1001tenure=6total_down_payment=0transaction_id=240719641384reqPhrase#2025"
    );
    assert_eq!(
        sign_request(&p, &request_phrase, ShaType::Sha256),
        "82c02d2390e4a7b6f72f28a981205667b9d675734f2189536310d5ef61aeae04"
    );
    assert_eq!(
        sign_request(&p, &request_phrase, ShaType::Hmac256),
        "a5308d7d9d24fc2cddee08b38843a6eb941c3cff0f84b58167ecc388848a900f"
    );
}

#[test]
fn project_refund() {
    let p = with(
        common(),
        json!({"command": "REFUND", "amount": "100000", "currency": "EGP",
               "fort_id": "169999999999999999", "maintenance_reference": "valu-ord-1001-rf1"}),
    );
    assert_eq!(
        sign_request(&p, &phrase("reqPhrase#2025"), ShaType::Sha256),
        "deca3533573618f8dc9af8734bf25cc264c4c30ba3110dc98a58833a0ee774bf"
    );
}

#[test]
fn project_check_status() {
    let p = with(common(), json!({"query_command": "CHECK_STATUS"}));
    assert_eq!(
        sign_request(&p, &phrase("reqPhrase#2025"), ShaType::Sha256),
        "63281e430ea5e09b2f1e7b4da25048f136a071ebb3a5ea6ad79b10ab9fc222f4"
    );
}

#[test]
fn project_response_check_with_response_phrase() {
    let mut p = with(
        common(),
        json!({"command": "PURCHASE", "amount": "500000", "currency": "EGP", "payment_option": "VALU",
               "fort_id": "169999999999999999", "response_code": "14000", "response_message": "Success",
               "status": "14", "customer_email": "buyer@example.com", "phone_number": "01012345678",
               "eci": "ECOMMERCE"}),
    );
    let response_phrase = phrase("resPhrase#2025");
    let expected = "2bb740c0363449c3c76c91066c9c36d393cd7295c3e72e6a55c26dc0fad76d83";
    assert_eq!(sign_response(&p, &response_phrase, ShaType::Sha256), expected);
    p.insert("signature".into(), json!(expected));
    assert!(verify_response(&p, &response_phrase, ShaType::Sha256));
    assert!(!verify_response(&p, &phrase("reqPhrase#2025"), ShaType::Sha256));
    p.insert("amount".into(), json!("500001"));
    assert!(!verify_response(&p, &response_phrase, ShaType::Sha256));
}

#[test]
fn sha512_and_hmac512_round_trip_and_differ() {
    let mut p = with(common(), json!({"query_command": "CHECK_STATUS"}));
    let key = phrase("resPhrase#2025");
    let plain = sign_response(&p, &key, ShaType::Sha512);
    let keyed = sign_response(&p, &key, ShaType::Hmac512);
    assert_eq!(plain.len(), 128);
    assert_ne!(plain, keyed);
    p.insert("signature".into(), json!(keyed));
    assert!(verify_response(&p, &key, ShaType::Hmac512));
    assert!(!verify_response(&p, &key, ShaType::Sha512));
}

#[test]
fn nested_object_and_scalar_array_forms() {
    let p = params(json!({"a": {"x": "1", "y": "2"}, "b": ["p", "q"]}));
    assert_eq!(signing_string(&p, &phrase("K"), &[]), "Ka={x=1, y=2}b=[p, q]K");
}
