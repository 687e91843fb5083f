//! Integration tests: one binary (design §3), a module per area. Every test talks to the real
//! PostgreSQL and RabbitMQ on this machine, in its own fresh database and under its own random
//! queue prefix, so tests run in parallel and leave nothing behind.

// Helpers outside #[test] functions fail loudly too: a broken fixture must stop the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod accounts;
mod admin;
mod aps_signers;
mod breaker;
mod broker_faults;
mod confirm_jobs;
mod contract;
#[cfg(feature = "failpoints")]
mod crash;
mod database_faults;
mod events;
mod external_payments;
mod first_jobs;
mod foundation;
mod group_commit;
mod group_commit_conflicts;
mod harness;
mod helpers;
mod hostile;
mod intake;
mod job_leases;
mod job_results;
mod key_rotation;
mod lock_order;
mod manual_refunds;
mod metrics;
mod observability;
mod outbox_wake;
mod payment_life;
mod processes;
mod publish_cli;
mod purchases_humm;
mod purchases_valu;
mod redelivery;
mod refund_balance;
mod refund_callbacks;
mod refund_create_lock;
mod refund_hand_off;
mod refund_queue_rules;
mod refunds;
mod refunds_parallel;
mod row_cache;
mod sandbox;
mod settlements;
mod sqlstate;
mod value_rules;
