//! [`Connector`] for an ecommpay project: status, refund and callback intake.

use super::account::EcommpayAccount;
use super::callback::{verify_with_keys, Callback};
use super::{request, response};
use crate::providers::outcome::{CreateOutcome, Expected, StatusOutcome};
use crate::providers::{BuildError, CallbackError, Connector, ProviderRequest, RawResponse, RefundAck, RefundRequest};

impl Connector for EcommpayAccount {
    type Callback = Callback;

    fn status_request(&self, payment_id: &str) -> Result<ProviderRequest, BuildError> {
        request::status(self, payment_id)
    }

    fn parse_status(&self, response: &RawResponse, expected: &Expected) -> StatusOutcome {
        match response::foreign_project(response, self.project_id) {
            Some(reason) => StatusOutcome::Mismatch { reason },
            None => response::parse_status(response, expected),
        }
    }

    fn refund_request(&self, refund: &RefundRequest) -> Result<ProviderRequest, BuildError> {
        request::refund(self, refund)
    }

    fn parse_refund(&self, response: &RawResponse, expected: &Expected) -> CreateOutcome<RefundAck> {
        match response::foreign_project(response, self.project_id) {
            Some(reason) => CreateOutcome::Mismatch { reason },
            None => response::parse_refund(response, &expected.reference),
        }
    }

    fn verify_callback(&self, body: &[u8]) -> Result<Callback, CallbackError> {
        verify_with_keys(body, &self.secret_key, chrono::Utc::now()).map(|(callback, _)| callback)
    }
}
