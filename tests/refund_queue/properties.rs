//! What must hold in every reachable state of the refund-queue model, and what must be reachable
//! at all (so that the properties cannot pass on a model that never gets anywhere).
//!
//! stateright's `eventually` has no fairness and is vacuous on cycles, so the liveness promise
//! ("every accepted refund ends final or in review") is stated over terminal states, the states
//! where no step changes anything, and a `sometimes` asserts that terminal states with sent
//! refunds are reached.

use super::model::{blocks_queue, RefundQueue};
use super::state::{Refund, State};
use stateright::Property;

pub const ONE_IN_FLIGHT: &str = "never two refunds in flight on one account";
pub const ONE_AT_THE_PROVIDER: &str = "the provider never works on two refunds of the account at once";
pub const POSITION_ORDER: &str = "sends in position order";
pub const WITHIN_CAPTURE: &str = "the refunded total never above the captured amount";
pub const ONE_ID: &str = "never one refund sent under two ids";
pub const SETTLED_AT_END: &str = "in a terminal state every accepted refund is final or in review";
pub const REACHES_AN_END: &str = "terminal states with sent refunds are reached";
pub const SENT_TWICE: &str = "some refund is handed to a second sender (takeover)";

pub fn all() -> Vec<Property<RefundQueue>> {
    vec![
        Property::always(ONE_IN_FLIGHT, |_, s: &State| {
            s.rows().filter(|(_, row)| blocks_queue(row.status)).count() <= 1
        }),
        // Stronger than the rows: what the provider holds pending, whatever our rows say.
        Property::always(ONE_AT_THE_PROVIDER, |_, s: &State| {
            let mut pending: Vec<u8> = s
                .provider
                .iter()
                .filter(|op| op.outcome == super::state::ProviderOutcome::Pending)
                .map(|op| op.refund)
                .collect();
            pending.dedup();
            pending.len() <= 1
        }),
        Property::always(POSITION_ORDER, |_, s: &State| {
            let positions: Vec<u8> = s
                .first_receipts
                .iter()
                .filter_map(|&i| s.row(i as usize).map(|row| row.position))
                .collect();
            positions.len() == s.first_receipts.len() && positions.windows(2).all(|pair| pair[0] < pair[1])
        }),
        Property::always(WITHIN_CAPTURE, |m: &RefundQueue, s: &State| {
            let ours: i64 = s
                .rows()
                .filter(|(_, row)| row.status == bnpl::domain::RefundStatus::Succeeded)
                .map(|(i, _)| m.amounts[i])
                .sum();
            m.provider_total(s) <= m.captured && ours <= m.captured
        }),
        Property::always(ONE_ID, |_, s: &State| {
            (0..s.refunds.len()).all(|i| s.provider.iter().filter(|op| op.refund as usize == i).count() <= 1)
        }),
        Property::always(SETTLED_AT_END, |m: &RefundQueue, s: &State| {
            !m.is_terminal(s)
                || s.refunds.iter().all(|refund| match refund {
                    Refund::NotArrived => false,
                    Refund::Rejected => true,
                    Refund::Accepted(row) => {
                        row.status.is_final() || row.status == bnpl::domain::RefundStatus::NeedsReview
                    }
                })
        }),
        Property::sometimes(REACHES_AN_END, |m: &RefundQueue, s: &State| {
            s.first_receipts.len() >= 2 && m.is_terminal(s)
        }),
        // Only a crash or a pause can hand a send to a second claim.
        Property::sometimes(SENT_TWICE, |m: &RefundQueue, s: &State| {
            m.budget.crashes + m.budget.pauses == 0
                || s.rows().any(|(_, row)| row.send_job.is_some_and(|job| job.claims > 1))
        }),
    ]
}
