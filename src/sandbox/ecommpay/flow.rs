//! The humm redirect flow after registration: the intermediate callback with `redirect_data`
//! (status `awaiting redirect result`), the customer's finish, the signed final callback, and
//! ecommpay's own decline at the threshold time (vendor-docs/ecommpay-humm-bnpl.txt: "A payment
//! is automatically assigned the decline status if it wasn't processed within the threshold
//! time").
//!
//! Invariants: a payment leaves `awaiting redirect result` once, to success or decline, whoever
//! finishes it first (customer, auto-customer, threshold); its final callback is built under the
//! store lock from that one transition, and delivered after the lock is released.

use std::sync::Arc;

use rand::Rng;
use serde_json::{json, Value};

use super::payment::{EcPayment, SaleStatus};
use crate::providers::ecommpay::signature::sign_in_place;
use crate::sandbox::delivery::{deliver_with_faults, record_lost, Outgoing, Payload, Schedule};
use crate::sandbox::faults::{Fault, FaultSet};
use crate::sandbox::state::{EcKey, Shared};

/// How a redirect ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The customer completed the plan.
    Success,
    /// humm declined the customer.
    Decline,
    /// The customer walked away: nothing is sent until the threshold decline.
    Abandon,
    /// The threshold time passed (ecommpay's own decline).
    Threshold,
}

/// Why `finish` did nothing.
#[derive(Debug)]
pub(crate) enum FinishError {
    NotFound,
    AlreadyFinal(&'static str),
}

/// Sends the intermediate callback (unless the `reorder` fault holds it back until after the
/// final one) and lets the auto-customer act once the merchant had the redirect data.
pub(crate) fn start(shared: &Arc<Shared>, key: EcKey) {
    let task_shared = Arc::clone(shared);
    shared.spawn(async move {
        let shared = task_shared;
        let prepared = {
            let store = shared.store.lock().await;
            store.ecommpay.get(&key).map(|p| (p.faults, intermediate(&shared, p)))
        };
        let Some((faults, outgoing)) = prepared else {
            return;
        };
        if !shared.applies(faults, Fault::ReorderCallbacks) {
            if let Some(out) = outgoing {
                deliver_with_faults(&shared, out, faults).await;
            }
        }
        let auto = shared.store.lock().await.auto_customer.clone();
        if auto.enabled {
            if !shared.sleep(shared.config.scaled(auto.delay_secs)).await {
                return;
            }
            let outcome = if rand::thread_rng().gen_bool(auto.success_ratio.clamp(0.0, 1.0)) {
                Outcome::Success
            } else {
                Outcome::Decline
            };
            let _already_final = finish(&shared, &key, outcome).await;
        }
    });
}

/// Ends the redirect; returns the payment status it left the payment in.
pub(crate) async fn finish(shared: &Arc<Shared>, key: &EcKey, outcome: Outcome) -> Result<&'static str, FinishError> {
    let (final_out, stale_out, faults, status) = {
        let mut store = shared.store.lock().await;
        let payment = store.ecommpay.get_mut(key).ok_or(FinishError::NotFound)?;
        if payment.status != SaleStatus::AwaitingRedirect {
            return Err(FinishError::AlreadyFinal(payment.payment_status()));
        }
        let stale = payment.clone();
        let declined_by_fault = shared.applies(payment.faults, Fault::Decline);
        match outcome {
            Outcome::Abandon => {
                payment.abandoned = true;
                return Ok(payment.payment_status());
            }
            Outcome::Success if shared.applies(payment.faults, Fault::ProviderError) => {
                payment.status = SaleStatus::Error;
                payment.code = "502";
                payment.message = "Internal error";
            }
            Outcome::Success if !declined_by_fault => {
                payment.status = SaleStatus::Success;
                payment.code = "0";
                payment.message = "Success";
            }
            Outcome::Threshold => {
                // providers.md §1.6 code list: 603 "auto decline".
                payment.status = SaleStatus::Decline;
                payment.code = "603";
                payment.message = "Auto decline";
            }
            _ => {
                payment.status = SaleStatus::Decline;
                payment.code = "20000";
                payment.message = "General decline";
            }
        }
        payment.finished = Some(chrono::Utc::now());
        let payment = &*payment;
        let final_out = outgoing(
            shared,
            payment,
            None,
            "final",
            payment.callback_json(payment.sale_operation_json()),
        );
        let stale_out = if shared.applies(payment.faults, Fault::ReorderCallbacks) {
            intermediate(shared, &stale)
        } else {
            None
        };
        (final_out, stale_out, payment.faults, payment.payment_status())
    };
    let task_shared = Arc::clone(shared);
    shared.spawn(async move {
        send_final(&task_shared, final_out, faults).await;
        if let Some(stale) = stale_out {
            deliver_with_faults(&task_shared, stale, faults).await;
        }
    });
    Ok(status)
}

/// Delivers a final callback unless the `lost-callback` fault eats it.
pub(crate) async fn send_final(shared: &Arc<Shared>, out: Option<Outgoing>, faults: FaultSet) {
    let Some(out) = out else {
        return;
    };
    if shared.applies(faults, Fault::LostCallback) {
        record_lost(shared, Schedule::Ecommpay).await;
    } else {
        deliver_with_faults(shared, out, faults).await;
    }
}

/// The signed intermediate callback with `redirect_data` pointing at the sandbox's humm page.
fn intermediate(shared: &Shared, payment: &EcPayment) -> Option<Outgoing> {
    let mut body = payment.callback_json(payment.sale_operation_json());
    if let Value::Object(map) = &mut body {
        map.insert(
            "redirect_data".into(),
            json!({
                "method": "POST",
                "url": humm_page_url(shared, payment),
                "body": {"session": payment.provider_payment_id},
            }),
        );
    }
    outgoing(shared, payment, None, "intermediate", body)
}

/// Signs `body` with the payment's project secret and addresses it to `url`, or else to the
/// payment's callback URL.
pub(crate) fn outgoing(
    shared: &Shared,
    payment: &EcPayment,
    url: Option<&String>,
    kind: &'static str,
    mut body: Value,
) -> Option<Outgoing> {
    let url = url.or(payment.callback_url.as_ref())?.clone();
    let project = shared.config.project(payment.project_id)?;
    sign_in_place(&mut body, &project.secret_key);
    Some(Outgoing {
        schedule: Schedule::Ecommpay,
        payment_id: payment.payment_id.clone(),
        kind,
        url,
        payload: Payload::Json(body),
    })
}

/// `<base>/sandbox/humm/<payment_id>?project_id=<id>`, the id percent-encoded.
pub(crate) fn humm_page_url(shared: &Shared, payment: &EcPayment) -> String {
    match url::Url::parse(&shared.base_url) {
        Ok(mut url) => {
            if let Ok(mut segments) = url.path_segments_mut() {
                segments.pop_if_empty().extend(["sandbox", "humm", &payment.payment_id]);
            }
            url.set_query(Some(&format!("project_id={}", payment.project_id)));
            url.to_string()
        }
        Err(_) => format!("{}/sandbox/humm/{}", shared.base_url, payment.payment_id),
    }
}

/// Declines every payment still awaiting its redirect at the threshold time. One task for all
/// payments: the threshold is the same for every payment, so deadlines come in creation order.
pub(crate) async fn threshold_sweeper(shared: Arc<Shared>) {
    loop {
        let next = shared.store.lock().await.thresholds.front().cloned();
        match next {
            None => {
                tokio::select! {
                    () = shared.shutdown.cancelled() => return,
                    () = shared.threshold_added.notified() => {}
                }
            }
            Some((deadline, key)) => {
                if deadline > tokio::time::Instant::now() {
                    tokio::select! {
                        () = shared.shutdown.cancelled() => return,
                        () = tokio::time::sleep_until(deadline) => {}
                    }
                    continue;
                }
                shared.store.lock().await.thresholds.pop_front();
                let _already_final = finish(&shared, &key, Outcome::Threshold).await;
            }
        }
    }
}
