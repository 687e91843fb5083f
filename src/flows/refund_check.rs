//! Job `refund_check`: the status query for a refund in flight whose result has not come (no
//! callback after the base time, or an uncertain answer), settled by the refunded-total rule.
//! Past the account's `refund_threshold` with no definite answer, the refund goes to
//! `needs_review` and keeps blocking its queue (design §1: never skipped, never guessed). It is
//! still checked there, on the schedule's longest delay: a later definite answer settles it, and
//! one the provider never got (an uncertain send, and the provider's total shows nothing) is sent
//! again under the same id, so a lost request cannot hold its queue for ever.

use super::completion::{retry, Attempt};
use super::refund_settle::{self, Verdict};
use super::{schedule, Services};
use crate::config::RefundMode;
use crate::domain::refund_state::RefundEvent;
use crate::domain::RefundStatus;
use crate::jobs::JobResult;
use crate::ledger::RefundChange;
use crate::store::jobs::{self, ClaimedJob};
use crate::store::payments;
use crate::store::refunds;
use chrono::Utc;
use std::sync::Arc;

const ACTOR: &str = "job:refund_check";

pub struct RefundCheck {
    pub services: Arc<Services>,
}

#[async_trait::async_trait]
impl Attempt for RefundCheck {
    async fn attempt(&self, job: &ClaimedJob) -> Result<JobResult, sqlx::Error> {
        let services = &self.services;
        let mut conn = services.pool.acquire().await?;
        let refund = match job.refund_id.as_deref() {
            Some(id) => refunds::get(&mut conn, id).await?,
            None => None,
        };
        let payment = match &refund {
            Some(refund) => payments::get(&mut conn, &refund.payment_id).await?,
            None => None,
        };
        drop(conn);
        let (Some(refund), Some(payment)) = (refund, payment) else {
            return complete(services, job, None, None).await;
        };
        // A refund in review is still checked: a definite answer settles it, and one the provider
        // never got is sent again; otherwise its queue would wait for ever behind it (the refund
        // queue model found this: tests/refund_queue).
        if !refund.status().holds_queue() {
            return complete(services, job, None, None).await;
        }
        let in_review = refund.status() == RefundStatus::NeedsReview;
        // valU refunds always go through the API (manual mode is humm's, issue 20).
        let (timing_threshold, schedule_delay, mode) = match payment.provider.as_str() {
            "humm" => services.accounts.humm(Some(&payment.account)).map(|a| {
                (
                    a.timing.refund_threshold,
                    a.timing.status_check_schedule.clone(),
                    a.refund_mode,
                )
            }),
            _ => services.accounts.valu(Some(&payment.account)).map(|a| {
                (
                    a.timing.refund_threshold,
                    a.timing.status_check_schedule.clone(),
                    RefundMode::Api,
                )
            }),
        }
        .unwrap_or_default();
        let overdue = refund
            .submitted_at
            .is_some_and(|at| Utc::now() > at + schedule::to_chrono(timing_threshold));
        let verdict = refund_settle::ask_provider(services, &payment, &refund, ACTOR).await;
        let settle = match verdict {
            Verdict::Settle(event, change) => Some((event, *change)),
            Verdict::NotApplied | Verdict::InProgress | Verdict::Unknown(_) if overdue && !in_review => {
                let note = "no definite answer within the refund threshold".to_owned();
                Some((
                    RefundEvent::NoDefiniteAnswer,
                    RefundChange {
                        actor: ACTOR.to_owned(),
                        note: Some(note),
                        ..RefundChange::default()
                    },
                ))
            }
            // Never registered (the send's answer was uncertain and we hold no request id) and
            // definitely not applied: a resend with the same refund id is safe (design §1), and
            // the provider's duplicate-id check backs it up.
            // Manual refund mode sends nothing: finance has not filed it yet, so keep waiting.
            Verdict::NotApplied if refund.provider_request_id.is_none() && mode != RefundMode::Manual => {
                return resend(services, job, &refund).await;
            }
            // Held by the provider, unfinished: wait for it (never a second send).
            Verdict::NotApplied | Verdict::InProgress => None,
            Verdict::Unknown(reason) => return Ok(retry(job, reason)),
        };
        // No definite answer yet (not applied, or just sent to review): ask again on the account's
        // schedule (its last, longest delay).
        let again = match &settle {
            None | Some((RefundEvent::NoDefiniteAnswer, _)) => Some(
                schedule_delay
                    .last()
                    .copied()
                    .unwrap_or(std::time::Duration::from_secs(60)),
            ),
            Some(_) => None,
        };
        complete(services, job, settle, again).await
    }
}

/// Completes this check and hands the refund back to `refund_send` (a fresh attempt, status
/// already asked), with the next check after it as usual.
async fn resend(services: &Services, job: &ClaimedJob, refund: &refunds::RefundRow) -> Result<JobResult, sqlx::Error> {
    let mut tx = services.pool.begin().await?;
    if jobs::complete(&mut tx, job).await?.is_err() {
        tx.rollback().await?;
        return Ok(JobResult::LeaseLost);
    }
    schedule::refund_send(&mut tx, refund).await?;
    tx.commit().await?;
    tracing::info!(refund_id = %refund.refund_id, "refund not at the provider after an uncertain send: sending it again");
    Ok(JobResult::Completed)
}

/// Completes the job and applies the verdict (or schedules the next check), in one transaction
/// under the payment's lock.
async fn complete(
    services: &Services,
    job: &ClaimedJob,
    settle: Option<(RefundEvent, RefundChange)>,
    again: Option<std::time::Duration>,
) -> Result<JobResult, sqlx::Error> {
    let promotions = services.refund_promotions();
    let mut tx = services.pool.begin().await?;
    if jobs::complete(&mut tx, job).await?.is_err() {
        tx.rollback().await?;
        return Ok(JobResult::LeaseLost);
    }
    let refund = match job.refund_id.as_deref() {
        Some(refund_id) => refunds::get(&mut tx, refund_id).await?,
        None => None,
    };
    if let Some(refund) = refund {
        payments::lock(&mut tx, &refund.payment_id).await?;
        if let Some(refund) = refunds::get(&mut tx, &refund.refund_id).await? {
            if let Some((event, change)) = settle {
                let change = change.promoting_next(promotions.as_ref());
                crate::ledger::refund::apply(&mut tx, &refund, event, &change).await?;
            }
            if let Some(delay) = again {
                schedule::refund_check(&mut tx, &refund, Utc::now() + schedule::to_chrono(delay)).await?;
            }
        }
    }
    tx.commit().await?;
    services.refund_hand_off.deliver(promotions.as_ref());
    Ok(JobResult::Completed)
}
