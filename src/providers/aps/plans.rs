//! valU installment plans from OTP_GENERATE (`installment_detail.plan_details[]`, §2.2 step 2),
//! turned into the contract's `plans` (`tenure_months`, `monthly_minor`, `fees_minor`).
//!
//! Amounts are read as integer minor units, like every APS amount. A plan whose figures are not
//! integers (the unit would be a guess) is left out and logged, never rounded.

use serde_json::Value;

use crate::providers::fields::{at, minor, text};

/// One installment plan the customer can choose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// `number_of_installments`.
    pub tenure_months: u32,
    /// `amount_per_month`, minor units.
    pub monthly_minor: i64,
    /// `fees_amount`, minor units (0 when absent).
    pub fees_minor: i64,
}

/// Plans from an `installment_detail` value (an object, or its JSON text).
pub fn plans_of(installment_detail: &Value) -> Vec<Plan> {
    let parsed;
    let detail = match installment_detail {
        Value::String(text) => match serde_json::from_str::<Value>(text) {
            Ok(value) => {
                parsed = value;
                &parsed
            }
            Err(_) => return Vec::new(),
        },
        other => other,
    };
    let Some(items) = at(detail, &["plan_details"]).and_then(Value::as_array) else {
        return Vec::new();
    };
    items.iter().filter_map(plan).collect()
}

fn plan(item: &Value) -> Option<Plan> {
    let months = at(item, &["number_of_installments"]).and_then(text);
    let tenure_months = months.as_deref().and_then(|m| m.trim().parse::<u32>().ok());
    let monthly_minor = at(item, &["amount_per_month"]).and_then(minor);
    let fees_minor = match at(item, &["fees_amount"]) {
        None | Some(Value::Null) => Some(0),
        Some(fees) => minor(fees),
    };
    match (tenure_months, monthly_minor, fees_minor) {
        (Some(tenure_months), Some(monthly_minor), Some(fees_minor)) if tenure_months > 0 => Some(Plan {
            tenure_months,
            monthly_minor,
            fees_minor,
        }),
        _ => {
            tracing::warn!(plan = %item, "valU plan with unreadable figures left out");
            None
        }
    }
}

/// `tenure` such as `"6-9-12-15-18"` as months; unreadable parts are skipped.
pub fn tenures_of(tenure: &str) -> Vec<u32> {
    tenure
        .split('-')
        .filter_map(|part| part.trim().parse().ok())
        .filter(|m| *m > 0)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn plans_are_read_from_object_or_text() {
        let detail = json!({"plan_details": [
            {"number_of_installments": "6", "amount_per_month": "85000", "fees_amount": "1000"},
            {"number_of_installments": 12, "amount_per_month": 44000},
            {"number_of_installments": "9", "amount_per_month": "1234.50", "fees_amount": "0"},
            {"number_of_installments": "0", "amount_per_month": "1"},
            "junk"
        ]});
        let expected = vec![
            Plan {
                tenure_months: 6,
                monthly_minor: 85000,
                fees_minor: 1000,
            },
            Plan {
                tenure_months: 12,
                monthly_minor: 44000,
                fees_minor: 0,
            },
        ];
        assert_eq!(plans_of(&detail), expected);
        assert_eq!(plans_of(&Value::String(detail.to_string())), expected);
        assert!(plans_of(&json!("not json")).is_empty());
        assert!(plans_of(&json!({"plan_details": {}})).is_empty());
    }

    #[test]
    fn tenures_split_on_dashes() {
        assert_eq!(tenures_of("6-9-12-15-18"), vec![6, 9, 12, 15, 18]);
        assert_eq!(tenures_of("6--x-0-12"), vec![6, 12]);
        assert!(tenures_of("").is_empty());
    }
}
