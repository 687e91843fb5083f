//! Amazon Payment Services (PayFort), valU (`../shared/spec/providers.md` Part 2).
pub mod signature;
