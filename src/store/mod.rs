//! PostgreSQL: the source of truth (design §1). SQL lives here, one file per table family.
//!
//! - [`pool`]: connecting and migrating (`migrations/`, reversible, embedded in the binary).
//! - [`health`]: a monitor that tells every worker whether the database is reachable right now.
//! - [`commands`]: every command received and its outcome.
//! - [`jobs`]: durable jobs with leases and fencing tokens; [`first_jobs`]: a new payment's first
//!   jobs, written by the statement that creates it.
//! - [`payments`]: reading payments (changes are the ledger's: `crate::ledger`).
//! - [`refunds`]: reading refunds and queues, queue positions (changes are the ledger's).
//! - [`inbound_callbacks`]: every callback received.
//! - [`outbox`]: what the relay publishes (the ledger writes it); [`outbox_wake`]: how the relay
//!   hears of it.
//! - [`tokens`]: admin API tokens and dashboard sessions (hashed).
//! - [`reports`]: the reconciliation report; [`retention`]: purging personal data past its age.
//! - [`group_commit`]: units of work that arrive together share one transaction.
//! - [`sqlstate`]: whether a failed statement refused the command's values or met an outage.

pub mod account_states;
pub mod commands;
pub mod first_jobs;
pub mod group_commit;
pub mod health;
pub mod inbound_callbacks;
pub mod jobs;
pub mod outbox;
pub mod outbox_wake;
pub mod payments;
pub mod pool;
pub mod provider_answers;
pub mod refunds;
pub mod reports;
pub mod retention;
pub mod settlements;
pub mod sqlstate;
pub mod tokens;

pub use health::DatabaseMonitor;
pub use pool::{connect, create_database_if_missing, migrate, MIGRATOR};
