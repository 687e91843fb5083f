//! Whether a provider account may be called now (contract §4, added 2026-11-29): `active`, or
//! `paused` by an operator, or `open` / `half_open` by the circuit breaker. One gate per account,
//! shared by every call through its [`super::CallLimiter`]; its state mirrors `account_states`,
//! which every process reads ([`watch`]), so a pause holds everywhere within a moment (at once in
//! the process that paused, and on the `NOTIFY` in the others).

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

/// An account's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountState {
    Active,
    Paused,
    Open,
    HalfOpen,
}

impl AccountState {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountState::Active => "active",
            AccountState::Paused => "paused",
            AccountState::Open => "open",
            AccountState::HalfOpen => "half_open",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [
            AccountState::Active,
            AccountState::Paused,
            AccountState::Open,
            AccountState::HalfOpen,
        ]
        .into_iter()
        .find(|state| state.as_str() == text)
    }
}

/// The shared state of one account.
#[derive(Debug, Clone, Default)]
pub struct Gate(Arc<AtomicU8>);

impl Gate {
    pub fn state(&self) -> AccountState {
        match self.0.load(Ordering::Acquire) {
            1 => AccountState::Paused,
            2 => AccountState::Open,
            3 => AccountState::HalfOpen,
            _ => AccountState::Active,
        }
    }

    pub fn set(&self, state: AccountState) {
        let value = match state {
            AccountState::Active => 0,
            AccountState::Paused => 1,
            AccountState::Open => 2,
            AccountState::HalfOpen => 3,
        };
        self.0.store(value, Ordering::Release);
    }

    /// Whether calls may go out.
    pub fn allows_calls(&self) -> bool {
        self.state() == AccountState::Active
    }
}

/// The channel a change of `account_states` notifies.
pub const NOTIFY_CHANNEL: &str = "bnpl_accounts";

/// Keeps every gate of `accounts` equal to `account_states` until `stop`: at once, on every
/// `NOTIFY bnpl_accounts`, and every second (a lost notification costs at most that).
pub async fn watch(pool: sqlx::PgPool, accounts: super::Accounts, stop: tokio_util::sync::CancellationToken) {
    let mut listener = None;
    loop {
        if listener.is_none() {
            listener = listen(&pool).await;
        }
        match crate::store::account_states::all(&pool).await {
            Ok(states) => accounts.apply_states(&states),
            Err(error) => tracing::debug!(%error, "account states not read; gates keep their state"),
        }
        tokio::select! {
            () = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
            notified = notified(&mut listener) => if !notified { listener = None },
            () = stop.cancelled() => return,
        }
    }
}

async fn listen(pool: &sqlx::PgPool) -> Option<sqlx::postgres::PgListener> {
    let mut listener = sqlx::postgres::PgListener::connect_with(pool).await.ok()?;
    listener.listen(NOTIFY_CHANNEL).await.ok()?;
    Some(listener)
}

/// Waits for a notification; false when the listener broke.
async fn notified(listener: &mut Option<sqlx::postgres::PgListener>) -> bool {
    match listener {
        Some(active) => active.recv().await.is_ok(),
        None => std::future::pending().await,
    }
}
