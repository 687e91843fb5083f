//! Amazon Payment Services (PayFort), valU (`../shared/spec/providers.md` Part 2).
//!
//! - [`account`]: merchant credentials and endpoint;
//! - [`signature`]: phrase-wrapped SHA / HMAC over the byte-sorted parameters (§2.4);
//! - [`request`]: CUSTOMER_VERIFY, OTP_GENERATE, OTP_VERIFY, PURCHASE, REFUND, CHECK_STATUS;
//! - [`response`]: synchronous answers; [`plans`]: valU installment plans;
//! - [`notification`]: verified transaction feedback;
//! - [`codes`]: the one table from response codes and transaction statuses to outcome classes.
//!
//! Everything here is pure; [`crate::providers::executor`] does the HTTP.
pub mod account;
pub mod codes;
mod connector;
pub mod notification;
pub mod plans;
#[cfg(test)]
mod proptests;
pub mod request;
pub mod response;
pub mod signature;

pub use account::ApsAccount;
pub use notification::Notification;
pub use plans::Plan;
