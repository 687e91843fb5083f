//! Retention (contract §6, issue 8): raw callbacks and personal data older than the configured
//! retention are purged or masked; amounts, references and states stay for finance.
//!
//! What is personal here: the payment's `customer` (names, phone, email, IP address) and its
//! free-text `description`; the raw callback bodies (they echo customer details); the raw command
//! bodies of `commands` and `dead_letters` (a `purchase.create` carries the customer); and the
//! reasons written about refused commands (`commands.reason_message`, `dead_letters.detail`),
//! which may quote a refused value. `metadata` is not masked: the contract says it holds no
//! personal data, and it is echoed on every event.
//!
//! Invariants: idempotent (each row is touched once, marked with its `*_purged_at`); never
//! changes an amount, currency, reference, status or timestamp, so the reconciliation report is
//! the same before and after; the customer's merchant-side `id` is kept (it is the merchant's
//! pseudonymous key, needed to answer "which payments did this customer make"). Work is done in
//! batches of [`BATCH`] rows, each its own short statement, so a first run over months of data
//! never holds a long transaction or locks a table.

use sqlx::postgres::types::PgInterval;
use sqlx::PgPool;
use std::time::Duration;

/// Rows masked per statement.
pub const BATCH: i64 = 1_000;

/// What a masked reason keeps: the field it was about (a JSON Pointer, or the reason's first
/// words), never the value it quoted.
const MASKED_REASON: &str = "split_part(%s, ':', 1) || ': [masked by retention]'";

/// How many rows one run purged.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Purged {
    pub callbacks: u64,
    pub payments: u64,
    pub commands: u64,
    pub dead_letters: u64,
}

impl Purged {
    /// Whether the run purged nothing.
    pub fn is_empty(&self) -> bool {
        self.callbacks + self.payments + self.commands + self.dead_letters == 0
    }
}

/// One masking statement: over at most [`BATCH`] rows of `table` (key `key`) older than the
/// age bound to `$1` that `pending` selects, sets `assignments`.
struct Masking {
    table: &'static str,
    key: &'static str,
    pending: &'static str,
    assignments: String,
}

impl Masking {
    fn statement(&self) -> String {
        let Masking {
            table,
            key,
            pending,
            assignments,
        } = self;
        format!(
            "WITH batch AS (
                 SELECT {key} FROM {table} WHERE {pending} ORDER BY {key} LIMIT {BATCH} FOR UPDATE SKIP LOCKED)
             UPDATE {table} t SET {assignments} FROM batch WHERE t.{key} = batch.{key}"
        )
    }
}

fn masked_reason(column: &str) -> String {
    MASKED_REASON.replace("%s", column)
}

/// Purges raw callback bodies older than `raw_callbacks_age`, and masks personal data of
/// payments, commands and dead letters older than `personal_data_age`.
pub async fn purge_expired_personal_data(
    pool: &PgPool,
    raw_callbacks_age: Duration,
    personal_data_age: Duration,
) -> Result<Purged, sqlx::Error> {
    let callbacks = Masking {
        table: "inbound_callbacks",
        key: "id",
        pending: "body IS NOT NULL AND received_at < now() - $1",
        assignments: "body = NULL, body_purged_at = now()".to_owned(),
    };
    let payments = Masking {
        table: "payments",
        key: "payment_id",
        pending: "personal_data_purged_at IS NULL AND created_at < now() - $1",
        assignments: "customer = CASE WHEN t.customer ? 'id' THEN jsonb_build_object('id', t.customer->'id')
                                     ELSE '{}'::jsonb END,
                      description = NULL, personal_data_purged_at = now()"
            .to_owned(),
    };
    let commands = Masking {
        table: "commands",
        key: "id",
        pending: "body_purged_at IS NULL AND received_at < now() - $1",
        assignments: format!(
            "body = ''::bytea, body_purged_at = now(), reason_message = {}",
            masked_reason("t.reason_message")
        ),
    };
    let dead_letters = Masking {
        table: "dead_letters",
        key: "id",
        pending: "body_purged_at IS NULL AND created_at < now() - $1",
        assignments: format!(
            "body = ''::bytea, body_purged_at = now(), detail = {}",
            masked_reason("t.detail")
        ),
    };
    let purged = Purged {
        callbacks: in_batches(pool, &callbacks, raw_callbacks_age).await?,
        payments: in_batches(pool, &payments, personal_data_age).await?,
        commands: in_batches(pool, &commands, personal_data_age).await?,
        dead_letters: in_batches(pool, &dead_letters, personal_data_age).await?,
    };
    Ok(purged)
}

/// Runs `masking` batch after batch until a batch comes back short; returns the rows masked.
async fn in_batches(pool: &PgPool, masking: &Masking, age: Duration) -> Result<u64, sqlx::Error> {
    let statement = masking.statement();
    let mut total = 0;
    loop {
        let done = sqlx::query(&statement)
            .bind(interval(age))
            .execute(pool)
            .await?
            .rows_affected();
        total += done;
        if done < BATCH as u64 {
            return Ok(total);
        }
    }
}

fn interval(duration: Duration) -> PgInterval {
    PgInterval {
        months: 0,
        days: 0,
        microseconds: i64::try_from(duration.as_micros()).unwrap_or(i64::MAX),
    }
}
