//! ecommpay Gate and Payment Page, method humm (`../shared/spec/providers.md` Part 1).
pub mod signature;
