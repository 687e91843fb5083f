//! `account_states`: provider accounts an operator paused or a circuit breaker opened. No row
//! means `active`. Changes are compare-and-set, and notify `bnpl_accounts` at commit.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};

/// One account's stored state.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StateRow {
    pub account_key: String,
    pub provider: String,
    pub account: String,
    pub state: String,
    pub reason: Option<String>,
    pub changed_by: String,
    pub since: DateTime<Utc>,
}

/// Every stored state.
pub async fn all(pool: &PgPool) -> Result<Vec<StateRow>, sqlx::Error> {
    sqlx::query_as("SELECT account_key, provider, account, state, reason, changed_by, since FROM account_states")
        .fetch_all(pool)
        .await
}

/// Sets the state of `provider:account` to `state` when it is one of `from` now (no row counts as
/// `active`); the row as it is after, or None when the state was not one of `from`.
pub async fn change(
    conn: &mut PgConnection,
    provider: &str,
    account: &str,
    from: &[&str],
    state: &str,
    reason: Option<&str>,
    changed_by: &str,
) -> Result<Option<StateRow>, sqlx::Error> {
    let key = format!("{provider}:{account}");
    let from: Vec<String> = from.iter().map(|s| (*s).to_owned()).collect();
    sqlx::query_as(
        // An existing row changes only from an allowed state (checked under its row lock); no row
        // is `active`, so one is inserted only when `active` is an allowed start (and a racing
        // insert makes this one a no-op).
        "WITH updated AS (
             UPDATE account_states SET state = $5, reason = $6, changed_by = $7, since = now()
             WHERE account_key = $1 AND state = ANY($4)
             RETURNING account_key, provider, account, state, reason, changed_by, since),
         inserted AS (
             INSERT INTO account_states (account_key, provider, account, state, reason, changed_by)
             SELECT $1, $2, $3, $5, $6, $7
             WHERE 'active' = ANY($4) AND NOT EXISTS (SELECT 1 FROM account_states WHERE account_key = $1)
             ON CONFLICT (account_key) DO NOTHING
             RETURNING account_key, provider, account, state, reason, changed_by, since),
         changed AS (SELECT * FROM updated UNION ALL SELECT * FROM inserted)
         SELECT changed.*, pg_notify($8, account_key)::text AS woken FROM changed",
    )
    .bind(&key)
    .bind(provider)
    .bind(account)
    .bind(&from)
    .bind(state)
    .bind(reason)
    .bind(changed_by)
    .bind(crate::accounts::gate::NOTIFY_CHANNEL)
    .fetch_optional(conn)
    .await
}

/// Takes the half-open probe of `provider:account`: moves it to `half_open` (since now) when it
/// has been `open` for `cool_down`, or `half_open` for `stale_probe` (a process died probing). Only
/// one process wins; the row as it is after, or None.
pub async fn claim_probe(
    pool: &PgPool,
    provider: &str,
    account: &str,
    cool_down: std::time::Duration,
    stale_probe: std::time::Duration,
) -> Result<Option<StateRow>, sqlx::Error> {
    let key = format!("{provider}:{account}");
    let seconds = |duration: std::time::Duration| duration.as_secs_f64();
    sqlx::query_as(
        "WITH claimed AS (
             UPDATE account_states SET state = 'half_open', changed_by = 'breaker', since = now()
             WHERE account_key = $1
               AND ((state = 'open' AND since <= now() - make_interval(secs => $2))
                 OR (state = 'half_open' AND since <= now() - make_interval(secs => $3)))
             RETURNING account_key, provider, account, state, reason, changed_by, since)
         SELECT claimed.*, pg_notify($4, account_key)::text AS woken FROM claimed",
    )
    .bind(&key)
    .bind(seconds(cool_down))
    .bind(seconds(stale_probe))
    .bind(crate::accounts::gate::NOTIFY_CHANNEL)
    .fetch_optional(pool)
    .await
}
