//! Retention (contract §6, issue 8): raw callbacks and personal data older than the configured
//! retention are purged or masked; amounts, references and states stay for finance.
//!
//! What is personal here: the payment's `customer` (names, phone, email, IP address), the raw
//! callback bodies (they echo customer details), and the raw command bodies of `commands` and
//! `dead_letters` (a `purchase.create` carries the customer).
//!
//! Invariants: idempotent (each row is touched once, marked with its `*_purged_at`); never
//! changes an amount, currency, reference, status or timestamp, so the reconciliation report is
//! the same before and after; the customer's merchant-side `id` is kept (it is the merchant's
//! pseudonymous key, needed to answer "which payments did this customer make").

use sqlx::postgres::types::PgInterval;
use sqlx::PgPool;
use std::time::Duration;

/// How many rows one run purged.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Purged {
    pub callbacks: u64,
    pub payments: u64,
    pub commands: u64,
    pub dead_letters: u64,
}

/// Purges raw callback bodies older than `raw_callbacks_age`, and masks personal data of
/// payments (and empties raw command bodies) older than `personal_data_age`.
pub async fn purge_expired_personal_data(
    pool: &PgPool,
    raw_callbacks_age: Duration,
    personal_data_age: Duration,
) -> Result<Purged, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let callbacks = sqlx::query(
        "UPDATE inbound_callbacks SET body = NULL, body_purged_at = now()
         WHERE body IS NOT NULL AND received_at < now() - $1",
    )
    .bind(interval(raw_callbacks_age))
    .execute(&mut *tx)
    .await?
    .rows_affected();
    let payments = sqlx::query(
        "UPDATE payments
         SET customer = CASE WHEN customer ? 'id' THEN jsonb_build_object('id', customer->'id')
                             ELSE '{}'::jsonb END,
             personal_data_purged_at = now()
         WHERE personal_data_purged_at IS NULL AND created_at < now() - $1",
    )
    .bind(interval(personal_data_age))
    .execute(&mut *tx)
    .await?
    .rows_affected();
    let commands = sqlx::query(
        "UPDATE commands SET body = ''::bytea, body_purged_at = now()
         WHERE body_purged_at IS NULL AND received_at < now() - $1",
    )
    .bind(interval(personal_data_age))
    .execute(&mut *tx)
    .await?
    .rows_affected();
    let dead_letters = sqlx::query(
        "UPDATE dead_letters SET body = ''::bytea, body_purged_at = now()
         WHERE body_purged_at IS NULL AND created_at < now() - $1",
    )
    .bind(interval(personal_data_age))
    .execute(&mut *tx)
    .await?
    .rows_affected();
    tx.commit().await?;
    let purged = Purged {
        callbacks,
        payments,
        commands,
        dead_letters,
    };
    tracing::info!(?purged, "retention: personal data past its age purged");
    Ok(purged)
}

fn interval(duration: Duration) -> PgInterval {
    PgInterval {
        months: 0,
        days: 0,
        microseconds: i64::try_from(duration.as_micros()).unwrap_or(i64::MAX),
    }
}
