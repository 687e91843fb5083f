//! The reconciliation report for finance: one row per payment and per refund of a period, with
//! provider references, amounts (integer minor units and currency), status and timestamps, then
//! totals per provider and currency. Served as CSV by the admin API and printed by the CLI.
//!
//! Invariants: built only from amounts, references, states and timestamps, which retention never
//! touches, so purging personal data leaves the report unchanged; rows come in a stable order
//! (by creation time, then id), so two runs over the same data are byte-identical.

use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::{FromRow, PgPool};
use std::collections::BTreeMap;

/// The report's columns, in order.
pub const HEADER: [&str; 12] = [
    "record_type",
    "id",
    "payment_id",
    "provider",
    "account",
    "provider_reference",
    "amount_minor",
    "currency",
    "status",
    "created_at",
    "final_at",
    "count",
];

/// A payment or refund row of the report.
#[derive(Debug, Clone, FromRow, serde::Serialize)]
pub struct Line {
    pub record_type: String,
    pub id: String,
    pub payment_id: String,
    pub provider: String,
    pub account: String,
    pub provider_reference: Option<String>,
    pub amount_minor: i64,
    pub currency: String,
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub final_at: Option<DateTime<Utc>>,
}

/// Which records a report covers: created in `[from, to)`, optionally of one provider.
#[derive(Debug, Clone)]
pub struct Period {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub provider: Option<String>,
}

/// The payments and refunds of `period`, payments first, each by creation time.
pub async fn reconciliation(pool: &PgPool, period: &Period) -> Result<Vec<Line>, sqlx::Error> {
    sqlx::query_as(
        "SELECT * FROM (
           SELECT 'payment' AS record_type, p.payment_id AS id, p.payment_id, p.provider, p.account,
                  p.provider_reference, p.amount_minor, trim(p.currency) AS currency, p.status,
                  p.created_at, p.final_at
           FROM payments p
           WHERE p.created_at >= $1 AND p.created_at < $2 AND ($3::text IS NULL OR p.provider = $3)
           UNION ALL
           SELECT 'refund', r.refund_id, r.payment_id, p.provider, p.account,
                  r.provider_reference, r.amount_minor, trim(r.currency), r.status,
                  r.created_at, r.final_at
           FROM refunds r JOIN payments p ON p.payment_id = r.payment_id
           WHERE r.created_at >= $1 AND r.created_at < $2 AND ($3::text IS NULL OR p.provider = $3)
         ) lines
         ORDER BY record_type, created_at, id",
    )
    .bind(period.from)
    .bind(period.to)
    .bind(period.provider.as_deref())
    .fetch_all(pool)
    .await
}

/// A cell a spreadsheet will not run as a formula: values that came from a provider (its file,
/// its answers) get a `'` in front of a leading `=`, `+`, `-`, `@`, tab or carriage return.
pub fn inert(value: &str) -> String {
    if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_owned()
    }
}

/// Renders the lines and their totals as CSV: per provider and currency, the succeeded payments,
/// the succeeded refunds, and the net of the two (all in minor units, with counts).
pub fn to_csv(lines: &[Line]) -> Result<Vec<u8>, csv::Error> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(HEADER)?;
    // (provider, currency) -> (payments total, payments count, refunds total, refunds count)
    let mut totals: BTreeMap<(String, String), (i64, i64, i64, i64)> = BTreeMap::new();
    for line in lines {
        writer.write_record([
            line.record_type.as_str(),
            &line.id,
            &line.payment_id,
            &line.provider,
            &line.account,
            &inert(line.provider_reference.as_deref().unwrap_or("")),
            &line.amount_minor.to_string(),
            &line.currency,
            &line.status,
            &timestamp(line.created_at),
            &line.final_at.map(timestamp).unwrap_or_default(),
            "",
        ])?;
        if line.status == "succeeded" {
            let entry = totals
                .entry((line.provider.clone(), line.currency.clone()))
                .or_default();
            if line.record_type == "payment" {
                entry.0 = entry.0.saturating_add(line.amount_minor);
                entry.1 += 1;
            } else {
                entry.2 = entry.2.saturating_add(line.amount_minor);
                entry.3 += 1;
            }
        }
    }
    for ((provider, currency), (paid, paid_count, refunded, refunded_count)) in &totals {
        for (name, amount, count) in [
            ("payments_succeeded", *paid, *paid_count),
            ("refunds_succeeded", *refunded, *refunded_count),
            ("net", paid.saturating_sub(*refunded), paid_count + refunded_count),
        ] {
            writer.write_record([
                "total",
                name,
                "",
                provider,
                "",
                "",
                &amount.to_string(),
                currency,
                "",
                "",
                "",
                &count.to_string(),
            ])?;
        }
    }
    writer
        .into_inner()
        .map_err(|error| csv::Error::from(error.into_error()))
}

fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A provider reference is the provider's text: one that a spreadsheet would run as a formula
    /// is written inert, like the settlement mismatches' cells.
    #[test]
    fn a_provider_reference_is_never_a_formula() {
        let line = Line {
            record_type: "payment".into(),
            id: "ord-1".into(),
            payment_id: "ord-1".into(),
            provider: "humm".into(),
            account: "default".into(),
            provider_reference: Some("=HYPERLINK(\"http://x\")".into()),
            amount_minor: 100,
            currency: "GBP".into(),
            status: "succeeded".into(),
            created_at: Utc::now(),
            final_at: None,
        };
        let csv = String::from_utf8(to_csv(&[line]).unwrap()).unwrap();
        assert!(csv.contains("'=HYPERLINK"), "{csv}");
        assert_eq!(inert("-1"), "'-1");
        assert_eq!(inert("abc"), "abc");
    }
}
