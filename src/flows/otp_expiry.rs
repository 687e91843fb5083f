//! Job `otp_expiry`: a valU payment whose OTP was never confirmed within its lifetime can no
//! longer succeed and nobody refused it: `expired` (contract §3). A resend moves the expiry on,
//! so the job re-reads the current expiry before acting.

use super::completion::{self, Attempt};
use super::Services;
use crate::domain::events::Reason;
use crate::domain::payment_state::PaymentEvent;
use crate::domain::PaymentStatus;
use crate::jobs::JobResult;
use crate::ledger::Change;
use crate::store::jobs::ClaimedJob;
use chrono::{DateTime, Utc};
use std::sync::Arc;

pub struct OtpExpiry {
    pub services: Arc<Services>,
}

#[async_trait::async_trait]
impl Attempt for OtpExpiry {
    async fn attempt(&self, job: &ClaimedJob) -> Result<JobResult, sqlx::Error> {
        let services = &self.services;
        let Some(row) = completion::payment_in(services, job, &[PaymentStatus::ActionRequired]).await? else {
            return completion::settle(services, job, None, None).await;
        };
        let expires_at = row
            .provider_state
            .get("otp_expires_at")
            .and_then(|at| at.as_str())
            .and_then(|at| DateTime::parse_from_rfc3339(at).ok())
            .map(|at| at.with_timezone(&Utc));
        if expires_at.is_some_and(|at| at > Utc::now()) {
            // A resend gave the customer a new code; its own expiry job is scheduled.
            return completion::settle(services, job, None, None).await;
        }
        let reason = Reason::new("otp_expired", "the OTP was not confirmed within its lifetime");
        let change = Change {
            actor: "job:otp_expiry".to_owned(),
            reason: Some(reason),
            ..Change::default()
        };
        completion::settle(services, job, None, Some((PaymentEvent::Expired, change))).await
    }
}
