//! `purchase.create` at intake: schema (dead letter when it fails), provider rules (business
//! refusal), then one transaction that stores the command and the payment (or recognises a
//! duplicate or a conflict).

use super::dead_letter;
use super::envelope::{Envelope, ParsedCommand};
use super::{invalid, schema, Outcome};
use crate::flows::purchase_create::{self, PurchaseCreate, Rejection, Stored};
use crate::flows::Services;
use crate::store::commands::{self, CommandOutcome, NewCommand};
use crate::store::jobs::ClaimedJob;
use crate::store::payments::PaymentRow;

/// Stores the command; returns its outcome and, for a humm Gate purchase, the sale job this
/// transaction claimed (with the payment it created), to run right after the commit.
pub async fn create(
    services: &Services,
    envelope: &Envelope,
    command: &ParsedCommand,
) -> Result<(Outcome, Option<(ClaimedJob, PaymentRow)>), sqlx::Error> {
    let body: PurchaseCreate = match schema::parse(&command.body) {
        Ok(body) => body,
        Err(error) => return Ok((invalid(&services.pool, envelope, command, error).await?, None)),
    };
    let validated = match purchase_create::validate(body, &services.accounts) {
        Ok(validated) => validated,
        Err(Rejection::Invalid(error)) => return Ok((invalid(&services.pool, envelope, command, error).await?, None)),
        Err(Rejection::Refused(refusal)) => {
            dead_letter::refuse(&services.pool, envelope, command, refusal.code, &refusal.message).await?;
            return Ok((Outcome::Rejected, None));
        }
    };
    let hash = purchase_create::canonical_hash(&command.body);
    let mut tx = services.pool.begin().await?;
    let mut inline = None;
    let stored = purchase_create::store(&mut tx, services, &validated, &hash, envelope.origin()).await?;
    let (outcome, recorded) = match stored {
        Stored::Created(payment, job) => {
            inline = job.map(|job| (job, *payment));
            (Outcome::Applied, CommandOutcome::Applied)
        }
        Stored::Duplicate => (Outcome::Duplicate, CommandOutcome::Duplicate),
        Stored::Conflict => {
            let message = "payment_id is already used by a different purchase";
            dead_letter::refuse_in(&mut tx, envelope, command, "conflict", message).await?;
            tx.commit().await?;
            return Ok((Outcome::Rejected, None));
        }
    };
    commands::insert(
        &mut tx,
        &NewCommand {
            command_type: command.command_type.as_str(),
            subject_id: Some(&command.subject_id),
            envelope,
            body_hash: &envelope.body_hash(),
            outcome: recorded,
            reason_code: None,
            reason_message: None,
        },
    )
    .await?;
    tx.commit().await?;
    Ok((outcome, inline))
}
