//! Payments made outside the orchestrator (issue 20, contract §7): a payment link in ecommpay's
//! dashboard, say, whose verified callbacks name a `payment_id` we never created.
//!
//! Invariants:
//! - such a callback is always stored and answered 200 (the provider stops retrying);
//! - it becomes a payment only when the signing account opted in (`adopt_external = true`), its
//!   id passes the contract's syntax, and it reports a positive amount in the provider's
//!   currency: then the payment starts `pending` with origin `external`, announced as
//!   `payment.external`, and a status query is scheduled at once;
//! - an external payment's state comes only from status queries: its callbacks (this one and
//!   every later one) only bring the status query forward, because nobody here asked for the
//!   payment and a callback is a hint, not the provider's ledger.

use super::{check_now, schedule, Delivery, Reply};
use crate::domain::{PaymentId, Provider};
use crate::ledger::payment::{self, ExternalPayment};
use crate::store::payments::PaymentRow;
use chrono::Utc;
use sqlx::PgConnection;
use std::time::Duration;

/// The signing account opted in to adopting external payments, with its threshold time (an
/// adopted payment is given up on like any other).
#[derive(Debug, Clone, Copy)]
pub struct Adoption {
    pub threshold_time: Duration,
    /// The most a payment of the signing account can be (humm's limit, a valU account's
    /// `max_amount_minor`): a larger one is no sale we could have taken.
    pub max_amount_minor: i64,
}

/// What a callback says about a payment we do not have.
#[derive(Debug, Clone)]
pub struct Reported {
    pub amount_minor: i64,
    pub currency: String,
    pub provider_reference: Option<String>,
    /// humm: `gate` (a payment link is a Gate sale); valU: `api`.
    pub flow: &'static str,
}

/// A verified callback about `payment_id`, which we do not have: adopted when the account opted
/// in and the payment passes the contract, else stored as `unknown_payment`.
pub(super) async fn unknown_payment(
    delivery: &Delivery<'_>,
    conn: &mut PgConnection,
    payment_id: &str,
    adoption: Option<Adoption>,
    reported: Option<Reported>,
    actor: &str,
) -> Result<Reply, sqlx::Error> {
    let (Some(adoption), Some(reported)) = (adoption, reported) else {
        return delivery.unknown(conn, Some(payment_id)).await;
    };
    if let Err(problem) = adoptable(
        delivery.signer.provider,
        payment_id,
        &reported,
        adoption.max_amount_minor,
    ) {
        tracing::warn!(payment_id = %crate::domain::limits::quote(payment_id), problem,
            "verified callback for a payment made outside the orchestrator: stored, not adopted");
        return delivery.unknown(conn, Some(payment_id)).await;
    }
    // The provider's own currency, which `adoptable` found reported (however spelled).
    let currency = delivery.signer.provider.currency();
    let external = ExternalPayment {
        payment_id,
        provider: delivery.signer.provider.as_str(),
        account: delivery.signer.account,
        flow: reported.flow,
        amount_minor: reported.amount_minor,
        currency: currency.as_str(),
        provider_reference: reported.provider_reference.as_deref(),
        threshold_at: Utc::now() + adoption.threshold_time,
    };
    match payment::adopt_external(conn, &external, actor).await? {
        Some(row) => {
            schedule::status_check(conn, &row.payment_id, Utc::now(), 0).await?;
            tracing::info!(payment_id, "payment made outside the orchestrator adopted");
            delivery.finish(conn, payment_id, "adopted").await
        }
        // Created meanwhile by another process: nothing to adopt.
        None => delivery.unknown(conn, Some(payment_id)).await,
    }
}

/// A callback about an external payment: it only brings the status query forward.
pub(super) async fn hint(
    delivery: &Delivery<'_>,
    conn: &mut PgConnection,
    row: &PaymentRow,
) -> Result<Reply, sqlx::Error> {
    let outcome = check_now(conn, row).await?;
    delivery.finish(conn, &row.payment_id, outcome).await
}

/// Ok when a reported payment may become one of ours; Err says why not.
fn adoptable(provider: Provider, payment_id: &str, reported: &Reported, most: i64) -> Result<(), &'static str> {
    PaymentId::new(payment_id).map_err(|_| "its id does not pass the contract's syntax")?;
    if reported.amount_minor <= 0 {
        return Err("its amount is not positive");
    }
    // Above the account's own limit (contract §2) it is no sale we could have taken, and it
    // would weigh every refund against a figure nobody agreed to.
    if reported.amount_minor > most {
        return Err("its amount is above the provider's limit");
    }
    if !reported
        .currency
        .trim()
        .eq_ignore_ascii_case(provider.currency().as_str())
    {
        return Err("its currency is not the provider's");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reported(amount_minor: i64, currency: &str) -> Reported {
        Reported {
            amount_minor,
            currency: currency.to_owned(),
            provider_reference: None,
            flow: "gate",
        }
    }

    #[test]
    fn only_payments_the_contract_accepts_are_adopted() {
        assert!(adoptable(Provider::Humm, "link-42", &reported(1500, "GBP"), 3_000_000).is_ok());
        assert!(adoptable(Provider::Humm, "link 42/x", &reported(1500, "GBP"), 3_000_000).is_err());
        assert!(adoptable(Provider::Humm, &"x".repeat(41), &reported(1500, "GBP"), 3_000_000).is_err());
        assert!(adoptable(Provider::Humm, "link-42", &reported(0, "GBP"), 3_000_000).is_err());
        assert!(adoptable(Provider::Humm, "link-42", &reported(1500, "EGP"), 3_000_000).is_err());
        assert!(adoptable(Provider::Valu, "link-42", &reported(1500, "EGP"), 100_000_000).is_ok());
        assert!(adoptable(Provider::Humm, "link-42", &reported(3_000_000, " gbp"), 3_000_000).is_ok());
        assert!(adoptable(Provider::Humm, "link-42", &reported(3_000_001, "GBP"), 3_000_000).is_err());
        assert!(adoptable(Provider::Valu, "link-42", &reported(100_000_001, "EGP"), 100_000_000).is_err());
    }
}
