//! `provider_answers`: the status answers an operator asked for about a refund, each with what it
//! supports; the evidence a release of a stuck refund head must point to.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgConnection;

/// A stored answer.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize, utoipa::ToSchema)]
pub struct ProviderAnswer {
    pub id: i64,
    pub refund_id: String,
    pub payment_id: String,
    /// `succeeded`, `declined`, `pending` or `unknown`.
    pub supports: String,
    /// What the provider said, summarised (refunded totals, or the declined operation).
    #[schema(value_type = Object)]
    pub answer: Value,
    pub asked_by: String,
    pub asked_at: DateTime<Utc>,
}

/// Stores an answer about `refund_id` and returns it with its id.
pub async fn insert(
    conn: &mut PgConnection,
    refund_id: &str,
    payment_id: &str,
    supports: &str,
    answer: &Value,
    asked_by: &str,
) -> Result<ProviderAnswer, sqlx::Error> {
    sqlx::query_as(
        "INSERT INTO provider_answers (refund_id, payment_id, supports, answer, asked_by)
         VALUES ($1, $2, $3, $4, $5)
         RETURNING id, refund_id, payment_id, supports, answer, asked_by, asked_at",
    )
    .bind(refund_id)
    .bind(payment_id)
    .bind(supports)
    .bind(answer)
    .bind(asked_by)
    .fetch_one(conn)
    .await
}

/// Answer `id`, when it is about `refund_id`.
pub async fn get(conn: &mut PgConnection, id: i64, refund_id: &str) -> Result<Option<ProviderAnswer>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, refund_id, payment_id, supports, answer, asked_by, asked_at
         FROM provider_answers WHERE id = $1 AND refund_id = $2",
    )
    .bind(id)
    .bind(refund_id)
    .fetch_optional(conn)
    .await
}
