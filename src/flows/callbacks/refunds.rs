//! Refund results in callbacks: an ecommpay refund callback (about the payment's refund in
//! flight, matched by the request id we recorded) or an APS refund notification (matched by
//! `maintenance_reference`, our refund id). Applied through the ledger like any refund change.

use crate::domain::refund_state::RefundEvent;
use crate::flows::{schedule, settle};
use crate::ledger::refund::{self, Promotions, RefundApplied, RefundChange};
use crate::providers::aps::notification;
use crate::providers::ecommpay::callback;
use crate::providers::outcome::{Expected, PaymentState, RefundMatch};
use crate::store::payments::PaymentRow;
use crate::store::refunds::{self, RefundRow};
use chrono::Utc;
use sqlx::PgConnection;
use std::sync::Arc;

/// An ecommpay refund callback: it carries the payment's id; it settles the refund of that
/// payment in flight when it matches it (providers.md §1.6 "Matching refund results").
pub async fn ecommpay(
    conn: &mut PgConnection,
    payment: &PaymentRow,
    parsed: &callback::Callback,
    actor: &str,
    promotions: Option<&Arc<Promotions>>,
) -> Result<&'static str, sqlx::Error> {
    let Some(refund) = refunds::in_flight_of_payment(conn, &payment.payment_id).await? else {
        return Ok("stale");
    };
    // A late or repeated callback about an earlier refund of this payment carries that refund's
    // request id: it is stale, whatever the refund in flight now looks like.
    let request_id = parsed.operation.as_ref().and_then(|op| op.request_id.clone());
    if let Some(request_id) = &request_id {
        let owner = refunds::by_request_id(conn, &payment.payment_id, request_id).await?;
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
    apply_match(
        conn,
        &refund,
        parsed.match_refund(&expected),
        request_id,
        actor,
        promotions,
    )
    .await
}

/// An APS refund notification, matched by `maintenance_reference` (our refund id).
pub async fn aps(
    conn: &mut PgConnection,
    payment: &PaymentRow,
    parsed: &notification::Notification,
    refund_id: &str,
    actor: &str,
    promotions: Option<&Arc<Promotions>>,
) -> Result<&'static str, sqlx::Error> {
    let Some(refund) = refunds::get(conn, refund_id)
        .await?
        .filter(|r| r.payment_id == payment.payment_id)
    else {
        return Ok("stale");
    };
    let expected = Expected::money(&payment.payment_id, refund.amount_minor, &refund.currency);
    apply_match(
        conn,
        &refund,
        parsed.match_refund(&expected, refund_id),
        None,
        actor,
        promotions,
    )
    .await
}

/// Applies what the callback says about `refund`. `request_id` is the provider's request id the
/// callback carries: an end taken by the amount alone (we held no request id) records it, so a
/// late or repeated copy of the same callback is known as this refund's and cannot end the next
/// refund of the payment with the same amount. An end promotes the queue's next refund into
/// `promotions`, when given.
async fn apply_match(
    conn: &mut PgConnection,
    refund: &RefundRow,
    matched: RefundMatch,
    request_id: Option<String>,
    actor: &str,
    promotions: Option<&Arc<Promotions>>,
) -> Result<&'static str, sqlx::Error> {
    let declined = |code: &str, message: &str| RefundChange {
        decline: Some(settle::provider_reason("declined", code, message)),
        provider_request_id: request_id.clone(),
        ..RefundChange::by(actor)
    };
    let (event, change) = match matched {
        RefundMatch::Ours(PaymentState::Succeeded) => (RefundEvent::Succeeded, RefundChange::by(actor)),
        // A signed decline of this payment's refund with our amount is taken even before we
        // recorded the request id (the answer and the callback raced, or the answer was lost):
        // only one refund per account is in flight. A success is never taken on trust: that one
        // waits for the status query below.
        RefundMatch::Ours(PaymentState::Declined { code, message })
        | RefundMatch::Unconfirmed(PaymentState::Declined { code, message }) => {
            (RefundEvent::Declined, declined(&code, &message))
        }
        // A technical failure at the provider, not a refusal: no money moved (`refund.failed`).
        RefundMatch::Ours(PaymentState::Failed { code, message })
        | RefundMatch::Unconfirmed(PaymentState::Failed { code, message }) => (
            RefundEvent::Failed,
            RefundChange {
                decline: Some(settle::provider_reason("provider_error", &code, &message)),
                provider_request_id: request_id.clone(),
                ..RefundChange::by(actor)
            },
        ),
        RefundMatch::Ours(_) => return Ok("pending"),
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
        RefundMatch::Mismatch { reason } => (
            RefundEvent::NoDefiniteAnswer,
            RefundChange {
                note: Some(reason),
                ..RefundChange::by(actor)
            },
        ),
    };
    let change = change.promoting_next(promotions);
    Ok(match refund::apply(conn, refund, event, &change).await?.0 {
        RefundApplied::Moved { .. } => "applied",
        RefundApplied::Flagged(_) => "review",
        RefundApplied::Ignored | RefundApplied::Stayed => "duplicate",
        RefundApplied::Refused(_) => "refused",
    })
}
