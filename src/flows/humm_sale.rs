//! Job `humm_sale`: the ecommpay Gate sale for a humm payment (providers.md §1.2), with every
//! answer classified as design §1 requires.
//!
//! Invariant: a sale is never sent twice blindly. The first attempt sends it; every later attempt
//! (after an uncertain answer, a crash or a lost lease) first asks ecommpay for the payment's
//! status with the same id and sends again only on a definite "not found".

use super::completion::{self, retry, Attempt};
use super::settle;
use super::Services;
use crate::accounts::HummAccount;
use crate::domain::payment_state::PaymentEvent;
use crate::domain::PaymentStatus;
use crate::jobs::JobResult;
use crate::ledger::Change;
use crate::providers::ecommpay::{request, response};
use crate::providers::outcome::{CreateOutcome, Expected, StatusOutcome};
use crate::store::jobs::ClaimedJob;
use crate::store::payments::{self, PaymentRow};
use std::sync::Arc;
use std::time::Duration;

const ACTOR: &str = "job:humm_sale";

pub struct HummSale {
    pub services: Arc<Services>,
}

#[async_trait::async_trait]
impl Attempt for HummSale {
    async fn attempt(&self, job: &ClaimedJob) -> Result<JobResult, sqlx::Error> {
        self.attempt_with(job, None).await
    }
}

/// The first run of a sale started inline by intake, with the payment row intake just created
/// (so it is not read again).
pub struct InlineSale {
    pub sale: Arc<HummSale>,
    pub payment: PaymentRow,
}

#[async_trait::async_trait]
impl Attempt for InlineSale {
    async fn attempt(&self, job: &ClaimedJob) -> Result<JobResult, sqlx::Error> {
        self.sale.attempt_with(job, Some(self.payment.clone())).await
    }
}

impl HummSale {
    async fn attempt_with(&self, job: &ClaimedJob, created: Option<PaymentRow>) -> Result<JobResult, sqlx::Error> {
        let services = &self.services;
        let Some(payment_id) = job.payment_id.as_deref() else {
            return finish(services, job, None).await;
        };
        let row = match created.filter(|row| row.payment_id == payment_id) {
            Some(row) => row,
            None => {
                let mut conn = services.pool.acquire().await?;
                match payments::get(&mut conn, payment_id).await? {
                    Some(row) => row,
                    None => return finish(services, job, None).await,
                }
            }
        };
        if row.status() != PaymentStatus::Accepted {
            // Already registered or settled (a callback or status check got there first).
            return finish(services, job, None).await;
        }
        let Some(account) = services.accounts.humm(Some(&row.account)) else {
            return Ok(retry(job, format!("humm account {:?} is not configured", row.account)));
        };
        // A paused account (or an open circuit) gets no sale: the job waits, attempt unspent, and
        // is not claimed again until the account is active.
        if !account.limiter.gate().allows_calls() {
            return Ok(JobResult::Deferred);
        }
        if job.attempts > 1 {
            match self.ask_first(&account, &row).await {
                // The status answer knows the sale: `pending` first while the payment is
                // `accepted`.
                Asked::Settle(event, change) => {
                    return completion::settle_known(services, job, row, event, *change).await
                }
                Asked::Send => {}
                Asked::Retry(reason) => return Ok(retry(job, reason)),
            }
        }
        let sale = request::sale(&account.ecommpay, &sale_request(&row));
        let sale = match sale {
            Ok(sale) => sale,
            Err(error) => return Ok(retry(job, error.to_string())),
        };
        let outcome = match account
            .limiter
            .send(&services.executor, &sale, account.ecommpay.request_timeout)
            .await
        {
            Ok(raw) => response::parse_sale(&raw, payment_id),
            Err(transport) => transport.for_create(),
        };
        crate::failpoint::crash_if_armed(crate::failpoint::HUMM_SALE_AFTER_SEND);
        tracing::info!(payment_id, outcome = outcome.name(), "humm sale sent");
        let settle = match outcome {
            CreateOutcome::Accepted(registered) => {
                let change = Change {
                    actor: ACTOR.to_owned(),
                    provider_request_id: registered.request_id,
                    ..Change::default()
                };
                Some((PaymentEvent::Registered, change))
            }
            CreateOutcome::NotSent { reason } => {
                return Ok(JobResult::Retry {
                    after: Duration::from_millis(200),
                    error: reason,
                })
            }
            CreateOutcome::Uncertain { reason } => return Ok(retry(job, format!("uncertain: {reason}"))),
            CreateOutcome::Exists { code, message } | CreateOutcome::Processing { code, message } => {
                return Ok(retry(job, format!("{code} {message}: query status next")))
            }
            CreateOutcome::RetryLater { code, message } => return Ok(retry(job, format!("{code} {message}"))),
            CreateOutcome::Terminal { code, message } => {
                let reason = settle::provider_reason("declined", &code, &message);
                Some((
                    PaymentEvent::Declined,
                    Change {
                        actor: ACTOR.to_owned(),
                        reason: Some(reason),
                        ..Change::default()
                    },
                ))
            }
            CreateOutcome::Mismatch { reason } => Some((
                PaymentEvent::Contradiction,
                Change {
                    actor: ACTOR.to_owned(),
                    note: Some(reason),
                    ..Change::default()
                },
            )),
        };
        finish(services, job, settle.map(|(event, change)| (row, event, change))).await
    }
}

impl HummSale {
    /// After an uncertain first attempt: what does ecommpay already have under our id?
    async fn ask_first(&self, account: &HummAccount, row: &PaymentRow) -> Asked {
        let Ok(query) = request::status(&account.ecommpay, &row.payment_id) else {
            return Asked::Retry("cannot build the status query".to_owned());
        };
        let expected = Expected::money(&row.payment_id, row.amount_minor, &row.currency);
        let outcome = match account
            .limiter
            .send(&self.services.executor, &query, account.ecommpay.request_timeout)
            .await
        {
            Ok(raw) => response::parse_status(&raw, &expected),
            Err(transport) => transport.for_status(),
        };
        match outcome {
            // Design §1: a definite "not found" after an uncertain create makes a resend with
            // the same id safe.
            StatusOutcome::NotFound => Asked::Send,
            StatusOutcome::Known(status) => match settle::event_for(&status.state, ACTOR) {
                Some((event, change)) => Asked::Settle(event, Box::new(change)),
                // Pending or waiting for the customer: ecommpay has the sale.
                None => Asked::Settle(
                    PaymentEvent::Registered,
                    Box::new(Change {
                        actor: ACTOR.to_owned(),
                        ..Change::default()
                    }),
                ),
            },
            StatusOutcome::Retryable { reason } => Asked::Retry(format!("status query: {reason}")),
            StatusOutcome::Mismatch { reason } => Asked::Settle(
                PaymentEvent::Contradiction,
                Box::new(Change {
                    actor: ACTOR.to_owned(),
                    note: Some(reason),
                    ..Change::default()
                }),
            ),
        }
    }
}

enum Asked {
    Settle(PaymentEvent, Box<Change>),
    Send,
    Retry(String),
}

fn sale_request(row: &PaymentRow) -> request::SaleRequest {
    let text = |key: &str| {
        row.customer
            .get(key)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_owned()
    };
    let id = text("id");
    request::SaleRequest {
        payment_id: row.payment_id.clone(),
        amount_minor: row.amount_minor,
        currency: row.currency.clone(),
        customer: request::Customer {
            id: if id.is_empty() { row.payment_id.clone() } else { id },
            ip_address: text("ip_address"),
            first_name: text("first_name"),
            last_name: text("last_name"),
        },
        description: row.description.clone(),
        return_url: row.return_url.as_deref().and_then(|url| url::Url::parse(url).ok()),
    }
}

/// Applies the event (if any) and completes the job in one transaction (fencing).
async fn finish(
    services: &Services,
    job: &ClaimedJob,
    settle: Option<(PaymentRow, PaymentEvent, Change)>,
) -> Result<JobResult, sqlx::Error> {
    match settle {
        Some((row, event, change)) => completion::settle(services, job, Some(row), Some((event, change))).await,
        None => completion::settle(services, job, None, None).await,
    }
}
