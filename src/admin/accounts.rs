//! Pausing and resuming a provider account (contract §4, added 2026-11-29). While an account is
//! paused no call goes to its provider: its jobs are not claimed (they keep their attempts and due
//! times), the inline humm sale and every other call are refused before anything is sent, and an
//! operator's status query answers 503. Commands are still taken and stored, and callbacks still
//! applied. Each change is a compare-and-set in `account_states`, announced (`account.paused`,
//! `account.resumed`) and audited in one transaction; repeating one changes nothing (idempotent).

use crate::accounts::{AccountState, Accounts};
use crate::domain::events::EventType;
use crate::domain::Provider;
use crate::ledger::journal;
use crate::store::account_states::{self, StateRow};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;

/// One account as `GET /admin/v1/accounts` lists it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AccountView {
    pub provider: Provider,
    pub account: String,
    /// `active`, `paused`, `open` or `half_open`.
    pub state: String,
    pub reason: Option<String>,
    /// Since when it is in this state (absent for an account never changed).
    pub since: Option<DateTime<Utc>>,
}

/// Why a change was not made.
#[derive(Debug, thiserror::Error)]
pub enum AccountActionError {
    #[error("no such account")]
    NotFound,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Every account of this process, with its stored state.
pub async fn list(pool: &PgPool, accounts: &Accounts) -> Result<Vec<AccountView>, sqlx::Error> {
    let stored = account_states::all(pool).await?;
    Ok(accounts
        .gates()
        .into_iter()
        .map(|(provider, name, _)| view(provider, name, &stored))
        .collect())
}

fn view(provider: Provider, name: &str, stored: &[StateRow]) -> AccountView {
    let key = format!("{}:{name}", provider.as_str());
    let row = stored.iter().find(|row| row.account_key == key);
    AccountView {
        provider,
        account: name.to_owned(),
        state: row.map_or_else(|| "active".to_owned(), |row| row.state.clone()),
        reason: row.and_then(|row| row.reason.clone()),
        since: row.map(|row| row.since),
    }
}

/// Pauses (`to` = paused) or resumes (`to` = active) `provider`'s account `name`.
pub async fn set(
    pool: &PgPool,
    accounts: &Accounts,
    provider: Provider,
    name: &str,
    to: AccountState,
    reason: &str,
    actor: &str,
) -> Result<AccountView, AccountActionError> {
    let gate = accounts.gate(provider, name).ok_or(AccountActionError::NotFound)?;
    // An operator overrides the breaker either way: a pause holds an open circuit, a resume
    // closes it.
    let from: &[&str] = match to {
        AccountState::Paused => &["active", "open", "half_open"],
        _ => &["paused", "open", "half_open"],
    };
    let mut tx = pool.begin().await?;
    let changed =
        account_states::change(&mut tx, provider.as_str(), name, from, to.as_str(), Some(reason), actor).await?;
    if changed.is_some() {
        let event_type = match to {
            AccountState::Paused => EventType::AccountPaused,
            _ => EventType::AccountResumed,
        };
        journal::account_changed(&mut tx, event_type, provider, name, to.as_str(), Some(reason), actor).await?;
    }
    tx.commit().await?;
    if changed.is_some() {
        // This process at once; the others on the notification.
        gate.set(to);
    }
    let stored = account_states::all(pool).await?;
    Ok(view(provider, name, &stored))
}
