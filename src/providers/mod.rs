//! Provider integrations: one folder per provider, pure protocol code.
pub mod aps;
pub mod ecommpay;
