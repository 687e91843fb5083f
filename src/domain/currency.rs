//! ISO-4217 alpha-3 currency codes.
//!
//! A [`Currency`] is always exactly three ASCII uppercase letters: that is checked once, at
//! construction (and therefore at deserialization), so the rest of the code never re-validates.
//! Whether a currency is *supported* is a provider rule (humm takes GBP, valU takes EGP, see
//! [`crate::domain::Provider::currency`]), checked where commands are validated, not here: a
//! well-formed but unsupported code must reach that check and be rejected as a business refusal,
//! not fail the schema and land in the dead letters (contract §1, §2).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// An ISO-4217 alpha-3 currency code such as `GBP`; serialized as that string.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency([u8; 3]);

/// A currency code that is not three ASCII uppercase letters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("currency must be an ISO-4217 code of three uppercase letters A-Z, got {0:?}")]
pub struct CurrencyError(pub String);

impl Currency {
    /// Pound sterling, humm's currency (2 decimal places).
    pub const GBP: Currency = Currency(*b"GBP");
    /// Egyptian pound, valU's currency (2 decimal places).
    pub const EGP: Currency = Currency(*b"EGP");

    /// Validates `code` as three ASCII uppercase letters. Lowercase is refused rather than
    /// folded, so the code we store and echo is byte-for-byte the one we were sent.
    pub fn new(code: &str) -> Result<Self, CurrencyError> {
        match code.as_bytes() {
            [a, b, c] if [a, b, c].iter().all(|ch| ch.is_ascii_uppercase()) => Ok(Currency([*a, *b, *c])),
            _ => Err(CurrencyError(code.to_owned())),
        }
    }

    /// The code as text, e.g. `"GBP"`.
    pub fn as_str(&self) -> &str {
        // Construction admits only ASCII letters, so this cannot fail; `XXX` is ISO-4217's own
        // "no currency" code, a harmless answer for the impossible case.
        std::str::from_utf8(&self.0).unwrap_or("XXX")
    }

    /// Number of decimal places of the minor unit (ISO-4217 "minor unit"), for the currencies
    /// whose exponent we know; `None` for others, which are then shown in minor units only.
    pub fn minor_exponent(&self) -> Option<u32> {
        match &self.0 {
            b"GBP" | b"EGP" | b"EUR" | b"USD" => Some(2),
            b"JPY" => Some(0),
            b"KWD" | b"BHD" | b"OMR" | b"JOD" => Some(3),
            _ => None,
        }
    }
}

impl FromStr for Currency {
    type Err = CurrencyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Currency::new(s)
    }
}

impl TryFrom<String> for Currency {
    type Error = CurrencyError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Currency::new(&value)
    }
}

impl From<Currency> for String {
    fn from(value: Currency) -> Self {
        value.as_str().to_owned()
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Currency({})", self.as_str())
    }
}

impl schemars::JsonSchema for Currency {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Currency".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "An ISO-4217 code of three uppercase letters (humm: GBP, valU: EGP).",
            "pattern": "^[A-Z]{3}$"
        })
    }
}
