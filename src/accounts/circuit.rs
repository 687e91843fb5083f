//! The circuit supervisor (issue 19): the shared half of every account's breaker, one task per
//! process.
//!
//! - A breaker that trips ([`super::Breaker`]) wakes it; it writes `active → open` by
//!   compare-and-set and announces `account.circuit_opened`. Every process then stops calling the
//!   account (its gate follows `account_states`), its jobs are not claimed and keep their attempts.
//! - After the cool-down one process wins `open → half_open` ([`account_states::claim_probe`]) and
//!   sends the one probe: a status query, never a create call. A working answer writes
//!   `half_open → active` (`account.circuit_closed`), a failure `half_open → open` with a fresh
//!   cool-down (`account.circuit_opened` again).
//!
//! Invariants: only state changes are shared, each a compare-and-set, so two processes never both
//! open, probe or close; an operator's pause wins over the breaker (no transition starts from
//! `paused`); a process that dies mid-probe leaves a `half_open` row that goes stale and is probed
//! again.

use super::{AccountState, Accounts};
use crate::domain::events::EventType;
use crate::domain::Provider;
use crate::ledger::journal;
use crate::providers::executor::Executor;
use crate::providers::Connector as _;
use crate::store::account_states;
use sqlx::PgPool;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Who the breaker's changes are recorded as.
const ACTOR: &str = "breaker";
/// The payment id the probe asks about: any id serves, since any signed answer, "not found"
/// included, shows the provider working.
pub const PROBE_PAYMENT_ID: &str = "bnpl-circuit-probe";
/// How often open circuits are looked at for a due probe.
const TICK: Duration = Duration::from_millis(250);

/// Runs until `stop`: takes trips, and probes open circuits whose cool-down is over.
pub async fn supervise(pool: PgPool, accounts: Accounts, executor: Executor, stop: CancellationToken) {
    let wake = accounts.breaker_wake();
    // Every account's series exist from the start, so `increase()` sees the first opening.
    for (provider, name, _) in accounts.gates() {
        for to in [AccountState::Open, AccountState::Active] {
            metrics::counter!("bnpl_circuit_transitions_total", "provider" => provider.as_str(),
                "account" => name.to_owned(), "to" => to.as_str())
            .increment(0);
        }
    }
    loop {
        for (provider, name, _) in accounts.gates() {
            let Some(limiter) = accounts.limiter(provider, name) else {
                continue;
            };
            if limiter.breaker().take_trip() {
                let summary = limiter.breaker().summary();
                if let Err(error) = open(&accounts, &pool, provider, name, &summary).await {
                    tracing::warn!(%error, provider = provider.as_str(), account = name,
                        "circuit not opened in the database; this process stops calling until the next state refresh");
                }
            }
        }
        for (provider, name, gate) in accounts.gates() {
            if matches!(gate.state(), AccountState::Open | AccountState::HalfOpen) {
                if let Err(error) = probe_if_due(&pool, &accounts, &executor, provider, name).await {
                    tracing::warn!(%error, provider = provider.as_str(), account = name, "circuit probe not run");
                }
            }
        }
        tokio::select! {
            () = wake.notified() => {}
            () = tokio::time::sleep(TICK) => {}
            () = stop.cancelled() => return,
        }
    }
}

/// `active → open`, announced, then this process's gate closed at once (the others close theirs
/// on the notification); nothing when another process opened it first or it is paused.
async fn open(
    accounts: &Accounts,
    pool: &PgPool,
    provider: Provider,
    name: &str,
    summary: &str,
) -> Result<(), sqlx::Error> {
    change(pool, provider, name, &["active"], AccountState::Open, summary).await?;
    let stored = account_states::all(pool).await?;
    accounts.apply_states(&stored);
    Ok(())
}

/// One compare-and-set with its event, in one transaction.
async fn change(
    pool: &PgPool,
    provider: Provider,
    name: &str,
    from: &[&str],
    to: AccountState,
    reason: &str,
) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    let changed =
        account_states::change(&mut tx, provider.as_str(), name, from, to.as_str(), Some(reason), ACTOR).await?;
    if changed.is_some() {
        let event_type = match to {
            AccountState::Open => EventType::AccountCircuitOpened,
            _ => EventType::AccountCircuitClosed,
        };
        journal::account_changed(&mut tx, event_type, provider, name, to.as_str(), Some(reason), ACTOR).await?;
        metrics::counter!("bnpl_circuit_transitions_total", "provider" => provider.as_str(),
            "account" => name.to_owned(), "to" => to.as_str())
        .increment(1);
        tracing::warn!(
            provider = provider.as_str(),
            account = name,
            state = to.as_str(),
            reason,
            "circuit changed"
        );
    }
    tx.commit().await
}

/// Probes `provider`'s account `name` when its cool-down is over and this process wins the probe.
async fn probe_if_due(
    pool: &PgPool,
    accounts: &Accounts,
    executor: &Executor,
    provider: Provider,
    name: &str,
) -> Result<(), sqlx::Error> {
    let (Some(limiter), Some(gate)) = (accounts.limiter(provider, name), accounts.gate(provider, name)) else {
        return Ok(());
    };
    let settings = limiter.breaker().settings().clone();
    let timeout = match provider {
        Provider::Humm => accounts.humm(Some(name)).map(|a| a.limits.request_timeout),
        Provider::Valu => accounts.valu(Some(name)).map(|a| a.limits.request_timeout),
    }
    .unwrap_or(Duration::from_secs(15));
    // A probe older than its own timeout plus a cool-down was left by a process that died.
    let stale = timeout + settings.cool_down;
    let claimed = account_states::claim_probe(pool, provider.as_str(), name, settings.cool_down, stale).await?;
    if claimed.is_none() {
        return Ok(());
    }
    gate.set(AccountState::HalfOpen);
    let request = match provider {
        Provider::Humm => accounts
            .humm(Some(name))
            .and_then(|a| a.ecommpay.status_request(PROBE_PAYMENT_ID).ok()),
        Provider::Valu => accounts
            .valu(Some(name))
            .and_then(|a| a.aps.status_request(PROBE_PAYMENT_ID).ok()),
    };
    let working = match &request {
        Some(request) => limiter.probe(executor, request, timeout).await,
        None => false,
    };
    if working {
        change(
            pool,
            provider,
            name,
            &["half_open"],
            AccountState::Active,
            "probe answered: status query",
        )
        .await?;
    } else {
        change(
            pool,
            provider,
            name,
            &["half_open"],
            AccountState::Open,
            "probe failed: status query",
        )
        .await?;
    }
    Ok(())
}
