//! APS transaction feedback: the result POSTed form-encoded to the merchant's notification URL,
//! signed with the response phrase (providers.md §2.5, pfdoc docs/transactionfeedback.md).
//!
//! The payload has the response's fields; only scalar fields travel (a form has no nesting), and
//! the signature is computed over exactly the fields sent. Retries follow APS: 10 more attempts,
//! 10 s apart (scaled), until a 2xx or 302. With the `reorder` fault, a stale "still processing"
//! notification (`15777`) follows the final one, as a late pending update would.

use std::sync::Arc;

use serde_json::{Map, Value};

use crate::providers::aps::signature::sign_response;
use crate::sandbox::config::ApsMerchant;
use crate::sandbox::delivery::{deliver_with_faults, record_lost, Outgoing, Payload, Schedule};
use crate::sandbox::faults::{Fault, FaultSet};
use crate::sandbox::state::Shared;

/// Sends the feedback for a final result `fields` in the background.
pub(crate) fn send(
    shared: &Arc<Shared>,
    merchant: &ApsMerchant,
    reference: &str,
    kind: &'static str,
    fields: Map<String, Value>,
    faults: FaultSet,
) {
    let Some(final_out) = outgoing(merchant, reference, kind, fields.clone()) else {
        return;
    };
    let stale_out = shared.applies(faults, Fault::ReorderCallbacks).then(|| {
        let mut stale = fields;
        for (name, value) in [
            ("response_code", "15777"),
            ("status", "15"),
            ("response_message", "Processed, but confirmation not received"),
        ] {
            stale.insert(name.into(), Value::String(value.into()));
        }
        outgoing(merchant, reference, "stale", stale)
    });
    let task_shared = Arc::clone(shared);
    shared.spawn(async move {
        let shared = task_shared;
        if shared.applies(faults, Fault::LostCallback) {
            record_lost(&shared, Schedule::Aps).await;
        } else {
            deliver_with_faults(&shared, final_out, faults).await;
        }
        if let Some(Some(stale)) = stale_out {
            deliver_with_faults(&shared, stale, faults).await;
        }
    });
}

fn outgoing(
    merchant: &ApsMerchant,
    reference: &str,
    kind: &'static str,
    fields: Map<String, Value>,
) -> Option<Outgoing> {
    let url = merchant.notification_url.clone()?;
    let mut flat: Map<String, Value> = fields
        .into_iter()
        .filter_map(|(name, value)| match value {
            Value::String(s) => Some((name, Value::String(s))),
            Value::Number(n) => Some((name, Value::String(n.to_string()))),
            _ => None,
        })
        .filter(|(name, _)| name != "signature")
        .collect();
    let signature = sign_response(&flat, &merchant.response_phrase, merchant.sha_type);
    flat.insert("signature".into(), Value::String(signature));
    let form = flat
        .into_iter()
        .map(|(name, value)| (name, value.as_str().unwrap_or_default().to_owned()))
        .collect();
    Some(Outgoing {
        schedule: Schedule::Aps,
        payment_id: reference.to_owned(),
        kind,
        url,
        payload: Payload::Form(form),
    })
}
