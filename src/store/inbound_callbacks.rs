//! The `inbound_callbacks` table: every callback received, stored before (or with) its effect
//! (design §1 "Callbacks are hints").
//!
//! Invariant: a body that failed verification is stored truncated to its first
//! [`UNVERIFIED_BODY_MAX`] bytes with its full length, so a flood of forgeries cannot fill the
//! database; a verified body is stored whole (the HTTP layer caps its size).

use sqlx::PgConnection;

/// Bytes kept of a body that failed verification.
pub const UNVERIFIED_BODY_MAX: usize = 4 * 1024;

/// Stores a verified callback with what became of it (`applied`, `stale`, `account_mismatch`, …).
pub async fn store_verified(
    conn: &mut PgConnection,
    provider: &str,
    body: &[u8],
    payment_id: Option<&str>,
    outcome: &str,
) -> Result<(), sqlx::Error> {
    insert(conn, provider, true, body, body.len(), payment_id, outcome).await
}

/// Stores a callback that failed verification (`forged`, `malformed`): its first bytes only, and
/// how long it was.
pub async fn store_unverified(
    conn: &mut PgConnection,
    provider: &str,
    body: &[u8],
    outcome: &str,
) -> Result<(), sqlx::Error> {
    let kept = &body[..body.len().min(UNVERIFIED_BODY_MAX)];
    insert(conn, provider, false, kept, body.len(), None, outcome).await
}

async fn insert(
    conn: &mut PgConnection,
    provider: &str,
    verified: bool,
    body: &[u8],
    length: usize,
    payment_id: Option<&str>,
    outcome: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO inbound_callbacks (provider, verified, payment_id, outcome, body, body_length)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(provider)
    .bind(verified)
    .bind(payment_id)
    .bind(outcome)
    .bind(body)
    .bind(i32::try_from(length).unwrap_or(i32::MAX))
    .execute(conn)
    .await?;
    Ok(())
}
