//! OTP_GENERATE for valU (providers.md §2.2 step 2), shared by `valu_start` and
//! `purchase.resend_otp`: the code goes to the customer by SMS, the plans come back to us and go
//! out on `payment.action_required` with `action.kind = "otp"`.

use super::settle::provider_reason;
use super::Services;
use crate::accounts::ValuAccount;
use crate::domain::events::{Action, Plan, Timestamp};
use crate::domain::payment_state::PaymentEvent;
use crate::ledger::Change;
use crate::providers::aps::request::{self, OtpGenerate, Product};
use crate::providers::aps::response::{self, OtpGenerated};
use crate::providers::outcome::{CreateOutcome, Expected};
use crate::store::payments::PaymentRow;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

/// The OTP offer to announce.
pub struct Offer {
    pub generated: OtpGenerated,
    pub attempts_left: u32,
    pub expires_at: DateTime<Utc>,
}

impl Offer {
    /// The change that announces it: the plans as contract §3 shapes them, and what the later
    /// steps need (PURCHASE's `transaction_id`, attempts left, expiry) in `provider_state`.
    pub fn change(&self, actor: &'static str) -> Change {
        let plans: Vec<Plan> = self
            .generated
            .plans
            .iter()
            .map(|plan| Plan {
                tenure_months: plan.tenure_months,
                monthly_minor: plan.monthly_minor,
                fees_minor: plan.fees_minor,
            })
            .collect();
        Change {
            action: Some(Action::Otp {
                plans,
                attempts_left: self.attempts_left,
                expires_at: Timestamp(self.expires_at),
            }),
            provider_state: Some(json!({
                "transaction_id": self.generated.purchase_transaction_id(),
                "merchant_order_id": self.generated.merchant_order_id,
                "otp_attempts_left": self.attempts_left,
                "otp_expires_at": self.expires_at.to_rfc3339(),
            })),
            ..Change::by(actor)
        }
    }
}

pub enum Generated {
    Offer(Box<Offer>),
    /// valU refused: decline (or review on a contradiction).
    Refused(PaymentEvent, Box<Change>),
    Retry(String),
}

pub async fn generate(services: &Services, account: &ValuAccount, row: &PaymentRow) -> Generated {
    let step = OtpGenerate {
        merchant_reference: row.payment_id.clone(),
        phone_number: text(&row.customer, "phone"),
        merchant_order_id: row.payment_id.clone(),
        amount_minor: row.amount_minor,
        currency: row.currency.clone(),
        down_payment_minor: row.down_payment_minor,
        products: products(row),
    };
    let call = request::otp_generate(&account.aps, &step);
    let expected = Expected::money(&row.payment_id, row.amount_minor, &row.currency);
    let outcome = match account
        .limiter
        .send(&services.executor, &call, account.aps.request_timeout)
        .await
    {
        Ok(raw) => response::parse_otp_generate(&raw, &expected),
        Err(transport) => transport.for_create(),
    };
    match outcome {
        CreateOutcome::Accepted(generated) => Generated::Offer(Box::new(Offer {
            generated,
            attempts_left: account.timing.otp_attempts,
            expires_at: Utc::now() + super::schedule::to_chrono(account.timing.otp_lifetime),
        })),
        CreateOutcome::Terminal { code, message } => {
            let reason = provider_reason("declined", &code, &message);
            Generated::Refused(
                PaymentEvent::Declined,
                Box::new(Change {
                    actor: "job:valu_otp".to_owned(),
                    reason: Some(reason),
                    ..Change::default()
                }),
            )
        }
        CreateOutcome::Mismatch { reason } => Generated::Refused(
            PaymentEvent::Contradiction,
            Box::new(Change {
                actor: "job:valu_otp".to_owned(),
                note: Some(reason),
                ..Change::default()
            }),
        ),
        other => Generated::Retry(format!("OTP_GENERATE: {other:?}")),
    }
}

/// The order lines as APS products (names kept to letters, digits and spaces, as the plugins do).
fn products(row: &PaymentRow) -> Vec<Product> {
    let items = row.items.as_array().cloned().unwrap_or_default();
    items
        .iter()
        .map(|item| Product {
            name: text(item, "name")
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == ' ')
                .take(50)
                .collect(),
            price_minor: item.get("unit_price_minor").and_then(Value::as_i64).unwrap_or_default()
                * item.get("quantity").and_then(Value::as_i64).unwrap_or(1),
            category: text(item, "category"),
        })
        .collect()
}

pub(crate) fn text(value: &Value, key: &str) -> String {
    value.get(key).and_then(Value::as_str).unwrap_or_default().to_owned()
}
