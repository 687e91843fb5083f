//! Dead letters (contract §1) and exhausted jobs, as ops see and handle them.
//!
//! Invariants: a dead letter is never deleted: purging sets `purged_at` (it leaves the lists),
//! replaying sets `replayed_at` (it stays listed until purged, so ops see what they replayed).
//! A purged dead letter cannot be replayed.

use crate::ledger::journal::{self, Note};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::{PgPool, Row as _};
use utoipa::ToSchema;

use super::history::{JobEntry, JOB_COLUMNS};

/// A command that could not be processed, with its reason.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DeadLetter {
    pub id: i64,
    pub command_id: Option<i64>,
    pub routing_key: String,
    /// `invalid` or `unknown_command` (the `x-bnpl-reason` header).
    pub reason: String,
    pub detail: String,
    pub headers: Value,
    /// The body as received (lossy UTF-8); empty once purged by retention.
    pub body: String,
    pub created_at: DateTime<Utc>,
    pub published_at: Option<DateTime<Utc>>,
    pub replayed_at: Option<DateTime<Utc>>,
    pub purged_at: Option<DateTime<Utc>>,
    /// Set once retention emptied the body (it held personal data).
    pub body_purged_at: Option<DateTime<Utc>>,
}

/// Dead letters, newest first; purged ones only when `include_purged`.
pub async fn list(pool: &PgPool, include_purged: bool, limit: i64) -> Result<Vec<DeadLetter>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, command_id, routing_key, reason, detail, headers, body, created_at,
                published_at, replayed_at, purged_at, body_purged_at
         FROM dead_letters WHERE ($1 OR purged_at IS NULL) ORDER BY id DESC LIMIT $2",
    )
    .bind(include_purged)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.iter().map(from_row).collect()
}

/// One dead letter.
pub async fn get(pool: &PgPool, id: i64) -> Result<Option<DeadLetter>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT id, command_id, routing_key, reason, detail, headers, body, created_at,
                published_at, replayed_at, purged_at, body_purged_at
         FROM dead_letters WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// The raw body of a dead letter (bytes exactly as received).
pub async fn raw_body(pool: &PgPool, id: i64) -> Result<Option<Vec<u8>>, sqlx::Error> {
    sqlx::query_scalar("SELECT body FROM dead_letters WHERE id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await
}

/// Records that the dead letter was re-published to the command exchange by `actor`.
pub async fn mark_replayed(pool: &PgPool, id: i64, actor: &str, detail: Value) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("UPDATE dead_letters SET replayed_at = now() WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    journal::note(&mut tx, &Note::by(actor, detail)).await?;
    tx.commit().await
}

/// Purges a dead letter (hides it from the lists); false when it does not exist or was purged.
pub async fn purge(pool: &PgPool, id: i64, actor: &str) -> Result<bool, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let purged = sqlx::query("UPDATE dead_letters SET purged_at = now() WHERE id = $1 AND purged_at IS NULL")
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected()
        == 1;
    if purged {
        let detail = serde_json::json!({ "action": "purge_dead_letter", "dead_letter_id": id });
        journal::note(&mut tx, &Note::by(actor, detail)).await?;
    }
    tx.commit().await?;
    Ok(purged)
}

/// How many dead letters are not purged.
pub async fn open_count(pool: &PgPool) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT count(*) FROM dead_letters WHERE purged_at IS NULL")
        .fetch_one(pool)
        .await
}

/// Jobs that used up their attempts, most recent first.
pub async fn exhausted_jobs(pool: &PgPool, limit: i64) -> Result<Vec<JobEntry>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {JOB_COLUMNS} FROM jobs WHERE state = 'exhausted' ORDER BY updated_at DESC LIMIT $1"
    ))
    .bind(limit)
    .fetch_all(pool)
    .await
}

fn from_row(row: &sqlx::postgres::PgRow) -> Result<DeadLetter, sqlx::Error> {
    let body: Vec<u8> = row.try_get("body")?;
    Ok(DeadLetter {
        id: row.try_get("id")?,
        command_id: row.try_get("command_id")?,
        routing_key: row.try_get("routing_key")?,
        reason: row.try_get("reason")?,
        detail: row.try_get("detail")?,
        headers: row.try_get("headers")?,
        body: String::from_utf8_lossy(&body).into_owned(),
        created_at: row.try_get("created_at")?,
        published_at: row.try_get("published_at")?,
        replayed_at: row.try_get("replayed_at")?,
        purged_at: row.try_get("purged_at")?,
        body_purged_at: row.try_get("body_purged_at")?,
    })
}
