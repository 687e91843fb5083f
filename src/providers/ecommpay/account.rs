//! One ecommpay project's credentials and endpoints (contract §6). Test and production use the
//! same hosts and differ only by project and key (`../shared/spec/providers.md` §1.1).
//!
//! Invariant: the secret key is a `SecretString`, so `Debug` prints it redacted.

use std::time::Duration;

use secrecy::SecretString;
use url::Url;

use crate::providers::keys::KeyRing;
use crate::providers::BuildError;

/// The per-method humm refund path (§1.1: inferred, not confirmed; hence configurable).
pub const DEFAULT_REFUND_PATH: &str = "/v2/payment/bnpl/humm/refund";
/// The humm sale path (§1.1).
pub const SALE_PATH: &str = "/v2/payment/bnpl/humm/sale";
/// The status path (§1.1).
pub const STATUS_PATH: &str = "/v2/payment/status";
/// Production Gate host.
pub const GATE_URL: &str = "https://api.ecommpay.com";
/// Production Payment Page.
pub const PAYMENT_PAGE_URL: &str = "https://paymentpage.ecommpay.com/payment";

/// An ecommpay project.
#[derive(Debug, Clone)]
pub struct EcommpayAccount {
    /// `project_id`, sent as a JSON integer.
    pub project_id: u64,
    /// The project's secret key (HMAC-SHA512 key), with the previous one during a rotation.
    pub secret_key: KeyRing,
    /// Gate base URL (scheme and host; paths are appended), e.g. `https://api.ecommpay.com`.
    pub gate_base_url: Url,
    /// The Payment Page URL, e.g. `https://paymentpage.ecommpay.com/payment`.
    pub payment_page_url: Url,
    /// Refund path on the Gate host; [`DEFAULT_REFUND_PATH`] unless configured (the generic
    /// `/v2/payment/refund` is the fallback, §1.6 "Refund path").
    pub refund_path: String,
    /// Where ecommpay should send callbacks (`general.merchant_callback_url`, Payment Page
    /// `merchant_callback_url`): the orchestrator's public base URL + `/callbacks/ecommpay`.
    /// `None` leaves the project's dashboard setting in force.
    pub merchant_callback_url: Option<Url>,
    /// Total time for one call (connect, send, whole answer). woo uses 5 s.
    pub request_timeout: Duration,
}

impl EcommpayAccount {
    /// An account on the production hosts with the default refund path and a 10 s timeout.
    pub fn new(project_id: u64, secret_key: SecretString) -> Result<Self, BuildError> {
        Ok(EcommpayAccount {
            project_id,
            secret_key: secret_key.into(),
            gate_base_url: parse(GATE_URL)?,
            payment_page_url: parse(PAYMENT_PAGE_URL)?,
            refund_path: DEFAULT_REFUND_PATH.to_owned(),
            merchant_callback_url: None,
            request_timeout: Duration::from_secs(10),
        })
    }

    /// The Gate URL of `path` (an absolute path such as `/v2/payment/status`). A base URL with a
    /// path prefix (a sandbox mounted under `/ecommpay`) keeps its prefix.
    pub fn gate_url(&self, path: &str) -> Result<Url, BuildError> {
        let base = self.gate_base_url.as_str().trim_end_matches('/');
        parse(&format!("{base}/{}", path.trim_start_matches('/')))
    }
}

fn parse(text: &str) -> Result<Url, BuildError> {
    Url::parse(text).map_err(|e| BuildError::Url(format!("{text}: {e}")))
}
