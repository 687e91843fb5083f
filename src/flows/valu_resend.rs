//! Job `valu_resend`: `purchase.resend_otp` runs OTP_GENERATE again; the payment stays
//! `action_required` with a fresh code, fresh plans, full attempts and a new expiry.

use super::completion::{self, retry};
use super::{schedule, valu_otp, Services};
use crate::domain::payment_state::PaymentEvent;
use crate::domain::PaymentStatus;
use crate::jobs::{JobHandler, JobResult};
use crate::store::jobs::ClaimedJob;
use crate::store::payments;
use std::sync::Arc;

const ACTOR: &str = "job:valu_resend";

pub struct ValuResend {
    pub services: Arc<Services>,
}

#[async_trait::async_trait]
impl JobHandler for ValuResend {
    async fn run(&self, job: &ClaimedJob) -> JobResult {
        match self.attempt(job).await {
            Ok(result) => result,
            Err(error) => retry(job, format!("database: {error}")),
        }
    }
}

impl ValuResend {
    async fn attempt(&self, job: &ClaimedJob) -> Result<JobResult, sqlx::Error> {
        let services = &self.services;
        let Some(payment_id) = job.payment_id.as_deref() else {
            return completion::settle(services, job, None).await;
        };
        let mut conn = services.pool.acquire().await?;
        let row = payments::get(&mut conn, payment_id).await?;
        drop(conn);
        let Some(row) = row.filter(|row| row.status() == PaymentStatus::ActionRequired) else {
            return completion::settle(services, job, None).await;
        };
        let Some(account) = services.accounts.valu(Some(&row.account)) else {
            return Ok(retry(job, format!("valu account {:?} is not configured", row.account)));
        };
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
                completion::settle(services, job, Some((event, *change))).await
            }
            valu_otp::Generated::Retry(reason) => Ok(retry(job, reason)),
        }
    }
}
