//! Provider accounts (merchant projects) and their per-account timings and call limits.
//!
//! TOML shape: `[accounts.humm.NAME]` for ecommpay projects and `[accounts.valu.NAME]` for APS
//! merchants, each with optional `[….timing]` and `[….limits]` tables. Unknown keys are errors,
//! so a typo fails start-up instead of silently using a default.

use super::ConfigError;
use crate::providers::aps::signature::ShaType;
use crate::providers::keys::{KeyRing, PreviousSecret};
use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;
use url::Url;

/// Every configured account, by provider and account name.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderAccounts {
    #[serde(default)]
    pub humm: BTreeMap<String, EcommpayAccountConfig>,
    #[serde(default)]
    pub valu: BTreeMap<String, ApsAccountConfig>,
}

/// An ecommpay project used for humm.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EcommpayAccountConfig {
    pub project_id: u64,
    #[serde(deserialize_with = "super::secret::deserialize")]
    pub secret_key: SecretString,
    /// Gate host; test and production share it and differ by project (providers.md §1.1).
    #[serde(default = "default_gate_url")]
    pub gate_base_url: Url,
    #[serde(default = "default_payment_page_url")]
    pub payment_page_url: Url,
    /// Unconfirmed by any public source (providers.md §1.6), hence configurable.
    #[serde(default = "default_refund_path")]
    pub refund_path: String,
    /// During a key rotation: the key ecommpay used before, still accepted on callbacks until
    /// `until` (issue 20).
    #[serde(default)]
    pub previous: Option<PreviousEcommpayKey>,
    /// Adopt payments made outside the orchestrator (a payment link) from their verified
    /// callbacks (contract §7, issue 20). Off by default.
    #[serde(default)]
    pub adopt_external: bool,
    /// `api` (default) or `manual`: finance files each refund at the provider (issue 20).
    #[serde(default)]
    pub refund_mode: RefundMode,
    #[serde(default)]
    pub timing: AccountTiming,
    #[serde(default)]
    pub limits: CallLimits,
}

/// An Amazon Payment Services merchant used for valU.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApsAccountConfig {
    /// The full `…/FortAPI/paymentApi` endpoint.
    #[serde(default = "default_aps_url")]
    pub base_url: Url,
    pub access_code: String,
    pub merchant_identifier: String,
    #[serde(deserialize_with = "super::secret::deserialize")]
    pub request_phrase: SecretString,
    #[serde(deserialize_with = "super::secret::deserialize")]
    pub response_phrase: SecretString,
    #[serde(default = "default_sha_type")]
    pub sha_type: ShaType,
    /// During a phrase rotation: the phrases used before, the response phrase still accepted on
    /// notifications until `until` (issue 20).
    #[serde(default)]
    pub previous: Option<PreviousApsPhrases>,
    /// Adopt payments made outside the orchestrator from their verified notifications
    /// (contract §7, issue 20). Off by default.
    #[serde(default)]
    pub adopt_external: bool,
    /// The largest valU amount this merchant takes, in piastres (contract §7); a larger
    /// `purchase.create` is `invalid`.
    #[serde(default = "default_max_amount_minor")]
    pub max_amount_minor: i64,
    #[serde(default)]
    pub timing: AccountTiming,
    #[serde(default)]
    pub limits: CallLimits,
}

/// The ecommpay key before a rotation.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreviousEcommpayKey {
    #[serde(deserialize_with = "super::secret::deserialize")]
    pub secret_key: SecretString,
    /// When callbacks signed with it stop being accepted (RFC 3339).
    pub until: DateTime<Utc>,
}

/// The APS phrases before a rotation.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreviousApsPhrases {
    /// Kept for the record (and a sandbox that checks it); requests are signed with the current one.
    #[serde(deserialize_with = "super::secret::deserialize")]
    pub request_phrase: SecretString,
    #[serde(deserialize_with = "super::secret::deserialize")]
    pub response_phrase: SecretString,
    /// When notifications signed with it stop being accepted (RFC 3339).
    pub until: DateTime<Utc>,
}

impl EcommpayAccountConfig {
    /// The signing key with the previous one, if any.
    pub fn keys(&self) -> KeyRing {
        KeyRing::new(
            self.secret_key.clone(),
            self.previous.as_ref().map(|previous| PreviousSecret {
                secret: previous.secret_key.clone(),
                until: previous.until,
            }),
        )
    }
}

impl ApsAccountConfig {
    /// The request phrase with the previous one, if any.
    pub fn request_phrases(&self) -> KeyRing {
        KeyRing::new(
            self.request_phrase.clone(),
            self.previous.as_ref().map(|previous| PreviousSecret {
                secret: previous.request_phrase.clone(),
                until: previous.until,
            }),
        )
    }

    /// The response phrase with the previous one, if any.
    pub fn response_phrases(&self) -> KeyRing {
        KeyRing::new(
            self.response_phrase.clone(),
            self.previous.as_ref().map(|previous| PreviousSecret {
                secret: previous.response_phrase.clone(),
                until: previous.until,
            }),
        )
    }
}

/// When status checks run and when a payment or refund is given up on (contract §6).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AccountTiming {
    /// First status check after this long without a final result (humm: 5 min).
    #[serde(with = "humantime_serde")]
    pub base_time: Duration,
    /// The provider declines an unfinished payment at this age (humm: 24 h).
    #[serde(with = "humantime_serde")]
    pub threshold_time: Duration,
    /// The last status query runs at threshold + grace, to let the provider's own decline land.
    #[serde(with = "humantime_serde")]
    pub threshold_grace: Duration,
    /// Delays between status checks after the first; the last one repeats until the threshold.
    #[serde(deserialize_with = "durations")]
    pub status_check_schedule: Vec<Duration>,
    /// A refund with no definite answer this long after it was sent goes to needs_review.
    #[serde(with = "humantime_serde")]
    pub refund_threshold: Duration,
    /// valU: how long an OTP may wait for `purchase.confirm` before the payment expires.
    #[serde(with = "humantime_serde")]
    pub otp_lifetime: Duration,
    /// valU: wrong OTPs allowed before the payment is declined.
    pub otp_attempts: u32,
}

impl Default for AccountTiming {
    fn default() -> Self {
        const MINUTE: u64 = 60;
        Self {
            base_time: Duration::from_secs(5 * MINUTE),
            threshold_time: Duration::from_secs(24 * 60 * MINUTE),
            threshold_grace: Duration::from_secs(10 * MINUTE),
            status_check_schedule: [5, 10, 30, 60]
                .map(|minutes| Duration::from_secs(minutes * MINUTE))
                .to_vec(),
            // humm: "each application takes at most one working day"; allow a long weekend.
            refund_threshold: Duration::from_secs(72 * 60 * MINUTE),
            otp_lifetime: Duration::from_secs(5 * MINUTE),
            otp_attempts: 3,
        }
    }
}

/// Bounds on provider calls per account, so a burst of due checks cannot hammer the provider.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CallLimits {
    pub max_concurrent_calls: u32,
    pub calls_per_second: u32,
    /// What one sequential refund queue covers (design §1).
    pub refund_queue_scope: RefundQueueScope,
    /// Total time one provider call may take; after it the answer is uncertain (design §1).
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// When the account's circuit opens, and for how long (issue 19).
    pub breaker: BreakerSettings,
}

/// The circuit breaker of one account: it opens when at least `failure_ratio` of the account's
/// calls (and at least `min_calls` of them) failed for the provider's reasons within `window`,
/// and probes with one status query after `cool_down`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BreakerSettings {
    pub enabled: bool,
    pub failure_ratio: f64,
    pub min_calls: u32,
    #[serde(with = "humantime_serde")]
    pub window: Duration,
    #[serde(with = "humantime_serde")]
    pub cool_down: Duration,
}

impl Default for BreakerSettings {
    fn default() -> Self {
        // Half the calls failing over a minute, with 20 calls at least, is an outage rather than a
        // few unlucky payments; 30 s is short enough that a recovered provider is back quickly.
        Self {
            enabled: true,
            failure_ratio: 0.5,
            min_calls: 20,
            window: Duration::from_secs(60),
            cool_down: Duration::from_secs(30),
        }
    }
}

impl Default for CallLimits {
    fn default() -> Self {
        Self {
            max_concurrent_calls: 16,
            calls_per_second: 50,
            refund_queue_scope: RefundQueueScope::Account,
            // ecommpay's plugins wait 5 s, APS's 60 s; 15 s covers a slow answer without holding
            // a call slot for a minute.
            request_timeout: Duration::from_secs(15),
            breaker: BreakerSettings::default(),
        }
    }
}

/// The reach of one strictly sequential refund queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefundQueueScope {
    /// One queue per provider account: what humm requires (providers.md §1.6).
    Account,
    /// One queue per payment, for a provider that allows parallel refunds across payments.
    Payment,
}

/// How the refunds of an account reach the provider (issue 20).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefundMode {
    /// Sent through the provider's refund API.
    #[default]
    Api,
    /// Filed at the provider by finance (humm: "applications in the provider's service"); the
    /// head is announced as `refund.action_required` and waits in flight for the provider's answer.
    Manual,
}

fn default_max_amount_minor() -> i64 {
    crate::domain::limits::DEFAULT_MAX_AMOUNT_MINOR
}

impl ProviderAccounts {
    pub fn is_empty(&self) -> bool {
        self.humm.is_empty() && self.valu.is_empty()
    }

    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        self.validate_signers()?;
        for (name, account) in &self.humm {
            validate_name("humm", name)?;
            account.timing.validate(&format!("accounts.humm.{name}.timing"))?;
            account.limits.validate(&format!("accounts.humm.{name}.limits"))?;
            if !account.refund_path.starts_with('/') {
                return Err(invalid(
                    format!("accounts.humm.{name}.refund_path"),
                    "must start with /",
                ));
            }
        }
        for (name, account) in &self.valu {
            validate_name("valu", name)?;
            account.timing.validate(&format!("accounts.valu.{name}.timing"))?;
            account.limits.validate(&format!("accounts.valu.{name}.limits"))?;
            if account.max_amount_minor < 1 {
                return Err(invalid(
                    format!("accounts.valu.{name}.max_amount_minor"),
                    "must be at least 1",
                ));
            }
            for (key, value) in [
                ("access_code", &account.access_code),
                ("merchant_identifier", &account.merchant_identifier),
            ] {
                if value.is_empty() {
                    return Err(invalid(format!("accounts.valu.{name}.{key}"), "must not be empty"));
                }
            }
        }
        Ok(())
    }
}

impl ProviderAccounts {
    /// A callback names its account by who signed it (ecommpay `project_id`; APS
    /// `merchant_identifier` and `access_code`, contract §7): two accounts with the same signer
    /// could not be told apart, and the second one's genuine callbacks would be refused as another
    /// account's.
    fn validate_signers(&self) -> Result<(), ConfigError> {
        let mut projects = std::collections::BTreeMap::new();
        for (name, account) in &self.humm {
            if let Some(first) = projects.insert(account.project_id, name) {
                return Err(invalid(
                    format!("accounts.humm.{name}.project_id"),
                    &format!("is also account {first}'s; each account needs its own ecommpay project"),
                ));
            }
        }
        let mut merchants = std::collections::BTreeMap::new();
        for (name, account) in &self.valu {
            let signer = (account.merchant_identifier.as_str(), account.access_code.as_str());
            if let Some(first) = merchants.insert(signer, name) {
                return Err(invalid(
                    format!("accounts.valu.{name}.access_code"),
                    &format!("with its merchant_identifier is also account {first}'s; each account needs its own"),
                ));
            }
        }
        Ok(())
    }
}

impl AccountTiming {
    fn validate(&self, key: &str) -> Result<(), ConfigError> {
        if self.base_time.is_zero() {
            return Err(invalid(format!("{key}.base_time"), "must be more than zero"));
        }
        if self.threshold_time <= self.base_time {
            return Err(invalid(
                format!("{key}.threshold_time"),
                "must be longer than base_time",
            ));
        }
        if self.status_check_schedule.is_empty() || self.status_check_schedule.iter().any(Duration::is_zero) {
            return Err(invalid(
                format!("{key}.status_check_schedule"),
                "needs at least one non-zero delay",
            ));
        }
        if self.otp_attempts == 0 {
            return Err(invalid(format!("{key}.otp_attempts"), "must be at least 1"));
        }
        Ok(())
    }
}

impl CallLimits {
    fn validate(&self, key: &str) -> Result<(), ConfigError> {
        if self.max_concurrent_calls == 0 {
            return Err(invalid(format!("{key}.max_concurrent_calls"), "must be at least 1"));
        }
        if self.request_timeout.is_zero() {
            return Err(invalid(format!("{key}.request_timeout"), "must be more than zero"));
        }
        if self.calls_per_second == 0 {
            return Err(invalid(format!("{key}.calls_per_second"), "must be at least 1"));
        }
        Ok(())
    }
}

fn validate_name(provider: &str, name: &str) -> Result<(), ConfigError> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'));
    if valid {
        Ok(())
    } else {
        Err(invalid(
            format!("accounts.{provider}.{name}"),
            "account names are 1-64 characters of A-Z a-z 0-9 - _",
        ))
    }
}

fn invalid(key: String, problem: &str) -> ConfigError {
    ConfigError::Invalid {
        key,
        problem: problem.to_owned(),
    }
}

/// A list of human-readable durations (`["1m", "5m"]`).
fn durations<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Vec<Duration>, D::Error> {
    let parsed = Vec::<humantime_serde::Serde<Duration>>::deserialize(deserializer)?;
    Ok(parsed.into_iter().map(humantime_serde::Serde::into_inner).collect())
}

fn default_gate_url() -> Url {
    parse_static_url("https://api.ecommpay.com")
}

fn default_payment_page_url() -> Url {
    parse_static_url("https://paymentpage.ecommpay.com/payment")
}

fn default_aps_url() -> Url {
    parse_static_url("https://paymentservices.payfort.com/FortAPI/paymentApi")
}

fn default_refund_path() -> String {
    "/v2/payment/bnpl/humm/refund".to_owned()
}

fn default_sha_type() -> ShaType {
    ShaType::Sha256
}

#[expect(clippy::expect_used, reason = "the argument is a constant URL checked by tests")]
fn parse_static_url(text: &str) -> Url {
    Url::parse(text).expect("constant URL")
}
