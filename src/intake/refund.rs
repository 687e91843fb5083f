//! `refund.create` and `refund.cancel` at intake: only users on the refund allow-list (the AMQP
//! `user_id`, which RabbitMQ checks against the publishing connection) may issue them; the rest is
//! `flows::refund_create`, in one transaction with the command's record.

use super::dead_letter;
use super::envelope::{Envelope, ParsedCommand};
use super::{invalid, schema, Outcome};
use crate::flows::refund_create::{self, Cancelled, RefundCreate, Stored};
use crate::flows::Services;
use crate::store::commands::{self, CommandOutcome, NewCommand};

pub async fn create(
    services: &Services,
    refunders: &Refunders,
    envelope: &Envelope,
    command: &ParsedCommand,
) -> Result<Outcome, sqlx::Error> {
    let body: RefundCreate = match schema::parse(&command.body) {
        Ok(body) => body,
        Err(error) => return invalid(&services.pool, envelope, command, error).await,
    };
    let Some(user) = refunders.user(envelope) else {
        return forbid(services, envelope, command).await;
    };
    let mut tx = services.pool.begin().await?;
    let outcome = match refund_create::store(&mut tx, services, &body, user, envelope.origin()).await? {
        Stored::Queued(_) => {
            record(&mut tx, envelope, command, CommandOutcome::Applied).await?;
            Outcome::Applied
        }
        Stored::Duplicate => {
            record(&mut tx, envelope, command, CommandOutcome::Duplicate).await?;
            Outcome::Duplicate
        }
        Stored::Refused(refusal) => {
            dead_letter::refuse_in(&mut tx, envelope, command, refusal.code, &refusal.message).await?;
            Outcome::Rejected
        }
    };
    tx.commit().await?;
    Ok(outcome)
}

pub async fn cancel(
    services: &Services,
    refunders: &Refunders,
    envelope: &Envelope,
    command: &ParsedCommand,
) -> Result<Outcome, sqlx::Error> {
    let Some(user) = refunders.user(envelope) else {
        return forbid(services, envelope, command).await;
    };
    let mut tx = services.pool.begin().await?;
    let outcome = match refund_create::cancel(&mut tx, &command.subject_id, user).await? {
        Ok(Cancelled::Now) => {
            record(&mut tx, envelope, command, CommandOutcome::Applied).await?;
            Outcome::Applied
        }
        // A duplicate, not a second application: the applied-once index would refuse a second
        // `applied` row for the same body, forever (a redelivery after a crash before the ack).
        Ok(Cancelled::Already) => {
            record(&mut tx, envelope, command, CommandOutcome::Duplicate).await?;
            Outcome::Duplicate
        }
        Err(refusal) => {
            dead_letter::refuse_in(&mut tx, envelope, command, refusal.code, &refusal.message).await?;
            Outcome::Rejected
        }
    };
    tx.commit().await?;
    Ok(outcome)
}

/// The `refund.cancel` body.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
#[schemars(title = "refund.cancel")]
pub struct RefundCancel {
    pub refund_id: crate::domain::RefundId,
}

/// Who may refund (contract §1 "Who may refund").
#[derive(Debug, Clone, Default)]
pub struct Refunders {
    /// AMQP users on the refund allow-list.
    pub allowed: Vec<String>,
    /// The orchestrator's own broker user. A dead letter replayed by ops is published under it
    /// (RabbitMQ accepts no other `user_id` from that connection) with the original user in a
    /// header; only a message of this user may speak for another, so a header from anyone else
    /// is ignored.
    pub own_user: String,
}

impl Refunders {
    /// The user a refund command acts as, when that user is on the allow-list.
    fn user<'a>(&self, envelope: &'a Envelope) -> Option<&'a str> {
        let publisher = envelope.user_id.as_deref()?;
        let user = match &envelope.replay {
            // A replay keeps its original user, and one that had none stays without.
            Some(replay) if publisher == self.own_user => replay.original_user_id.as_deref()?,
            _ => publisher,
        };
        self.allowed.iter().any(|allowed| allowed == user).then_some(user)
    }
}

async fn forbid(services: &Services, envelope: &Envelope, command: &ParsedCommand) -> Result<Outcome, sqlx::Error> {
    let message = match &envelope.user_id {
        Some(user) => format!("user {user:?} may not issue refunds"),
        None => "refund commands must carry the AMQP user_id of an allowed user".to_owned(),
    };
    dead_letter::refuse(&services.pool, envelope, command, "forbidden", &message).await?;
    Ok(Outcome::Rejected)
}

async fn record(
    tx: &mut sqlx::PgConnection,
    envelope: &Envelope,
    command: &ParsedCommand,
    outcome: CommandOutcome,
) -> Result<(), sqlx::Error> {
    // A refund is applied once per refund_id, which the refunds table enforces; the body hash
    // plus the outcome keeps repeated cancels of one refund apart from its create.
    let hash = format!("{}:{}", envelope.body_hash(), outcome.as_str());
    commands::insert(
        tx,
        &NewCommand {
            command_type: command.command_type.as_str(),
            subject_id: Some(&command.subject_id),
            envelope,
            body_hash: &hash,
            outcome,
            reason_code: None,
            reason_message: None,
        },
    )
    .await
    .map(|_| ())
}
