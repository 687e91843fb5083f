//! Every metric family the service exposes, with its kind and HELP text: the one list that
//! `describe_all` registers at start-up, the snapshot gauges render from, and the tests hold the
//! alert rules and the dashboard to (`deploy/`). A family missing here has no HELP line, which
//! `promtool check metrics` refuses.

/// How a family is exposed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// One metric family.
#[derive(Debug, Clone, Copy)]
pub struct Family {
    pub name: &'static str,
    pub kind: Kind,
    pub help: &'static str,
    /// Rendered from the database snapshot (`admin::metrics`), not through the recorder.
    pub snapshot: bool,
}

const fn family(name: &'static str, kind: Kind, help: &'static str) -> Family {
    Family {
        name,
        kind,
        help,
        snapshot: false,
    }
}

const fn snapshot(name: &'static str, help: &'static str) -> Family {
    Family {
        name,
        kind: Kind::Gauge,
        help,
        snapshot: true,
    }
}

use Kind::{Counter, Gauge, Histogram};

/// Every family, recorder ones first.
pub const FAMILIES: &[Family] = &[
    family("bnpl_build_info", Gauge, "Always 1; the version label names the running build."),
    family("bnpl_database_up", Gauge, "1 while PostgreSQL answers the health probe, else 0."),
    family("bnpl_broker_up", Gauge, "1 while a RabbitMQ connection is open, else 0."),
    family(
        "bnpl_sandbox_enabled",
        Gauge,
        "1 when the built-in provider sandbox plays the providers (a demo, never a deployment).",
    ),
    family(
        "bnpl_commands_total",
        Counter,
        "Commands taken from the intake queues, by command type and outcome (applied, duplicate, rejected, dead_lettered).",
    ),
    family(
        "bnpl_callbacks_total",
        Counter,
        "Provider callbacks received, by provider and outcome (applied, stale, forged, account_mismatch, ...).",
    ),
    family(
        "bnpl_callback_secrets_total",
        Counter,
        "Verified callbacks by provider, account and the secret that verified them (current, or previous during a rotation).",
    ),
    family(
        "bnpl_callback_senders_blocked_total",
        Counter,
        "Senders blocked for sending too many callbacks that failed verification.",
    ),
    family(
        "bnpl_callback_senders_untracked_total",
        Counter,
        "Failed callbacks not tracked per sender because the sender table was full.",
    ),
    family(
        "bnpl_provider_calls_total",
        Counter,
        "HTTP calls to the providers, by provider, account, operation and outcome (answered, server_error, transport_error).",
    ),
    family(
        "bnpl_provider_call_duration_seconds",
        Histogram,
        "Duration of provider HTTP calls, by provider, account and operation.",
    ),
    family(
        "bnpl_circuit_transitions_total",
        Counter,
        "Circuit breaker changes this process wrote, by provider, account and new state (open, active).",
    ),
    family(
        "bnpl_group_commit_batches_total",
        Counter,
        "Transactions the group committers ran for units of work that arrived together (intake purchases, verified callbacks, job results).",
    ),
    family(
        "bnpl_group_commit_units_total",
        Counter,
        "Units of work in those transactions; divided by the batches, the mean batch size.",
    ),
    family(
        "bnpl_group_commit_conflict_retries_total",
        Counter,
        "Units run again alone after PostgreSQL failed them to resolve a conflict with another transaction (a deadlock's victim, a serialization failure).",
    ),
    family("bnpl_jobs_run_total", Counter, "Job runs, by job kind and outcome."),
    family("bnpl_events_published_total", Counter, "Events published to the events exchange."),
    family(
        "bnpl_dead_letters_published_total",
        Counter,
        "Commands published to the dead-letter queue.",
    ),
    family(
        "bnpl_relay_parked_total",
        Counter,
        "Outbox and dead-letter rows the broker cannot take, parked for an operator instead of retried.",
    ),
    family(
        "bnpl_refunds_dispatched_total",
        Counter,
        "Refunds sent to a provider as the head of their queue.",
    ),
    family("bnpl_broker_connections_total", Counter, "Connections opened to RabbitMQ."),
    family("bnpl_broker_connections_lost_total", Counter, "Connections to RabbitMQ that were lost."),
    family(
        "bnpl_http_requests_total",
        Counter,
        "HTTP requests served, by method, route template and status code.",
    ),
    family(
        "bnpl_http_request_duration_seconds",
        Histogram,
        "Duration of HTTP requests, by method and route template.",
    ),
    snapshot(
        "bnpl_status_checks_due",
        "Status checks due now and not yet run (database snapshot).",
    ),
    snapshot(
        "bnpl_status_checks_overdue",
        "Status checks due for over a minute and not yet run (database snapshot).",
    ),
    snapshot("bnpl_dead_letters", "Dead letters not purged (database snapshot)."),
    snapshot(
        "bnpl_payments_needs_review",
        "Payments waiting for an operator (database snapshot).",
    ),
    snapshot(
        "bnpl_refunds_needs_review",
        "Refunds waiting for an operator; each blocks its queue (database snapshot).",
    ),
    snapshot(
        "bnpl_outbox_unpublished",
        "Events committed but not yet published (database snapshot).",
    ),
    snapshot(
        "bnpl_outbox_lag_seconds",
        "Age of the oldest unpublished event; 0 when none waits (database snapshot).",
    ),
    snapshot(
        "bnpl_refund_queue_depth",
        "Refunds queued or in flight, by refund queue (database snapshot).",
    ),
    snapshot(
        "bnpl_refund_queue_head_age_seconds",
        "How long the head of a refund queue has been its head; no sample for a queue without a head (database snapshot).",
    ),
    snapshot(
        "bnpl_broker_queue_messages",
        "Messages ready in each of our RabbitMQ queues (snapshot).",
    ),
    snapshot(
        "bnpl_broker_queue_consumers",
        "Consumers of each of our RabbitMQ queues (snapshot).",
    ),
    snapshot(
        "bnpl_account_state",
        "1 for the state a provider account is in (active, paused, open, half_open), by provider and account; accounts never paused or opened have no sample (database snapshot).",
    ),
    snapshot(
        "bnpl_metrics_snapshot_age_seconds",
        "Age of the database snapshot the gauges above come from.",
    ),
];

/// The family of `name`.
pub fn find(name: &str) -> Option<&'static Family> {
    FAMILIES.iter().find(|family| family.name == name)
}

/// Counters exposed from the start (at 0), so "never happened" reads as 0, not as no sample.
const ZERO_AT_START: &[&str] = &[
    "bnpl_callback_senders_blocked_total",
    "bnpl_callback_senders_untracked_total",
    "bnpl_events_published_total",
    "bnpl_dead_letters_published_total",
    "bnpl_refunds_dispatched_total",
    "bnpl_broker_connections_total",
    "bnpl_broker_connections_lost_total",
    "bnpl_group_commit_batches_total",
    "bnpl_group_commit_units_total",
    "bnpl_group_commit_conflict_retries_total",
];

/// Registers the HELP text of every recorder family and the counters that start at 0
/// (idempotent).
pub fn describe_all() {
    for name in ZERO_AT_START {
        metrics::counter!(*name).increment(0);
    }
    for table in ["outbox", "dead_letters"] {
        metrics::counter!("bnpl_relay_parked_total", "table" => table).increment(0);
    }
    for family in FAMILIES.iter().filter(|family| !family.snapshot) {
        match family.kind {
            Kind::Counter => metrics::describe_counter!(family.name, family.help),
            Kind::Gauge => metrics::describe_gauge!(family.name, family.help),
            Kind::Histogram => {
                metrics::describe_histogram!(family.name, metrics::Unit::Seconds, family.help)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_conventional() {
        let mut names: Vec<&str> = FAMILIES.iter().map(|f| f.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), FAMILIES.len(), "a family is listed twice");
        for family in FAMILIES {
            assert!(family.name.starts_with("bnpl_"), "{}", family.name);
            assert_eq!(
                family.kind == Kind::Counter,
                family.name.ends_with("_total"),
                "{}",
                family.name
            );
            assert!(!family.help.is_empty() && !family.help.contains('\n'));
        }
    }
}
