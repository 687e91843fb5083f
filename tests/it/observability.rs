//! Logs and traces an ops team can follow (issue 18): a valU purchase's JSON log lines name its
//! payment and provider through every step (customer verify, OTP generate, OTP verify, purchase),
//! and a command's W3C `traceparent` comes back on its events.

use crate::helpers::free_port;
use crate::helpers::*;
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::BasicProperties;
use serde_json::{json, Value};
use std::process::Stdio;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

/// Consumes `consumer` until an event of `event_type` about `payment_id`; every delivery seen.
async fn until_event(
    consumer: &mut lapin::Consumer,
    payment_id: &str,
    event_type: &str,
    seen: &mut Vec<lapin::message::Delivery>,
) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let delivery = next_delivery(consumer, left)
            .await
            .unwrap_or_else(|| panic!("no {event_type} for {payment_id}"));
        let body = json_body(&delivery);
        seen.push(delivery);
        if body["payment_id"] == payment_id && body["type"] == event_type {
            return;
        }
    }
}

#[tokio::test]
async fn a_valu_purchase_is_in_the_json_logs_at_every_step() {
    let db = TestDb::create().await;
    let prefix = TestPrefix::new();
    let (port, sandbox_port) = (free_port(), free_port());
    let log_path = std::env::temp_dir().join(format!("bnpl-log-{}.jsonl", prefix.prefix));
    let log = std::fs::File::create(&log_path).unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_bnpl"))
        .args(["serve", "--sandbox"])
        .env("BNPL_DATABASE_URL", &db.url)
        .env("BNPL_AMQP_PREFIX", &prefix.prefix)
        .env("BNPL_HTTP_ADDR", format!("127.0.0.1:{port}"))
        .env("BNPL_PUBLIC_URL", format!("http://127.0.0.1:{port}"))
        .env("BNPL_SANDBOX_ADDR", format!("127.0.0.1:{sandbox_port}"))
        .env("BNPL_LOG_FORMAT", "json")
        .env("RUST_LOG", "info")
        .env_remove("BNPL_CONFIG")
        .stdout(Stdio::from(log))
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let ready = format!("http://127.0.0.1:{port}/readyz");
    eventually(WAIT, "bnpl serve ready", || async {
        reqwest::get(&ready).await.map(|r| r.status() == 200).unwrap_or(false)
    })
    .await;

    let probe = BrokerProbe::new(prefix.topology()).await;
    let mut events = probe.subscribe_events().await;
    let mut seen = Vec::new();
    let phone = "01012345678";
    let purchase = json!({"payment_id": "obs-valu-1", "provider": "valu",
        "amount": {"minor": 300000, "currency": "EGP"},
        "customer": {"id": "c-1", "first_name": "Omar", "last_name": "Ali", "phone": phone},
        "items": [{"name": "Laptop", "unit_price_minor": 300000, "quantity": 1}]});
    probe
        .publish_command(
            "purchase.create",
            purchase.to_string().as_bytes(),
            BasicProperties::default(),
        )
        .await;
    until_event(&mut events, "obs-valu-1", "payment.action_required", &mut seen).await;
    let otp: Value = reqwest::get(format!("http://127.0.0.1:{sandbox_port}/sandbox/valu/otp/{phone}"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let confirm = json!({"payment_id": "obs-valu-1", "otp": otp["otp"], "tenure_months": 6});
    probe
        .publish_command(
            "purchase.confirm",
            confirm.to_string().as_bytes(),
            BasicProperties::default(),
        )
        .await;
    until_event(&mut events, "obs-valu-1", "payment.succeeded", &mut seen).await;
    let _ = child.kill().await;

    let text = std::fs::read_to_string(&log_path).unwrap();
    let _ = std::fs::remove_file(&log_path);
    let lines: Vec<Value> = text
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect();
    assert!(!lines.is_empty(), "no JSON log lines:\n{text}");
    // A line carries a field when the line itself or any span it is in has it.
    let field = |line: &Value, name: &str| -> Option<String> {
        let spans = line["spans"].as_array().cloned().unwrap_or_default();
        std::iter::once(&line["fields"])
            .chain(spans.iter())
            .find_map(|scope| scope.get(name).and_then(Value::as_str).map(str::to_owned))
    };
    for operation in ["customer_verify", "otp_generate", "otp_verify", "purchase"] {
        let found = lines.iter().any(|line| {
            field(line, "operation").as_deref() == Some(operation)
                && field(line, "payment_id").as_deref() == Some("obs-valu-1")
                && field(line, "provider").as_deref() == Some("valu")
        });
        assert!(
            found,
            "no log line of {operation} with payment_id and provider:\n{text}"
        );
    }
    // The command that started it is in the logs too, with its outcome.
    assert!(lines.iter().any(|line| {
        line["fields"]["message"] == "command handled" && field(line, "payment_id").as_deref() == Some("obs-valu-1")
    }));
    // Display forms, never Rust's Debug dumps, and no colour codes in a file.
    assert!(!text.contains("Some(") && !text.contains('\u{1b}'), "{text}");
}

#[tokio::test]
async fn a_commands_traceparent_is_on_its_events() {
    let mut app = spawn_app().await;
    let probe = BrokerProbe::new(app.topology()).await;
    let mut events = probe.subscribe_events().await;
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let mut headers = FieldTable::default();
    headers.insert(
        ShortString::from("traceparent"),
        AMQPValue::LongString(traceparent.into()),
    );
    let body = json!({"payment_id": "obs-trace-1", "provider": "humm", "flow": "gate",
        "amount": {"minor": 15000, "currency": "GBP"},
        "customer": {"id": "c", "first_name": "Jane", "last_name": "Doe", "ip_address": "203.0.113.7"},
        "return_url": "https://shop.example/return"});
    probe
        .publish_command(
            "purchase.create",
            body.to_string().as_bytes(),
            BasicProperties::default().with_headers(headers),
        )
        .await;
    // The in-process sandbox's auto-customer finishes the payment: accepted → … → succeeded.
    let mut seen = Vec::new();
    until_event(&mut events, "obs-trace-1", "payment.succeeded", &mut seen).await;
    let ours: Vec<&lapin::message::Delivery> = seen
        .iter()
        .filter(|delivery| json_body(delivery)["payment_id"] == "obs-trace-1")
        .collect();
    assert!(ours.len() >= 3, "{} events", ours.len());
    for delivery in ours {
        assert_eq!(
            header(delivery, "traceparent").as_deref(),
            Some(traceparent),
            "{}",
            json_body(delivery)["type"]
        );
    }
    // A command without one (or with a malformed one) gives events without one.
    let mut bad = FieldTable::default();
    bad.insert(
        ShortString::from("traceparent"),
        AMQPValue::LongString("00-nothex-xx-01".into()),
    );
    let mut body = body.clone();
    body["payment_id"] = json!("obs-trace-2");
    probe
        .publish_command(
            "purchase.create",
            body.to_string().as_bytes(),
            BasicProperties::default().with_headers(bad),
        )
        .await;
    let mut seen = Vec::new();
    until_event(&mut events, "obs-trace-2", "payment.accepted", &mut seen).await;
    let accepted = seen.last().unwrap();
    assert_eq!(header(accepted, "traceparent"), None);
    app.stop().await.unwrap();
}
