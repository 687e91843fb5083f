//! One valU order at APS, keyed by `(merchant_identifier, merchant_reference)`: the OTP the
//! customer received, the purchase and its refunds.
//!
//! Invariants: an order is purchased at most once (one PURCHASE per `merchant_reference`); once
//! its OTP attempts are exhausted it is declined for good; refunded + refunding never exceeds the
//! captured amount (checked at intake).

use tokio::time::Instant;

use crate::sandbox::faults::FaultSet;

/// A PURCHASE that reached a result.
#[derive(Debug, Clone)]
pub(crate) struct Purchase {
    pub fort_id: String,
    /// `14000` or a decline such as `13666`.
    pub code: &'static str,
    pub message: &'static str,
    pub tenure: String,
}

impl Purchase {
    pub(crate) fn succeeded(&self) -> bool {
        self.code == "14000"
    }
}

/// A refund's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ApsRefundStatus {
    Processing,
    Success,
    Decline,
}

/// One REFUND.
#[derive(Debug, Clone)]
pub(crate) struct ApsRefund {
    pub maintenance_reference: String,
    pub amount: i64,
    pub status: ApsRefundStatus,
}

/// What an OTP check found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum OtpCheck {
    Valid,
    Wrong { attempts_left: u32 },
    Exhausted,
    Expired,
}

/// One order.
#[derive(Debug, Clone)]
pub(crate) struct ApsOrder {
    pub phone: String,
    pub amount: i64,
    pub currency: String,
    pub down_payment: i64,
    pub merchant_order_id: String,
    pub transaction_id: String,
    pub otp: String,
    pub otp_expires: Instant,
    pub attempts_left: u32,
    pub otp_verified: bool,
    /// OTP attempts exhausted: declined.
    pub locked: bool,
    pub tenures: Vec<u32>,
    pub purchase: Option<Purchase>,
    pub refunds: Vec<ApsRefund>,
    pub faults: FaultSet,
}

impl ApsOrder {
    /// Checks `otp`, spending an attempt when it is wrong.
    pub(crate) fn check_otp(&mut self, otp: &str, now: Instant) -> OtpCheck {
        if self.locked {
            return OtpCheck::Exhausted;
        }
        if self.otp_verified && otp == self.otp {
            return OtpCheck::Valid;
        }
        if now > self.otp_expires {
            return OtpCheck::Expired;
        }
        if otp == self.otp {
            self.otp_verified = true;
            return OtpCheck::Valid;
        }
        self.attempts_left = self.attempts_left.saturating_sub(1);
        if self.attempts_left == 0 {
            self.locked = true;
            OtpCheck::Exhausted
        } else {
            OtpCheck::Wrong {
                attempts_left: self.attempts_left,
            }
        }
    }

    /// Sum of succeeded refunds.
    pub(crate) fn refunded(&self) -> i64 {
        self.sum(ApsRefundStatus::Success)
    }

    /// Sum of refunds being processed.
    pub(crate) fn refunding(&self) -> i64 {
        self.sum(ApsRefundStatus::Processing)
    }

    fn sum(&self, status: ApsRefundStatus) -> i64 {
        self.refunds
            .iter()
            .filter(|r| r.status == status)
            .map(|r| r.amount)
            .sum()
    }

    /// The captured amount: the whole amount once purchased.
    pub(crate) fn captured(&self) -> i64 {
        match &self.purchase {
            Some(p) if p.succeeded() => self.amount,
            _ => 0,
        }
    }
}
