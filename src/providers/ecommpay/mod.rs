//! ecommpay Gate and Payment Page, method humm (`../shared/spec/providers.md` Part 1).
//!
//! - [`account`]: project credentials and endpoints;
//! - [`signature`]: HMAC-SHA512 over the flattened, naturally sorted document (§1.4);
//! - [`request`]: signed sale, refund and status bodies; [`payment_page`]: the signed page URL;
//! - [`response`]: registration and status answers; [`callback`]: verified callbacks;
//! - [`codes`]: the one table from codes and status words to outcome classes.
//!
//! Everything here is pure; [`crate::providers::executor`] does the HTTP.
pub mod account;
pub mod callback;
pub mod codes;
mod connector;
pub mod payment_page;
#[cfg(test)]
mod proptests;
pub mod request;
pub mod response;
pub mod signature;

pub use account::EcommpayAccount;
pub use callback::{Callback, CallbackEvent, ExpectedRefund};
