//! How much of a captured payment may still be refunded.
//!
//! Invariant (contract §2): the refunds that count against the captured amount are those whose
//! status says [`RefundStatus::counts_against_balance`] (queued, in flight, succeeded, needs
//! review), and their sum plus a new refund may never exceed the capture. A closed refund flagged
//! for review counts too: a provider reported it succeeded after we had declined it (contract
//! §3), so its money may have left, and the balance must not offer it again until ops decide.
//! The store calls [`check_refund`] inside the transaction that enqueues the refund, under a lock
//! on the payment, so two concurrent partial refunds see each other (design §1). Whether the payment is in a
//! state that can be refunded at all is the caller's question, not this module's.

use super::{Currency, Money, MoneyError, RefundStatus};

/// An existing refund of the payment, as far as the balance is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExistingRefund {
    /// Its current status.
    pub status: RefundStatus,
    /// Its amount.
    pub amount: Money,
    /// Flagged for review: a provider answer contradicted its status.
    pub flagged: bool,
}

impl ExistingRefund {
    /// Whether it counts against the captured amount (see the module invariant).
    pub fn counts_against_balance(&self) -> bool {
        self.status.counts_against_balance() || self.flagged
    }
}

/// Why a refund cannot be accepted against a payment's balance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BalanceError {
    /// The refund (or a stored one) is not in the payment's currency.
    #[error("refund currency {found} does not match the payment currency {expected}")]
    CurrencyMismatch {
        /// The captured amount's currency.
        expected: Currency,
        /// The currency found.
        found: Currency,
    },
    /// A refund must be for more than zero.
    #[error("refund amount must be greater than zero, got {requested}")]
    NotPositive {
        /// The requested amount.
        requested: Money,
    },
    /// The refund exceeds what remains refundable.
    #[error("refund of {requested} exceeds the refundable remainder of {remaining}")]
    OverRefund {
        /// The requested amount.
        requested: Money,
        /// What remains refundable.
        remaining: Money,
    },
    /// The sums do not fit in minor units (only with absurd stored data).
    #[error("refund amounts overflow")]
    Overflow,
}

impl BalanceError {
    /// The `command.rejected` reason code (contract §3).
    pub const fn code(&self) -> &'static str {
        match self {
            BalanceError::OverRefund { .. } => "over_refund",
            BalanceError::CurrencyMismatch { .. } | BalanceError::NotPositive { .. } | BalanceError::Overflow => {
                "invalid"
            }
        }
    }
}

impl From<MoneyError> for BalanceError {
    fn from(err: MoneyError) -> Self {
        match err {
            MoneyError::CurrencyMismatch { left, right } => BalanceError::CurrencyMismatch {
                expected: left,
                found: right,
            },
            MoneyError::Overflow => BalanceError::Overflow,
        }
    }
}

/// Sum of the refunds whose status satisfies `keep`. Every refund must be in `currency`, counted
/// or not: a stored refund in another currency is corrupt data and must not be silently skipped.
fn total_where(
    currency: Currency,
    existing: &[ExistingRefund],
    keep: impl Fn(&ExistingRefund) -> bool,
) -> Result<Money, BalanceError> {
    existing.iter().try_fold(Money::zero(currency), |sum, r| {
        let with = sum.checked_add(r.amount)?;
        Ok(if keep(r) { with } else { sum })
    })
}

/// Total of the refunds that count against the balance (queued, in flight, succeeded, needs
/// review, or flagged for review).
pub fn counted_total(currency: Currency, existing: &[ExistingRefund]) -> Result<Money, BalanceError> {
    total_where(currency, existing, ExistingRefund::counts_against_balance)
}

/// Total of the refunds the provider has made (`refunded_total_minor` on refund events).
pub fn succeeded_total(currency: Currency, existing: &[ExistingRefund]) -> Result<Money, BalanceError> {
    total_where(currency, existing, |r| r.status == RefundStatus::Succeeded)
}

/// `captured` minus the counted refunds. Negative only if the stored refunds already exceed the
/// capture, which the locked check makes impossible; then no refund passes [`check_refund`].
pub fn refundable_remainder(captured: Money, existing: &[ExistingRefund]) -> Result<Money, BalanceError> {
    let counted = counted_total(captured.currency, existing)?;
    Ok(captured.checked_sub(counted)?)
}

/// Accepts `requested` against the balance: same currency as the capture, more than zero, and
/// not more than [`refundable_remainder`].
pub fn check_refund(captured: Money, existing: &[ExistingRefund], requested: Money) -> Result<(), BalanceError> {
    if requested.currency != captured.currency {
        return Err(BalanceError::CurrencyMismatch {
            expected: captured.currency,
            found: requested.currency,
        });
    }
    if !requested.is_positive() {
        return Err(BalanceError::NotPositive { requested });
    }
    let remaining = refundable_remainder(captured, existing)?;
    if requested.minor > remaining.minor {
        return Err(BalanceError::OverRefund { requested, remaining });
    }
    Ok(())
}

#[cfg(test)]
#[path = "balance_tests.rs"]
mod tests;
