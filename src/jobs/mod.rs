//! Durable background work (design §1): status checks, provider calls, expiries and refund
//! dispatch are rows in `jobs`, run by [`runner`] under a lease, one file per job kind.
//!
//! A job handler commits its effect and [`crate::store::jobs::complete`] in one transaction, so a
//! worker that lost its lease (fencing token mismatch) rolls back instead of committing twice.

pub mod backoff;
pub mod lease;
pub mod runner;

pub use lease::LeaseKeeper;
pub use runner::{JobHandler, JobResult, Registry, RunnerConfig};
