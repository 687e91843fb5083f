//! The provider accounts in use at run time: configured ones, or the in-process sandbox's demo
//! accounts when none is configured (contract §6).
//!
//! Each account pairs the connector's credentials (`providers::…Account`) with its timings and
//! call limits. Look-ups by name serve commands; look-ups by project id / merchant identifier
//! serve callbacks, which name the account that signed them.

mod breaker;
pub mod circuit;
pub mod gate;
mod limiter;
pub mod sighup;

pub use breaker::Breaker;
pub use gate::{AccountState, Gate};
pub use limiter::CallLimiter;

use crate::config::{AccountTiming, CallLimits, Config};
use crate::providers::aps::ApsAccount;
use crate::providers::ecommpay::EcommpayAccount;
use crate::sandbox::SandboxConfig;
use std::collections::BTreeMap;
use std::sync::Arc;
use url::Url;

/// Name of the single account per provider in sandbox mode.
pub const SANDBOX_ACCOUNT: &str = "default";

/// An ecommpay project used for humm.
#[derive(Debug)]
pub struct HummAccount {
    pub name: String,
    pub ecommpay: EcommpayAccount,
    /// Adopt payments made outside the orchestrator from verified callbacks (issue 20).
    pub adopt_external: bool,
    /// Refunds through the API, or filed by finance (issue 20).
    pub refund_mode: crate::config::RefundMode,
    pub timing: AccountTiming,
    pub limits: CallLimits,
    /// Every call to this account goes through it.
    pub limiter: CallLimiter,
}

/// An APS merchant used for valU.
#[derive(Debug)]
pub struct ValuAccount {
    pub name: String,
    pub aps: ApsAccount,
    /// The largest amount a purchase may have, in piastres (contract §7).
    pub max_amount_minor: i64,
    /// Adopt payments made outside the orchestrator from verified notifications (issue 20).
    pub adopt_external: bool,
    pub timing: AccountTiming,
    pub limits: CallLimits,
    /// Every call to this account goes through it.
    pub limiter: CallLimiter,
}

/// Every account, by provider and name.
#[derive(Debug, Default, Clone)]
pub struct Accounts {
    humm: BTreeMap<String, Arc<HummAccount>>,
    valu: BTreeMap<String, Arc<ValuAccount>>,
    /// Wakes the circuit supervisor when any account's breaker trips.
    breaker_wake: Arc<tokio::sync::Notify>,
    /// The configuration file the accounts came from: a secrets reload reads it again.
    config_file: Option<std::path::PathBuf>,
}

/// What a secrets reload did.
#[derive(Debug, Default, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct SecretsReload {
    /// Accounts whose secrets changed (`provider.account`).
    pub rotated: Vec<String>,
    /// Accounts in the file this process does not run.
    pub ignored: Vec<String>,
}

/// Why a secrets reload did nothing.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error("no configuration file (BNPL_CONFIG) to read the secrets from")]
    NoFile,
    /// The parser's own message is left out: it quotes the offending line, which may hold a
    /// literal secret.
    #[error("the configuration file {0} cannot be read or does not parse; nothing changed")]
    Unreadable(std::path::PathBuf),
}

/// Why accounts could not be built.
#[derive(Debug, thiserror::Error)]
#[error("account {account}: {problem}")]
pub struct AccountError {
    account: String,
    problem: String,
}

impl Accounts {
    /// Reads the configuration file again and takes its secrets into the running accounts:
    /// what SIGHUP and `POST /admin/v1/accounts/reload-secrets` do.
    pub fn reload_secrets_from_file(&self) -> Result<SecretsReload, ReloadError> {
        let path = self.config_file.as_deref().ok_or(ReloadError::NoFile)?;
        let accounts = crate::config::read_accounts(path).map_err(|_| ReloadError::Unreadable(path.to_path_buf()))?;
        let report = self.reload(&accounts);
        tracing::info!(rotated = ?report.rotated, ignored = ?report.ignored, file = %path.display(),
            "provider secrets reloaded");
        Ok(report)
    }

    /// Takes the secrets of `configured` (re-read for a rotation, issue 20) into the running
    /// accounts of the same names, without a restart: every holder of an account sees them at
    /// once. Everything else in the accounts (and accounts added or removed) needs a restart; the
    /// report names what was rotated and what was ignored.
    fn reload(&self, configured: &crate::config::ProviderAccounts) -> SecretsReload {
        let mut report = SecretsReload::default();
        for (name, settings) in &configured.humm {
            match self.humm.get(name) {
                // Another project under the same name is another account: its secret must not
                // be installed on the running one.
                Some(account) if account.ecommpay.project_id != settings.project_id => {
                    report
                        .ignored
                        .push(format!("humm.{name} (project_id changed: needs a restart)"));
                }
                Some(account) => {
                    if account.ecommpay.secret_key.replace_with(&settings.keys()) {
                        report.rotated.push(format!("humm.{name}"));
                    }
                }
                None => report.ignored.push(format!("humm.{name} (new: needs a restart)")),
            }
        }
        for (name, settings) in &configured.valu {
            match self.valu.get(name) {
                Some(account)
                    if account.aps.merchant_identifier != settings.merchant_identifier
                        || account.aps.access_code != settings.access_code =>
                {
                    report
                        .ignored
                        .push(format!("valu.{name} (merchant changed: needs a restart)"));
                }
                Some(account) => {
                    let request = account.aps.request_phrase.replace_with(&settings.request_phrases());
                    let response = account.aps.response_phrase.replace_with(&settings.response_phrases());
                    if request || response {
                        report.rotated.push(format!("valu.{name}"));
                    }
                }
                None => report.ignored.push(format!("valu.{name} (new: needs a restart)")),
            }
        }
        report
    }

    /// The configured accounts, each calling back on `public_url` (`BNPL_PUBLIC_URL`).
    pub fn from_config(config: &Config, public_url: &Url) -> Result<Self, AccountError> {
        let callback = callback_url(public_url);
        let mut accounts = Accounts {
            config_file: config.file.clone(),
            ..Accounts::default()
        };
        for (name, settings) in &config.accounts.humm {
            let mut ecommpay =
                EcommpayAccount::new(settings.project_id, settings.secret_key.clone()).map_err(|error| {
                    AccountError {
                        account: format!("humm.{name}"),
                        problem: error.to_string(),
                    }
                })?;
            ecommpay.secret_key = settings.keys();
            ecommpay.gate_base_url = settings.gate_base_url.clone();
            ecommpay.payment_page_url = settings.payment_page_url.clone();
            ecommpay.refund_path = settings.refund_path.clone();
            ecommpay.merchant_callback_url = Some(callback.clone());
            ecommpay.request_timeout = settings.limits.request_timeout;
            accounts.humm.insert(
                name.clone(),
                Arc::new(HummAccount {
                    name: name.clone(),
                    ecommpay,
                    adopt_external: settings.adopt_external,
                    refund_mode: settings.refund_mode,
                    timing: settings.timing.clone(),
                    limits: settings.limits.clone(),
                    limiter: CallLimiter::new(&settings.limits, "humm", name, &accounts.breaker_wake),
                }),
            );
        }
        for (name, settings) in &config.accounts.valu {
            let aps = ApsAccount {
                base_url: settings.base_url.clone(),
                access_code: settings.access_code.clone(),
                merchant_identifier: settings.merchant_identifier.clone(),
                request_phrase: settings.request_phrases(),
                response_phrase: settings.response_phrases(),
                sha_type: settings.sha_type,
                language: "en".to_owned(),
                request_timeout: settings.limits.request_timeout,
            };
            accounts.valu.insert(
                name.clone(),
                Arc::new(ValuAccount {
                    name: name.clone(),
                    aps,
                    max_amount_minor: settings.max_amount_minor,
                    adopt_external: settings.adopt_external,
                    timing: settings.timing.clone(),
                    limits: settings.limits.clone(),
                    limiter: CallLimiter::new(&settings.limits, "valu", name, &accounts.breaker_wake),
                }),
            );
        }
        Ok(accounts)
    }

    /// The sandbox's demo accounts, reached at `sandbox_base`.
    /// Points every humm account's Payment Page at `base` (`…/payment`): the sandbox's address as
    /// customers' browsers reach it, which may differ from the one we call it on.
    pub fn set_payment_page_base(&mut self, base: &Url) -> Result<(), AccountError> {
        let page = base.join("payment").map_err(|error| AccountError {
            account: "sandbox".to_owned(),
            problem: error.to_string(),
        })?;
        // Called while building the accounts, before any is shared.
        for account in self.humm.values_mut().filter_map(Arc::get_mut) {
            account.ecommpay.payment_page_url = page.clone();
        }
        Ok(())
    }

    /// Every account as `(provider, name, its gate)`.
    pub fn gates(&self) -> Vec<(crate::domain::Provider, &str, Gate)> {
        let humm = self
            .humm
            .values()
            .map(|a| (crate::domain::Provider::Humm, a.name.as_str(), a.limiter.gate()));
        let valu = self
            .valu
            .values()
            .map(|a| (crate::domain::Provider::Valu, a.name.as_str(), a.limiter.gate()));
        humm.chain(valu).collect()
    }

    /// The gate of `provider`'s account `name`, if it is one of ours.
    pub fn gate(&self, provider: crate::domain::Provider, name: &str) -> Option<Gate> {
        match provider {
            crate::domain::Provider::Humm => self.humm.get(name).map(|a| a.limiter.gate()),
            crate::domain::Provider::Valu => self.valu.get(name).map(|a| a.limiter.gate()),
        }
    }

    /// Sets every gate from the stored states (an account without a row is active). A breaker
    /// starts counting afresh when its account becomes active again.
    pub fn apply_states(&self, states: &[crate::store::account_states::StateRow]) {
        for (provider, name, gate) in self.gates() {
            let key = format!("{}:{name}", provider.as_str());
            let state = states
                .iter()
                .find(|row| row.account_key == key)
                .and_then(|row| AccountState::parse(&row.state))
                .unwrap_or(AccountState::Active);
            if state == AccountState::Active && gate.state() != AccountState::Active {
                if let Some(limiter) = self.limiter(provider, name) {
                    limiter.breaker().reset();
                }
            }
            gate.set(state);
        }
    }

    /// The call limiter of `provider`'s account `name`.
    pub fn limiter(&self, provider: crate::domain::Provider, name: &str) -> Option<&CallLimiter> {
        match provider {
            crate::domain::Provider::Humm => self.humm.get(name).map(|a| &a.limiter),
            crate::domain::Provider::Valu => self.valu.get(name).map(|a| &a.limiter),
        }
    }

    /// What wakes the circuit supervisor.
    pub fn breaker_wake(&self) -> Arc<tokio::sync::Notify> {
        Arc::clone(&self.breaker_wake)
    }

    pub fn from_sandbox(sandbox: &SandboxConfig, sandbox_base: &Url, public_url: &Url) -> Result<Self, AccountError> {
        let mut accounts = Accounts::default();
        let sandbox_error = |problem: String| AccountError {
            account: "sandbox".to_owned(),
            problem,
        };
        if let Some(project) = sandbox.ecommpay_projects.first() {
            let mut ecommpay = EcommpayAccount::new(project.project_id, project.secret_key.clone())
                .map_err(|error| sandbox_error(error.to_string()))?;
            ecommpay.gate_base_url = sandbox_base.clone();
            ecommpay.payment_page_url = sandbox_base
                .join("payment")
                .map_err(|error| sandbox_error(error.to_string()))?;
            ecommpay.merchant_callback_url = Some(callback_url(public_url));
            ecommpay.request_timeout = CallLimits::default().request_timeout;
            accounts.humm.insert(
                SANDBOX_ACCOUNT.to_owned(),
                Arc::new(HummAccount {
                    name: SANDBOX_ACCOUNT.to_owned(),
                    ecommpay,
                    adopt_external: false,
                    refund_mode: crate::config::RefundMode::Api,
                    timing: AccountTiming::default(),
                    limits: CallLimits::default(),
                    limiter: CallLimiter::new(&CallLimits::default(), "humm", SANDBOX_ACCOUNT, &accounts.breaker_wake),
                }),
            );
        }
        if let Some(merchant) = sandbox.aps_merchants.first() {
            let aps = ApsAccount {
                base_url: sandbox_base
                    .join("FortAPI/paymentApi")
                    .map_err(|error| sandbox_error(error.to_string()))?,
                access_code: merchant.access_code.clone(),
                merchant_identifier: merchant.merchant_identifier.clone(),
                request_phrase: merchant.request_phrase.clone().into(),
                response_phrase: merchant.response_phrase.clone().into(),
                sha_type: merchant.sha_type,
                language: "en".to_owned(),
                request_timeout: CallLimits::default().request_timeout,
            };
            accounts.valu.insert(
                SANDBOX_ACCOUNT.to_owned(),
                Arc::new(ValuAccount {
                    name: SANDBOX_ACCOUNT.to_owned(),
                    aps,
                    max_amount_minor: crate::domain::limits::DEFAULT_MAX_AMOUNT_MINOR,
                    adopt_external: false,
                    timing: AccountTiming::default(),
                    limits: CallLimits::default(),
                    limiter: CallLimiter::new(&CallLimits::default(), "valu", SANDBOX_ACCOUNT, &accounts.breaker_wake),
                }),
            );
        }
        Ok(accounts)
    }

    /// A humm account by name; with no name, the only one (contract §2 `account` is optional
    /// when the provider has one account).
    pub fn humm(&self, name: Option<&str>) -> Option<Arc<HummAccount>> {
        pick(&self.humm, name)
    }

    pub fn valu(&self, name: Option<&str>) -> Option<Arc<ValuAccount>> {
        pick(&self.valu, name)
    }

    /// The humm account whose ecommpay project signed a callback.
    pub fn humm_by_project(&self, project_id: u64) -> Option<Arc<HummAccount>> {
        self.humm
            .values()
            .find(|account| account.ecommpay.project_id == project_id)
            .cloned()
    }

    /// The valU accounts an APS notification may come from: its `merchant_identifier` and, when
    /// the notification carries one, its `access_code` (contract §7: both name the account; the
    /// pair is unique). Without an access code a merchant with several accounts names them all,
    /// and the one whose response phrase verifies the signature is the signer.
    pub fn valu_by_merchant(&self, merchant_identifier: &str, access_code: Option<&str>) -> Vec<Arc<ValuAccount>> {
        self.valu
            .values()
            .filter(|account| {
                account.aps.merchant_identifier == merchant_identifier
                    && access_code.is_none_or(|code| account.aps.access_code == code)
            })
            .cloned()
            .collect()
    }

    /// Every humm account.
    pub fn all_humm(&self) -> impl Iterator<Item = &Arc<HummAccount>> {
        self.humm.values()
    }

    /// Every valU account.
    pub fn all_valu(&self) -> impl Iterator<Item = &Arc<ValuAccount>> {
        self.valu.values()
    }
}

fn pick<T>(map: &BTreeMap<String, Arc<T>>, name: Option<&str>) -> Option<Arc<T>> {
    match name {
        Some(name) => map.get(name).cloned(),
        None if map.len() == 1 => map.values().next().cloned(),
        None => None,
    }
}

/// `BNPL_PUBLIC_URL` + `/callbacks/ecommpay`.
pub fn callback_url(public_url: &Url) -> Url {
    let mut url = public_url.clone();
    url.set_path(&format!(
        "{}/callbacks/ecommpay",
        public_url.path().trim_end_matches('/')
    ));
    url
}
