//! Job `valu_resend`: `purchase.resend_otp` runs OTP_GENERATE again; the payment stays
//! `action_required` with a fresh code, fresh plans, full attempts and a new expiry.

use super::completion::{self, retry, Attempt};
use super::{schedule, valu_otp, Services};
use crate::domain::payment_state::PaymentEvent;
use crate::domain::PaymentStatus;
use crate::jobs::JobResult;
use crate::store::jobs::ClaimedJob;
use std::sync::Arc;

const ACTOR: &str = "job:valu_resend";

pub struct ValuResend {
    pub services: Arc<Services>,
}

#[async_trait::async_trait]
impl Attempt for ValuResend {
    async fn attempt(&self, job: &ClaimedJob) -> Result<JobResult, sqlx::Error> {
        let services = &self.services;
        let Some(row) = completion::payment_in(services, job, &[PaymentStatus::ActionRequired]).await? else {
            return completion::settle(services, job, None, None).await;
        };
        let payment_id = row.payment_id.as_str();
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
                completion::settle(services, job, None, Some((event, *change))).await
            }
            valu_otp::Generated::Retry(reason) => Ok(retry(job, reason)),
        }
    }
}
