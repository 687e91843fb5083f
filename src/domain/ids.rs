//! Identifiers that cross system boundaries, validated once at construction.
//!
//! [`PaymentId`] and [`RefundId`] are the merchant's idempotency keys *and* the providers' own ids
//! (ecommpay `payment_id`, APS `merchant_reference` / `maintenance_reference`), so they follow the
//! strictest provider rule: 1–40 characters of `A-Z a-z 0-9 - _ .` (contract §2). Checking here
//! means a bad id is refused before anything is stored or sent, never half-way through a provider
//! call. [`AccountName`] names a configured provider account. Deserializing validates too, and the
//! error names the rule so a rejected command says how to fix it.

use std::fmt;
use std::str::FromStr;

/// Longest payment or refund id the providers accept (APS `merchant_reference`).
pub const PROVIDER_ID_MAX_LEN: usize = 40;
/// Longest account name.
pub const ACCOUNT_NAME_MAX_LEN: usize = 64;

/// An identifier that breaks its type's rule; the message states the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} must be {rule}, got {}", super::limits::quote(value))]
pub struct IdError {
    /// Which identifier was being built (`payment_id`, `refund_id`, `account`).
    pub what: &'static str,
    /// The rule, in words.
    pub rule: &'static str,
    /// The offending value.
    pub value: String,
}

fn is_provider_id_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')
}

fn is_account_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_')
}

/// Defines a validated `String` newtype: construction, serde (via `TryFrom<String>`), `FromStr`,
/// `Display`, `AsRef<str>`. Keeping one definition means the three ids cannot drift apart.
macro_rules! validated_id {
    ($(#[$doc:meta])* $name:ident, $what:literal, $rule:literal, $max:expr, $char_ok:path) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[derive(serde::Serialize, serde::Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// The rule a value must follow, in words (used in error messages).
            pub const RULE: &'static str = $rule;

            /// Validates `value` against [`Self::RULE`].
            pub fn new(value: impl Into<String>) -> Result<Self, IdError> {
                let value = value.into();
                // Characters are ASCII when valid, so the byte length is the character count.
                let ok = !value.is_empty() && value.len() <= $max && value.chars().all($char_ok);
                if ok {
                    Ok($name(value))
                } else {
                    Err(IdError { what: $what, rule: $rule, value })
                }
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                $name::new(value)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> Self {
                value.0
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $name::new(s)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl schemars::JsonSchema for $name {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }

            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                let pattern = match $what {
                    "account" => "^[A-Za-z0-9_-]+$",
                    _ => "^[A-Za-z0-9._-]+$",
                };
                schemars::json_schema!({
                    "type": "string",
                    "description": $rule,
                    "minLength": 1,
                    "maxLength": $max,
                    "pattern": pattern
                })
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

validated_id!(
    /// The merchant's payment id: unique across the orchestrator, the idempotency key of
    /// `purchase.create`, and the provider's payment id.
    PaymentId,
    "payment_id",
    "1-40 characters of A-Z a-z 0-9 - _ .",
    PROVIDER_ID_MAX_LEN,
    is_provider_id_char
);

validated_id!(
    /// The merchant's refund id: the idempotency key of `refund.create` and the provider's
    /// refund reference (ecommpay `merchant_refund_id`, APS `maintenance_reference`).
    RefundId,
    "refund_id",
    "1-40 characters of A-Z a-z 0-9 - _ .",
    PROVIDER_ID_MAX_LEN,
    is_provider_id_char
);

validated_id!(
    /// The name of a configured provider account (merchant project), e.g. `default`.
    AccountName,
    "account",
    "1-64 characters of A-Z a-z 0-9 - _",
    ACCOUNT_NAME_MAX_LEN,
    is_account_char
);

#[cfg(test)]
#[path = "ids_tests.rs"]
mod tests;
