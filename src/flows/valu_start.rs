//! Job `valu_start`: after `purchase.create` for valU, CUSTOMER_VERIFY then OTP_GENERATE
//! (providers.md §2.2 steps 1–2) → `action_required` with `kind: "otp"` and the plans.
//!
//! Both steps create nothing a customer pays for, so an uncertain answer is simply retried; a
//! phone valU does not know declines the payment with a clear reason.

use super::completion::{self, retry, Attempt};
use super::schedule;
use super::settle::provider_reason;
use super::valu_otp;
use super::Services;
use crate::domain::payment_state::PaymentEvent;
use crate::domain::PaymentStatus;
use crate::jobs::JobResult;
use crate::ledger::Change;
use crate::providers::aps::{request, response};
use crate::providers::outcome::CreateOutcome;
use crate::store::jobs::ClaimedJob;
use std::sync::Arc;

pub(crate) const ACTOR: &str = "job:valu_start";

pub struct ValuStart {
    pub services: Arc<Services>,
}

#[async_trait::async_trait]
impl Attempt for ValuStart {
    async fn attempt(&self, job: &ClaimedJob) -> Result<JobResult, sqlx::Error> {
        let services = &self.services;
        let Some(row) = completion::payment_in(services, job, &[PaymentStatus::Accepted]).await? else {
            return completion::settle(services, job, None, None).await;
        };
        let payment_id = row.payment_id.as_str();
        let Some(account) = services.accounts.valu(Some(&row.account)) else {
            return Ok(retry(job, format!("valu account {:?} is not configured", row.account)));
        };
        let phone = row
            .customer
            .get("phone")
            .and_then(|p| p.as_str())
            .unwrap_or_default()
            .to_owned();
        let verify = request::customer_verify(&account.aps, payment_id, &phone);
        let verified = match account
            .limiter
            .send(&services.executor, &verify, account.aps.request_timeout)
            .await
        {
            Ok(raw) => response::parse_customer_verify(&raw, payment_id),
            Err(transport) => transport.for_create(),
        };
        match verified {
            CreateOutcome::Accepted(()) => {}
            CreateOutcome::Terminal { code, message } => {
                let mut reason = provider_reason("not_a_valu_customer", &code, &message);
                reason.message = "the phone number is not registered with valU".into();
                let change = Change {
                    actor: ACTOR.to_owned(),
                    reason: Some(reason),
                    ..Change::default()
                };
                return completion::settle(services, job, None, Some((PaymentEvent::Declined, change))).await;
            }
            CreateOutcome::Mismatch { reason } => {
                let change = Change {
                    actor: ACTOR.to_owned(),
                    note: Some(reason),
                    ..Change::default()
                };
                return completion::settle(services, job, None, Some((PaymentEvent::Contradiction, change))).await;
            }
            other => return Ok(retry(job, format!("CUSTOMER_VERIFY: {other:?}"))),
        }
        match valu_otp::generate(services, &account, &row).await {
            valu_otp::Generated::Offer(offer) => {
                let Some(mut tx) = completion::begin(services, job).await? else {
                    return Ok(JobResult::LeaseLost);
                };
                completion::apply(&mut tx, payment_id, PaymentEvent::ActionRequired, offer.change(ACTOR)).await?;
                schedule::otp_expiry(&mut tx, payment_id, offer.expires_at).await?;
                tx.commit().await?;
                Ok(JobResult::Completed)
            }
            valu_otp::Generated::Refused(event, change) => {
                completion::settle(services, job, None, Some((event, *change))).await
            }
            valu_otp::Generated::Retry(reason) => Ok(retry(job, reason)),
        }
    }
}
