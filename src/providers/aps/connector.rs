//! [`Connector`] for an APS account: CHECK_STATUS, REFUND and notification intake.

use super::account::ApsAccount;
use super::notification::{verify_with_keys, Notification};
use super::{request, response};
use crate::providers::outcome::{CreateOutcome, Expected, StatusOutcome};
use crate::providers::{BuildError, CallbackError, Connector, ProviderRequest, RawResponse, RefundAck, RefundRequest};

impl Connector for ApsAccount {
    type Callback = Notification;

    fn status_request(&self, payment_id: &str) -> Result<ProviderRequest, BuildError> {
        Ok(request::check_status(self, payment_id))
    }

    fn parse_status(&self, response: &RawResponse, expected: &Expected) -> StatusOutcome {
        match response::foreign_merchant(response, &self.merchant_identifier, &self.access_code) {
            Some(reason) => StatusOutcome::Mismatch { reason },
            None => response::parse_check_status(response, expected),
        }
    }

    fn refund_request(&self, refund: &RefundRequest) -> Result<ProviderRequest, BuildError> {
        Ok(request::refund(self, refund))
    }

    fn parse_refund(&self, response: &RawResponse, expected: &Expected) -> CreateOutcome<RefundAck> {
        match response::foreign_merchant(response, &self.merchant_identifier, &self.access_code) {
            Some(reason) => CreateOutcome::Mismatch { reason },
            None => response::parse_refund(response, expected),
        }
    }

    fn verify_callback(&self, body: &[u8]) -> Result<Notification, CallbackError> {
        verify_with_keys(body, &self.response_phrase, self.sha_type, chrono::Utc::now())
            .map(|(notification, _)| notification)
    }
}
