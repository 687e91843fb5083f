//! One settlement import: read the report with the provider's mapping, compare it with the
//! ledger, store the summary and the mismatches. The same file for the same account is imported
//! once: a second import answers the first one's summary (`duplicate`).

use super::mapping::{Mappings, ReportError};
use super::matching;
use crate::domain::{AccountName, Provider};
use crate::store::settlements::{self, ImportSummary, NewImport};
use sha2::{Digest, Sha256};
use sqlx::PgPool;

/// What to import.
pub struct ImportRequest<'a> {
    pub provider: Provider,
    pub account: &'a str,
    pub file_name: Option<&'a str>,
    pub bytes: &'a [u8],
    pub actor: &'a str,
    /// The dates the report covers (UTC, inclusive), when finance names them; else the first and
    /// last dates of its rows. A month's report names its month, so a payment of its last day
    /// that the report lacks is found even when no row has that date.
    pub period: Option<(chrono::NaiveDate, chrono::NaiveDate)>,
}

/// An import's summary, and whether this file had been imported before.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Imported {
    #[serde(flatten)]
    pub summary: ImportSummary,
    pub duplicate: bool,
}

/// Why a file was not imported.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("the account name is not valid")]
    BadAccount,
    #[error(transparent)]
    Report(#[from] ReportError),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Imports `request` with `mappings`.
pub async fn import(pool: &PgPool, mappings: &Mappings, request: &ImportRequest<'_>) -> Result<Imported, ImportError> {
    AccountName::new(request.account).map_err(|_| ImportError::BadAccount)?;
    let provider = request.provider.as_str();
    let hash = hex::encode(Sha256::digest(request.bytes));
    let mut tx = pool.begin().await?;
    if let Some(summary) = settlements::by_hash(&mut tx, provider, request.account, &hash).await? {
        return Ok(Imported {
            summary,
            duplicate: true,
        });
    }
    let mapping = mappings.of(request.provider);
    let rows = mapping.read(request.bytes)?;
    let period = request.period.or_else(|| matching::period(&rows));
    let mut named: Vec<String> = rows.iter().map(|row| row.payment_id.clone()).collect();
    named.sort();
    named.dedup();
    let (payments, refunds) = settlements::ledger_for(&mut tx, provider, request.account, &named, period).await?;
    let mismatches = matching::compare(&rows, &payments, &refunds, period);
    let new = NewImport {
        provider,
        account: request.account,
        file_sha256: &hash,
        file_name: request.file_name,
        mapping: &mapping.name,
        row_count: i32::try_from(rows.len()).unwrap_or(i32::MAX),
        period,
        imported_by: request.actor,
    };
    let imported = match settlements::insert(&mut tx, &new, &mismatches).await? {
        Some(summary) => Imported {
            summary,
            duplicate: false,
        },
        // The same file, imported by someone else meanwhile.
        None => {
            tx.rollback().await?;
            let mut conn = pool.acquire().await?;
            let summary = settlements::by_hash(&mut conn, provider, request.account, &hash)
                .await?
                .ok_or(sqlx::Error::RowNotFound)?;
            return Ok(Imported {
                summary,
                duplicate: true,
            });
        }
    };
    tx.commit().await?;
    tracing::info!(
        provider,
        account = request.account,
        rows = rows.len(),
        mismatches = mismatches.len(),
        actor = request.actor,
        "settlement imported"
    );
    Ok(imported)
}
