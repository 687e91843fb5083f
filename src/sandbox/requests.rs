//! Every API request an account receives, and a per-account outage switch (issue 19 item 5).
//!
//! A middleware in front of the ecommpay and APS routes reads the account a request names
//! (ecommpay `general.project_id`, APS `merchant_identifier`), answers 503 without touching any
//! payment while that account is down, and logs the request with the status it was answered, so
//! tests can assert over status queries and failed requests too, not only accepted sales and
//! refunds. Accounts are named as in the ledger: `ecommpay:<project_id>`, `aps:<merchant_identifier>`.
//! Invariant: a request answered 503 by the switch changed nothing in the store.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::ledger::BoundedLog;
use super::state::Shared;

/// The largest request body the middleware reads (the providers' own limits are far lower).
const MAX_BODY_BYTES: usize = 1 << 20;

/// One request an account received.
#[derive(Debug, Serialize)]
pub struct RequestEntry {
    pub at: DateTime<Utc>,
    pub path: String,
    /// APS `command`, `service_command` or `query_command`; ecommpay has none (the path names the operation).
    pub command: Option<String>,
    /// The payment the request is about: ecommpay `general.payment_id`, APS `merchant_reference`.
    pub payment_id: Option<String>,
    /// The HTTP status it was answered with.
    pub status: u16,
    /// Whether the outage switch answered it.
    pub refused_by_outage: bool,
}

/// Request logs and outages of every account.
#[derive(Debug, Default)]
pub(crate) struct Requests {
    down: BTreeSet<String>,
    logs: BTreeMap<String, BoundedLog<RequestEntry>>,
}

impl Requests {
    fn record(&mut self, account: &str, entry: RequestEntry, cap: usize) {
        self.logs
            .entry(account.to_owned())
            .or_insert_with(|| BoundedLog::new(cap))
            .push(entry);
    }

    pub(crate) fn clear_logs(&mut self) {
        self.logs.clear();
    }

    pub(crate) fn is_down(&self, account: &str) -> bool {
        self.down.contains(account)
    }

    fn to_json(&self) -> Value {
        let logs: BTreeMap<&String, Value> = self
            .logs
            .iter()
            .map(|(account, log)| (account, log.to_json()))
            .collect();
        json!({"down": self.down, "accounts": logs})
    }
}

/// The account an API request names, and what it is about.
fn identify(body: &Value) -> Option<(String, Option<String>, Option<String>)> {
    if let Some(project) = body.pointer("/general/project_id").and_then(Value::as_u64) {
        let payment = body
            .pointer("/general/payment_id")
            .and_then(Value::as_str)
            .map(str::to_owned);
        return Some((format!("ecommpay:{project}"), None, payment));
    }
    let merchant = body.get("merchant_identifier").and_then(Value::as_str)?;
    let command = ["service_command", "query_command", "command"]
        .iter()
        .find_map(|key| body.get(*key).and_then(Value::as_str))
        .map(str::to_owned);
    let reference = body
        .get("merchant_reference")
        .and_then(Value::as_str)
        .map(str::to_owned);
    Some((format!("aps:{merchant}"), command, reference))
}

/// The middleware: refuse while the account is down, log every request of a known shape.
pub(crate) async fn gate(State(shared): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(bytes) = to_bytes(body, MAX_BODY_BYTES).await else {
        return (StatusCode::PAYLOAD_TOO_LARGE, "body too large").into_response();
    };
    let named = serde_json::from_slice::<Value>(&bytes).ok().as_ref().and_then(identify);
    let Some((account, command, payment_id)) = named else {
        return next.run(Request::from_parts(parts, Body::from(bytes))).await;
    };
    let path = parts.uri.path().to_owned();
    let down = shared.store.lock().await.requests.is_down(&account);
    let response = if down {
        (StatusCode::SERVICE_UNAVAILABLE, "provider outage (sandbox switch)").into_response()
    } else {
        next.run(Request::from_parts(parts, Body::from(bytes))).await
    };
    let entry = RequestEntry {
        at: Utc::now(),
        path,
        command,
        payment_id,
        status: response.status().as_u16(),
        refused_by_outage: down,
    };
    let cap = shared.config.ledger_capacity;
    shared.store.lock().await.requests.record(&account, entry, cap);
    response
}

/// `POST /sandbox/outage` body: switch `account` down or back up.
#[derive(Debug, Deserialize)]
pub(crate) struct OutageSwitch {
    account: String,
    down: bool,
}

/// `GET /sandbox/outage`: the accounts down now.
pub(crate) async fn get_outage(State(shared): State<Arc<Shared>>) -> Json<Value> {
    Json(json!({"down": shared.store.lock().await.requests.down}))
}

pub(crate) async fn set_outage(State(shared): State<Arc<Shared>>, Json(switch): Json<OutageSwitch>) -> Json<Value> {
    let mut store = shared.store.lock().await;
    if switch.down {
        store.requests.down.insert(switch.account);
    } else {
        store.requests.down.remove(&switch.account);
    }
    Json(json!({"down": store.requests.down}))
}

/// `GET /sandbox/requests`: every account's request log.
pub(crate) async fn list(State(shared): State<Arc<Shared>>) -> Json<Value> {
    Json(shared.store.lock().await.requests.to_json())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_name_their_account_and_payment() {
        let status = json!({"general": {"project_id": 42, "payment_id": "p-1"}, "signature": "x"});
        assert_eq!(
            identify(&status),
            Some(("ecommpay:42".to_owned(), None, Some("p-1".to_owned())))
        );
        let check = json!({"query_command": "CHECK_STATUS", "merchant_identifier": "m", "merchant_reference": "v-1"});
        assert_eq!(
            identify(&check),
            Some((
                "aps:m".to_owned(),
                Some("CHECK_STATUS".to_owned()),
                Some("v-1".to_owned())
            ))
        );
        assert_eq!(identify(&json!({"anything": 1})), None);
    }
}
