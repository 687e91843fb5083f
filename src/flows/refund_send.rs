//! Job `refund_send`: sends the refund at the head of its queue (ecommpay Gate refund with
//! `merchant_refund_id`, APS REFUND with `maintenance_reference`, both = our `refund_id`).
//!
//! Invariant: a refund is never sent twice blindly. Any attempt after the first (a crash, a lost
//! lease, an uncertain answer) asks the provider for the payment's refunded total first and sends
//! again only when the refund was definitely not applied; the provider's duplicate-id check on
//! our `refund_id` backs that up.

use super::completion::{retry, Attempt};
use super::refund_settle::{self, Verdict};
use super::settle::provider_reason;
use super::{schedule, Services};
use crate::accounts::CallLimiter;
use crate::config::RefundMode;
use crate::domain::refund_state::RefundEvent;
use crate::jobs::JobResult;
use crate::ledger::RefundChange;
use crate::providers::outcome::{CreateOutcome, Expected};
use crate::providers::{Connector, RefundAck, RefundRequest};
use crate::store::jobs::{self, ClaimedJob};
use crate::store::payments::{self, PaymentRow};
use crate::store::refunds::{self, RefundRow};
use chrono::Utc;
use std::sync::Arc;
use std::time::Duration;

const ACTOR: &str = "job:refund_send";
/// When a refund this job sent to review is first checked again (the check then keeps the
/// account's schedule).
const REVIEW_CHECK: Duration = Duration::from_secs(60);

pub struct RefundSend {
    pub services: Arc<Services>,
}

/// What to record after the call.
enum After {
    Event(RefundEvent, RefundChange),
    /// Registered (or unsure): wait for the callback, with a status check due at `after`.
    Wait {
        request_id: Option<String>,
        after: Duration,
    },
    /// Manual refund mode: announced for finance to file at the provider; then, like a sent
    /// refund, it waits in flight for the callback, with a status check due at `after`.
    Manual {
        after: Duration,
    },
}

#[async_trait::async_trait]
impl Attempt for RefundSend {
    async fn attempt(&self, job: &ClaimedJob) -> Result<JobResult, sqlx::Error> {
        self.attempt_with(job, None).await
    }
}

impl RefundSend {
    /// One attempt; `promoted` is the refund and its payment when the caller has just read them
    /// (the dispatcher's promoting statement returns both), saving two reads on the hand-off path.
    pub async fn attempt_with(
        &self,
        job: &ClaimedJob,
        promoted: Option<(RefundRow, PaymentRow)>,
    ) -> Result<JobResult, sqlx::Error> {
        let services = &self.services;
        let Some(refund_id) = job.refund_id.as_deref() else {
            return finish(services, job, None).await;
        };
        let (refund, payment) = match promoted.filter(|(refund, _)| refund.refund_id == refund_id) {
            Some(known) => known,
            None => {
                let mut conn = services.pool.acquire().await?;
                let Some(refund) = refunds::get(&mut conn, refund_id).await? else {
                    return finish(services, job, None).await;
                };
                let Some(payment) = payments::get(&mut conn, &refund.payment_id).await? else {
                    return finish(services, job, None).await;
                };
                (refund, payment)
            }
        };
        // A refund in review is sent too: the status check hands one back when the provider never
        // got it (see `refund_check`).
        if !refund.status().holds_queue() {
            return finish(services, job, None).await;
        }
        if job.attempts > 1 {
            match refund_settle::ask_provider(services, &payment, &refund, ACTOR).await {
                Verdict::Settle(event, change) => {
                    return finish(services, job, Some((refund, After::Event(event, *change)))).await
                }
                Verdict::NotApplied => {}
                // The provider holds it, unfinished: wait for it as after an uncertain send.
                Verdict::InProgress => {
                    let after = After::Wait {
                        request_id: refund.provider_request_id.clone(),
                        after: base_time_of(services, &payment),
                    };
                    return finish(services, job, Some((refund, after))).await;
                }
                Verdict::Unknown(reason) => return Ok(retry(job, format!("status first: {reason}"))),
            }
        }
        let request = RefundRequest {
            payment_id: payment.payment_id.clone(),
            refund_id: refund.refund_id.clone(),
            amount_minor: refund.amount_minor,
            currency: refund.currency.clone(),
            description: refund.reason.clone(),
            provider_reference: payment.provider_reference.clone(),
        };
        let expected = Expected::money(&payment.payment_id, refund.amount_minor, &refund.currency);
        let (outcome, base_time) = match payment.provider.as_str() {
            "humm" => match services.accounts.humm(Some(&payment.account)) {
                Some(account) if account.refund_mode == RefundMode::Manual => {
                    let after = After::Manual {
                        after: account.timing.base_time,
                    };
                    return finish(services, job, Some((refund, after))).await;
                }
                Some(account) => {
                    let outcome = send(
                        services,
                        &account.ecommpay,
                        &request,
                        &expected,
                        account.ecommpay.request_timeout,
                        &account.limiter,
                    )
                    .await;
                    (outcome, account.timing.base_time)
                }
                None => return Ok(retry(job, "humm account not configured".to_owned())),
            },
            _ => match services.accounts.valu(Some(&payment.account)) {
                Some(account) => {
                    let outcome = send(
                        services,
                        &account.aps,
                        &request,
                        &expected,
                        account.aps.request_timeout,
                        &account.limiter,
                    )
                    .await;
                    (outcome, account.timing.base_time)
                }
                None => return Ok(retry(job, "valu account not configured".to_owned())),
            },
        };
        crate::failpoint::crash_if_armed(crate::failpoint::REFUND_AFTER_SEND);
        tracing::info!(refund_id, payment_id = %payment.payment_id, outcome = outcome.name(), "refund sent");
        let after = match outcome {
            CreateOutcome::Accepted(RefundAck::Registered { request_id }) => After::Wait {
                request_id,
                after: base_time,
            },
            CreateOutcome::Accepted(RefundAck::Completed { provider_reference }) => After::Event(
                RefundEvent::Succeeded,
                RefundChange {
                    actor: ACTOR.to_owned(),
                    provider_reference,
                    ..RefundChange::default()
                },
            ),
            CreateOutcome::NotSent { reason } => {
                return Ok(JobResult::Retry {
                    after: Duration::from_millis(200),
                    error: reason,
                })
            }
            // "Too soon after the previous refund" and "try later": the same refund, later.
            CreateOutcome::RetryLater { code, message } => return Ok(retry(job, format!("{code} {message}"))),
            CreateOutcome::Uncertain { .. } | CreateOutcome::Exists { .. } | CreateOutcome::Processing { .. } => {
                After::Wait {
                    request_id: None,
                    after: base_time,
                }
            }
            CreateOutcome::Terminal { code, message } => {
                let decline = provider_reason("declined", &code, &message);
                After::Event(
                    RefundEvent::Declined,
                    RefundChange {
                        actor: ACTOR.to_owned(),
                        decline: Some(decline),
                        ..RefundChange::default()
                    },
                )
            }
            CreateOutcome::Mismatch { reason } => After::Event(
                RefundEvent::NoDefiniteAnswer,
                RefundChange {
                    actor: ACTOR.to_owned(),
                    note: Some(reason),
                    ..RefundChange::default()
                },
            ),
        };
        finish(services, job, Some((refund, after))).await
    }
}

/// The payment's account's base time: when the first status check after a send is due.
fn base_time_of(services: &Services, payment: &PaymentRow) -> Duration {
    let timing = match payment.provider.as_str() {
        "humm" => services
            .accounts
            .humm(Some(&payment.account))
            .map(|a| a.timing.base_time),
        _ => services
            .accounts
            .valu(Some(&payment.account))
            .map(|a| a.timing.base_time),
    };
    timing.unwrap_or(Duration::from_secs(300))
}

async fn send<C: Connector>(
    services: &Services,
    connector: &C,
    request: &RefundRequest,
    expected: &Expected,
    timeout: Duration,
    limiter: &CallLimiter,
) -> CreateOutcome<RefundAck> {
    let call = match connector.refund_request(request) {
        Ok(call) => call,
        Err(error) => {
            return CreateOutcome::NotSent {
                reason: error.to_string(),
            }
        }
    };
    match limiter.send(&services.executor, &call, timeout).await {
        Ok(raw) => connector.parse_refund(&raw, expected),
        Err(transport) => transport.for_create(),
    }
}

/// Completes the job and records the result, in one transaction under the payment's lock.
async fn finish(
    services: &Services,
    job: &ClaimedJob,
    after: Option<(RefundRow, After)>,
) -> Result<JobResult, sqlx::Error> {
    let promotions = services.refund_promotions();
    let mut tx = services.pool.begin().await?;
    if jobs::complete(&mut tx, job).await?.is_err() {
        tx.rollback().await?;
        return Ok(JobResult::LeaseLost);
    }
    if let Some((refund, after)) = after {
        payments::lock(&mut tx, &refund.payment_id).await?;
        let Some(refund) = refunds::get(&mut tx, &refund.refund_id).await? else {
            tx.commit().await?;
            return Ok(JobResult::Completed);
        };
        match after {
            After::Event(event, change) => {
                let change = change.promoting_next(promotions.as_ref());
                crate::ledger::refund::apply(&mut tx, &refund, event, &change).await?;
                // A refund sent to review here (the provider's figures contradict ours) is still
                // checked, like one the status check sent there; else nothing would ever look at
                // it again and its queue would wait for ever.
                if event == RefundEvent::NoDefiniteAnswer {
                    schedule::refund_check(&mut tx, &refund, Utc::now() + schedule::to_chrono(REVIEW_CHECK)).await?;
                }
            }
            After::Wait { request_id, after } => {
                let change = RefundChange {
                    actor: ACTOR.to_owned(),
                    provider_request_id: request_id,
                    ..RefundChange::default()
                };
                crate::ledger::refund::apply(&mut tx, &refund, RefundEvent::RetryLater, &change).await?;
                schedule::refund_check(&mut tx, &refund, Utc::now() + schedule::to_chrono(after)).await?;
            }
            After::Manual { after } => {
                let change = RefundChange::by(ACTOR);
                crate::ledger::refund::apply(&mut tx, &refund, RefundEvent::ActionRequired, &change).await?;
                schedule::refund_check(&mut tx, &refund, Utc::now() + schedule::to_chrono(after)).await?;
            }
        }
    }
    tx.commit().await?;
    services.refund_hand_off.deliver(promotions.as_ref());
    Ok(JobResult::Completed)
}
