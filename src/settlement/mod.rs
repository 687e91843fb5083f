//! Settlement import (issue 20): finance compares our ledger with a provider's settlement or
//! operations report.
//!
//! - [`mapping`]: how a provider's CSV maps to report rows (set per provider in configuration;
//!   the shipped mappings are assumed, no column specification being available offline), and the
//!   header check that refuses a file the mapping does not describe, naming the differences;
//! - [`matching`]: the comparison, pure: every row against our payments and refunds, and our
//!   final payments of the report's period against the rows;
//! - [`import`]: one import, idempotent by the file's hash, stored with its mismatches.
//!
//! Invariant: an import changes nothing in the ledger; it only reports.

pub mod import;
pub mod mapping;
pub mod matching;

pub use mapping::{Mapping, Mappings};
