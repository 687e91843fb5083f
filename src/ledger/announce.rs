//! Typed events from the rows the writer is about to store (contract §3). The only place an
//! event body is put together; the hygiene rules are applied here: an `action` only on
//! `action_required`, a `reason` only where [`EventType::may_carry_reason`] allows it and only
//! when this change brings one, `flow` only for humm.

use crate::domain::events::{
    Action, CommandRejected, Envelope, EventReason, EventType, PaymentEvent, Reason, RefundEvent, Resolution,
};
use crate::domain::{Currency, Flow, Money, PaymentStatus, Provider, RefundStatus};
use crate::store::payments::PaymentRow;
use crate::store::refunds::RefundRow;

fn money(minor: i64, currency: &str) -> Money {
    Money::new(minor, currency.trim().parse().unwrap_or(Currency::GBP))
}

/// The event announcing `row` as it is after a change. `flagged`: the status stays and the
/// payment is flagged for review (`payment.needs_review`).
pub fn payment(
    row: &PaymentRow,
    flagged: bool,
    action: Option<Action>,
    reason: Option<EventReason>,
    resolution: Option<Resolution>,
) -> PaymentEvent {
    let status: PaymentStatus = row.status();
    let event_type = match (&resolution, flagged) {
        (Some(_), _) => EventType::PaymentResolved,
        (None, true) => EventType::PaymentNeedsReview,
        (None, false) => EventType::of_payment(status),
    };
    let provider: Provider = row.provider.parse().unwrap_or(Provider::Humm);
    let flow = match provider {
        Provider::Humm => row.flow.parse::<Flow>().ok(),
        Provider::Valu => None,
    };
    PaymentEvent {
        envelope: Envelope::new(event_type, Some(row.last_sequence)),
        payment_id: row.payment_id.clone(),
        provider,
        account: row.account.clone(),
        flow,
        status,
        amount: money(row.amount_minor, &row.currency),
        action: action.filter(|_| event_type == EventType::PaymentActionRequired),
        provider_reference: row.provider_reference.clone(),
        reason: reason.filter(|_| event_type.may_carry_reason()),
        metadata: row.metadata.clone(),
        resolution,
    }
}

/// `payment.external`: a payment made outside the orchestrator, adopted (issue 20). Its status
/// is `pending`: what it became is asked of the provider.
pub fn external(row: &PaymentRow) -> PaymentEvent {
    let mut event = payment(row, false, None, None, None);
    event.envelope.event_type = EventType::PaymentExternal;
    event
}

/// `refund.action_required` (manual refund mode, issue 20): `announced` re-typed, with what
/// finance needs to file the refund at the provider.
pub fn action_required(mut announced: RefundEvent, payment: &PaymentRow) -> RefundEvent {
    announced.envelope.event_type = EventType::RefundActionRequired;
    announced.filing = Some(crate::domain::events::ManualFiling {
        account: payment.account.clone(),
        sale_reference: payment.provider_reference.clone(),
        record_with: format!("POST /admin/v1/refunds/{}/record", announced.refund_id),
    });
    announced
}

/// The event announcing `refund` as it is after a change, the next event of `payment` (numbered
/// after its last, with its metadata), with the payment's refunded total after it. `flagged`: its
/// status stays and it is flagged for review (`refund.needs_review`).
pub fn refund(
    refund: &RefundRow,
    payment: &PaymentRow,
    refunded_total_minor: i64,
    flagged: bool,
    reason: Option<EventReason>,
    resolved_by: Option<String>,
) -> RefundEvent {
    let status: RefundStatus = refund.status();
    let event_type = if flagged {
        EventType::RefundNeedsReview
    } else {
        EventType::of_refund(status)
    };
    RefundEvent {
        envelope: Envelope::new(event_type, Some(payment.last_sequence + 1)),
        refund_id: refund.refund_id.clone(),
        payment_id: refund.payment_id.clone(),
        status,
        amount: money(refund.amount_minor, &refund.currency),
        refunded_total_minor,
        metadata: payment.metadata.clone(),
        position: refund.position,
        queue: refund.queue_key.clone(),
        requested_by: refund.requested_by.clone(),
        provider_reference: refund.provider_reference.clone(),
        reason: reason.filter(|_| event_type.may_carry_reason()),
        resolved_by,
        filing: None,
    }
}

/// `command.rejected`: the command type, its subject when it named one, and why.
pub fn rejected(command_type: &str, subject: Option<&str>, reason: Reason) -> CommandRejected {
    let refund = command_type.starts_with("refund.");
    CommandRejected {
        envelope: Envelope::new(EventType::CommandRejected, None),
        command_type: command_type.to_owned(),
        payment_id: subject.filter(|_| !refund).map(str::to_owned),
        refund_id: subject.filter(|_| refund).map(str::to_owned),
        reason,
    }
}

/// `account.*`: an account's state changed to `state`, announced as `event_type`
/// (`account.paused`, `account.resumed`, `account.circuit_opened`, `account.circuit_closed`).
pub fn account(
    event_type: EventType,
    provider: crate::domain::Provider,
    account: &str,
    state: &str,
    reason: Option<&str>,
    changed_by: &str,
) -> crate::domain::events::AccountEvent {
    crate::domain::events::AccountEvent {
        envelope: Envelope::new(event_type, None),
        provider,
        account: account.to_owned(),
        state: state.to_owned(),
        reason: reason.map(str::to_owned),
        changed_by: changed_by.to_owned(),
    }
}
