//! Admin API tokens and dashboard sessions (contract §4).
//!
//! Invariants:
//! - a token is shown once, when created; only its SHA-256 is stored. Tokens are 32 random
//!   bytes, so a fast hash is enough (no password-style stretching needed);
//! - a token is found by its `lookup` part (not secret on its own) and then its full hash is
//!   compared in constant time (`subtle`), so response timing says nothing about the secret;
//! - a revoked token authenticates nothing, and neither do the dashboard sessions opened with it;
//! - dashboard sessions store only the hash of the cookie's random id.

use chrono::{DateTime, Utc};
use rand::RngCore as _;
use sha2::{Digest, Sha256};
use sqlx::{PgPool, Row as _};
use std::time::Duration;
use subtle::ConstantTimeEq as _;

/// Every token starts with this, so a leaked one is recognisable (e.g. by secret scanners).
const TOKEN_PREFIX: &str = "bnpl_";
/// Hex characters of the random part used to find the row.
const LOOKUP_LEN: usize = 12;

/// A token's metadata, never its secret.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TokenInfo {
    pub id: i64,
    pub name: String,
    pub scopes: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Creates a token; returns the raw token, which is not kept anywhere.
pub async fn create(pool: &PgPool, name: &str, scopes: &[String]) -> Result<String, sqlx::Error> {
    let mut secret = [0_u8; 32];
    rand::thread_rng().fill_bytes(&mut secret);
    let token = format!("{TOKEN_PREFIX}{}", hex::encode(secret));
    sqlx::query("INSERT INTO admin_tokens (name, lookup, token_hash, scopes) VALUES ($1, $2, $3, $4)")
        .bind(name)
        .bind(lookup_of(&token))
        .bind(hash(&token))
        .bind(scopes)
        .execute(pool)
        .await?;
    Ok(token)
}

/// Every token, newest first.
pub async fn list(pool: &PgPool) -> Result<Vec<TokenInfo>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, name, scopes, created_at, last_used_at, revoked_at
         FROM admin_tokens ORDER BY id DESC",
    )
    .fetch_all(pool)
    .await?;
    rows.iter().map(info).collect()
}

/// Revokes the token called `name`; false when there is no such live token.
pub async fn revoke(pool: &PgPool, name: &str) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("UPDATE admin_tokens SET revoked_at = now() WHERE name = $1 AND revoked_at IS NULL")
        .bind(name)
        .execute(pool)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// The live token matching `presented`, if any.
pub async fn authenticate(pool: &PgPool, presented: &str) -> Result<Option<TokenInfo>, sqlx::Error> {
    let Some(lookup) = presented
        .strip_prefix(TOKEN_PREFIX)
        .and_then(|rest| rest.get(..LOOKUP_LEN))
    else {
        return Ok(None);
    };
    let row = sqlx::query(
        "SELECT id, name, scopes, created_at, last_used_at, revoked_at, token_hash
         FROM admin_tokens WHERE lookup = $1 AND revoked_at IS NULL",
    )
    .bind(format!("{TOKEN_PREFIX}{lookup}"))
    .fetch_optional(pool)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let stored: Vec<u8> = row.try_get("token_hash")?;
    if !bool::from(stored.as_slice().ct_eq(&hash(presented))) {
        return Ok(None);
    }
    let token = info(&row)?;
    // Best effort: a failed bookkeeping write must not refuse a valid caller.
    let _ = sqlx::query("UPDATE admin_tokens SET last_used_at = now() WHERE id = $1")
        .bind(token.id)
        .execute(pool)
        .await;
    Ok(Some(token))
}

/// Opens a dashboard session for `token_id`; returns the random session id for the cookie.
pub async fn open_session(pool: &PgPool, token_id: i64, lifetime: Duration) -> Result<String, sqlx::Error> {
    let mut secret = [0_u8; 32];
    rand::thread_rng().fill_bytes(&mut secret);
    let session = hex::encode(secret);
    let seconds = i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX);
    sqlx::query(
        "INSERT INTO admin_sessions (session_hash, token_id, expires_at)
         VALUES ($1, $2, now() + make_interval(secs => $3))",
    )
    .bind(hash(&session))
    .bind(token_id)
    .bind(seconds as f64)
    .execute(pool)
    .await?;
    // Expired sessions are useless; clear them whenever someone signs in.
    sqlx::query("DELETE FROM admin_sessions WHERE expires_at < now()")
        .execute(pool)
        .await?;
    Ok(session)
}

/// The live token behind a dashboard session id, if the session is open and the token live.
/// The id is looked up by its hash: the primary-key match on a SHA-256 leaks nothing useful.
pub async fn session_token(pool: &PgPool, session: &str) -> Result<Option<TokenInfo>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT t.id, t.name, t.scopes, t.created_at, t.last_used_at, t.revoked_at
         FROM admin_sessions s JOIN admin_tokens t ON t.id = s.token_id
         WHERE s.session_hash = $1 AND s.expires_at > now() AND t.revoked_at IS NULL",
    )
    .bind(hash(session))
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(info).transpose()
}

/// Ends a dashboard session.
pub async fn close_session(pool: &PgPool, session: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM admin_sessions WHERE session_hash = $1")
        .bind(hash(session))
        .execute(pool)
        .await?;
    Ok(())
}

fn lookup_of(token: &str) -> String {
    token.chars().take(TOKEN_PREFIX.len() + LOOKUP_LEN).collect()
}

fn hash(text: &str) -> Vec<u8> {
    Sha256::digest(text.as_bytes()).to_vec()
}

fn info(row: &sqlx::postgres::PgRow) -> Result<TokenInfo, sqlx::Error> {
    Ok(TokenInfo {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        scopes: row.try_get("scopes")?,
        created_at: row.try_get("created_at")?,
        last_used_at: row.try_get("last_used_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}
