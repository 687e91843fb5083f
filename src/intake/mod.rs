//! Command intake from `bnpl.purchases` and `bnpl.refunds` (contract §1–2).
//!
//! Every delivery ends in exactly one committed outcome before it is acked:
//! - undecodable, unknown or schema-failing commands are recorded, dead-lettered (the relay
//!   publishes them to `bnpl.dead` with `x-bnpl-reason` / `x-bnpl-detail`) and announced as
//!   `command.rejected`;
//! - business refusals are recorded and announced, not dead-lettered;
//! - accepted commands are stored with their first event and first jobs.
//!
//! A redelivery of a command whose outcome is already committed has no second effect.

mod bounds;
pub mod confirm;
pub mod dead_letter;
pub mod envelope;
pub mod purchase;
pub mod refund;
pub mod schema;

use crate::domain::FieldError;
use crate::flows::humm_sale::{HummSale, InlineSale};
use crate::flows::Services;
use crate::jobs::runner::execute_claimed;
use crate::messaging::consumer::{DeliveryHandler, Transient};
use crate::store::group_commit::GroupCommitter;
use crate::store::sqlstate::{self, Verdict};
use envelope::{CommandType, Decoded, Envelope, Malformed};
use lapin::message::Delivery;
use std::sync::Arc;
use tokio_util::task::TaskTracker;
use tracing::Instrument as _;

/// The most purchases one transaction stores.
const MAX_BATCH: usize = 32;

/// The intake consumers' handler.
pub struct IntakeHandler {
    services: Arc<Services>,
    /// Who may publish refund commands (contract §1 "Who may refund").
    refunders: refund::Refunders,
    /// Runs the humm sale right after the commit that created the payment (saves the runner's
    /// claim round trip); tracked so shutdown waits for it.
    humm_sale: Arc<HummSale>,
    tracker: TaskTracker,
    /// Purchases arriving together are stored in one transaction (design §1b).
    committer: GroupCommitter,
}

impl IntakeHandler {
    pub fn new(services: Arc<Services>, refunders: refund::Refunders, tracker: TaskTracker) -> Self {
        let humm_sale = Arc::new(HummSale {
            services: Arc::clone(&services),
        });
        // Two committers: one batch commits while the next fills up, on this machine's two cores.
        // A sibling of the job results' committer: units of one payment never run side by side.
        let committer = services.job_committer.sibling(2, MAX_BATCH);
        Self {
            services,
            refunders,
            humm_sale,
            tracker,
            committer,
        }
    }
}

/// What became of a command, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Applied,
    Duplicate,
    Rejected,
    DeadLettered,
}

impl Outcome {
    fn label(self) -> &'static str {
        match self {
            Outcome::Applied => "applied",
            Outcome::Duplicate => "duplicate",
            Outcome::Rejected => "rejected",
            Outcome::DeadLettered => "dead_lettered",
        }
    }
}

#[async_trait::async_trait]
impl DeliveryHandler for IntakeHandler {
    async fn handle(&self, delivery: &Delivery) -> Result<(), Transient> {
        let envelope = Envelope::from_delivery(delivery);
        // Every line logged while the command is handled names it (its ids are recorded once
        // decoded); the routing key is a label only when it is one of ours.
        let span = tracing::info_span!(
            "command",
            command = CommandType::parse(&envelope.routing_key).map_or("unknown", CommandType::as_str),
            message_id = envelope.message_id.as_deref(),
            payment_id = tracing::field::Empty,
            refund_id = tracing::field::Empty,
            provider = tracing::field::Empty
        );
        self.handle_in_span(&envelope).instrument(span).await
    }
}

impl IntakeHandler {
    async fn handle_in_span(&self, envelope: &Envelope) -> Result<(), Transient> {
        let outcome = match self.process(envelope).await {
            Ok(outcome) => outcome,
            // The database refused the command's own values: a bad command, rejected at once,
            // never retried as an outage (contract §7). A unique violation is a race with a
            // duplicate: the retry answers duplicate or conflict.
            Err(error) => match sqlstate::classify(&error) {
                Verdict::BadCommand(reason) => {
                    let malformed = Malformed {
                        code: "invalid",
                        detail: reason,
                        subject_id: envelope.decode().subject_id(),
                    };
                    dead(&self.services.pool, envelope, &malformed)
                        .await
                        .map_err(|error| Transient(error.into()))?
                }
                Verdict::Duplicate | Verdict::Transient => return Err(Transient(error.into())),
            },
        };
        // Only the five command types label the metric: any other routing key is `unknown`, so a
        // sender cannot grow the label's cardinality.
        let command = CommandType::parse(&envelope.routing_key).map_or("unknown", CommandType::as_str);
        tracing::info!(outcome = outcome.label(), "command handled");
        metrics::counter!("bnpl_commands_total", "command" => command, "outcome" => outcome.label()).increment(1);
        Ok(())
    }

    async fn process(&self, envelope: &Envelope) -> Result<Outcome, sqlx::Error> {
        let pool = &self.services.pool;
        let command = match envelope.decode() {
            Decoded::Malformed(malformed) => return dead(pool, envelope, &malformed).await,
            Decoded::Command(command) => command,
        };
        let span = tracing::Span::current();
        span.record(command.command_type.subject_field(), command.subject_id.as_str());
        if let Some(provider) = command
            .body
            .get("provider")
            .and_then(serde_json::Value::as_str)
            .filter(|provider| matches!(*provider, "humm" | "valu"))
        {
            span.record("provider", provider);
        }
        match command.command_type {
            CommandType::PurchaseCreate => {
                let (outcome, sale) = purchase::create(&self.services, &self.committer, envelope, &command).await?;
                if let Some((job, payment)) = sale {
                    let services = Arc::clone(&self.services);
                    let sale = InlineSale {
                        sale: Arc::clone(&self.humm_sale),
                        payment,
                    };
                    self.tracker.spawn(async move {
                        execute_claimed(&services.pool, &sale, &job, &services.leases).await;
                    });
                }
                Ok(outcome)
            }
            CommandType::PurchaseConfirm => confirm::confirm(&self.services, envelope, &command).await,
            CommandType::PurchaseResendOtp => confirm::resend_otp(&self.services, envelope, &command).await,
            CommandType::RefundCreate => refund::create(&self.services, &self.refunders, envelope, &command).await,
            CommandType::RefundCancel => refund::cancel(&self.services, &self.refunders, envelope, &command).await,
        }
    }
}

/// Checks a command as intake would before storing it (routing key, JSON, subject id, schema and
/// limits), without storing anything: for a dead letter an operator edits before replaying it.
/// Err is the reason intake would give, its field's JSON Pointer first.
pub fn check_command(routing_key: &str, body: &[u8]) -> Result<CommandType, String> {
    use crate::flows::purchase_create::PurchaseCreate;
    use crate::flows::refund_create::RefundCreate;
    let command = match Envelope::unsent(routing_key, body.to_vec()).decode() {
        Decoded::Malformed(malformed) => return Err(malformed.detail),
        Decoded::Command(command) => command,
    };
    let checked = match command.command_type {
        CommandType::PurchaseCreate => schema::parse::<PurchaseCreate>(&command.body).map(drop),
        CommandType::RefundCreate => schema::parse::<RefundCreate>(&command.body).map(drop),
        CommandType::PurchaseConfirm => schema::parse::<confirm::Confirm>(&command.body).map(drop),
        CommandType::PurchaseResendOtp => schema::parse::<confirm::ResendOtp>(&command.body).map(drop),
        CommandType::RefundCancel => schema::parse::<refund::RefundCancel>(&command.body).map(drop),
    };
    checked
        .map(|()| command.command_type)
        .map_err(|error| error.to_string())
}

/// Dead-letters a command that cannot be processed at all.
pub(crate) async fn dead(
    pool: &sqlx::PgPool,
    envelope: &Envelope,
    malformed: &Malformed,
) -> Result<Outcome, sqlx::Error> {
    tracing::warn!(command = %envelope.routing_key, reason = malformed.code, detail = %malformed.detail, "command dead-lettered");
    dead_letter::record(pool, envelope, malformed).await?;
    Ok(Outcome::DeadLettered)
}

/// Dead-letters a command whose body does not match its type's schema or breaks a limit (a
/// missing, mistyped or oversized field): it cannot be processed at all (contract §1, §7). The
/// reason starts with the field's JSON Pointer.
pub(crate) async fn invalid(
    pool: &sqlx::PgPool,
    envelope: &Envelope,
    command: &envelope::ParsedCommand,
    error: FieldError,
) -> Result<Outcome, sqlx::Error> {
    let malformed = Malformed {
        code: "invalid",
        detail: error.to_string(),
        subject_id: Some(command.subject_id.clone()),
    };
    dead(pool, envelope, &malformed).await
}
