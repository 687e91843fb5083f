//! Applying provider callbacks (design §1 "Callbacks are hints"): verify the signature in
//! constant time, store the raw body, apply through the state machine under the payment's lock.
//! The common case (a redirect or final result for a payment waiting for it) is one statement;
//! everything else takes the locked path.
//!
//! A callback that fails verification is refused (400), stored as unverified, counted and changes
//! nothing. One that verifies but is ambiguous (still pending, an operation we did not send)
//! brings the status check forward instead of changing state. Stale and duplicate callbacks are
//! answered 200 so the provider stops retrying.

use super::{schedule, settle, Services};
use crate::domain::payment_state::PaymentEvent;
use crate::domain::refund_state::RefundEvent;
use crate::domain::{PaymentStatus, Provider};
use crate::providers::aps::notification;
use crate::providers::ecommpay::callback::{self, CallbackEvent};
use crate::providers::outcome::{Expected, PaymentState, RefundMatch};
use crate::providers::CallbackError;
use crate::store::inbound_callbacks;
use crate::store::payments::{self, Applied, Change, Extras, PaymentRow, RawCallback, ReportedMoney};
use crate::store::refunds::{self, RefundApplied, RefundChange};
use chrono::Utc;
use serde_json::{json, Value};
use sqlx::PgConnection;

/// Who applied a change, in the audit log, for ecommpay callbacks.
const ECOMMPAY_ACTOR: &str = "callback:ecommpay";

/// How to answer the provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// Stored (and applied, or recognised as stale or duplicate): 200.
    Accepted,
    /// Missing or wrong signature, or a sender we cannot verify: 400.
    Forged,
    /// Not the provider's format: 400.
    Malformed,
    /// Verified, but about a payment we do not have: stored and answered 200 (contract §7), so
    /// the provider stops retrying a payment made outside the orchestrator.
    UnknownPayment,
    /// Verified, but signed by another account or provider than the payment's: 400, stored as
    /// `account_mismatch`, and not charged to the sender (a real provider sent it).
    AccountMismatch,
    /// Not verified, from a sender blocked for too many refused callbacks: 429, not stored.
    Throttled,
}

/// Who signed a verified callback: it may touch only this provider's and account's payments
/// (contract §7).
#[derive(Debug, Clone, Copy)]
pub struct Signer<'a> {
    pub provider: Provider,
    pub account: &'a str,
}

impl Signer<'_> {
    /// True when the payment belongs to the signer.
    fn owns(&self, row: &PaymentRow) -> bool {
        row.provider == self.provider.as_str() && row.account == self.account
    }
}

/// `POST /callbacks/ecommpay`. `sender_blocked`: the sender has spent its quota of refused
/// callbacks; a callback that verifies is applied all the same, one that does not is not stored.
pub async fn ecommpay(services: &Services, body: &[u8], sender_blocked: bool) -> Result<Reply, sqlx::Error> {
    let project_id = serde_json::from_slice::<Value>(body).ok().and_then(|json| {
        json.get("project_id")
            .or_else(|| json.pointer("/general/project_id"))
            .and_then(Value::as_u64)
    });
    let Some(account) = project_id.and_then(|id| services.accounts.humm_by_project(id)) else {
        return refused(services, "ecommpay", body, Reply::Forged, sender_blocked).await;
    };
    let parsed = match callback::verify_and_parse(body, &account.ecommpay.secret_key) {
        Ok(parsed) => parsed,
        Err(CallbackError::BadSignature) => {
            return refused(services, "ecommpay", body, Reply::Forged, sender_blocked).await
        }
        Err(CallbackError::Malformed(_)) => {
            return refused(services, "ecommpay", body, Reply::Malformed, sender_blocked).await
        }
    };
    let signer = Signer {
        provider: Provider::Humm,
        account: &account.name,
    };
    if applied_at_once(services, &parsed, body, signer).await? {
        metrics::counter!("bnpl_callbacks_total", "provider" => "ecommpay", "outcome" => "applied").increment(1);
        return Ok(Reply::Accepted);
    }
    let mut tx = services.pool.begin().await?;
    let Some(mut row) = payments::lock(&mut tx, &parsed.payment_id).await? else {
        inbound_callbacks::store_verified(&mut tx, "ecommpay", body, Some(&parsed.payment_id), "unknown_payment")
            .await?;
        tx.commit().await?;
        return Ok(Reply::UnknownPayment);
    };
    if !signer.owns(&row) {
        return mismatch(tx, "ecommpay", body, &row).await;
    }
    if row.flow == "gate" && row.status() == PaymentStatus::Accepted {
        // Any verified callback proves ecommpay registered the sale, even when the sale's own
        // answer has not been processed yet (they race): announce `pending` first, so events keep
        // the contract's order accepted → pending → action_required → final.
        let note = Some("registration implied by a callback".to_owned());
        let change = Change {
            actor: ECOMMPAY_ACTOR,
            note,
            ..Change::default()
        };
        payments::apply(&mut tx, &row, PaymentEvent::Registered, change).await?;
        row = payments::lock(&mut tx, &parsed.payment_id).await?.unwrap_or(row);
    }
    let expected = Expected::money(&row.payment_id, row.amount_minor, &row.currency);
    let actor = ECOMMPAY_ACTOR;
    let outcome = match parsed.event() {
        CallbackEvent::Redirect(redirect) => {
            let action = redirect_action(redirect);
            if row.status() == PaymentStatus::ActionRequired && row.action.as_ref() == Some(&action) {
                // The same redirect again (a retried or duplicated callback): nothing new to tell.
                "duplicate"
            } else {
                let change = Change {
                    actor,
                    action: Some(action),
                    ..Change::default()
                };
                label(&payments::apply(&mut tx, &row, PaymentEvent::ActionRequired, change).await?)
            }
        }
        CallbackEvent::Sale(operation) => {
            let reference = sale_reference(operation);
            match parsed.sale_state(&expected) {
                Err(reason) => {
                    let change = Change {
                        actor,
                        note: Some(reason),
                        ..Change::default()
                    };
                    label(&payments::apply(&mut tx, &row, PaymentEvent::Contradiction, change).await?)
                }
                Ok(state) => match settle::event_for(&state, actor) {
                    Some((event, mut change)) => {
                        change.provider_reference = reference;
                        label(&payments::apply(&mut tx, &row, event, change).await?)
                    }
                    None => check_now(&mut tx, &row).await?,
                },
            }
        }
        CallbackEvent::Refund(_) => refund_result(&mut tx, &row, &parsed).await?,
        CallbackEvent::Unexpected => check_now(&mut tx, &row).await?,
    };
    inbound_callbacks::store_verified(&mut tx, "ecommpay", body, Some(&row.payment_id), outcome).await?;
    tx.commit().await?;
    metrics::counter!("bnpl_callbacks_total", "provider" => "ecommpay", "outcome" => outcome).increment(1);
    Ok(Reply::Accepted)
}

/// The hot path: a redirect or a definite sale result for a payment waiting for exactly that,
/// applied and stored in one statement without a transaction of its own
/// ([`payments::apply_unlocked`]). False when nothing was written: the locked path below then
/// decides (duplicate, stale, contradiction, review, a registration not yet recorded).
async fn applied_at_once(
    services: &Services,
    parsed: &callback::Callback,
    body: &[u8],
    signer: Signer<'_>,
) -> Result<bool, sqlx::Error> {
    let actor = ECOMMPAY_ACTOR;
    let (event, change, money) = match parsed.event() {
        CallbackEvent::Redirect(redirect) => {
            let action = redirect_action(redirect);
            let change = Change {
                actor,
                action: Some(action),
                ..Change::default()
            };
            (PaymentEvent::ActionRequired, change, None)
        }
        CallbackEvent::Sale(operation) => {
            let Some(sum) = operation.sum_initial.as_ref().or(parsed.payment_sum.as_ref()) else {
                return Ok(false);
            };
            // Checked against the callback's own figures here and the payment's in the statement.
            let reported = Expected::money(&parsed.payment_id, sum.amount_minor, &sum.currency);
            let Some((event, mut change)) = parsed
                .sale_state(&reported)
                .ok()
                .and_then(|state| settle::event_for(&state, actor))
            else {
                return Ok(false);
            };
            change.provider_reference = sale_reference(operation);
            let money = ReportedMoney {
                amount_minor: sum.amount_minor,
                currency: &sum.currency,
            };
            (event, change, Some(money))
        }
        CallbackEvent::Refund(_) | CallbackEvent::Unexpected => return Ok(false),
    };
    let raw = RawCallback {
        provider: "ecommpay",
        body,
    };
    let mut conn = services.pool.acquire().await?;
    let extras = Extras {
        money,
        raw: Some(raw),
        job: None,
        owner: Some((signer.provider.as_str(), signer.account)),
    };
    let applied = payments::apply_unlocked(&mut conn, &parsed.payment_id, &event, &change, extras).await?;
    Ok(applied.is_some())
}

/// The customer's next step (contract §3 `action`) that an intermediate callback carries.
fn redirect_action(redirect: &callback::RedirectData) -> Value {
    json!({ "kind": "redirect", "method": redirect.method, "url": redirect.url, "body": redirect.body })
}

/// ecommpay's own id for the sale, as a sale callback reports it.
fn sale_reference(operation: &callback::Operation) -> Option<String> {
    operation.provider_payment_id.clone().or_else(|| operation.id.clone())
}

/// `POST /callbacks/aps`: direct and notification transaction feedback (form or JSON).
pub async fn aps(services: &Services, body: &[u8], sender_blocked: bool) -> Result<Reply, sqlx::Error> {
    let account = notification::decode(body).ok().and_then(|params| {
        let text = |name: &str| params.get(name).and_then(Value::as_str).map(str::to_owned);
        let merchant = text("merchant_identifier")?;
        services
            .accounts
            .valu_by_merchant(&merchant, text("access_code").as_deref())
    });
    let Some(account) = account else {
        return refused(services, "aps", body, Reply::Forged, sender_blocked).await;
    };
    let parsed = match notification::verify_and_parse(body, &account.aps.response_phrase, account.aps.sha_type) {
        Ok(parsed) => parsed,
        Err(CallbackError::BadSignature) => return refused(services, "aps", body, Reply::Forged, sender_blocked).await,
        Err(CallbackError::Malformed(_)) => {
            return refused(services, "aps", body, Reply::Malformed, sender_blocked).await
        }
    };
    let signer = Signer {
        provider: Provider::Valu,
        account: &account.name,
    };
    let mut tx = services.pool.begin().await?;
    let Some(row) = payments::lock(&mut tx, &parsed.merchant_reference).await? else {
        inbound_callbacks::store_verified(
            &mut tx,
            "aps",
            body,
            Some(&parsed.merchant_reference),
            "unknown_payment",
        )
        .await?;
        tx.commit().await?;
        return Ok(Reply::UnknownPayment);
    };
    if !signer.owns(&row) {
        return mismatch(tx, "aps", body, &row).await;
    }
    let actor = "callback:aps";
    let outcome = if let Some(refund_id) = parsed.maintenance_reference.clone() {
        aps_refund_result(&mut tx, &row, &parsed, &refund_id).await?
    } else {
        let expected = Expected::money(&row.payment_id, row.amount_minor, &row.currency);
        match parsed.purchase_state(&expected) {
            Err(reason) => {
                let change = Change {
                    actor,
                    note: Some(reason),
                    ..Change::default()
                };
                label(&payments::apply(&mut tx, &row, PaymentEvent::Contradiction, change).await?)
            }
            Ok(state) => match settle::event_for(&state, actor) {
                Some((event, mut change)) => {
                    change.provider_reference = parsed.fort_id.clone();
                    label(&payments::apply(&mut tx, &row, event, change).await?)
                }
                None => check_now(&mut tx, &row).await?,
            },
        }
    };
    inbound_callbacks::store_verified(&mut tx, "aps", body, Some(&row.payment_id), outcome).await?;
    tx.commit().await?;
    metrics::counter!("bnpl_callbacks_total", "provider" => "aps", "outcome" => outcome).increment(1);
    Ok(Reply::Accepted)
}

/// An ecommpay refund callback: it carries the payment's id; it settles the refund of that
/// payment in flight when it matches it (providers.md §1.6 "Matching refund results").
async fn refund_result(
    conn: &mut PgConnection,
    payment: &PaymentRow,
    parsed: &callback::Callback,
) -> Result<&'static str, sqlx::Error> {
    let Some(refund) = refunds::in_flight_of_payment(conn, &payment.payment_id).await? else {
        return Ok("stale");
    };
    // A late or repeated callback about an earlier refund of this payment carries that refund's
    // request id: it is stale, whatever the refund in flight now looks like.
    let request_id = parsed.operation.as_ref().and_then(|op| op.request_id.clone());
    if let Some(request_id) = request_id {
        let owner = refunds::by_request_id(conn, &payment.payment_id, &request_id).await?;
        if owner.is_some_and(|owner| owner.refund_id != refund.refund_id) {
            return Ok("stale");
        }
    }
    let expected = callback::ExpectedRefund {
        payment_id: payment.payment_id.clone(),
        amount_minor: refund.amount_minor,
        currency: refund.currency.clone(),
        request_id: refund.provider_request_id.clone(),
    };
    apply_refund_match(conn, &refund, parsed.match_refund(&expected), ECOMMPAY_ACTOR).await
}

/// An APS refund notification, matched by `maintenance_reference` (our refund id).
async fn aps_refund_result(
    conn: &mut PgConnection,
    payment: &PaymentRow,
    parsed: &notification::Notification,
    refund_id: &str,
) -> Result<&'static str, sqlx::Error> {
    let Some(refund) = refunds::get(conn, refund_id)
        .await?
        .filter(|r| r.payment_id == payment.payment_id)
    else {
        return Ok("stale");
    };
    let expected = Expected::money(&payment.payment_id, refund.amount_minor, &refund.currency);
    apply_refund_match(conn, &refund, parsed.match_refund(&expected, refund_id), "callback:aps").await
}

async fn apply_refund_match(
    conn: &mut PgConnection,
    refund: &refunds::RefundRow,
    matched: RefundMatch,
    actor: &'static str,
) -> Result<&'static str, sqlx::Error> {
    let change = |note: Option<String>| RefundChange {
        actor,
        note,
        ..RefundChange::default()
    };
    let (event, change) = match matched {
        RefundMatch::Ours(PaymentState::Succeeded) => (RefundEvent::Succeeded, change(None)),
        RefundMatch::Ours(PaymentState::Declined { code, message })
        | RefundMatch::Ours(PaymentState::Failed { code, message }) => {
            let decline = settle::provider_reason("declined", &code, &message);
            (
                RefundEvent::Declined,
                RefundChange {
                    decline: Some(decline),
                    ..change(None)
                },
            )
        }
        RefundMatch::Ours(_) => return Ok("pending"),
        // A signed decline of this payment's refund with our amount, before we recorded the
        // request id (the answer and the callback raced): the status query reports refunded totals
        // only and could never confirm a decline, so apply it. A success is never taken on trust:
        // that one waits for the status query below.
        RefundMatch::Unconfirmed(PaymentState::Declined { code, message })
        | RefundMatch::Unconfirmed(PaymentState::Failed { code, message }) => {
            let decline = settle::provider_reason("declined", &code, &message);
            (
                RefundEvent::Declined,
                RefundChange {
                    decline: Some(decline),
                    ..change(None)
                },
            )
        }
        // Figures agree but we cannot tie it to our request: let the status query confirm it.
        RefundMatch::Unconfirmed(_) => {
            schedule::refund_check(conn, refund, Utc::now()).await?;
            return Ok("status_check");
        }
        RefundMatch::NotOurs { .. } => return Ok("stale"),
        // Figures that disagree with a refund we cannot tie the callback to (we hold no request
        // id for it) are no contradiction: ask the provider instead.
        RefundMatch::Mismatch { .. } if refund.provider_request_id.is_none() => {
            schedule::refund_check(conn, refund, Utc::now()).await?;
            return Ok("status_check");
        }
        RefundMatch::Mismatch { reason } => (RefundEvent::NoDefiniteAnswer, change(Some(reason))),
    };
    Ok(match refunds::apply(conn, refund, event, change).await? {
        RefundApplied::Moved { .. } => "applied",
        RefundApplied::Flagged(_) => "review",
        RefundApplied::Ignored | RefundApplied::Stayed => "duplicate",
        RefundApplied::Refused(_) => "refused",
    })
}

/// Stores a refused callback (in its own commit, its body truncated) and counts it; it changes
/// nothing else. From a blocked sender it is only counted: storing every forgery of a flood is
/// the cost the throttle exists to cap.
async fn refused(
    services: &Services,
    provider: &'static str,
    body: &[u8],
    reply: Reply,
    sender_blocked: bool,
) -> Result<Reply, sqlx::Error> {
    let outcome = if reply == Reply::Forged { "forged" } else { "malformed" };
    metrics::counter!("bnpl_callbacks_total", "provider" => provider, "outcome" => outcome).increment(1);
    if sender_blocked {
        return Ok(Reply::Throttled);
    }
    tracing::warn!(provider, outcome, "callback refused");
    let mut conn = services.pool.acquire().await?;
    inbound_callbacks::store_unverified(&mut conn, provider, body, outcome).await?;
    Ok(reply)
}

/// A verified callback about a payment of another account or provider: stored as
/// `account_mismatch`, counted, and nothing else changes (contract §7).
async fn mismatch(
    mut tx: sqlx::Transaction<'_, sqlx::Postgres>,
    provider: &'static str,
    body: &[u8],
    row: &PaymentRow,
) -> Result<Reply, sqlx::Error> {
    let outcome = "account_mismatch";
    tracing::warn!(
        provider,
        payment_id = %row.payment_id,
        payment_provider = %row.provider,
        payment_account = %row.account,
        "verified callback for a payment of another account: refused"
    );
    metrics::counter!("bnpl_callbacks_total", "provider" => provider, "outcome" => outcome).increment(1);
    inbound_callbacks::store_verified(&mut tx, provider, body, Some(&row.payment_id), outcome).await?;
    tx.commit().await?;
    Ok(Reply::AccountMismatch)
}

/// A verified callback that says nothing definite: bring the status check forward.
async fn check_now(conn: &mut PgConnection, row: &PaymentRow) -> Result<&'static str, sqlx::Error> {
    if !row.status().is_final() {
        schedule::status_check(conn, &row.payment_id, Utc::now(), 0).await?;
    }
    Ok("status_check")
}

fn label(applied: &Applied) -> &'static str {
    match applied {
        Applied::Moved { .. } => "applied",
        Applied::Repeated(_) => "repeated",
        Applied::Flagged(_) => "review",
        Applied::Ignored(status) if status.is_final() => "stale",
        Applied::Ignored(_) => "duplicate",
        Applied::Refused(_) => "refused",
    }
}
