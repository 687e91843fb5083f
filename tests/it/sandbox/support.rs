//! Shared helpers: the callback receiver, the sandbox environment, signed request builders.

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

pub const SECRET: &str = "it-ecommpay-secret";
pub const REQ_PHRASE: &str = "it-req-phrase";
pub const RES_PHRASE: &str = "it-res-phrase";
pub const PROJECT: u64 = 4242;
pub const MID: &str = "ITMID";
pub const ACCESS: &str = "ITACCESS";

pub fn secret(s: &str) -> SecretString {
    SecretString::from(s.to_owned())
}

/// One callback the receiver got.
#[derive(Clone, Debug)]
pub struct Received {
    pub body: Value,
    pub valid: bool,
}

/// A merchant endpoint: verifies signatures (400 when wrong, as the orchestrator does), fails
/// the first `fail_first` genuine deliveries with 500, records everything.
#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    got: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    pub async fn start(fail_first: u32) -> Self {
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

    pub fn all(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    /// Waits for a valid callback matching `pred`.
    pub async fn wait_for(&self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        poll(what, || {
            self.all()
                .into_iter()
                .find(|r| r.valid && pred(&r.body))
                .map(|r| r.body)
        })
        .await
    }
}

pub fn receive(got: &Mutex<Vec<Received>>, fail: &AtomicU32, headers: &HeaderMap, body: &[u8]) -> StatusCode {
    let is_json = headers
        .get("content-type")
        .is_some_and(|v| v.to_str().unwrap_or("").contains("json"));
    let (value, valid) = if is_json {
        let v: Value = serde_json::from_slice(body).unwrap();
        let ok = verify(&v, &secret(SECRET));
        (v, ok)
    } else {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).unwrap();
        let map: Map<String, Value> = pairs.into_iter().map(|(k, v)| (k, Value::String(v))).collect();
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
pub async fn poll<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub fn config(receiver: &Receiver) -> SandboxConfig {
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

pub struct Env {
    pub sandbox: SandboxHandle,
    pub receiver: Receiver,
    pub http: reqwest::Client,
}

pub async fn env_with(fail_first: u32, tweak: impl FnOnce(&mut SandboxConfig)) -> Env {
    let receiver = Receiver::start(fail_first).await;
    let mut c = config(&receiver);
    tweak(&mut c);
    Env {
        sandbox: spawn(c).await.unwrap(),
        receiver,
        http: reqwest::Client::new(),
    }
}

pub async fn env() -> Env {
    env_with(0, |_| {}).await
}

impl Env {
    /// Signs `body` with `key` and POSTs it to the Gate path; returns (HTTP status, body).
    pub async fn gate(&self, path: &str, mut body: Value, key: &str) -> (u16, Value) {
        sign_in_place(&mut body, &secret(key));
        let r = self.http.post(self.sandbox.url(path)).json(&body).send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn sale(&self, payment_id: &str, amount: i64) -> (u16, Value) {
        self.gate("/v2/payment/bnpl/humm/sale", sale_body(payment_id, amount), SECRET)
            .await
    }

    pub async fn finish(&self, payment_id: &str, outcome: &str) -> Value {
        let url = self.sandbox.url(&format!("/sandbox/humm/{payment_id}/finish"));
        let r = self
            .http
            .post(url)
            .json(&json!({"outcome": outcome}))
            .send()
            .await
            .unwrap();
        r.json().await.unwrap()
    }

    pub async fn refund(&self, payment_id: &str, amount: i64, refund_id: &str) -> (u16, Value) {
        let body = json!({"general": {"project_id": PROJECT, "payment_id": payment_id},
            "payment": {"amount": amount, "currency": "GBP", "description": "r",
                        "merchant_refund_id": refund_id}});
        self.gate("/v2/payment/bnpl/humm/refund", body, SECRET).await
    }

    pub async fn ledger(&self) -> Value {
        let r = self.http.get(self.sandbox.url("/sandbox/ledger")).send().await.unwrap();
        r.json().await.unwrap()
    }

    /// A succeeded humm payment.
    pub async fn paid(&self, payment_id: &str, amount: i64) {
        assert_eq!(self.sale(payment_id, amount).await.0, 200);
        self.receiver
            .wait_for("intermediate", |b| {
                is_op(b, payment_id, "sale", "awaiting redirect result")
            })
            .await;
        assert_eq!(self.finish(payment_id, "success").await["status"], "success");
        self.receiver
            .wait_for("final", |b| is_op(b, payment_id, "sale", "success"))
            .await;
    }

    /// Signs APS `params` with `phrase` and POSTs them; returns the answer.
    pub async fn aps(&self, mut params: Value, phrase: &str) -> Map<String, Value> {
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

pub fn sale_body(payment_id: &str, amount: i64) -> Value {
    json!({"general": {"project_id": PROJECT, "payment_id": payment_id},
           "payment": {"amount": amount, "currency": "GBP"},
           "customer": {"id": "cust-42", "ip_address": "203.0.113.7", "first_name": "Jane", "last_name": "Doe"}})
}

pub fn is_op(body: &Value, payment_id: &str, op_type: &str, status: &str) -> bool {
    body["payment"]["id"] == payment_id && body["operation"]["type"] == op_type && body["operation"]["status"] == status
}

pub fn code(answer: &Map<String, Value>) -> &str {
    answer["response_code"].as_str().unwrap()
}

pub async fn poll_ledger(e: &Env, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let l = e.ledger().await;
        if pred(&l) {
            return l;
        }
        assert!(tokio::time::Instant::now() < deadline, "ledger never matched: {l}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub const PHONE: &str = "01012345678";

pub fn valu(reference: &str, command: (&str, &str), extra: Value) -> Value {
    let mut v = json!({"merchant_reference": reference, command.0: command.1});
    for (k, x) in extra.as_object().unwrap() {
        v[k] = x.clone();
    }
    v
}

pub async fn otp_generate(e: &Env, reference: &str) -> Map<String, Value> {
    e.aps(
        valu(
            reference,
            ("service_command", "OTP_GENERATE"),
            json!({
        "payment_option": "VALU", "phone_number": PHONE, "merchant_order_id": reference,
        "amount": "500000", "currency": "EGP", "include_installments": "YES", "total_downpayment": "0",
        "products": [{"product_name": "Laptop", "product_price": "500000", "product_category": "Electronics"}]}),
        ),
        REQ_PHRASE,
    )
    .await
}

pub async fn read_otp(e: &Env) -> String {
    let r = e
        .http
        .get(e.sandbox.url(&format!("/sandbox/valu/otp/{PHONE}")))
        .send()
        .await
        .unwrap();
    r.json::<Value>().await.unwrap()["otp"].as_str().unwrap().to_owned()
}

pub async fn valu_purchase(e: &Env, reference: &str, otp: &str, transaction_id: &str) -> Map<String, Value> {
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

/// Polls the async `f` every 20 ms for at most 10 s.
pub async fn poll_async<T, F: std::future::Future<Output = Option<T>>>(what: &str, mut f: impl FnMut() -> F) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
