//! Read models of payments for the admin API, dashboard and CLI: search with keyset pagination,
//! and one payment with everything recorded about it (audit log, events, callbacks, jobs,
//! refunds).
//!
//! Invariants: read-only; pagination is by `(created_at, payment_id)` descending, so a page is
//! stable under concurrent inserts (new payments appear on page one, never twice).

use crate::domain::{AccountName, PaymentStatus, Provider};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{FromRow, PgPool, Postgres, QueryBuilder};
use utoipa::ToSchema;

/// Columns of [`PaymentSummary`], for queries that join.
pub const SUMMARY_COLUMNS: &str = "p.payment_id, p.provider, p.account, p.flow, p.status, \
    p.review_reason, p.amount_minor, p.currency, p.provider_reference, p.last_sequence, \
    p.created_at, p.updated_at, p.threshold_at, p.final_at";

/// One payment in a list.
#[derive(Debug, Clone, Serialize, FromRow, ToSchema)]
pub struct PaymentSummary {
    pub payment_id: String,
    pub provider: String,
    pub account: String,
    pub flow: String,
    pub status: String,
    /// Set when a provider answer contradicted a final state (contract §3).
    pub review_reason: Option<String>,
    /// Integer minor units of `currency`.
    pub amount_minor: i64,
    pub currency: String,
    pub provider_reference: Option<String>,
    pub last_sequence: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// When the provider's own decision deadline passes.
    pub threshold_at: DateTime<Utc>,
    pub final_at: Option<DateTime<Utc>>,
}

/// Search criteria; every field optional.
#[derive(Debug, Clone, Default)]
pub struct PaymentFilter {
    pub status: Option<PaymentStatus>,
    pub provider: Option<Provider>,
    pub account: Option<AccountName>,
    pub created_from: Option<DateTime<Utc>>,
    pub created_to: Option<DateTime<Utc>>,
    /// Only payments created strictly before this `(created_at, payment_id)` (the cursor).
    pub before: Option<(DateTime<Utc>, String)>,
    pub limit: i64,
}

/// Payments matching `filter`, newest first, at most `filter.limit`.
pub async fn list(pool: &PgPool, filter: &PaymentFilter) -> Result<Vec<PaymentSummary>, sqlx::Error> {
    let mut query: QueryBuilder<Postgres> =
        QueryBuilder::new(format!("SELECT {SUMMARY_COLUMNS} FROM payments p WHERE TRUE"));
    if let Some(status) = &filter.status {
        query.push(" AND p.status = ").push_bind(status.as_str());
    }
    if let Some(provider) = &filter.provider {
        query.push(" AND p.provider = ").push_bind(provider.as_str());
    }
    if let Some(account) = &filter.account {
        query.push(" AND p.account = ").push_bind(account.as_str().to_owned());
    }
    if let Some(from) = filter.created_from {
        query.push(" AND p.created_at >= ").push_bind(from);
    }
    if let Some(to) = filter.created_to {
        query.push(" AND p.created_at < ").push_bind(to);
    }
    if let Some((at, id)) = &filter.before {
        query
            .push(" AND (p.created_at, p.payment_id) < (")
            .push_bind(*at)
            .push(", ")
            .push_bind(id.clone())
            .push(")");
    }
    query
        .push(" ORDER BY p.created_at DESC, p.payment_id DESC LIMIT ")
        .push_bind(filter.limit);
    query.build_query_as().fetch_all(pool).await
}

/// What an id names: a payment, or a refund of a payment.
#[derive(Debug, Clone, FromRow)]
pub struct FoundId {
    pub payment_id: String,
    pub refund_id: Option<String>,
}

/// The payment with this id, else the refund with this id (with its payment); equality only.
pub async fn find_by_id(pool: &PgPool, id: &str) -> Result<Option<FoundId>, sqlx::Error> {
    sqlx::query_as(
        "SELECT payment_id, NULL::text AS refund_id FROM payments WHERE payment_id = $1
         UNION ALL
         SELECT payment_id, refund_id FROM refunds WHERE refund_id = $1
         LIMIT 1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await
}

/// Payments in `needs_review` or carrying a review flag, oldest change first.
pub async fn in_review(pool: &PgPool) -> Result<Vec<PaymentSummary>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {SUMMARY_COLUMNS} FROM payments p
         WHERE p.status = 'needs_review' OR p.review_reason IS NOT NULL
         ORDER BY p.updated_at LIMIT 1000"
    ))
    .fetch_all(pool)
    .await
}

/// Payments not final whose threshold time has passed, oldest threshold first.
pub async fn past_threshold(pool: &PgPool, limit: i64) -> Result<Vec<PaymentSummary>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {SUMMARY_COLUMNS} FROM payments p
         WHERE p.status NOT IN ('succeeded', 'declined', 'failed', 'expired')
           AND p.threshold_at < now()
         ORDER BY p.threshold_at LIMIT $1"
    ))
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// How many payments each provider has in each status.
#[derive(Debug, Clone, Serialize, FromRow, ToSchema)]
pub struct StatusCount {
    pub provider: String,
    pub status: String,
    pub count: i64,
}

/// Payment counts by provider and status.
pub async fn counts_by_status(pool: &PgPool) -> Result<Vec<StatusCount>, sqlx::Error> {
    sqlx::query_as(
        "SELECT provider, status, count(*) AS count FROM payments
         GROUP BY provider, status ORDER BY provider, status",
    )
    .fetch_all(pool)
    .await
}

pub use super::history::{detail, AuditEntry, CallbackEntry, EventEntry, JobEntry, PaymentDetail, RefundEntry};
