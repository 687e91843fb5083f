//! `purchase.create` (contract §2): validated against the provider's rules, then stored with its
//! first event and first jobs in one transaction, before the command is acked.
//!
//! Idempotency: the same `payment_id` with the same body is a no-op; with another body it is
//! refused as `conflict`. The body is compared by a hash of its canonical JSON (sorted keys), so
//! key order does not matter.

use super::schedule;
use super::Services;
use crate::accounts::Accounts;
use crate::domain::events::Action;
use crate::domain::limits::{self, FieldError};
use crate::domain::payment_state::PaymentEvent;
use crate::domain::{Flow, Money, PaymentId, Provider};
use crate::ledger::{self, Change, Extras};
use crate::providers::ecommpay::payment_page::{payment_page_url, PaymentPageRequest};
use crate::store::commands::NewCommand;
use crate::store::jobs::ClaimedJob;
use crate::store::outbox_wake::OutboxWake;
use crate::store::payments::{self, NewPayment, PaymentRow};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use sqlx::PgConnection;
use std::sync::Arc;

/// humm's limits: 1.00–30,000.00 GBP (providers.md §1.1).
const HUMM_MIN_MINOR: i64 = 100;
pub(crate) const HUMM_MAX_MINOR: i64 = 3_000_000;

/// The `purchase.create` body (contract §2). Unknown fields are ignored. The schema attributes are
/// the limits of contract §7 that JSON Schema can say (`docs/schema/commands/`); `intake::bounds`
/// checks them all.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[schemars(title = "purchase.create")]
pub struct PurchaseCreate {
    pub payment_id: PaymentId,
    /// `humm` or `valu` (another name is refused as `unknown_provider`).
    #[schemars(with = "Provider")]
    pub provider: String,
    /// A configured account of the provider; optional when it has one.
    #[schemars(with = "Option<crate::domain::AccountName>")]
    pub account: Option<String>,
    /// humm only: `gate` (default) or `payment_page`.
    #[schemars(with = "Option<Flow>")]
    pub flow: Option<String>,
    pub amount: Money,
    /// valU: feeds the plans on offer.
    #[serde(default)]
    #[schemars(range(min = 0))]
    pub down_payment_minor: i64,
    #[serde(default)]
    pub customer: Customer,
    #[serde(default)]
    #[schemars(length(max = 100))]
    pub items: Vec<Item>,
    #[schemars(length(max = 1000))]
    pub description: Option<String>,
    /// `https`, or `http` on a loopback host.
    #[schemars(length(max = 2048), url)]
    pub return_url: Option<String>,
    /// Echoed on every event of the payment; no personal data; at most 4 KiB and 8 levels deep.
    #[serde(default)]
    #[schemars(with = "Option<serde_json::Map<String, Value>>")]
    pub metadata: Option<Value>,
}

/// The customer; which fields are required depends on the provider (humm: names, and the IP
/// address on `gate`; valU: the phone).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct Customer {
    #[schemars(length(max = 100))]
    pub id: Option<String>,
    #[schemars(length(max = 100))]
    pub first_name: Option<String>,
    #[schemars(length(max = 100))]
    pub last_name: Option<String>,
    #[schemars(length(max = 45))]
    pub ip_address: Option<String>,
    #[schemars(length(max = 32))]
    pub phone: Option<String>,
    #[schemars(length(max = 254))]
    pub email: Option<String>,
}

/// One order line.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Item {
    #[schemars(length(min = 0, max = 100))]
    pub name: String,
    #[schemars(length(max = 100))]
    pub category: Option<String>,
    #[schemars(range(min = 0))]
    pub unit_price_minor: i64,
    #[schemars(range(min = 1, max = 10000))]
    pub quantity: i64,
}

/// A business refusal (`command.rejected`, not a dead letter).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: &'static str,
    pub message: String,
}

fn refuse(code: &'static str, message: impl Into<String>) -> Rejection {
    Rejection::Refused(Refusal {
        code,
        message: message.into(),
    })
}

/// Why a purchase is not taken: a field over a limit of contract §7 (`invalid`, a dead letter), or
/// a business refusal (announced, not dead-lettered).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    Invalid(FieldError),
    Refused(Refusal),
}

/// A command that passed validation, with the account it resolved to.
pub struct Validated {
    pub command: PurchaseCreate,
    pub provider: Provider,
    pub flow: Flow,
    pub account: String,
}

impl Validated {
    /// A humm Payment Page purchase: its intake also offers the hosted page, a second change
    /// after the one that creates the payment.
    pub fn offers_a_page(&self) -> bool {
        self.provider == Provider::Humm && self.flow == Flow::PaymentPage
    }
}

/// Checks what the provider requires (contract §2) before anyone is called.
pub fn validate(command: PurchaseCreate, accounts: &Accounts) -> Result<Validated, Rejection> {
    let provider: Provider = command.provider.parse().map_err(|_| {
        refuse(
            "unknown_provider",
            format!("unknown provider {}", limits::quote(&command.provider)),
        )
    })?;
    if command.amount.currency != provider.currency() {
        return Err(refuse(
            "unsupported_currency",
            format!(
                "{provider} takes {}, not {}",
                provider.currency(),
                command.amount.currency
            ),
        ));
    }
    let present = |value: &Option<String>| value.as_deref().is_some_and(|v| !v.trim().is_empty());
    let account_name = command.account.as_deref();
    let (account, flow) = match provider {
        Provider::Humm => {
            let account = accounts.humm(account_name).ok_or_else(|| {
                refuse(
                    "unknown_account",
                    format!("no humm account {}", limits::quote(account_name.unwrap_or(""))),
                )
            })?;
            let flow = match command.flow.as_deref() {
                None => Flow::Gate,
                Some(text) => text
                    .parse()
                    .map_err(|_| refuse("unsupported_flow", format!("unknown flow {}", limits::quote(text))))?,
            };
            if !(HUMM_MIN_MINOR..=HUMM_MAX_MINOR).contains(&command.amount.minor) {
                return Err(refuse("amount_out_of_limits", "humm takes 1.00 to 30,000.00 GBP"));
            }
            let customer = &command.customer;
            let ip_needed = flow == Flow::Gate;
            if !present(&customer.first_name)
                || !present(&customer.last_name)
                || (ip_needed && !present(&customer.ip_address))
            {
                return Err(refuse(
                    "missing_customer_data",
                    "humm needs the customer's first and last name and IP address",
                ));
            }
            (account.name.clone(), flow)
        }
        Provider::Valu => {
            let account = accounts.valu(account_name).ok_or_else(|| {
                refuse(
                    "unknown_account",
                    format!("no valu account {}", limits::quote(account_name.unwrap_or(""))),
                )
            })?;
            if command.flow.as_deref().is_some_and(|flow| flow != "gate") {
                return Err(refuse("unsupported_flow", "valU has one flow: OTP"));
            }
            if !present(&command.customer.phone) {
                return Err(refuse(
                    "missing_customer_data",
                    "valU needs the customer's phone number",
                ));
            }
            if command.items.is_empty() {
                return Err(refuse("missing_items", "valU needs at least one item"));
            }
            if command.amount.minor > account.max_amount_minor {
                return Err(Rejection::Invalid(FieldError::new(
                    "/amount/minor",
                    format!(
                        "at most {} for valU account {}, got {}",
                        account.max_amount_minor, account.name, command.amount.minor
                    ),
                )));
            }
            if command.down_payment_minor >= command.amount.minor {
                return Err(refuse(
                    "invalid_amount",
                    "the down payment must be at least zero and below the amount",
                ));
            }
            (account.name.clone(), Flow::Gate)
        }
    };
    Ok(Validated {
        command,
        provider,
        flow,
        account,
    })
}

/// Hex SHA-256 of the body's canonical JSON (keys sorted at every depth).
pub fn canonical_hash(body: &Value) -> String {
    hex::encode(Sha256::digest(canonical(body).to_string().as_bytes()))
}

fn canonical(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            Value::Object(
                keys.into_iter()
                    .map(|key| (key.clone(), canonical(&map[key])))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

/// What storing the command did.
pub enum Stored {
    /// Stored; the job to run at once after the commit, when the flow starts with one.
    Created(Box<PaymentRow>, Option<ClaimedJob>),
    Duplicate,
    Conflict,
}

/// Stores a validated command: payment, `payment.accepted`, and the flow's first jobs and steps. `wake`:
/// the caller rings it after its commit (`ledger::payment::Extras::wake`). `recorded`: the
/// command's row, written with the payment when it is created (and not otherwise).
pub async fn store(
    conn: &mut PgConnection,
    services: &Services,
    validated: &Validated,
    command_hash: &str,
    origin: ledger::Origin<'_>,
    wake: Option<&OutboxWake>,
    recorded: Option<&NewCommand<'_>>,
) -> Result<Stored, sqlx::Error> {
    let command = &validated.command;
    let intake_at = chrono::Utc::now();
    let (timing, threshold) = match validated.provider {
        Provider::Humm => {
            let timing = services
                .accounts
                .humm(Some(&validated.account))
                .map(|a| a.timing.clone())
                .unwrap_or_default();
            let threshold = timing.threshold_time;
            (timing, threshold)
        }
        Provider::Valu => {
            let timing = services
                .accounts
                .valu(Some(&validated.account))
                .map(|a| a.timing.clone())
                .unwrap_or_default();
            let threshold = timing.threshold_time;
            (timing, threshold)
        }
    };
    let new = NewPayment {
        payment_id: command.payment_id.as_str(),
        provider: validated.provider.as_str(),
        account: &validated.account,
        flow: validated.flow.as_str(),
        amount_minor: command.amount.minor,
        currency: command.amount.currency.as_str(),
        down_payment_minor: command.down_payment_minor,
        command_hash,
        customer: serde_json::to_value(&command.customer).unwrap_or_default(),
        items: serde_json::to_value(&command.items).unwrap_or_default(),
        description: command.description.as_deref(),
        return_url: command.return_url.as_deref(),
        metadata: command
            .metadata
            .clone()
            .filter(|m| !m.is_null())
            .unwrap_or_else(|| json!({})),
        threshold_at: intake_at + schedule::to_chrono(threshold),
    };
    // The payment's first jobs are written by the statement that creates it (one round trip).
    let check_at = schedule::first_check_at(intake_at, &timing);
    let payment_id = command.payment_id.as_str();
    let first_jobs = match (validated.provider, validated.flow) {
        (Provider::Humm, Flow::Gate) => schedule::humm_gate_first_jobs(payment_id, services.leases.lease(), check_at),
        (Provider::Humm, Flow::PaymentPage) => schedule::first_status_check(payment_id, check_at),
        (Provider::Valu, _) => schedule::valu_first_jobs(payment_id, check_at),
    };
    let Some(created) = ledger::payment::create(conn, &new, origin, wake, recorded, &first_jobs).await? else {
        let existing = payments::get(conn, payment_id).await?;
        return Ok(match existing {
            Some(existing) if existing.command_hash == command_hash => Stored::Duplicate,
            _ => Stored::Conflict,
        });
    };
    let row = match validated.offers_a_page() {
        true => offer_payment_page(conn, services, created.row, command, wake).await?,
        false => created.row,
    };
    Ok(Stored::Created(Box::new(row), created.claimed))
}

/// Payment Page flow: `action_required` at once with the signed hosted-page URL; nothing exists
/// at ecommpay until the customer opens it.
async fn offer_payment_page(
    conn: &mut PgConnection,
    services: &Services,
    row: PaymentRow,
    command: &PurchaseCreate,
    wake: Option<&OutboxWake>,
) -> Result<PaymentRow, sqlx::Error> {
    let Some(account) = services.accounts.humm(Some(&row.account)) else {
        return Ok(row);
    };
    let url = payment_page_url(
        &account.ecommpay,
        &PaymentPageRequest {
            payment_id: row.payment_id.clone(),
            amount_minor: row.amount_minor,
            currency: row.currency.clone(),
            customer_id: command.customer.id.clone().unwrap_or_else(|| row.payment_id.clone()),
            first_name: command.customer.first_name.clone().unwrap_or_default(),
            last_name: command.customer.last_name.clone().unwrap_or_default(),
            description: command.description.clone(),
            return_url: command.return_url.as_deref().and_then(|url| url::Url::parse(url).ok()),
        },
    );
    let change = Change {
        note: Some("payment page offered".to_owned()),
        action: Some(Action::Redirect {
            method: "GET".to_owned(),
            url: url.to_string(),
            body: json!({}),
        }),
        ..Change::by("intake")
    };
    // The payment was created in this very transaction: the row in hand is current.
    let row = Arc::new(row);
    let outcome = ledger::payment::apply(
        conn,
        &row.payment_id,
        Some(&row),
        PaymentEvent::ActionRequired,
        &change,
        Extras {
            wake,
            ..Extras::default()
        },
    )
    .await?;
    Ok(match outcome {
        ledger::Outcome::Done { row: offered, .. } => Arc::unwrap_or_clone(offered),
        _ => Arc::unwrap_or_clone(row),
    })
}
