//! The comparison of a provider's report with our ledger. Pure: it takes the rows and our
//! records and lists every disagreement, so it is tested without a database.
//!
//! Rows are matched by the payment id (our id, which both providers carry as the order
//! reference) and, for refunds, by the reference the report gives: our refund id or the provider's
//! request id we recorded for it. The kinds of mismatch:
//! - `missing_in_ledger`: the report has an operation we do not;
//! - `missing_in_report`: a payment final and succeeded with us within the report's dates (or a
//!   succeeded refund of a reported payment) that the report does not have;
//! - `amount_differs`, `currency_differs`, `status_differs`: the same operation, told differently;
//! - `refunded_total_differs`: the report's succeeded refunds of a payment do not add up to ours.

use super::mapping::{Operation, ReportRow};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// One of our payments, as the comparison needs it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OurPayment {
    pub payment_id: String,
    pub amount_minor: i64,
    pub currency: String,
    pub status: String,
    pub refunded_minor: i64,
    pub final_at: Option<DateTime<Utc>>,
}

/// One of our refunds.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OurRefund {
    pub refund_id: String,
    pub payment_id: String,
    pub amount_minor: i64,
    pub status: String,
    pub provider_request_id: Option<String>,
}

/// A disagreement between the report and the ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Mismatch {
    pub kind: String,
    pub payment_id: String,
    pub refund_id: Option<String>,
    /// The report's line, when the mismatch comes from a row.
    pub line: Option<i64>,
    /// What each side says, for people.
    pub detail: String,
}

/// Every disagreement between `rows` and our `payments` and `refunds`.
pub fn compare(rows: &[ReportRow], payments: &[OurPayment], refunds: &[OurRefund]) -> Vec<Mismatch> {
    let payment_of: BTreeMap<&str, &OurPayment> = payments.iter().map(|p| (p.payment_id.as_str(), p)).collect();
    let mut mismatches = Vec::new();
    let mut reported_sales: BTreeSet<&str> = BTreeSet::new();
    let mut reported_refunds: BTreeSet<&str> = BTreeSet::new();
    let mut refunded_by_report: BTreeMap<&str, i64> = BTreeMap::new();
    let mut push = |kind: &str, payment_id: &str, refund_id: Option<&str>, line: Option<usize>, detail: String| {
        mismatches.push(Mismatch {
            kind: kind.to_owned(),
            payment_id: payment_id.to_owned(),
            refund_id: refund_id.map(str::to_owned),
            line: line.and_then(|l| i64::try_from(l).ok()),
            detail,
        });
    };
    for row in rows {
        let line = Some(row.line);
        match row.operation {
            Operation::Other => {}
            Operation::Sale => {
                reported_sales.insert(&row.payment_id);
                let Some(ours) = payment_of.get(row.payment_id.as_str()) else {
                    push(
                        "missing_in_ledger",
                        &row.payment_id,
                        None,
                        line,
                        format!("a sale of {} {} ({})", row.amount_minor, row.currency, row.status),
                    );
                    continue;
                };
                if row.amount_minor != ours.amount_minor {
                    push(
                        "amount_differs",
                        &row.payment_id,
                        None,
                        line,
                        format!("report {}, ledger {}", row.amount_minor, ours.amount_minor),
                    );
                }
                if !row.currency.eq_ignore_ascii_case(ours.currency.trim()) {
                    push(
                        "currency_differs",
                        &row.payment_id,
                        None,
                        line,
                        format!("report {}, ledger {}", row.currency, ours.currency.trim()),
                    );
                }
                if row.succeeded != (ours.status == "succeeded") {
                    push(
                        "status_differs",
                        &row.payment_id,
                        None,
                        line,
                        format!("report {}, ledger {}", row.status, ours.status),
                    );
                }
            }
            Operation::Refund => {
                if row.succeeded {
                    *refunded_by_report.entry(&row.payment_id).or_default() += row.amount_minor;
                }
                let reference = row.refund_reference.as_deref();
                let ours = refunds.iter().find(|r| {
                    r.payment_id == row.payment_id
                        && reference.is_some_and(|reference| {
                            r.refund_id == reference || r.provider_request_id.as_deref() == Some(reference)
                        })
                });
                let Some(ours) = ours else {
                    push(
                        "missing_in_ledger",
                        &row.payment_id,
                        reference,
                        line,
                        format!("a refund of {} {} ({})", row.amount_minor, row.currency, row.status),
                    );
                    continue;
                };
                reported_refunds.insert(&ours.refund_id);
                if row.amount_minor != ours.amount_minor {
                    push(
                        "amount_differs",
                        &row.payment_id,
                        Some(&ours.refund_id),
                        line,
                        format!("report {}, ledger {}", row.amount_minor, ours.amount_minor),
                    );
                }
                if row.succeeded != (ours.status == "succeeded") {
                    push(
                        "status_differs",
                        &row.payment_id,
                        Some(&ours.refund_id),
                        line,
                        format!("report {}, ledger {}", row.status, ours.status),
                    );
                }
            }
        }
    }
    // What we hold as done that the report does not: succeeded payments of its dates, and the
    // succeeded refunds of the payments it reports.
    let period = period(rows);
    for ours in payments {
        let in_period = match (period, ours.final_at) {
            (Some((from, to)), Some(at)) => (from..=to).contains(&at.date_naive()),
            _ => false,
        };
        if ours.status == "succeeded" && in_period && !reported_sales.contains(ours.payment_id.as_str()) {
            push(
                "missing_in_report",
                &ours.payment_id,
                None,
                None,
                format!("a sale of {} {}, succeeded", ours.amount_minor, ours.currency.trim()),
            );
        }
    }
    for ours in refunds {
        let payment_reported = reported_sales.contains(ours.payment_id.as_str());
        if ours.status == "succeeded" && payment_reported && !reported_refunds.contains(ours.refund_id.as_str()) {
            push(
                "missing_in_report",
                &ours.payment_id,
                Some(&ours.refund_id),
                None,
                format!("a refund of {}, succeeded", ours.amount_minor),
            );
        }
    }
    for payment_id in &reported_sales {
        let Some(ours) = payment_of.get(payment_id) else {
            continue;
        };
        let reported = refunded_by_report.get(payment_id).copied().unwrap_or(0);
        if reported != ours.refunded_minor {
            push(
                "refunded_total_differs",
                payment_id,
                None,
                None,
                format!("report {reported}, ledger {}", ours.refunded_minor),
            );
        }
    }
    mismatches
}

/// The first and last dates of the report, if it has rows.
pub fn period(rows: &[ReportRow]) -> Option<(NaiveDate, NaiveDate)> {
    let from = rows.iter().map(|row| row.date).min()?;
    let to = rows.iter().map(|row| row.date).max()?;
    Some((from, to))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, d).unwrap()
    }

    fn row(line: usize, payment_id: &str, operation: Operation, amount: i64, reference: Option<&str>) -> ReportRow {
        ReportRow {
            line,
            date: day(2),
            payment_id: payment_id.to_owned(),
            operation,
            succeeded: true,
            status: "success".to_owned(),
            amount_minor: amount,
            currency: "GBP".to_owned(),
            refund_reference: reference.map(str::to_owned),
        }
    }

    fn payment(payment_id: &str, amount: i64, refunded: i64) -> OurPayment {
        OurPayment {
            payment_id: payment_id.to_owned(),
            amount_minor: amount,
            currency: "GBP".to_owned(),
            status: "succeeded".to_owned(),
            refunded_minor: refunded,
            final_at: Some(day(2).and_hms_opt(10, 0, 0).unwrap().and_utc()),
        }
    }

    fn refund(refund_id: &str, payment_id: &str, amount: i64, request_id: &str) -> OurRefund {
        OurRefund {
            refund_id: refund_id.to_owned(),
            payment_id: payment_id.to_owned(),
            amount_minor: amount,
            status: "succeeded".to_owned(),
            provider_request_id: Some(request_id.to_owned()),
        }
    }

    #[test]
    fn a_clean_month_has_no_mismatch() {
        let rows = [
            row(2, "p-1", Operation::Sale, 15_000, None),
            row(3, "p-1", Operation::Refund, 5_000, Some("req-1")),
            row(4, "p-2", Operation::Sale, 9_000, None),
        ];
        let ours = [payment("p-1", 15_000, 5_000), payment("p-2", 9_000, 0)];
        let refunds = [refund("rf-1", "p-1", 5_000, "req-1")];
        assert_eq!(compare(&rows, &ours, &refunds), []);
    }

    #[test]
    fn each_disagreement_is_named_once() {
        let mut declined = row(4, "p-2", Operation::Sale, 9_000, None);
        declined.succeeded = false;
        declined.status = "decline".to_owned();
        let rows = [
            row(2, "p-1", Operation::Sale, 15_001, None),
            declined,
            row(5, "p-9", Operation::Sale, 100, None),
            row(6, "p-1", Operation::Refund, 5_000, Some("rf-unknown")),
        ];
        let ours = [
            payment("p-1", 15_000, 0),
            payment("p-2", 9_000, 0),
            payment("p-3", 1_000, 0),
        ];
        let kinds: Vec<(String, String)> = compare(&rows, &ours, &[])
            .into_iter()
            .map(|m| (m.kind, m.payment_id))
            .collect();
        assert_eq!(
            kinds,
            [
                ("amount_differs", "p-1"),
                ("status_differs", "p-2"),
                ("missing_in_ledger", "p-9"),
                ("missing_in_ledger", "p-1"),
                ("missing_in_report", "p-3"),
                ("refunded_total_differs", "p-1"),
            ]
            .map(|(k, p)| (k.to_owned(), p.to_owned()))
        );
    }

    #[test]
    fn a_succeeded_refund_the_report_lacks_is_missing_from_it() {
        let rows = [row(2, "p-1", Operation::Sale, 15_000, None)];
        let ours = [payment("p-1", 15_000, 5_000)];
        let refunds = [refund("rf-1", "p-1", 5_000, "req-1")];
        let kinds: Vec<String> = compare(&rows, &ours, &refunds).into_iter().map(|m| m.kind).collect();
        assert_eq!(kinds, ["missing_in_report", "refunded_total_differs"]);
    }
}
