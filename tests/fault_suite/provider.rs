//! The sandbox's own view of a payment, asked the way the orchestrator asks it: a signed
//! ecommpay status request, an APS CHECK_STATUS.

use crate::cluster::{ACCESS_CODE, MERCHANT, PROJECT, REQUEST_PHRASE, SECRET};
use crate::Run;
use bnpl::providers::aps::signature::{sign_request, ShaType};
use secrecy::SecretString;
use serde_json::{json, Map, Value};
use std::time::Duration;

/// What the provider says about a payment: `succeeded`, `declined`, `absent` or `open`.
pub async fn state(run: &Run, id: &str, provider: &str) -> String {
    for _ in 0..5 {
        let answer = if provider == "humm" {
            humm_status(run, id).await
        } else {
            valu_status(run, id).await
        };
        if let Some(state) = answer {
            return state;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    "unknown (no answer)".into()
}

async fn humm_status(run: &Run, id: &str) -> Option<String> {
    let mut body = json!({"general": {"project_id": PROJECT, "payment_id": id}});
    bnpl::providers::ecommpay::signature::sign_in_place(&mut body, &SecretString::from(SECRET));
    let url = format!("{}/v2/payment/status", run.sandbox_url);
    let response = run
        .http
        .post(url)
        .json(&body)
        .timeout(Duration::from_secs(20))
        .send()
        .await
        .ok()?;
    let value: Value = response.json().await.ok()?;
    if value["code"] == "3061" {
        return Some("absent".into());
    }
    let sale = value["operations"].as_array()?.iter().find(|op| op["type"] == "sale")?["status"]
        .as_str()?
        .to_owned();
    Some(match sale.as_str() {
        "success" => "succeeded".into(),
        "decline" => "declined".into(),
        "error" => "failed".into(),
        _ => "open".into(),
    })
}

async fn valu_status(run: &Run, id: &str) -> Option<String> {
    let mut params = Map::new();
    for (k, v) in [
        ("query_command", "CHECK_STATUS"),
        ("access_code", ACCESS_CODE),
        ("merchant_identifier", MERCHANT),
        ("merchant_reference", id),
        ("language", "en"),
    ] {
        params.insert(k.into(), Value::String(v.into()));
    }
    let signature = sign_request(&params, &SecretString::from(REQUEST_PHRASE), ShaType::Sha256);
    params.insert("signature".into(), Value::String(signature));
    let url = format!("{}/FortAPI/paymentApi", run.sandbox_url);
    let response = run
        .http
        .post(url)
        .json(&params)
        .timeout(Duration::from_secs(20))
        .send()
        .await
        .ok()?;
    let value: Value = response.json().await.ok()?;
    match value["response_code"].as_str()? {
        "12036" => Some("absent".into()),
        "12000" => Some(match value["transaction_status"].as_str()? {
            "14" => "succeeded".into(),
            "13" => "declined".into(),
            // Only valU steps before PURCHASE (OTP generated or verified): no purchase exists.
            "88" | "89" | "90" | "91" | "92" | "93" => "absent".into(),
            _ => "open".into(),
        }),
        _ => None,
    }
}
