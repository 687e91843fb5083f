//! Job `status_check`: asks the provider about a payment that has no final result yet, after the
//! base time and then on the account's schedule, until the threshold decision (design §1
//! "Expiry only on a definite answer").
//!
//! At threshold + grace the provider's definite answer is applied (ecommpay declines by itself at
//! the threshold); with none, the payment goes to `needs_review`, never to a guessed final state.
//! `expired` is only for a Payment Page that was never opened (ecommpay has never heard of it).

use super::completion::{self, Attempt};
use super::{schedule, settle, Services};
use crate::accounts::CallLimiter;
use crate::config::AccountTiming;
use crate::domain::payment_state::PaymentEvent;
use crate::domain::PaymentStatus;
use crate::jobs::{backoff, JobResult};
use crate::ledger::payment::{self, Change, Extras};
use crate::providers::outcome::{Expected, StatusOutcome};
use crate::providers::Connector;
use crate::store::jobs::{self, ClaimedJob};
use crate::store::payments::{self, PaymentRow};
use chrono::Utc;
use std::sync::Arc;
use std::time::Duration;

const ACTOR: &str = "job:status_check";
/// Transport failures tolerated at the decision point before the payment goes to review.
const DECISION_RETRIES: i32 = 3;

pub struct StatusCheck {
    pub services: Arc<Services>,
}

/// What to do after the query.
enum Next {
    /// Apply this event; the payment is settled (or in review): no further check.
    Settle(PaymentEvent, Change),
    /// [`Next::Settle`] for an answer that knows the payment (a humm Gate one still `accepted`
    /// announces `pending` first).
    SettleKnown(PaymentEvent, Change),
    /// Apply this event (if any) and check again later.
    CheckAgain(Option<(PaymentEvent, Change)>),
    /// Send the humm sale again with the same id (ecommpay never got it), and keep checking.
    Resend,
    Retry(String),
}

#[async_trait::async_trait]
impl Attempt for StatusCheck {
    async fn attempt(&self, job: &ClaimedJob) -> Result<JobResult, sqlx::Error> {
        let services = &self.services;
        let Some(payment_id) = job.payment_id.as_deref() else {
            return complete(services, job, None, None, false).await;
        };
        let mut conn = services.pool.acquire().await?;
        let row = payments::get(&mut conn, payment_id).await?;
        drop(conn);
        let Some(row) = row.filter(|row| !row.status().is_final()) else {
            return complete(services, job, None, None, false).await;
        };
        let Some((timing, outcome)) = self.query(&row).await else {
            return Ok(retry(
                job,
                format!("{} account {:?} is not configured", row.provider, row.account),
            ));
        };
        let now = Utc::now();
        let deciding = now >= schedule::decision_at(&row, &timing);
        let round = job.payload.get("round").and_then(|r| r.as_u64()).unwrap_or(0) as usize;
        let next = decide(&row, outcome, deciding, job.attempts);
        tracing::info!(payment_id, round, deciding, "status checked");
        let reschedule = schedule::next_check_at(&row, &timing, round, now);
        match next {
            Next::Settle(event, change) => complete(services, job, Some((row, event, change)), None, false).await,
            Next::SettleKnown(event, change) => complete(services, job, Some((row, event, change)), None, true).await,
            Next::CheckAgain(settle) => {
                complete(
                    services,
                    job,
                    settle.map(|(event, change)| (row, event, change)),
                    Some((reschedule, round + 1)),
                    false,
                )
                .await
            }
            Next::Resend => {
                let mut tx = services.pool.begin().await?;
                if jobs::complete(&mut tx, job).await?.is_err() {
                    tx.rollback().await?;
                    return Ok(JobResult::LeaseLost);
                }
                schedule::humm_sale(&mut tx, payment_id).await?;
                schedule::status_check(&mut tx, payment_id, reschedule, round + 1).await?;
                tx.commit().await?;
                Ok(JobResult::Completed)
            }
            Next::Retry(reason) => Ok(retry(job, reason)),
        }
    }
}

impl StatusCheck {
    /// Sends the provider's status query; None when the account is gone from the configuration.
    async fn query(&self, row: &PaymentRow) -> Option<(AccountTiming, StatusOutcome)> {
        let expected = Expected::money(&row.payment_id, row.amount_minor, &row.currency);
        match row.provider.as_str() {
            "humm" => {
                let account = self.services.accounts.humm(Some(&row.account))?;
                let outcome = self
                    .send(
                        &account.ecommpay,
                        row,
                        &expected,
                        account.ecommpay.request_timeout,
                        &account.limiter,
                    )
                    .await;
                Some((account.timing.clone(), outcome))
            }
            _ => {
                let account = self.services.accounts.valu(Some(&row.account))?;
                let outcome = self
                    .send(
                        &account.aps,
                        row,
                        &expected,
                        account.aps.request_timeout,
                        &account.limiter,
                    )
                    .await;
                Some((account.timing.clone(), outcome))
            }
        }
    }

    async fn send<C: Connector>(
        &self,
        connector: &C,
        row: &PaymentRow,
        expected: &Expected,
        timeout: Duration,
        limiter: &CallLimiter,
    ) -> StatusOutcome {
        let request = match connector.status_request(&row.payment_id) {
            Ok(request) => request,
            Err(error) => {
                return StatusOutcome::Retryable {
                    reason: error.to_string(),
                }
            }
        };
        match limiter.send(&self.services.executor, &request, timeout).await {
            Ok(raw) => connector.parse_status(&raw, expected),
            Err(transport) => transport.for_status(),
        }
    }
}

fn decide(row: &PaymentRow, outcome: StatusOutcome, deciding: bool, attempts: i32) -> Next {
    let change = |note: &str| Change {
        actor: ACTOR.to_owned(),
        note: Some(note.to_owned()),
        ..Change::default()
    };
    let undecided = |note: &str| {
        if deciding {
            Next::Settle(PaymentEvent::NoDefiniteAnswer, change(note))
        } else {
            Next::CheckAgain(None)
        }
    };
    match outcome {
        StatusOutcome::Known(status) => match settle::event_for(&status.state, ACTOR) {
            Some((event, mut change)) => {
                change.provider_reference = status.provider_reference;
                Next::SettleKnown(event, change)
            }
            None if deciding => Next::Settle(
                PaymentEvent::NoDefiniteAnswer,
                change("still not final at threshold + grace"),
            ),
            // The provider has the payment: an `accepted` one is now `pending`.
            None if row.status() == PaymentStatus::Accepted => {
                Next::CheckAgain(Some((PaymentEvent::Registered, change("provider has the payment"))))
            }
            None => Next::CheckAgain(None),
        },
        StatusOutcome::NotFound => {
            let page = row.flow == "payment_page";
            if page && deciding {
                Next::Settle(PaymentEvent::Expired, change("payment page never opened"))
            } else if !page && row.provider == "humm" && row.status() == PaymentStatus::Accepted && !deciding {
                Next::Resend
            } else {
                undecided("provider does not know the payment")
            }
        }
        StatusOutcome::Retryable { reason } if deciding && attempts >= DECISION_RETRIES => Next::Settle(
            PaymentEvent::NoDefiniteAnswer,
            change(&format!("no answer at threshold + grace: {reason}")),
        ),
        StatusOutcome::Retryable { reason } => Next::Retry(reason),
        StatusOutcome::Mismatch { reason } => Next::Settle(PaymentEvent::Contradiction, change(&reason)),
    }
}

/// Completes the job, applies the event and schedules the next check, in one transaction.
///
/// When both rows are locked, the payment's is taken first, as the other writers of a payment take
/// them: a callback that changes the payment and then brings this check forward (`check_now`)
/// holds the payment while it touches the job row, so completing the job first here could
/// deadlock with it. With an event, the ledger completes the job with the change (`Extras::job`,
/// fenced by the lease), after locking the payment. Otherwise only the job row is locked (a job's
/// insert checks its payment with a key-share lock, which a change's lock lets through). The job
/// is completed before the next check is scheduled, so that check (same dedupe key) is a new row.
async fn complete(
    services: &Services,
    job: &ClaimedJob,
    settle: Option<(PaymentRow, PaymentEvent, Change)>,
    next: Option<(chrono::DateTime<Utc>, usize)>,
    provider_knows_it: bool,
) -> Result<JobResult, sqlx::Error> {
    let mut tx = services.pool.begin().await?;
    // Whether the ledger completed the job with the event, and whether the payment stays open.
    let (completed, still_open) = match settle {
        Some((row, event, change)) => {
            let mut row = Arc::new(row);
            // The answer knows the payment: a humm Gate one still `accepted` announces `pending`
            // first, in this transaction.
            let implied = provider_knows_it
                .then(|| settle::implied_registration(&row, event, ACTOR))
                .flatten();
            if let Some(registration) = implied {
                row = completion::register_implied(&mut tx, row, &registration, None).await?;
            }
            let extras = Extras {
                job: Some(job),
                ..Extras::default()
            };
            match payment::apply(&mut tx, &row.payment_id, Some(&row), event, &change, extras).await? {
                payment::Outcome::Done { row: after, .. } => (
                    true,
                    !after.status().is_final() && after.status() != PaymentStatus::NeedsReview,
                ),
                payment::Outcome::LeaseLost => return lease_lost(tx).await,
                // Gone or not this payment's to change: nothing to apply, the job still ends.
                payment::Outcome::NotFound | payment::Outcome::Mismatch { .. } => (false, false),
            }
        }
        None => (false, true),
    };
    if !completed && jobs::complete(&mut tx, job).await?.is_err() {
        return lease_lost(tx).await;
    }
    if let (Some((due, round)), Some(payment_id), true) = (next, job.payment_id.as_deref(), still_open) {
        schedule::status_check(&mut tx, payment_id, due, round).await?;
    }
    tx.commit().await?;
    Ok(JobResult::Completed)
}

async fn lease_lost(tx: sqlx::Transaction<'_, sqlx::Postgres>) -> Result<JobResult, sqlx::Error> {
    tx.rollback().await?;
    Ok(JobResult::LeaseLost)
}

fn retry(job: &ClaimedJob, error: String) -> JobResult {
    JobResult::Retry {
        after: backoff::delay(job.attempts, Duration::from_millis(500), Duration::from_secs(60)),
        error,
    }
}
