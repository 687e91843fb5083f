//! One APS merchant account (contract §6). All valU steps, REFUND and CHECK_STATUS go to the same
//! server-to-server endpoint (`../shared/spec/providers.md` §2.1).
//!
//! Invariant: both phrases are `SecretString`s, so `Debug` prints them redacted.

use std::time::Duration;

use crate::providers::keys::KeyRing;
use url::Url;

use super::signature::ShaType;

/// Sandbox endpoint (§2.1).
pub const SANDBOX_URL: &str = "https://sbpaymentservices.payfort.com/FortAPI/paymentApi";
/// Production endpoint (§2.1).
pub const PRODUCTION_URL: &str = "https://paymentservices.payfort.com/FortAPI/paymentApi";

/// An APS merchant account.
#[derive(Debug, Clone)]
pub struct ApsAccount {
    /// The full endpoint, `…/FortAPI/paymentApi`.
    pub base_url: Url,
    /// `access_code`.
    pub access_code: String,
    /// `merchant_identifier`.
    pub merchant_identifier: String,
    /// SHA request phrase: signs what we send.
    pub request_phrase: KeyRing,
    /// SHA response phrase: verifies what APS sends (responses, notifications).
    pub response_phrase: KeyRing,
    /// The dashboard's SHA type.
    pub sha_type: ShaType,
    /// `language`: `en` or `ar`.
    pub language: String,
    /// Total time for one call. aps-woo uses 60 s; valU steps are interactive, so keep it shorter.
    pub request_timeout: Duration,
}
