//! The `settlement_imports` and `settlement_mismatches` tables, and the ledger figures an import
//! compares (issue 20). Reads of payments and refunds here are for comparison only.

use crate::settlement::matching::{Mismatch, OurPayment, OurRefund};
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{PgConnection, PgPool};

/// One import, as stored.
#[derive(Debug, Clone, serde::Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct ImportSummary {
    pub id: i64,
    pub provider: String,
    pub account: String,
    pub file_sha256: String,
    pub file_name: Option<String>,
    pub mapping: String,
    pub row_count: i32,
    pub period_from: Option<NaiveDate>,
    pub period_to: Option<NaiveDate>,
    pub mismatch_count: i32,
    pub imported_by: String,
    pub imported_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, provider, account, file_sha256, file_name, mapping, row_count, period_from, \
    period_to, mismatch_count, imported_by, imported_at";

/// The import of this file for this account, if it was imported before.
pub async fn by_hash(
    conn: &mut PgConnection,
    provider: &str,
    account: &str,
    file_sha256: &str,
) -> Result<Option<ImportSummary>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM settlement_imports WHERE provider = $1 AND account = $2 AND file_sha256 = $3"
    ))
    .bind(provider)
    .bind(account)
    .bind(file_sha256)
    .fetch_optional(conn)
    .await
}

/// Our payments of the account that the report names or that became final within its dates,
/// and their refunds.
pub async fn ledger_for(
    conn: &mut PgConnection,
    provider: &str,
    account: &str,
    payment_ids: &[String],
    period: Option<(NaiveDate, NaiveDate)>,
) -> Result<(Vec<OurPayment>, Vec<OurRefund>), sqlx::Error> {
    let (from, to) = period.map_or((None, None), |(from, to)| (Some(from), Some(to)));
    let payments: Vec<OurPayment> = sqlx::query_as(
        "SELECT payment_id, amount_minor, currency::text AS currency, status, refunded_minor, final_at
         FROM payments
         WHERE provider = $1 AND account = $2
           AND (payment_id = ANY($3)
                OR (final_at >= ($4::date)::timestamp AT TIME ZONE 'UTC'
                    AND final_at < ($5::date + 1)::timestamp AT TIME ZONE 'UTC'))
         ORDER BY payment_id",
    )
    .bind(provider)
    .bind(account)
    .bind(payment_ids)
    .bind(from)
    .bind(to)
    .fetch_all(&mut *conn)
    .await?;
    // The refunds of those payments, and every refund of the account final within the dates
    // (a refund this period of a sale of an earlier one), dates in UTC.
    let ids: Vec<String> = payments.iter().map(|p| p.payment_id.clone()).collect();
    let refunds: Vec<OurRefund> = sqlx::query_as(
        "SELECT r.refund_id, r.payment_id, r.amount_minor, r.status, r.provider_request_id, r.final_at
         FROM refunds r JOIN payments p ON p.payment_id = r.payment_id
         WHERE p.provider = $1 AND p.account = $2
           AND (r.payment_id = ANY($3)
                OR (r.final_at >= ($4::date)::timestamp AT TIME ZONE 'UTC'
                    AND r.final_at < ($5::date + 1)::timestamp AT TIME ZONE 'UTC'))
         ORDER BY r.refund_id",
    )
    .bind(provider)
    .bind(account)
    .bind(&ids)
    .bind(from)
    .bind(to)
    .fetch_all(&mut *conn)
    .await?;
    Ok((payments, refunds))
}

/// What a new import records.
pub struct NewImport<'a> {
    pub provider: &'a str,
    pub account: &'a str,
    pub file_sha256: &'a str,
    pub file_name: Option<&'a str>,
    pub mapping: &'a str,
    pub row_count: i32,
    pub period: Option<(NaiveDate, NaiveDate)>,
    pub imported_by: &'a str,
}

/// Stores an import and its mismatches; None when the same file was imported meanwhile.
pub async fn insert(
    conn: &mut PgConnection,
    new: &NewImport<'_>,
    mismatches: &[Mismatch],
) -> Result<Option<ImportSummary>, sqlx::Error> {
    let summary: Option<ImportSummary> = sqlx::query_as(&format!(
        "INSERT INTO settlement_imports (provider, account, file_sha256, file_name, mapping, row_count,
             period_from, period_to, mismatch_count, imported_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         ON CONFLICT (provider, account, file_sha256) DO NOTHING
         RETURNING {COLUMNS}"
    ))
    .bind(new.provider)
    .bind(new.account)
    .bind(new.file_sha256)
    .bind(new.file_name)
    .bind(new.mapping)
    .bind(new.row_count)
    .bind(new.period.map(|(from, _)| from))
    .bind(new.period.map(|(_, to)| to))
    .bind(i32::try_from(mismatches.len()).unwrap_or(i32::MAX))
    .bind(new.imported_by)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(summary) = summary else {
        return Ok(None);
    };
    let column = |pick: fn(&Mismatch) -> Option<String>| mismatches.iter().map(pick).collect::<Vec<_>>();
    sqlx::query(
        "INSERT INTO settlement_mismatches (import_id, kind, payment_id, refund_id, line, detail)
         SELECT $1, kind, payment_id, refund_id, line, detail
         FROM UNNEST($2::text[], $3::text[], $4::text[], $5::bigint[], $6::text[])
              AS m(kind, payment_id, refund_id, line, detail)",
    )
    .bind(summary.id)
    .bind(column(|m| Some(m.kind.clone())))
    .bind(column(|m| Some(m.payment_id.clone())))
    .bind(column(|m| m.refund_id.clone()))
    .bind(mismatches.iter().map(|m| m.line).collect::<Vec<_>>())
    .bind(column(|m| Some(m.detail.clone())))
    .execute(&mut *conn)
    .await?;
    Ok(Some(summary))
}

/// The mismatches of import `id` in the order found; None when there is no such import.
pub async fn mismatches(pool: &PgPool, id: i64) -> Result<Option<Vec<Mismatch>>, sqlx::Error> {
    let exists: Option<i64> = sqlx::query_scalar("SELECT id FROM settlement_imports WHERE id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await?;
    if exists.is_none() {
        return Ok(None);
    }
    let mismatches = sqlx::query_as(
        "SELECT kind, payment_id, refund_id, line, detail FROM settlement_mismatches
         WHERE import_id = $1 ORDER BY id",
    )
    .bind(id)
    .fetch_all(pool)
    .await?;
    Ok(Some(mismatches))
}

/// The latest imports, newest first.
pub async fn latest(pool: &PgPool, limit: i64) -> Result<Vec<ImportSummary>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM settlement_imports ORDER BY imported_at DESC, id DESC LIMIT $1"
    ))
    .bind(limit)
    .fetch_all(pool)
    .await
}
