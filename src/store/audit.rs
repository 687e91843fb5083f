//! The audit log: who or what changed what, from which state to which, why, and when.
//! Written in the same transaction as the change it records.

use serde_json::Value;
use sqlx::PgConnection;

/// One audit entry.
pub struct AuditEntry<'a> {
    pub payment_id: Option<&'a str>,
    pub refund_id: Option<&'a str>,
    /// `transition`, `callback`, `provider_call`, `resolution`, `command` or `note`.
    pub kind: &'a str,
    /// Who or what: `intake`, `callback:ecommpay`, `job:status_check`, `operator:NAME`, …
    pub actor: &'a str,
    pub from_status: Option<&'a str>,
    pub to_status: Option<&'a str>,
    pub reason: Option<&'a str>,
    pub detail: Value,
}

pub async fn record(conn: &mut PgConnection, entry: &AuditEntry<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO audit_log (payment_id, refund_id, kind, actor, from_status, to_status, reason, detail)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(entry.payment_id)
    .bind(entry.refund_id)
    .bind(entry.kind)
    .bind(entry.actor)
    .bind(entry.from_status)
    .bind(entry.to_status)
    .bind(entry.reason)
    .bind(&entry.detail)
    .execute(conn)
    .await?;
    Ok(())
}
