//! Filter values of the admin API and CLI, checked against what exists before any query runs.
//!
//! Why: a value PostgreSQL cannot even compare (`status=%00`, a NUL) used to fail the query (500),
//! and a value that merely matches nothing (`--status bogus`) answered an empty list as if it
//! were true. Invariant: a refused value is answered with the allowed values, quoted in part.

use crate::domain::limits;
use crate::domain::{AccountName, PaymentStatus, Provider, RefundStatus};
use std::fmt;
use std::str::FromStr;

/// A filter value that names nothing that can exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterError {
    pub field: &'static str,
    /// The values allowed, or the rule they follow.
    pub allowed: String,
    pub got: String,
}

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} must be one of {}; got {}",
            self.field,
            self.allowed,
            limits::quote(&self.got)
        )
    }
}

impl std::error::Error for FilterError {}

fn one_of<T: FromStr>(field: &'static str, allowed: &[&str], value: Option<String>) -> Result<Option<T>, FilterError> {
    value
        .map(|text| {
            text.parse().map_err(|_| FilterError {
                field,
                allowed: allowed.join(", "),
                got: text,
            })
        })
        .transpose()
}

pub fn payment_status(value: Option<String>) -> Result<Option<PaymentStatus>, FilterError> {
    let allowed = PaymentStatus::ALL.map(PaymentStatus::as_str);
    one_of("status", &allowed, value)
}

pub fn refund_status(value: Option<String>) -> Result<Option<RefundStatus>, FilterError> {
    let allowed = RefundStatus::ALL.map(RefundStatus::as_str);
    one_of("status", &allowed, value)
}

pub fn provider(value: Option<String>) -> Result<Option<Provider>, FilterError> {
    let allowed = Provider::ALL.map(Provider::as_str);
    one_of("provider", &allowed, value)
}

pub fn account(value: Option<String>) -> Result<Option<AccountName>, FilterError> {
    value
        .map(|text| {
            AccountName::new(text.clone()).map_err(|_| FilterError {
                field: "account",
                allowed: format!("account names ({})", AccountName::RULE),
                got: text,
            })
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values_pass_and_others_name_the_allowed_ones() {
        assert_eq!(
            payment_status(Some("needs_review".into())),
            Ok(Some(PaymentStatus::NeedsReview))
        );
        assert_eq!(payment_status(None), Ok(None));
        let error = payment_status(Some("\u{0}".into())).unwrap_err();
        assert!(error.to_string().contains("accepted, pending"), "{error}");
        assert!(refund_status(Some("bogus".into()))
            .unwrap_err()
            .to_string()
            .contains("queued"));
        assert!(provider(Some("paypal".into()))
            .unwrap_err()
            .to_string()
            .contains("humm, valu"));
        assert!(account(Some("a b".into())).is_err());
        assert!(account(Some("default".into())).is_ok());
    }
}
