//! A provider report's columns, and reading a report with them.
//!
//! Invariants: the file's header must be exactly the mapping's (same names, any order), else the
//! file is refused naming what is missing and what is unexpected; every row either reads fully or
//! the file is refused naming the line and the column; amounts are read as decimal major units
//! with at most two decimals (GBP and EGP both have two) into integer minor units, never floats.

use chrono::NaiveDate;
use serde::Deserialize;
use std::collections::BTreeSet;

/// The mappings of both providers (configuration `[settlements.humm]`, `[settlements.valu]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Mappings {
    pub humm: Mapping,
    pub valu: Mapping,
}

impl Default for Mappings {
    fn default() -> Self {
        Mappings {
            humm: Mapping::ecommpay_operations(),
            valu: Mapping::aps_transactions(),
        }
    }
}

impl Mappings {
    pub fn of(&self, provider: crate::domain::Provider) -> &Mapping {
        match provider {
            crate::domain::Provider::Humm => &self.humm,
            crate::domain::Provider::Valu => &self.valu,
        }
    }
}

/// How one provider's report reads.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Mapping {
    /// What the mapping is, for people (and whether it is assumed).
    pub name: String,
    /// Every column of the file, in any order.
    pub header: Vec<String>,
    pub date: String,
    pub payment_id: String,
    pub operation_type: String,
    pub status: String,
    pub amount: String,
    pub currency: String,
    /// The refund's reference: our refund id or the provider's request id for it.
    pub refund_reference: String,
    /// `operation_type` values of a sale and of a refund (others are ignored).
    pub sale_types: Vec<String>,
    pub refund_types: Vec<String>,
    /// `status` values meaning the operation went through.
    pub success_statuses: Vec<String>,
}

impl Mapping {
    /// ecommpay's operations export from its dashboard. ASSUMED: no column specification is
    /// available offline.
    pub fn ecommpay_operations() -> Self {
        Mapping {
            name: "ecommpay operations export (assumed columns)".to_owned(),
            header: [
                "Date",
                "Payment ID",
                "Operation Type",
                "Operation Status",
                "Amount",
                "Currency",
                "Operation Request ID",
            ]
            .map(str::to_owned)
            .to_vec(),
            date: "Date".to_owned(),
            payment_id: "Payment ID".to_owned(),
            operation_type: "Operation Type".to_owned(),
            status: "Operation Status".to_owned(),
            amount: "Amount".to_owned(),
            currency: "Currency".to_owned(),
            refund_reference: "Operation Request ID".to_owned(),
            sale_types: vec!["sale".to_owned()],
            refund_types: vec!["refund".to_owned(), "reversal".to_owned()],
            success_statuses: vec!["success".to_owned()],
        }
    }

    /// Amazon Payment Services' transactions report. ASSUMED: no column specification is
    /// available offline.
    pub fn aps_transactions() -> Self {
        Mapping {
            name: "APS transactions report (assumed columns)".to_owned(),
            header: [
                "Date",
                "Merchant Reference",
                "Operation",
                "Status",
                "Amount",
                "Currency",
                "Maintenance Reference",
            ]
            .map(str::to_owned)
            .to_vec(),
            date: "Date".to_owned(),
            payment_id: "Merchant Reference".to_owned(),
            operation_type: "Operation".to_owned(),
            status: "Status".to_owned(),
            amount: "Amount".to_owned(),
            currency: "Currency".to_owned(),
            refund_reference: "Maintenance Reference".to_owned(),
            sale_types: vec!["PURCHASE".to_owned()],
            refund_types: vec!["REFUND".to_owned()],
            success_statuses: vec!["Success".to_owned()],
        }
    }
}

/// What an operation in the report is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operation {
    Sale,
    Refund,
    Other,
}

/// One row of a report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportRow {
    /// The line in the file (the header is line 1).
    pub line: usize,
    pub date: NaiveDate,
    pub payment_id: String,
    pub operation: Operation,
    pub succeeded: bool,
    pub status: String,
    pub amount_minor: i64,
    pub currency: String,
    pub refund_reference: Option<String>,
}

/// Why a report was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReportError {
    #[error("the header differs from the mapping {mapping:?}: missing {missing:?}, unexpected {unexpected:?}")]
    Header {
        mapping: String,
        missing: Vec<String>,
        unexpected: Vec<String>,
    },
    #[error("line {line}, column {column:?}: {problem}")]
    Cell {
        line: usize,
        column: String,
        problem: String,
    },
    #[error("not a CSV file: {0}")]
    Csv(String),
}

/// The longest report taken, in rows.
pub const MAX_ROWS: usize = 200_000;

impl Mapping {
    /// Reads `bytes` (CSV with a header line) into rows.
    pub fn read(&self, bytes: &[u8]) -> Result<Vec<ReportRow>, ReportError> {
        let mut reader = csv::ReaderBuilder::new().has_headers(true).from_reader(bytes);
        let header: Vec<String> = reader
            .headers()
            .map_err(|error| ReportError::Csv(error.to_string()))?
            .iter()
            .map(|name| name.trim().to_owned())
            .collect();
        self.check_header(&header)?;
        let index = |column: &str| header.iter().position(|name| name == column);
        let columns = [
            &self.date,
            &self.payment_id,
            &self.operation_type,
            &self.status,
            &self.amount,
            &self.currency,
            &self.refund_reference,
        ]
        .map(|column| index(column).unwrap_or(usize::MAX));
        let mut rows = Vec::new();
        for (number, record) in reader.records().enumerate() {
            let line = number + 2;
            if rows.len() >= MAX_ROWS {
                return Err(ReportError::Csv(format!("more than {MAX_ROWS} rows")));
            }
            let record = record.map_err(|error| ReportError::Csv(error.to_string()))?;
            let cell = |at: usize, column: &str| -> Result<String, ReportError> {
                record
                    .get(at)
                    .map(|value| value.trim().to_owned())
                    .ok_or_else(|| ReportError::Cell {
                        line,
                        column: column.to_owned(),
                        problem: "missing".to_owned(),
                    })
            };
            let bad = |column: &str, problem: String| ReportError::Cell {
                line,
                column: column.to_owned(),
                problem,
            };
            let date_text = cell(columns[0], &self.date)?;
            let date = date_text
                .get(..10)
                .and_then(|day| NaiveDate::parse_from_str(day, "%Y-%m-%d").ok())
                .ok_or_else(|| {
                    bad(
                        &self.date,
                        format!("not a date: {}", crate::domain::limits::quote(&date_text)),
                    )
                })?;
            let kind = cell(columns[2], &self.operation_type)?;
            let operation = if self.sale_types.iter().any(|t| t.eq_ignore_ascii_case(&kind)) {
                Operation::Sale
            } else if self.refund_types.iter().any(|t| t.eq_ignore_ascii_case(&kind)) {
                Operation::Refund
            } else {
                Operation::Other
            };
            let status = cell(columns[3], &self.status)?;
            let amount_text = cell(columns[4], &self.amount)?;
            let amount_minor = minor_units(&amount_text).ok_or_else(|| {
                bad(
                    &self.amount,
                    format!(
                        "not an amount with at most two decimals: {}",
                        crate::domain::limits::quote(&amount_text)
                    ),
                )
            })?;
            let reference = cell(columns[6], &self.refund_reference)?;
            rows.push(ReportRow {
                line,
                date,
                payment_id: cell(columns[1], &self.payment_id)?,
                operation,
                succeeded: self.success_statuses.iter().any(|s| s.eq_ignore_ascii_case(&status)),
                status,
                amount_minor,
                currency: cell(columns[5], &self.currency)?.to_ascii_uppercase(),
                refund_reference: Some(reference).filter(|r| !r.is_empty()),
            });
        }
        Ok(rows)
    }

    fn check_header(&self, header: &[String]) -> Result<(), ReportError> {
        let expected: BTreeSet<&str> = self.header.iter().map(String::as_str).collect();
        let found: BTreeSet<&str> = header.iter().map(String::as_str).collect();
        let missing: Vec<String> = expected.difference(&found).map(|s| (*s).to_owned()).collect();
        let unexpected: Vec<String> = found.difference(&expected).map(|s| (*s).to_owned()).collect();
        if missing.is_empty() && unexpected.is_empty() && found.len() == header.len() {
            Ok(())
        } else {
            Err(ReportError::Header {
                mapping: self.name.clone(),
                missing,
                unexpected,
            })
        }
    }
}

/// `150.00`, `150.5`, `150` or `-12.30` as minor units (two decimals); None otherwise.
fn minor_units(text: &str) -> Option<i64> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    let valid = |part: &str| part.chars().all(|c| c.is_ascii_digit());
    if whole.is_empty() || !valid(whole) || !valid(fraction) || fraction.len() > 2 {
        return None;
    }
    let fraction: i64 = format!("{fraction:0<2}").parse().ok()?;
    let minor = whole.parse::<i64>().ok()?.checked_mul(100)?.checked_add(fraction)?;
    Some(if negative { -minor } else { minor })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "Date,Payment ID,Operation Type,Operation Status,Amount,Currency,Operation Request ID";

    #[test]
    fn amounts_read_as_minor_units() {
        assert_eq!(minor_units("150.00"), Some(15_000));
        assert_eq!(minor_units("150.5"), Some(15_050));
        assert_eq!(minor_units("150"), Some(15_000));
        assert_eq!(minor_units("-12.30"), Some(-1_230));
        assert_eq!(minor_units("1.005"), None);
        assert_eq!(minor_units("1,00"), None);
        assert_eq!(minor_units(""), None);
        assert_eq!(minor_units("99999999999999999999"), None);
    }

    #[test]
    fn a_report_reads_with_its_mapping() {
        let file = format!(
            "{HEADER}\n2026-11-02T10:00:00Z,ord-1,sale,success,150.00,GBP,\n2026-11-03,ord-1,refund,success,50.00,gbp,req-9\n2026-11-03,ord-1,auth,success,1.00,GBP,\n"
        );
        let rows = Mapping::ecommpay_operations().read(file.as_bytes()).unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0].operation, Operation::Sale);
        assert_eq!(rows[0].amount_minor, 15_000);
        assert_eq!(rows[0].refund_reference, None);
        assert_eq!(rows[1].operation, Operation::Refund);
        assert_eq!(rows[1].currency, "GBP");
        assert_eq!(rows[1].refund_reference.as_deref(), Some("req-9"));
        assert_eq!(rows[2].operation, Operation::Other);
        assert!(rows[0].succeeded);
    }

    #[test]
    fn a_header_that_differs_is_refused_naming_the_differences() {
        let file = "Date,Payment ID,Operation Type,Status,Amount,Currency,Operation Request ID,Fee\n";
        match Mapping::ecommpay_operations().read(file.as_bytes()) {
            Err(ReportError::Header {
                missing, unexpected, ..
            }) => {
                assert_eq!(missing, ["Operation Status"]);
                assert_eq!(unexpected, ["Fee", "Status"]);
            }
            other => panic!("{other:?}"),
        }
        let bad_amount = format!("{HEADER}\n2026-11-02,ord-1,sale,success,15O.00,GBP,\n");
        let error = Mapping::ecommpay_operations().read(bad_amount.as_bytes()).unwrap_err();
        assert!(error.to_string().starts_with("line 2, column \"Amount\""), "{error}");
    }
}
