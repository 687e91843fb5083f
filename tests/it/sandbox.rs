//! The provider sandbox over HTTP: a real server on port 0, requests signed with the
//! vector-tested signature modules, callbacks caught by a tiny axum receiver.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] fns panic on setup failure by design"
)]

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use bnpl::providers::aps::signature::{sign_request, verify_response, ShaType};
use bnpl::providers::ecommpay::signature::{sign_in_place, verify};
use bnpl::sandbox::{spawn, ApsMerchant, EcommpayProject, SandboxConfig, SandboxHandle};
use secrecy::SecretString;
use serde_json::{json, Map, Value};

const SECRET: &str = "it-ecommpay-secret";
const REQ_PHRASE: &str = "it-req-phrase";
const RES_PHRASE: &str = "it-res-phrase";
const PROJECT: u64 = 4242;
const MID: &str = "ITMID";
const ACCESS: &str = "ITACCESS";

fn secret(s: &str) -> SecretString {
    SecretString::from(s.to_owned())
}

/// One callback the receiver got.
#[derive(Clone, Debug)]
struct Received {
    body: Value,
    valid: bool,
}

/// A merchant endpoint: verifies signatures (400 when wrong, as the orchestrator does), fails
/// the first `fail_first` genuine deliveries with 500, records everything.
#[derive(Clone)]
struct Receiver {
    url: String,
    got: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    async fn start(fail_first: u32) -> Self {
        let got = Arc::new(Mutex::new(Vec::new()));
        let fail = Arc::new(AtomicU32::new(fail_first));
        let (g, f) = (got.clone(), fail.clone());
        let app = axum::Router::new().route(
            "/cb",
            axum::routing::post(move |headers: HeaderMap, body: Bytes| {
                let (g, f) = (g.clone(), f.clone());
                async move { receive(&g, &f, &headers, &body) }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/cb", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { url, got }
    }

    fn all(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    /// Waits for a valid callback matching `pred`.
    async fn wait_for(&self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        poll(what, || {
            self.all()
                .into_iter()
                .find(|r| r.valid && pred(&r.body))
                .map(|r| r.body)
        })
        .await
    }
}

fn receive(
    got: &Mutex<Vec<Received>>,
    fail: &AtomicU32,
    headers: &HeaderMap,
    body: &[u8],
) -> StatusCode {
    let is_json = headers
        .get("content-type")
        .is_some_and(|v| v.to_str().unwrap_or("").contains("json"));
    let (value, valid) = if is_json {
        let v: Value = serde_json::from_slice(body).unwrap();
        let ok = verify(&v, &secret(SECRET));
        (v, ok)
    } else {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).unwrap();
        let map: Map<String, Value> = pairs
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect();
        let ok = verify_response(&map, &secret(RES_PHRASE), ShaType::Sha256);
        (Value::Object(map), ok)
    };
    got.lock().unwrap().push(Received { body: value, valid });
    if !valid {
        return StatusCode::BAD_REQUEST;
    }
    if fail.load(Ordering::SeqCst) > 0 {
        fail.fetch_sub(1, Ordering::SeqCst);
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    StatusCode::OK
}

/// Polls `f` every 20 ms for at most 10 s.
async fn poll<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn config(receiver: &Receiver) -> SandboxConfig {
    SandboxConfig {
        time_scale: 0.001,
        ecommpay_projects: vec![EcommpayProject {
            project_id: PROJECT,
            secret_key: secret(SECRET),
            callback_url: Some(receiver.url.clone()),
        }],
        aps_merchants: vec![ApsMerchant {
            access_code: ACCESS.into(),
            merchant_identifier: MID.into(),
            request_phrase: secret(REQ_PHRASE),
            response_phrase: secret(RES_PHRASE),
            sha_type: ShaType::Sha256,
            notification_url: Some(receiver.url.clone()),
        }],
        ..SandboxConfig::default()
    }
}

struct Env {
    sandbox: SandboxHandle,
    receiver: Receiver,
    http: reqwest::Client,
}

async fn env_with(fail_first: u32, tweak: impl FnOnce(&mut SandboxConfig)) -> Env {
    let receiver = Receiver::start(fail_first).await;
    let mut c = config(&receiver);
    tweak(&mut c);
    Env {
        sandbox: spawn(c).await.unwrap(),
        receiver,
        http: reqwest::Client::new(),
    }
}

async fn env() -> Env {
    env_with(0, |_| {}).await
}

impl Env {
    /// Signs `body` with `key` and POSTs it to the Gate path; returns (HTTP status, body).
    async fn gate(&self, path: &str, mut body: Value, key: &str) -> (u16, Value) {
        sign_in_place(&mut body, &secret(key));
        let r = self
            .http
            .post(self.sandbox.url(path))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn sale(&self, payment_id: &str, amount: i64) -> (u16, Value) {
        self.gate(
            "/v2/payment/bnpl/humm/sale",
            sale_body(payment_id, amount),
            SECRET,
        )
        .await
    }

    async fn finish(&self, payment_id: &str, outcome: &str) -> Value {
        let url = self
            .sandbox
            .url(&format!("/sandbox/humm/{payment_id}/finish"));
        let r = self
            .http
            .post(url)
            .json(&json!({"outcome": outcome}))
            .send()
            .await
            .unwrap();
        r.json().await.unwrap()
    }

    async fn refund(&self, payment_id: &str, amount: i64, refund_id: &str) -> (u16, Value) {
        let body = json!({"general": {"project_id": PROJECT, "payment_id": payment_id},
            "payment": {"amount": amount, "currency": "GBP", "description": "r",
                        "merchant_refund_id": refund_id}});
        self.gate("/v2/payment/bnpl/humm/refund", body, SECRET)
            .await
    }

    async fn ledger(&self) -> Value {
        let r = self
            .http
            .get(self.sandbox.url("/sandbox/ledger"))
            .send()
            .await
            .unwrap();
        r.json().await.unwrap()
    }

    /// A succeeded humm payment.
    async fn paid(&self, payment_id: &str, amount: i64) {
        assert_eq!(self.sale(payment_id, amount).await.0, 200);
        self.receiver
            .wait_for("intermediate", |b| {
                is_op(b, payment_id, "sale", "awaiting redirect result")
            })
            .await;
        assert_eq!(
            self.finish(payment_id, "success").await["status"],
            "success"
        );
        self.receiver
            .wait_for("final", |b| is_op(b, payment_id, "sale", "success"))
            .await;
    }

    /// Signs APS `params` with `phrase` and POSTs them; returns the answer.
    async fn aps(&self, mut params: Value, phrase: &str) -> Map<String, Value> {
        let map = params.as_object_mut().unwrap();
        for (k, v) in [
            ("access_code", ACCESS),
            ("merchant_identifier", MID),
            ("language", "en"),
        ] {
            map.insert(k.into(), json!(v));
        }
        let sig = sign_request(map, &secret(phrase), ShaType::Sha256);
        map.insert("signature".into(), json!(sig));
        let r = self
            .http
            .post(self.sandbox.url("/FortAPI/paymentApi"))
            .json(&params)
            .send()
            .await
            .unwrap();
        r.json().await.unwrap()
    }
}

fn sale_body(payment_id: &str, amount: i64) -> Value {
    json!({"general": {"project_id": PROJECT, "payment_id": payment_id},
           "payment": {"amount": amount, "currency": "GBP"},
           "customer": {"id": "cust-42", "ip_address": "203.0.113.7", "first_name": "Jane", "last_name": "Doe"}})
}

fn is_op(body: &Value, payment_id: &str, op_type: &str, status: &str) -> bool {
    body["payment"]["id"] == payment_id
        && body["operation"]["type"] == op_type
        && body["operation"]["status"] == status
}

fn code(answer: &Map<String, Value>) -> &str {
    answer["response_code"].as_str().unwrap()
}

#[tokio::test]
async fn humm_sale_sends_signed_intermediate_then_final_callback() {
    let e = env().await;
    let (status, body) = e.sale("ord-1", 15_000).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "success");
    assert_eq!(body["payment_id"], "ord-1");
    assert_eq!(body["project_id"], PROJECT);
    assert!(body["request_id"].as_str().is_some_and(|r| !r.is_empty()));

    let inter = e
        .receiver
        .wait_for("intermediate", |b| {
            is_op(b, "ord-1", "sale", "awaiting redirect result")
        })
        .await;
    assert_eq!(inter["payment"]["status"], "awaiting redirect result");
    let redirect = inter["redirect_data"]["url"].as_str().unwrap();
    assert!(redirect.starts_with(e.sandbox.base_url()), "{redirect}");
    assert_eq!(inter["redirect_data"]["method"], "POST");
    // The customer's page answers, then the customer finishes.
    let page = e.http.post(redirect).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(e.finish("ord-1", "success").await["status"], "success");

    let fin = e
        .receiver
        .wait_for("final", |b| is_op(b, "ord-1", "sale", "success"))
        .await;
    assert_eq!(fin["payment"]["status"], "success");
    assert_eq!(fin["operation"]["code"], "0");
    assert_eq!(fin["operation"]["message"], "Success");
    assert_eq!(fin["operation"]["request_id"], body["request_id"]);
    assert_eq!(fin["operation"]["sum_initial"]["amount"], 15_000);
    assert!(
        e.receiver.all().iter().all(|r| r.valid),
        "every callback verifies"
    );

    // Finishing twice is refused; the status query reports success and is signed.
    assert_eq!(e.finish("ord-1", "decline").await["status"], "success");
    let (s, st) = e
        .gate(
            "/v2/payment/status",
            json!({"general": {"project_id": PROJECT, "payment_id": "ord-1"}}),
            SECRET,
        )
        .await;
    assert_eq!(s, 200);
    assert!(verify(&st, &secret(SECRET)));
    assert_eq!(st["payment"]["status"], "success");
    assert_eq!(st["operations"][0]["type"], "sale");
}

#[tokio::test]
async fn humm_decline_by_customer_sends_general_decline() {
    let e = env().await;
    assert_eq!(e.sale("ord-dec", 500).await.0, 200);
    e.finish("ord-dec", "decline").await;
    let fin = e
        .receiver
        .wait_for("decline", |b| is_op(b, "ord-dec", "sale", "decline"))
        .await;
    assert_eq!(fin["operation"]["code"], "20000");
    assert_eq!(fin["payment"]["status"], "decline");
}

#[tokio::test]
async fn ecommpay_rejects_wrong_key_and_missing_signature() {
    let e = env().await;
    let (status, body) = e
        .gate(
            "/v2/payment/bnpl/humm/sale",
            sale_body("ord-bad", 1000),
            "not-the-secret",
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["code"], "3261");
    let r = e
        .http
        .post(e.sandbox.url("/v2/payment/bnpl/humm/sale"))
        .json(&sale_body("ord-bad", 1000))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "3262");
    let ledger = e.ledger().await;
    assert!(ledger["sales"]["entries"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn duplicate_payment_id_is_3041_and_counted() {
    let e = env().await;
    assert_eq!(e.sale("ord-dup", 1000).await.0, 200);
    let (status, body) = e.sale("ord-dup", 1000).await;
    assert_eq!((status, body["code"].as_str()), (400, Some("3041")));
    let ledger = e.ledger().await;
    assert_eq!(ledger["sales_per_payment_id"]["ord-dup"], 2);
    assert_eq!(ledger["duplicate_sales"], 1);
    assert_eq!(ledger["sales"]["entries"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn humm_limits_are_enforced() {
    let e = env().await;
    for (id, amount) in [("ord-low", 99), ("ord-high", 3_000_001)] {
        let (status, body) = e.sale(id, amount).await;
        assert_eq!(status, 400, "{id}");
        assert_eq!(body["errors"][0]["field"], "payment.amount");
    }
    let mut eur = sale_body("ord-eur", 1000);
    eur["payment"]["currency"] = json!("EUR");
    let (status, body) = e.gate("/v2/payment/bnpl/humm/sale", eur, SECRET).await;
    assert_eq!(
        (status, body["errors"][0]["field"].as_str()),
        (400, Some("payment.currency"))
    );
    assert_eq!(e.sale("ord-max", 3_000_000).await.0, 200);
    assert_eq!(e.sale("ord-min", 100).await.0, 200);
}

#[tokio::test]
async fn refund_over_captured_is_3283_and_refund_callback_reports_partial() {
    let e = env().await;
    e.paid("ord-rf", 10_000).await;
    let (status, body) = e.refund("ord-rf", 10_001, "rf-over").await;
    assert_eq!((status, body["code"].as_str()), (400, Some("3283")));
    let (status, body) = e.refund("ord-rf", 4_000, "rf-1").await;
    assert_eq!(status, 200, "{body}");
    let cb = e
        .receiver
        .wait_for("refund callback", |b| {
            is_op(b, "ord-rf", "refund", "success")
        })
        .await;
    assert_eq!(cb["payment"]["status"], "partially refunded");
    assert_eq!(cb["operation"]["sum_initial"]["amount"], 4_000);
    assert_eq!(cb["operation"]["request_id"], body["request_id"]);
    let (_, st) = e
        .gate(
            "/v2/payment/status",
            json!({"general": {"project_id": PROJECT, "payment_id": "ord-rf"}}),
            SECRET,
        )
        .await;
    assert_eq!(st["payment"]["status"], "partially refunded");
    assert_eq!(st["operations"][1]["type"], "refund");
    assert_eq!(st["operations"][1]["status"], "success");
    // What is left is 6,000: 6,001 is over, the same refund id is 3230.
    assert_eq!(e.refund("ord-rf", 6_001, "rf-2").await.1["code"], "3283");
    assert_eq!(e.refund("ord-rf", 1, "rf-1").await.1["code"], "3230");
}

#[tokio::test]
async fn second_refund_while_one_is_processing_is_3285_and_a_violation() {
    let e = env_with(0, |c| c.humm.refund_processing_secs = 2_000.0).await; // 2 s scaled
    e.paid("ord-a", 10_000).await;
    e.paid("ord-b", 10_000).await;
    assert_eq!(e.refund("ord-a", 1_000, "rf-a").await.0, 200);
    let (status, body) = e.refund("ord-b", 1_000, "rf-b").await;
    assert_eq!((status, body["code"].as_str()), (400, Some("3285")));
    let ledger = e.ledger().await;
    let account = &ledger["accounts"][format!("ecommpay:{PROJECT}")];
    assert_eq!(account["violations"], 1);
    assert_eq!(account["in_flight"], json!(["rf-a"]));
    assert_eq!(account["arrival_order"], json!(["rf-a", "rf-b"]));
    assert_eq!(
        ledger["sequential_violations"]["entries"][0]["rejected"],
        true
    );
    // Once the first is processed, the next is accepted.
    e.receiver
        .wait_for("refund a", |b| is_op(b, "ord-a", "refund", "success"))
        .await;
    assert_eq!(e.refund("ord-b", 1_000, "rf-b2").await.0, 200);
    assert_eq!(
        e.ledger().await["accounts"][format!("ecommpay:{PROJECT}")]["max_in_flight"],
        1
    );
}

#[tokio::test]
async fn callbacks_are_retried_until_answered_200() {
    let e = env_with(2, |_| {}).await;
    assert_eq!(e.sale("ord-retry", 1000).await.0, 200);
    let ledger = poll_ledger(&e, |l| {
        l["callback_counters"]["ecommpay"]["acknowledged"] == 1
    })
    .await;
    let copies = e
        .receiver
        .all()
        .iter()
        .filter(|r| r.body["payment"]["id"] == "ord-retry")
        .count();
    assert_eq!(copies, 3, "two failures, then the acknowledged one");
    let cb = &ledger["callbacks"]["entries"][0];
    assert_eq!(cb["attempts"], 3);
    assert_eq!(cb["acknowledged"], true);
    assert_eq!(ledger["callback_counters"]["ecommpay"]["attempts"], 3);
}

async fn poll_ledger(e: &Env, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let l = e.ledger().await;
        if pred(&l) {
            return l;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "ledger never matched: {l}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn unfinished_humm_payment_is_declined_at_the_threshold() {
    // 24 h at time_scale 0.00002 is 1.7 s.
    let e = env_with(0, |c| c.time_scale = 0.000_02).await;
    assert_eq!(e.sale("ord-late", 1000).await.0, 200);
    assert_eq!(
        e.finish("ord-late", "abandon").await["status"],
        "awaiting redirect result"
    );
    let fin = e
        .receiver
        .wait_for("threshold decline", |b| {
            is_op(b, "ord-late", "sale", "decline")
        })
        .await;
    assert_eq!(fin["payment"]["status"], "decline");
    assert_eq!(fin["operation"]["code"], "603");
}

#[tokio::test]
async fn payment_page_registers_on_open_and_starts_the_redirect() {
    let e = env().await;
    let mut params = json!({"project_id": PROJECT, "payment_id": "ord-pp", "payment_amount": 2500,
        "payment_currency": "GBP", "customer_id": "c1", "customer_first_name": "John",
        "customer_last_name": "Doe", "force_payment_method": "bnpl-humm"});
    sign_in_place(&mut params, &secret(SECRET));
    let pairs: Vec<(String, String)> = params
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                v.as_str().map_or_else(|| v.to_string(), str::to_owned),
            )
        })
        .collect();
    let query = serde_urlencoded::to_string(&pairs).unwrap();
    let no_redirect = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    assert_eq!(
        e.ledger().await["sales"]["entries"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    let r = no_redirect
        .get(e.sandbox.url(&format!("/payment?{query}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    e.receiver
        .wait_for("page intermediate", |b| {
            is_op(b, "ord-pp", "sale", "awaiting redirect result")
        })
        .await;
    // Reopening the same page is not a second sale; a tampered page is refused.
    assert_eq!(
        no_redirect
            .get(e.sandbox.url(&format!("/payment?{query}")))
            .send()
            .await
            .unwrap()
            .status(),
        302
    );
    let tampered = query.replace("2500", "2400");
    assert_eq!(
        no_redirect
            .get(e.sandbox.url(&format!("/payment?{tampered}")))
            .send()
            .await
            .unwrap()
            .status(),
        400
    );
    assert_eq!(e.ledger().await["sales_per_payment_id"]["ord-pp"], 1);
}

const PHONE: &str = "01012345678";

fn valu(reference: &str, command: (&str, &str), extra: Value) -> Value {
    let mut v = json!({"merchant_reference": reference, command.0: command.1});
    for (k, x) in extra.as_object().unwrap() {
        v[k] = x.clone();
    }
    v
}

async fn otp_generate(e: &Env, reference: &str) -> Map<String, Value> {
    e.aps(valu(reference, ("service_command", "OTP_GENERATE"), json!({
        "payment_option": "VALU", "phone_number": PHONE, "merchant_order_id": reference,
        "amount": "500000", "currency": "EGP", "include_installments": "YES", "total_downpayment": "0",
        "products": [{"product_name": "Laptop", "product_price": "500000", "product_category": "Electronics"}]})), REQ_PHRASE).await
}

async fn read_otp(e: &Env) -> String {
    let r = e
        .http
        .get(e.sandbox.url(&format!("/sandbox/valu/otp/{PHONE}")))
        .send()
        .await
        .unwrap();
    r.json::<Value>().await.unwrap()["otp"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn valu_purchase(
    e: &Env,
    reference: &str,
    otp: &str,
    transaction_id: &str,
) -> Map<String, Value> {
    e.aps(
        valu(
            reference,
            ("command", "PURCHASE"),
            json!({
        "payment_option": "VALU", "phone_number": PHONE, "amount": "500000", "currency": "EGP",
        "merchant_order_id": reference, "otp": otp, "tenure": "6", "total_down_payment": "0",
        "customer_code": PHONE, "customer_email": "buyer@example.com",
        "purchase_description": "Order", "transaction_id": transaction_id}),
        ),
        REQ_PHRASE,
    )
    .await
}

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
    assert_eq!(
        g["installment_detail"]["plan_details"]
            .as_array()
            .unwrap()
            .len(),
        4
    );
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
    assert_eq!(
        code(&valu_purchase(&e, "valu-1", &otp, &transaction_id).await),
        "00047"
    );
    let s = e
        .aps(
            valu("valu-1", ("query_command", "CHECK_STATUS"), json!({})),
            REQ_PHRASE,
        )
        .await;
    assert_eq!(code(&s), "12000");
    assert_eq!(s["transaction_code"], "14000");
    assert_eq!(s["fort_id"], fort_id.as_str());
    assert_eq!(s["refunded_amount"], "0");
    // Direct feedback arrives form-encoded and signed with the response phrase.
    let fb = e
        .receiver
        .wait_for("feedback", |b| b["command"] == "PURCHASE")
        .await;
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
    assert_eq!(
        code(&valu_purchase(&e, "valu-x", "000000x", &tid).await),
        "13666"
    );
    assert_eq!(
        code(&valu_purchase(&e, "valu-x", "000000y", &tid).await),
        "13666"
    );
    assert_eq!(
        code(&valu_purchase(&e, "valu-x", "000000z", &tid).await),
        "13123"
    );
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
        assert_eq!(
            code(&valu_purchase(&e, reference, &otp, &tid).await),
            "14000"
        );
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
    let (r1, r2) = tokio::join!(
        refund("valu-r1", "100000", "m1"),
        refund("valu-r2", "100000", "m2")
    );
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
async fn bad_signature_fault_sends_a_forged_copy_first() {
    let e = env().await;
    assert_eq!(
        e.sale("ord-fault-bad-signature-callback", 1000).await.0,
        200
    );
    e.receiver
        .wait_for("genuine", |b| {
            b["payment"]["id"] == "ord-fault-bad-signature-callback"
        })
        .await;
    assert!(
        e.receiver.all().iter().any(|r| !r.valid),
        "a forged copy arrived"
    );
    let ledger = poll_ledger(&e, |l| {
        l["callback_counters"]["ecommpay"]["acknowledged"] == 1
    })
    .await;
    assert_eq!(ledger["callback_counters"]["ecommpay"]["forged_sent"], 1);
    assert_eq!(
        ledger["callback_counters"]["ecommpay"]["forged_acknowledged"],
        0
    );
}

#[tokio::test]
async fn five_xx_fault_hits_once_and_registers_nothing() {
    let e = env().await;
    let r = e.sale("ord-fault-5xx", 1000).await;
    assert_eq!(r.0, 502);
    let (_, st) = e
        .gate(
            "/v2/payment/status",
            json!({"general": {"project_id": PROJECT, "payment_id": "ord-fault-5xx"}}),
            SECRET,
        )
        .await;
    assert_eq!(st["code"], "3061");
    assert_eq!(e.sale("ord-fault-5xx", 1000).await.0, 200);
}
