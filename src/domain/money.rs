//! Amounts of money in integer minor units.
//!
//! Invariants: an amount is an `i64` count of the currency's minor unit (pence, piastres) and is
//! never a float, so sums and comparisons are exact; arithmetic is checked, refusing to mix
//! currencies and refusing to overflow instead of wrapping. The serde shape is exactly
//! `{"minor": 15000, "currency": "GBP"}` (contract §2); `minor` must be a JSON integer.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::Currency;

/// An amount in integer minor units of one currency: `{"minor": 15000, "currency": "GBP"}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Money {
    /// The amount in minor units (e.g. pence); may be negative only as an intermediate result
    /// (every amount a command or event carries is at least 1).
    #[schemars(range(min = 1))]
    pub minor: i64,
    /// The currency the minor units belong to.
    pub currency: Currency,
}

/// Why an arithmetic operation on [`Money`] has no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    /// The two operands are in different currencies; there is no exchange rate in this service.
    #[error("currency mismatch: {left} and {right}")]
    CurrencyMismatch {
        /// Currency of the left operand.
        left: Currency,
        /// Currency of the right operand.
        right: Currency,
    },
    /// The exact result does not fit in an `i64` of minor units.
    #[error("amount overflow")]
    Overflow,
}

impl Money {
    /// An amount of `minor` units of `currency`.
    pub const fn new(minor: i64, currency: Currency) -> Self {
        Money { minor, currency }
    }

    /// Zero in `currency`, the start of a sum.
    pub const fn zero(currency: Currency) -> Self {
        Money { minor: 0, currency }
    }

    /// True when the amount is strictly greater than zero (what a payment or refund must be).
    pub const fn is_positive(&self) -> bool {
        self.minor > 0
    }

    /// `self + other`, or why not (different currencies, overflow).
    pub fn checked_add(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        let minor = self.minor.checked_add(other.minor).ok_or(MoneyError::Overflow)?;
        Ok(Money::new(minor, self.currency))
    }

    /// `self - other`, or why not (different currencies, overflow). May be negative.
    pub fn checked_sub(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        let minor = self.minor.checked_sub(other.minor).ok_or(MoneyError::Overflow)?;
        Ok(Money::new(minor, self.currency))
    }

    fn same_currency(self, other: Money) -> Result<(), MoneyError> {
        if self.currency == other.currency {
            Ok(())
        } else {
            Err(MoneyError::CurrencyMismatch {
                left: self.currency,
                right: other.currency,
            })
        }
    }
}

/// Human text for logs and the dashboard: `150.00 GBP`; minor units and the code when the
/// currency's exponent is unknown (`15000 minor XYZ`).
impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(exp) = self.currency.minor_exponent() else {
            return write!(f, "{} minor {}", self.minor, self.currency);
        };
        if exp == 0 {
            return write!(f, "{} {}", self.minor, self.currency);
        }
        let scale = 10u64.pow(exp);
        // unsigned_abs: i64::MIN has no positive i64 counterpart.
        let abs = self.minor.unsigned_abs();
        let sign = if self.minor < 0 { "-" } else { "" };
        let (whole, frac) = (abs / scale, abs % scale);
        let width = exp as usize;
        write!(f, "{sign}{whole}.{frac:0width$} {}", self.currency)
    }
}

#[cfg(test)]
#[path = "money_tests.rs"]
mod tests;
