//! Sandbox configuration: the accounts it plays, its clocks and its fault mix.
//!
//! Every duration a provider would measure in hours is given here in the provider's own seconds
//! and multiplied by `time_scale` when used, so `time_scale = 0.001` turns humm's 24-hour
//! threshold into 86.4 s and ecommpay's 10 s callback retry interval into 10 ms. Durations that
//! model *client-visible latency* (`slow_response_ms`, `stall_ms`, `callback_timeout_ms`) are real
//! milliseconds and are not scaled, because the client's own timeouts are real time.

use std::time::Duration;

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use crate::providers::aps::signature::ShaType;

use super::faults::FaultRates;

/// Everything the sandbox needs; `Default` is an empty sandbox (no accounts), `demo()` the
/// well-known demo accounts.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct SandboxConfig {
    /// Base URL customers and the orchestrator use to reach the sandbox (it appears in humm
    /// `redirect_data.url`). `None`: `http://<bound address>`.
    pub public_url: Option<String>,
    /// Multiplier applied to every provider-time duration (threshold, OTP lifetime, refund
    /// processing, callback retry intervals). `1.0` is real time.
    pub time_scale: f64,
    /// ecommpay projects the sandbox plays.
    pub ecommpay_projects: Vec<EcommpayProject>,
    /// APS merchant accounts the sandbox plays.
    pub aps_merchants: Vec<ApsMerchant>,
    /// humm (ecommpay method) rules and timings.
    pub humm: HummSettings,
    /// valU (APS) rules and timings.
    pub valu: ValuSettings,
    /// Plays the customer automatically (first-run demo, benchmark).
    pub auto_customer: AutoCustomer,
    /// Fault probabilities applied to every payment (magic markers apply regardless).
    pub faults: FaultRates,
    /// A response delayed by the `slow` fault waits this long (real ms).
    pub slow_response_ms: u64,
    /// A response stalled by the `timeout-after-register` fault waits this long (real ms) before
    /// it is sent, well past the 5 s client timeout ecommpay's plugins use (providers.md §1.6).
    pub stall_ms: u64,
    /// Timeout of one callback delivery attempt (real ms).
    pub callback_timeout_ms: u64,
    /// Payments and orders kept in memory at most (about 1 KB each with their bookkeeping);
    /// beyond it new ones are refused as a temporarily unavailable provider (ecommpay 314, APS
    /// 00006). `POST /sandbox/reset` clears. Default 200,000.
    pub max_records: usize,
    /// Entries kept in each ledger list (sales, refunds, callbacks, violations); counters keep
    /// counting past it. Default 10,000.
    pub ledger_capacity: usize,
    /// Project keys changed at run time (`POST /sandbox/ecommpay/{project_id}/secret`), as when a
    /// merchant regenerates the key in ecommpay's dashboard: from then on everything new is
    /// signed and checked with it; callbacks already signed keep their signature.
    #[serde(skip)]
    pub rotated_keys: std::sync::Arc<std::sync::RwLock<std::collections::HashMap<u64, SecretString>>>,
}

/// One ecommpay project (a merchant account at ecommpay).
#[derive(Debug, Clone, Deserialize)]
pub struct EcommpayProject {
    /// `general.project_id`.
    pub project_id: u64,
    /// The project's secret key: signs requests, responses and callbacks (HMAC-SHA512).
    pub secret_key: SecretString,
    /// Where callbacks go when a request carries no `general.merchant_callback_url` (ecommpay
    /// keeps one per project in its dashboard).
    #[serde(default)]
    pub callback_url: Option<String>,
}

/// One APS merchant account.
#[derive(Debug, Clone, Deserialize)]
pub struct ApsMerchant {
    /// `access_code` every request carries.
    pub access_code: String,
    /// `merchant_identifier`; refunds are sequential per identifier.
    pub merchant_identifier: String,
    /// SHA request phrase: checks the merchant's requests.
    pub request_phrase: SecretString,
    /// SHA response phrase: signs responses and feedback.
    pub response_phrase: SecretString,
    /// The dashboard's SHA type.
    #[serde(default = "default_sha")]
    pub sha_type: ShaType,
    /// Direct and notification transaction feedback URL (form POST); `None`: no feedback.
    #[serde(default)]
    pub notification_url: Option<String>,
}

fn default_sha() -> ShaType {
    ShaType::Sha256
}

/// humm through ecommpay Gate (providers.md §1.6).
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct HummSettings {
    /// Threshold time: an unfinished payment is declined by the platform itself (24 h).
    pub threshold_secs: f64,
    /// Smallest amount in minor units (1.00 GBP).
    pub min_amount: i64,
    /// Largest amount in minor units (30,000.00 GBP).
    pub max_amount: i64,
    /// Time humm takes to process one refund application (at most one working day).
    pub refund_processing_secs: f64,
}

/// valU through APS (providers.md §2.2; OTP lifetime and attempts are not published: ours).
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct ValuSettings {
    /// How long an OTP stays valid.
    pub otp_lifetime_secs: f64,
    /// Wrong OTPs allowed before the order is declined.
    pub otp_attempts: u32,
    /// CUSTOMER_VERIFY answers `00160` (not a valU customer) for this phone number.
    pub not_customer_phone: String,
    /// Plans offered by OTP_GENERATE, in months (`tenure` "6-9-12-18").
    pub tenures: Vec<u32>,
    /// Plan fee per month of tenure, in basis points of the financed amount.
    pub monthly_fee_bp: i64,
    /// How long APS holds a REFUND call before answering (APS answers refunds synchronously).
    pub refund_processing_secs: f64,
}

/// The automatic customer.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct AutoCustomer {
    /// When on, every humm redirect is finished by the sandbox itself.
    pub enabled: bool,
    /// Share of auto-finished payments that succeed (the rest are declined), 0.0..=1.0.
    pub success_ratio: f64,
    /// Provider-time seconds the customer takes after receiving the redirect (scaled).
    pub delay_secs: f64,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            public_url: None,
            time_scale: 1.0,
            ecommpay_projects: Vec::new(),
            aps_merchants: Vec::new(),
            humm: HummSettings::default(),
            valu: ValuSettings::default(),
            auto_customer: AutoCustomer::default(),
            faults: FaultRates::default(),
            slow_response_ms: 3_000,
            stall_ms: 30_000,
            callback_timeout_ms: 5_000,
            max_records: 200_000,
            ledger_capacity: 10_000,
            rotated_keys: Default::default(),
        }
    }
}

impl Default for HummSettings {
    fn default() -> Self {
        Self {
            threshold_secs: 24.0 * 3600.0,
            min_amount: 100,
            max_amount: 3_000_000,
            refund_processing_secs: 600.0,
        }
    }
}

impl Default for ValuSettings {
    fn default() -> Self {
        Self {
            otp_lifetime_secs: 300.0,
            otp_attempts: 3,
            not_customer_phone: DEMO_NOT_CUSTOMER_PHONE.to_owned(),
            tenures: vec![6, 9, 12, 18],
            monthly_fee_bp: 100,
            refund_processing_secs: 2.0,
        }
    }
}

impl Default for AutoCustomer {
    fn default() -> Self {
        Self {
            enabled: false,
            success_ratio: 1.0,
            delay_secs: 0.0,
        }
    }
}

/// Demo ecommpay project id.
pub const DEMO_ECOMMPAY_PROJECT: u64 = 1001;
/// Demo ecommpay secret key.
pub const DEMO_ECOMMPAY_SECRET: &str = "sandbox-ecommpay-secret";
/// Demo APS access code.
pub const DEMO_APS_ACCESS_CODE: &str = "SANDBOXACCESSCODE001";
/// Demo APS merchant identifier.
pub const DEMO_APS_MERCHANT: &str = "SANDBOXMID";
/// Demo APS SHA request phrase.
pub const DEMO_APS_REQUEST_PHRASE: &str = "sandbox-request-phrase";
/// Demo APS SHA response phrase.
pub const DEMO_APS_RESPONSE_PHRASE: &str = "sandbox-response-phrase";
/// The phone number valU does not know (CUSTOMER_VERIFY `00160`).
pub const DEMO_NOT_CUSTOMER_PHONE: &str = "01000000000";

impl SandboxConfig {
    /// The well-known demo accounts `bnpl serve` uses when no provider account is configured:
    /// ecommpay project `1001` / secret `sandbox-ecommpay-secret`; APS access code
    /// `SANDBOXACCESSCODE001`, merchant identifier `SANDBOXMID`, request phrase
    /// `sandbox-request-phrase`, response phrase `sandbox-response-phrase`, SHA-256. Callback
    /// URLs are left to the caller (ecommpay takes `general.merchant_callback_url` per request;
    /// set `aps_merchants[0].notification_url` for APS feedback). Real time, refunds quick
    /// enough to watch (humm 5 s), auto-customer off.
    pub fn demo() -> Self {
        Self {
            ecommpay_projects: vec![EcommpayProject {
                project_id: DEMO_ECOMMPAY_PROJECT,
                secret_key: SecretString::from(DEMO_ECOMMPAY_SECRET),
                callback_url: None,
            }],
            aps_merchants: vec![ApsMerchant {
                access_code: DEMO_APS_ACCESS_CODE.to_owned(),
                merchant_identifier: DEMO_APS_MERCHANT.to_owned(),
                request_phrase: SecretString::from(DEMO_APS_REQUEST_PHRASE),
                response_phrase: SecretString::from(DEMO_APS_RESPONSE_PHRASE),
                sha_type: ShaType::Sha256,
                notification_url: None,
            }],
            humm: HummSettings {
                refund_processing_secs: 5.0,
                ..HummSettings::default()
            },
            ..Self::default()
        }
    }

    /// A provider-time duration compressed by `time_scale`.
    pub fn scaled(&self, provider_secs: f64) -> Duration {
        let secs = provider_secs * self.time_scale;
        if secs.is_finite() && secs > 0.0 {
            Duration::from_secs_f64(secs)
        } else {
            Duration::ZERO
        }
    }

    /// The project with its key as it is now (rotated or configured).
    pub(crate) fn project(&self, project_id: u64) -> Option<EcommpayProject> {
        let mut project = self
            .ecommpay_projects
            .iter()
            .find(|p| p.project_id == project_id)?
            .clone();
        let rotated = self
            .rotated_keys
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(key) = rotated.get(&project_id) {
            project.secret_key = key.clone();
        }
        Some(project)
    }

    /// Replaces a project's key (a rotation); false for an unknown project.
    pub(crate) fn rotate_key(&self, project_id: u64, key: SecretString) -> bool {
        if !self.ecommpay_projects.iter().any(|p| p.project_id == project_id) {
            return false;
        }
        let mut rotated = self
            .rotated_keys
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        rotated.insert(project_id, key);
        true
    }

    pub(crate) fn merchant(&self, merchant_identifier: &str) -> Option<&ApsMerchant> {
        self.aps_merchants
            .iter()
            .find(|m| m.merchant_identifier == merchant_identifier)
    }
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    #[test]
    fn reads_from_toml_with_defaults() {
        let config: SandboxConfig = toml::from_str(
            r#"
            time_scale = 0.001
            [[ecommpay_projects]]
            project_id = 7
            secret_key = "s"
            [[aps_merchants]]
            access_code = "A"
            merchant_identifier = "M"
            request_phrase = "rq"
            response_phrase = "rs"
            sha_type = "HMAC-256"
            [auto_customer]
            enabled = true
            success_ratio = 0.9
            [faults]
            lost_callback = 0.01
            "#,
        )
        .unwrap();
        assert_eq!(config.ecommpay_projects[0].secret_key.expose_secret(), "s");
        assert_eq!(config.aps_merchants[0].sha_type, ShaType::Hmac256);
        assert_eq!(config.humm.max_amount, 3_000_000);
        assert_eq!(config.valu.otp_attempts, 3);
        assert!(config.auto_customer.enabled);
        assert_eq!(config.scaled(86_400.0), Duration::from_secs_f64(86.4));
    }

    #[test]
    fn demo_accounts_are_the_documented_ones() {
        let demo = SandboxConfig::demo();
        let project = demo.project(DEMO_ECOMMPAY_PROJECT).unwrap();
        assert_eq!(project.secret_key.expose_secret(), "sandbox-ecommpay-secret");
        assert!(demo.merchant(DEMO_APS_MERCHANT).is_some());
    }
}
