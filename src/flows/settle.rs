//! From a provider's view of a payment (a callback or a status answer) to the state-machine event
//! that applies it. One place, so callbacks and status checks can never disagree.

use crate::domain::events::Reason;
use crate::domain::payment_state::PaymentEvent;
use crate::ledger::Change;
use crate::providers::outcome::PaymentState;

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

/// `reason` of contract §3: `{code, message, provider_code, provider_message}`.
pub fn provider_reason(code: &str, provider_code: &str, provider_message: &str) -> Reason {
    Reason::from_provider(code, provider_code, provider_message)
}
