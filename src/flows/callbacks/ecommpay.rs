//! `POST /callbacks/ecommpay` (humm): a redirect, a sale result, a refund result, or something we
//! did not ask about. ecommpay signs with the project's key; the project must be the payment's.

use super::external::{self, Adoption, Reported};
use super::{check_now, refunds, refused, AfterCommit, Delivery, Reply, Signer};
use crate::domain::events::Action;
use crate::domain::payment_state::PaymentEvent;
use crate::domain::{PaymentStatus, Provider};
use crate::flows::{settle, Services};
use crate::ledger::{self, Change};
use crate::providers::ecommpay::callback::{self, Callback, CallbackEvent};
use crate::providers::outcome::Expected;
use crate::providers::CallbackError;
use crate::store::group_commit::GroupCommitter;
use serde_json::Value;
use sqlx::PgConnection;

/// Who applied a change, in the audit log.
const ACTOR: &str = "callback:ecommpay";

/// `sender_blocked`: the sender has spent its quota of refused callbacks; a callback that
/// verifies is applied all the same, one that does not is not stored.
pub async fn handle(
    services: &Services,
    committer: &GroupCommitter,
    body: &[u8],
    sender_blocked: bool,
) -> Result<Reply, sqlx::Error> {
    // Parsed once: the project it names picks the key, and the same object is then verified.
    let decoded = callback::decode(body);
    let project_id = decoded.as_ref().ok().and_then(|json| {
        json.get("project_id")
            .or_else(|| json.pointer("/general/project_id"))
            .and_then(Value::as_u64)
    });
    let Some(account) = project_id.and_then(|id| services.accounts.humm_by_project(id)) else {
        return refused(services, "ecommpay", body, Reply::Forged, sender_blocked).await;
    };
    let verified =
        decoded.and_then(|value| callback::verify_decoded(value, &account.ecommpay.secret_key, chrono::Utc::now()));
    let parsed = match verified {
        Ok((parsed, verified)) => {
            super::count_secret("ecommpay", &account.name, verified);
            parsed
        }
        Err(CallbackError::BadSignature) => {
            return refused(services, "ecommpay", body, Reply::Forged, sender_blocked).await
        }
        Err(CallbackError::Malformed(_)) => {
            return refused(services, "ecommpay", body, Reply::Malformed, sender_blocked).await
        }
        Err(CallbackError::Unreadable { reason, reference }) => {
            let signer = Signer {
                provider: Provider::Humm,
                account: &account.name,
            };
            return super::unreadable(services, "ecommpay", signer, body, &reason, reference.as_deref()).await;
        }
    };
    super::identify(&account.name, &parsed.payment_id);
    let payment_id = parsed.payment_id.clone();
    let adoption = account.adopt_external.then_some(Adoption {
        threshold_time: account.timing.threshold_time,
        max_amount_minor: crate::flows::purchase_create::HUMM_MAX_MINOR,
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

/// Applies a callback `account` signed, on `conn`; `adoption`: the account adopts payments made
/// outside the orchestrator.
async fn apply_verified(
    conn: &mut PgConnection,
    account: &str,
    parsed: &Callback,
    adoption: Option<Adoption>,
    body: &[u8],
    after: &AfterCommit,
) -> Result<Reply, sqlx::Error> {
    let delivery = Delivery {
        provider: "ecommpay",
        signer: Signer {
            provider: Provider::Humm,
            account,
        },
        body,
        wake: after.wake(),
    };
    let Some(mut row) = ledger::rows::load(conn, &parsed.payment_id).await? else {
        // Only a sale can introduce a payment (a refund's amount is not the payment's).
        let reported = match parsed.event() {
            CallbackEvent::Refund(_) => None,
            _ => reported(parsed),
        };
        return external::unknown_payment(&delivery, conn, &parsed.payment_id, adoption, reported, ACTOR).await;
    };
    if !delivery.signer.owns(&row) {
        return delivery.mismatch(conn, &row).await;
    }
    // An external payment's own state comes from status queries; its refunds (ours, sent
    // through the queue) are settled by their callbacks like any other.
    if row.is_external() && !matches!(parsed.event(), CallbackEvent::Refund(_)) {
        return external::hint(&delivery, conn, &row).await;
    }
    if row.flow == "gate" && row.status() == PaymentStatus::Accepted {
        // Any verified callback proves ecommpay registered the sale, even when the sale's own
        // answer has not been processed yet (they race): announce `pending` first, so events keep
        // the contract's order accepted → pending → action_required → final.
        let change = Change {
            note: Some("registration implied by a callback".to_owned()),
            ..Change::by(ACTOR)
        };
        row = delivery
            .apply_implied(conn, &row, PaymentEvent::Registered, change)
            .await?;
    }
    let expected = Expected::money(&row.payment_id, row.amount_minor, &row.currency);
    let outcome = match parsed.event() {
        CallbackEvent::Redirect(redirect) => {
            let change = Change {
                action: Some(redirect_action(redirect)),
                ..Change::by(ACTOR)
            };
            delivery
                .apply(conn, &row, PaymentEvent::ActionRequired, change)
                .await?
                .0
        }
        CallbackEvent::Sale(operation) => match parsed.sale_state(&expected) {
            Err(reason) => {
                let change = Change {
                    note: Some(reason),
                    ..Change::by(ACTOR)
                };
                delivery.apply(conn, &row, PaymentEvent::Contradiction, change).await?.0
            }
            Ok(state) => match settle::event_for(&state, ACTOR) {
                Some((event, mut change)) => {
                    change.provider_reference = sale_reference(operation);
                    delivery.apply(conn, &row, event, change).await?.0
                }
                None => check_now(conn, &row).await?,
            },
        },
        CallbackEvent::Refund(_) => {
            let outcome = refunds::ecommpay(conn, &row, parsed, ACTOR, after.promotions()).await?;
            return delivery.finish_refund(conn, &row.payment_id, outcome).await;
        }
        CallbackEvent::Unexpected => check_now(conn, &row).await?,
    };
    delivery.finish(conn, &row.payment_id, outcome).await
}

/// The customer's next step (contract §3 `action`) that an intermediate callback carries.
fn redirect_action(redirect: &callback::RedirectData) -> Action {
    Action::Redirect {
        method: redirect.method.clone(),
        url: redirect.url.clone(),
        body: redirect.body.clone(),
    }
}

/// The sale a callback reports, for a payment we do not have (a payment link): the operation's
/// own amount, else the payment's.
fn reported(parsed: &Callback) -> Option<Reported> {
    let sum = parsed
        .operation
        .as_ref()
        .and_then(|operation| operation.sum_initial.clone())
        .or_else(|| parsed.payment_sum.clone())?;
    Some(Reported {
        amount_minor: sum.amount_minor,
        currency: sum.currency,
        provider_reference: parsed.operation.as_ref().and_then(sale_reference),
        flow: "gate",
    })
}

/// ecommpay's own id for the sale, as a sale callback reports it.
fn sale_reference(operation: &callback::Operation) -> Option<String> {
    operation.provider_payment_id.clone().or_else(|| operation.id.clone())
}
