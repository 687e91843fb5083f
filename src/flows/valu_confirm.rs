//! Job `valu_confirm`: after `purchase.confirm`, OTP_VERIFY then PURCHASE (providers.md §2.2
//! steps 3–4): `pending` once the OTP is accepted, then `succeeded` or `declined`.
//!
//! A wrong OTP keeps the payment `action_required` (event with `reason.code = "otp_invalid"` and
//! the attempts left) until the attempts are used up (`declined`). PURCHASE is never resent
//! blindly: an uncertain answer leaves the payment `pending` and brings the CHECK_STATUS forward;
//! a retry after a crash asks CHECK_STATUS first.

use super::completion::{self, retry, Attempt};
use super::settle::{self, provider_reason};
use super::valu_otp::text;
use super::{schedule, Services};
use crate::accounts::ValuAccount;
use crate::domain::events::Action;
use crate::domain::payment_state::PaymentEvent;
use crate::domain::PaymentStatus;
use crate::jobs::JobResult;
use crate::ledger::Change;
use crate::providers::aps::{codes, request, response};
use crate::providers::outcome::{CreateOutcome, Expected, PaymentState, ProviderStatus, StatusOutcome};
use crate::providers::Connector;
use crate::store::jobs::ClaimedJob;
use crate::store::payments::{self, PaymentRow};
use chrono::Utc;
use serde_json::json;
use std::sync::Arc;

const ACTOR: &str = "job:valu_confirm";

pub struct ValuConfirm {
    pub services: Arc<Services>,
}

#[async_trait::async_trait]
impl Attempt for ValuConfirm {
    async fn attempt(&self, job: &ClaimedJob) -> Result<JobResult, sqlx::Error> {
        let services = &self.services;
        let Some(payment_id) = job.payment_id.as_deref() else {
            return completion::settle(services, job, None, None).await;
        };
        let mut conn = services.pool.acquire().await?;
        let row = payments::get(&mut conn, payment_id).await?;
        drop(conn);
        let Some(row) = row else {
            return completion::settle(services, job, None, None).await;
        };
        let Some(account) = services.accounts.valu(Some(&row.account)) else {
            return Ok(retry(job, format!("valu account {:?} is not configured", row.account)));
        };
        let otp = text(&job.payload, "otp");
        let tenure = job
            .payload
            .get("tenure_months")
            .and_then(|t| t.as_u64())
            .unwrap_or_default() as u32;
        match row.status() {
            PaymentStatus::ActionRequired => self.verify(job, &account, &row, &otp).await,
            // OTP accepted earlier, then a crash or lost lease: find out whether PURCHASE landed.
            PaymentStatus::Pending => self.purchase_after_check(job, &account, &row, &otp, tenure).await,
            _ => completion::settle(services, job, None, None).await,
        }
    }
}

impl ValuConfirm {
    async fn verify(
        &self,
        job: &ClaimedJob,
        account: &ValuAccount,
        row: &PaymentRow,
        otp: &str,
    ) -> Result<JobResult, sqlx::Error> {
        let services = &self.services;
        let step = request::OtpVerify {
            merchant_reference: row.payment_id.clone(),
            phone_number: text(&row.customer, "phone"),
            merchant_order_id: order_id(row),
            amount_minor: row.amount_minor,
            currency: row.currency.clone(),
            down_payment_minor: row.down_payment_minor,
            otp: otp.to_owned(),
        };
        let expected = Expected::money(&row.payment_id, row.amount_minor, &row.currency);
        let call = request::otp_verify(&account.aps, &step);
        let outcome = match account
            .limiter
            .send(&services.executor, &call, account.aps.request_timeout)
            .await
        {
            Ok(raw) => response::parse_otp_verify(&raw, &expected),
            Err(transport) => transport.for_create(),
        };
        match outcome {
            CreateOutcome::Accepted(()) => {
                let Some(mut tx) = completion::begin(services, job).await? else {
                    return Ok(JobResult::LeaseLost);
                };
                let change = Change {
                    actor: ACTOR.to_owned(),
                    note: Some("OTP verified; purchase sent".into()),
                    ..Change::default()
                };
                completion::apply(&mut tx, &row.payment_id, PaymentEvent::ConfirmSent, change).await?;
                // The PURCHASE goes out as a fresh job run, so a crash between the two steps is
                // recovered by the status-first path above, never by a blind resend.
                schedule::valu_confirm(&mut tx, &row.payment_id, &job.payload).await?;
                tx.commit().await?;
                Ok(JobResult::Completed)
            }
            CreateOutcome::Terminal { code, message } => self.wrong_otp(job, row, &code, &message).await,
            CreateOutcome::Mismatch { reason } => {
                let change = Change {
                    actor: ACTOR.to_owned(),
                    note: Some(reason),
                    ..Change::default()
                };
                completion::settle(services, job, None, Some((PaymentEvent::Contradiction, change))).await
            }
            other => Ok(retry(job, format!("OTP_VERIFY: {other:?}"))),
        }
    }

    /// A refused OTP: one attempt fewer, declined at zero; an expired code expires the payment.
    async fn wrong_otp(
        &self,
        job: &ClaimedJob,
        row: &PaymentRow,
        code: &str,
        message: &str,
    ) -> Result<JobResult, sqlx::Error> {
        let left = row
            .provider_state
            .get("otp_attempts_left")
            .and_then(|v| v.as_u64())
            .unwrap_or(1)
            .saturating_sub(1);
        let expired = code.ends_with("778");
        let exhausted = code.ends_with("123") || left == 0;
        let (event, change) = if expired {
            let reason = provider_reason("otp_expired", code, message);
            (
                PaymentEvent::Expired,
                Change {
                    actor: ACTOR.to_owned(),
                    reason: Some(reason),
                    ..Change::default()
                },
            )
        } else if exhausted {
            let mut reason = provider_reason("otp_attempts_exceeded", code, message);
            reason.message = "too many wrong OTPs".into();
            (
                PaymentEvent::Declined,
                Change {
                    actor: ACTOR.to_owned(),
                    reason: Some(reason),
                    ..Change::default()
                },
            )
        } else {
            // The offer stands, with one attempt fewer.
            let action = row
                .action
                .clone()
                .and_then(|stored| serde_json::from_value::<Action>(stored).ok())
                .map(|action| match action {
                    Action::Otp { plans, expires_at, .. } => Action::Otp {
                        plans,
                        attempts_left: u32::try_from(left).unwrap_or(0),
                        expires_at,
                    },
                    other => other,
                });
            let mut reason = provider_reason("otp_invalid", code, message);
            reason.message = "wrong OTP".into();
            reason.attempts_left = Some(u32::try_from(left).unwrap_or(0));
            let change = Change {
                actor: ACTOR.to_owned(),
                action,
                reason: Some(reason),
                provider_state: Some(json!({ "otp_attempts_left": left })),
                ..Change::default()
            };
            (PaymentEvent::ActionRequired, change)
        };
        completion::settle(&self.services, job, None, Some((event, change))).await
    }

    async fn purchase_after_check(
        &self,
        job: &ClaimedJob,
        account: &ValuAccount,
        row: &PaymentRow,
        otp: &str,
        tenure: u32,
    ) -> Result<JobResult, sqlx::Error> {
        let services = &self.services;
        let expected = Expected::money(&row.payment_id, row.amount_minor, &row.currency);
        if job.attempts > 1 {
            let Ok(query) = account.aps.status_request(&row.payment_id) else {
                return Ok(retry(job, "cannot build CHECK_STATUS".to_owned()));
            };
            let status = match account
                .limiter
                .send(&services.executor, &query, account.aps.request_timeout)
                .await
            {
                Ok(raw) => account.aps.parse_status(&raw, &expected),
                Err(transport) => transport.for_status(),
            };
            match status {
                StatusOutcome::NotFound => {}
                // Its last step is a valU step before PURCHASE (the OTP verify we did): APS has no
                // PURCHASE of it, so sending one is no resend. APS refuses a second one of the
                // same reference anyway (00066), which is then settled by status query.
                StatusOutcome::Known(ProviderStatus {
                    state: PaymentState::Pending { status },
                    ..
                }) if codes::before_purchase(&status) => {}
                StatusOutcome::Known(known) => {
                    let event = settle::event_for(&known.state, ACTOR);
                    return match event {
                        Some(event) => completion::settle(services, job, None, Some(event)).await,
                        None => Ok(retry(job, "PURCHASE still processing".to_owned())),
                    };
                }
                StatusOutcome::Retryable { reason } => return Ok(retry(job, reason)),
                StatusOutcome::Mismatch { reason } => {
                    let change = Change {
                        actor: ACTOR.to_owned(),
                        note: Some(reason),
                        ..Change::default()
                    };
                    return completion::settle(services, job, None, Some((PaymentEvent::Contradiction, change))).await;
                }
            }
        }
        let step = request::Purchase {
            merchant_reference: row.payment_id.clone(),
            phone_number: text(&row.customer, "phone"),
            merchant_order_id: order_id(row),
            amount_minor: row.amount_minor,
            currency: row.currency.clone(),
            down_payment_minor: row.down_payment_minor,
            otp: otp.to_owned(),
            tenure_months: tenure,
            customer_email: text(&row.customer, "email"),
            purchase_description: row.description.clone().unwrap_or_else(|| row.payment_id.clone()),
            transaction_id: text(&row.provider_state, "transaction_id"),
        };
        let call = request::purchase(&account.aps, &step);
        let outcome = match account
            .limiter
            .send(&services.executor, &call, account.aps.request_timeout)
            .await
        {
            Ok(raw) => response::parse_purchase(&raw, &expected),
            Err(transport) => transport.for_create(),
        };
        let event = match outcome {
            CreateOutcome::Accepted(purchased) => Some((
                PaymentEvent::Succeeded,
                Change {
                    actor: ACTOR.to_owned(),
                    provider_reference: purchased.fort_id,
                    ..Change::default()
                },
            )),
            CreateOutcome::Terminal { code, message } => {
                let reason = provider_reason("declined", &code, &message);
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
            CreateOutcome::NotSent { reason } => return Ok(retry(job, reason)),
            // Uncertain, exists, processing, retry later: never resend PURCHASE blindly; the
            // status check decides (design §1).
            _ => {
                let Some(mut tx) = completion::begin(services, job).await? else {
                    return Ok(JobResult::LeaseLost);
                };
                schedule::status_check(&mut tx, &row.payment_id, Utc::now() + chrono::Duration::seconds(1), 0).await?;
                tx.commit().await?;
                return Ok(JobResult::Completed);
            }
        };
        completion::settle(services, job, None, event).await
    }
}

fn order_id(row: &PaymentRow) -> String {
    let stored = text(&row.provider_state, "merchant_order_id");
    if stored.is_empty() {
        row.payment_id.clone()
    } else {
        stored
    }
}
