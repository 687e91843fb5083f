//! `POST /callbacks/aps` (valU): direct and notification transaction feedback, form-encoded or
//! JSON. APS signs with the merchant's response phrase; the merchant (identifier and access code)
//! must be the payment's.

use super::external::{self, Adoption, Reported};
use super::{check_now, refunds, refused, AfterCommit, Delivery, Reply, Signer};
use crate::domain::payment_state::PaymentEvent;
use crate::domain::Provider;
use crate::flows::{settle, Services};
use crate::ledger::{self, Change};
use crate::providers::aps::notification::{self, Notification};
use crate::providers::outcome::Expected;
use crate::providers::CallbackError;
use crate::store::group_commit::GroupCommitter;
use serde_json::Value;
use sqlx::PgConnection;

/// Who applied a change, in the audit log.
const ACTOR: &str = "callback:aps";

/// `sender_blocked`: as for ecommpay.
pub async fn handle(
    services: &Services,
    committer: &GroupCommitter,
    body: &[u8],
    sender_blocked: bool,
) -> Result<Reply, sqlx::Error> {
    // Parsed once: the merchant it names picks the phrase, and the same map is then verified.
    let params = match notification::decode(body) {
        Ok(params) => params,
        Err(_) => return refused(services, "aps", body, Reply::Forged, sender_blocked).await,
    };
    let candidates = {
        let text = |name: &str| params.get(name).and_then(Value::as_str);
        match text("merchant_identifier") {
            Some(merchant) => services.accounts.valu_by_merchant(merchant, text("access_code")),
            None => Vec::new(),
        }
    };
    // One candidate, unless the merchant has several accounts and the notification names no
    // access code: then the account whose phrase verifies it signed it. Only the signature is
    // checked per candidate; the map is parsed once, for the signer.
    let now = chrono::Utc::now();
    let signer = candidates.into_iter().find_map(|candidate| {
        notification::signed_with(&params, &candidate.aps.response_phrase, candidate.aps.sha_type, now)
            .map(|verified| (candidate, verified))
    });
    let Some((account, verified)) = signer else {
        return refused(services, "aps", body, Reply::Forged, sender_blocked).await;
    };
    let parsed = match Notification::from_verified(params) {
        Ok(parsed) => {
            super::count_secret("aps", &account.name, verified);
            parsed
        }
        Err(CallbackError::BadSignature | CallbackError::Malformed(_)) => {
            return refused(services, "aps", body, Reply::Malformed, sender_blocked).await
        }
        Err(CallbackError::Unreadable { reason, reference }) => {
            let signer = Signer {
                provider: Provider::Valu,
                account: &account.name,
            };
            return super::unreadable(services, "aps", signer, body, &reason, reference.as_deref()).await;
        }
    };
    super::identify(&account.name, &parsed.merchant_reference);
    let payment_id = parsed.merchant_reference.clone();
    let adoption = account.adopt_external.then_some(Adoption {
        threshold_time: account.timing.threshold_time,
        max_amount_minor: account.max_amount_minor,
    });
    super::apply_in_batch(
        services,
        committer,
        &payment_id,
        &account.name,
        (parsed, adoption),
        body,
        |conn, account, (parsed, adoption), body, after| {
            Box::pin(apply_verified(conn, account, parsed, *adoption, body, after))
        },
    )
    .await
}

/// Applies a notification `account` signed, on `conn`; `adoption`: the account adopts payments
/// made outside the orchestrator.
async fn apply_verified(
    conn: &mut PgConnection,
    account: &str,
    parsed: &Notification,
    adoption: Option<Adoption>,
    body: &[u8],
    after: &AfterCommit,
) -> Result<Reply, sqlx::Error> {
    let delivery = Delivery {
        provider: "aps",
        signer: Signer {
            provider: Provider::Valu,
            account,
        },
        body,
        wake: after.wake(),
    };
    let Some(row) = ledger::rows::load(conn, &parsed.merchant_reference).await? else {
        // A purchase's notification, not a refund's, can introduce a payment.
        let reported = parsed
            .maintenance_reference
            .is_none()
            .then(|| parsed.amount())
            .flatten();
        let reported = reported.map(|(amount_minor, currency)| Reported {
            amount_minor,
            currency,
            provider_reference: parsed.fort_id.clone(),
            flow: "api",
        });
        return external::unknown_payment(&delivery, conn, &parsed.merchant_reference, adoption, reported, ACTOR).await;
    };
    if !delivery.signer.owns(&row) {
        return delivery.mismatch(conn, &row).await;
    }
    // An external payment's own state comes from status queries; its refunds (ours, sent
    // through the queue) are settled by their notifications like any other.
    if row.is_external() && parsed.maintenance_reference.is_none() {
        return external::hint(&delivery, conn, &row).await;
    }
    if let Some(refund_id) = parsed.maintenance_reference.clone() {
        let outcome = refunds::aps(conn, &row, parsed, &refund_id, ACTOR, after.promotions()).await?;
        return delivery.finish_refund(conn, &row.payment_id, outcome).await;
    }
    let outcome = {
        let expected = Expected::money(&row.payment_id, row.amount_minor, &row.currency);
        match parsed.purchase_state(&expected) {
            Err(reason) => {
                let change = Change {
                    note: Some(reason),
                    ..Change::by(ACTOR)
                };
                delivery.apply(conn, &row, PaymentEvent::Contradiction, change).await?.0
            }
            Ok(state) => match settle::event_for(&state, ACTOR) {
                Some((event, mut change)) => {
                    change.provider_reference = parsed.fort_id.clone();
                    delivery.apply(conn, &row, event, change).await?.0
                }
                None => check_now(conn, &row).await?,
            },
        }
    };
    delivery.finish(conn, &row.payment_id, outcome).await
}
