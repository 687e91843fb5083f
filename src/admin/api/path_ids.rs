//! Ids taken from a request's path, checked before they reach a query: one that could never be
//! ours (not an id of contract §7, e.g. holding a NUL, which PostgreSQL refuses in text and which
//! used to fail the query as a 500) is no such payment or refund, a 404 like any unknown id.

use super::super::error::ApiError;
use crate::domain::{PaymentId, RefundId};

/// The path's payment id, or 404 `not_found`.
pub fn payment(raw: String) -> Result<String, ApiError> {
    PaymentId::new(raw)
        .map(String::from)
        .map_err(|_| ApiError::NotFound("payment"))
}

/// The path's refund id, or 404 `not_found`.
pub fn refund(raw: String) -> Result<String, ApiError> {
    RefundId::new(raw)
        .map(String::from)
        .map_err(|_| ApiError::NotFound("refund"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_that_could_never_be_ours_are_not_found() {
        assert_eq!(payment("ord-1".into()).ok().as_deref(), Some("ord-1"));
        assert_eq!(refund("rf_1.2".into()).ok().as_deref(), Some("rf_1.2"));
        for bad in ["a\0b", "", "a b", &"x".repeat(41)] {
            assert!(
                matches!(payment(bad.to_owned()), Err(ApiError::NotFound("payment"))),
                "{bad:?}"
            );
            assert!(
                matches!(refund(bad.to_owned()), Err(ApiError::NotFound("refund"))),
                "{bad:?}"
            );
        }
    }
}
