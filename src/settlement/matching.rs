//! The comparison of a provider's report with our ledger. Pure: it takes the rows and our
//! records and lists every disagreement, so it is tested without a database.
//!
//! Rows are matched by the payment id (our id, which both providers carry as the order
//! reference) and, for refunds, by the reference the report gives: our refund id or the provider's
//! request id we recorded for it. The kinds of mismatch:
//! - `missing_in_ledger`: the report has an operation we do not;
//! - `missing_in_report`: a payment or a refund that succeeded with us within the report's dates
//!   (UTC) that the report does not have;
//! - `amount_differs`, `currency_differs`, `status_differs`: the same operation, told differently;
//! - `refunded_total_differs`: a payment's succeeded refunds within the report's dates do not add
//!   up to the report's (a refund's amount counts as positive whatever its sign in the report).

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
    pub final_at: Option<DateTime<Utc>>,
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

/// Every disagreement between `rows` and our `payments` and `refunds`, the report covering
/// `period` (UTC dates, inclusive; None: no date of ours is expected in it).
pub fn compare(
    rows: &[ReportRow],
    payments: &[OurPayment],
    refunds: &[OurRefund],
    period: Option<(NaiveDate, NaiveDate)>,
) -> Vec<Mismatch> {
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
                let amount = row.amount_minor.abs();
                if row.succeeded {
                    *refunded_by_report.entry(&row.payment_id).or_default() += amount;
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
                if amount != ours.amount_minor {
                    push(
                        "amount_differs",
                        &row.payment_id,
                        Some(&ours.refund_id),
                        line,
                        format!("report {amount}, ledger {}", ours.amount_minor),
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
    // What we hold as done within the report's dates that the report does not have.
    let within = |at: Option<DateTime<Utc>>| match (period, at) {
        (Some((from, to)), Some(at)) => (from..=to).contains(&at.date_naive()),
        _ => false,
    };
    for ours in payments {
        if ours.status == "succeeded" && within(ours.final_at) && !reported_sales.contains(ours.payment_id.as_str()) {
            push(
                "missing_in_report",
                &ours.payment_id,
                None,
                None,
                format!("a sale of {} {}, succeeded", ours.amount_minor, ours.currency.trim()),
            );
        }
    }
    let mut refunded_by_us: BTreeMap<&str, i64> = BTreeMap::new();
    for ours in refunds.iter().filter(|r| r.status == "succeeded" && within(r.final_at)) {
        *refunded_by_us.entry(&ours.payment_id).or_default() += ours.amount_minor;
        if !reported_refunds.contains(ours.refund_id.as_str()) {
            push(
                "missing_in_report",
                &ours.payment_id,
                Some(&ours.refund_id),
                None,
                format!("a refund of {}, succeeded", ours.amount_minor),
            );
        }
    }
    // The refunded totals of every payment either side refunded within the dates.
    let refunded: BTreeSet<&str> = refunded_by_report
        .keys()
        .chain(refunded_by_us.keys())
        .copied()
        .collect();
    for payment_id in refunded {
        let reported = refunded_by_report.get(payment_id).copied().unwrap_or(0);
        let ours = refunded_by_us.get(payment_id).copied().unwrap_or(0);
        if reported != ours {
            push(
                "refunded_total_differs",
                payment_id,
                None,
                None,
                format!("report {reported}, ledger {ours}"),
            );
        }
    }
    mismatches
}

/// The first and last dates of the report's rows, if it has any: its period when none is given.
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
            final_at: Some(day(2).and_hms_opt(11, 0, 0).unwrap().and_utc()),
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
        assert_eq!(compare(&rows, &ours, &refunds, period(&rows)), []);
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
        let kinds: Vec<(String, String)> = compare(&rows, &ours, &[], period(&rows))
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
    fn a_refund_of_a_later_month_is_no_mismatch_of_this_one() {
        let rows = [row(2, "p-1", Operation::Sale, 15_000, None)];
        let ours = [payment("p-1", 15_000, 5_000)];
        let mut later = refund("rf-1", "p-1", 5_000, "req-1");
        later.final_at = Some(day(20).and_hms_opt(9, 0, 0).unwrap().and_utc());
        assert_eq!(compare(&rows, &ours, &[later], period(&rows)), []);
        // A refund row with its amount signed negative is the same refund.
        let rows = [
            row(2, "p-1", Operation::Sale, 15_000, None),
            row(3, "p-1", Operation::Refund, -5_000, Some("req-1")),
        ];
        assert_eq!(
            compare(&rows, &ours, &[refund("rf-1", "p-1", 5_000, "req-1")], period(&rows)),
            []
        );
    }

    #[test]
    fn a_named_month_finds_a_payment_of_a_day_without_rows() {
        let rows = [row(2, "p-1", Operation::Sale, 15_000, None)];
        let mut late = payment("p-2", 9_000, 0);
        late.final_at = Some(day(30).and_hms_opt(23, 0, 0).unwrap().and_utc());
        let ours = [payment("p-1", 15_000, 0), late];
        assert_eq!(
            compare(&rows, &ours, &[], period(&rows)),
            [],
            "the rows' dates alone: day 2"
        );
        let month = Some((day(1), day(30)));
        let found: Vec<(String, String)> = compare(&rows, &ours, &[], month)
            .into_iter()
            .map(|m| (m.kind, m.payment_id))
            .collect();
        assert_eq!(found, [("missing_in_report".to_owned(), "p-2".to_owned())]);
    }

    #[test]
    fn a_succeeded_refund_the_report_lacks_is_missing_from_it() {
        let rows = [row(2, "p-1", Operation::Sale, 15_000, None)];
        let ours = [payment("p-1", 15_000, 5_000)];
        let refunds = [refund("rf-1", "p-1", 5_000, "req-1")];
        let kinds: Vec<String> = compare(&rows, &ours, &refunds, period(&rows))
            .into_iter()
            .map(|m| m.kind)
            .collect();
        assert_eq!(kinds, ["missing_in_report", "refunded_total_differs"]);
    }
}
