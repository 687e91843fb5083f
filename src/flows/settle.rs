//! From a provider's view of a payment (a callback or a status answer) to the state-machine event
//! that applies it. One place, so callbacks and status checks can never disagree.

use crate::domain::events::Reason;
use crate::domain::payment_state::PaymentEvent;
use crate::domain::PaymentStatus;
use crate::ledger::Change;
use crate::providers::outcome::PaymentState;
use crate::store::payments::PaymentRow;

/// The event and its details for a provider-reported state; None when the state says nothing
/// new (still pending or waiting for the customer).
pub fn event_for(state: &PaymentState, actor: &str) -> Option<(PaymentEvent, Change)> {
    let change = Change::by(actor);
    match state {
        PaymentState::Succeeded => Some((PaymentEvent::Succeeded, change)),
        PaymentState::Declined { code, message } => Some((
            PaymentEvent::Declined,
            Change {
                reason: Some(provider_reason("declined", code, message)),
                ..change
            },
        )),
        PaymentState::Failed { code, message } => Some((
            PaymentEvent::Failed,
            Change {
                reason: Some(provider_reason("provider_error", code, message)),
                ..change
            },
        )),
        PaymentState::ActionRequired { .. } | PaymentState::Pending { .. } => None,
    }
}

/// The registration a provider's answer about a humm Gate payment still `accepted` implies: the
/// answer knows the payment, so ecommpay has the sale, and the payment announces `pending` before
/// `event` (contract §3: humm Gate `accepted → pending → … → succeeded | declined`), as a callback
/// racing the sale's own answer does. None when `row` is past `accepted` or not a Gate payment.
pub fn implied_registration(row: &PaymentRow, event: PaymentEvent, actor: &str) -> Option<Change> {
    let implied = row.provider == "humm"
        && row.flow == "gate"
        && row.status() == PaymentStatus::Accepted
        && event != PaymentEvent::Registered;
    implied.then(|| Change {
        note: Some("registration implied by the provider's answer".to_owned()),
        ..Change::by(actor)
    })
}

/// `reason` of contract §3: `{code, message, provider_code, provider_message}`.
pub fn provider_reason(code: &str, provider_code: &str, provider_message: &str) -> Reason {
    Reason::from_provider(code, provider_code, provider_message)
}
