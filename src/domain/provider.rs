//! Which BNPL provider a payment uses, and which humm flow.
//!
//! Each provider takes exactly one currency (humm via ecommpay: GBP; valU via Amazon Payment
//! Services: EGP), so the currency rule lives on [`Provider`] where command validation finds it.
//! Serde and database text are the lowercase names of the contract (`"humm"`, `"valu"`,
//! `"gate"`, `"payment_page"`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::Currency;

/// A BNPL provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Provider {
    /// humm, reached through ecommpay (Gate or Payment Page).
    Humm,
    /// valU, reached through Amazon Payment Services.
    Valu,
}

/// Text that names no provider (or no flow).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {value:?}")]
pub struct UnknownName {
    /// What was being parsed (`provider`, `flow`).
    pub what: &'static str,
    /// The offending text.
    pub value: String,
}

impl Provider {
    /// Every provider, for iteration in tests and configuration checks.
    pub const ALL: [Provider; 2] = [Provider::Humm, Provider::Valu];

    /// The one currency this provider takes.
    pub const fn currency(self) -> Currency {
        match self {
            Provider::Humm => Currency::GBP,
            Provider::Valu => Currency::EGP,
        }
    }

    /// The contract name, also stored in the database.
    pub const fn as_str(self) -> &'static str {
        match self {
            Provider::Humm => "humm",
            Provider::Valu => "valu",
        }
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Provider {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Provider::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| UnknownName {
                what: "provider",
                value: s.to_owned(),
            })
    }
}

/// How a humm payment reaches the customer (contract §2 `flow`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Flow {
    /// Server-to-server sale; redirect data arrives in the intermediate callback.
    #[default]
    Gate,
    /// A signed ecommpay Payment Page URL; nothing exists at ecommpay until it is opened.
    PaymentPage,
}

impl Flow {
    /// Every flow.
    pub const ALL: [Flow; 2] = [Flow::Gate, Flow::PaymentPage];

    /// The contract name, also stored in the database.
    pub const fn as_str(self) -> &'static str {
        match self {
            Flow::Gate => "gate",
            Flow::PaymentPage => "payment_page",
        }
    }
}

impl fmt::Display for Flow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Flow {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Flow::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| UnknownName {
                what: "flow",
                value: s.to_owned(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn provider_names_currencies_and_serde() {
        assert_eq!(Provider::Humm.currency(), Currency::GBP);
        assert_eq!(Provider::Valu.currency(), Currency::EGP);
        for p in Provider::ALL {
            assert_eq!(serde_json::to_value(p).unwrap(), json!(p.as_str()));
            assert_eq!(p.to_string().parse::<Provider>().unwrap(), p);
        }
        assert!("HUMM".parse::<Provider>().is_err());
        assert!(serde_json::from_value::<Provider>(json!("klarna")).is_err());
    }

    #[test]
    fn flow_defaults_to_gate_and_round_trips() {
        assert_eq!(Flow::default(), Flow::Gate);
        for f in Flow::ALL {
            assert_eq!(serde_json::to_value(f).unwrap(), json!(f.as_str()));
            assert_eq!(f.to_string().parse::<Flow>().unwrap(), f);
        }
        assert_eq!(
            serde_json::from_value::<Flow>(json!("payment_page")).unwrap(),
            Flow::PaymentPage
        );
        assert!("paymentpage".parse::<Flow>().is_err());
    }
}
