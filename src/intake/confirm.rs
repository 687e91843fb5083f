//! `purchase.confirm` and `purchase.resend_otp` (valU, contract §2): checked against the payment
//! under its row lock, then handed to a job in the same transaction as the command's record.
//!
//! The same confirm delivered twice has one effect: a confirm whose body was already applied is a
//! duplicate. A resend is an action each time it is asked for, so it is de-duplicated only by its
//! AMQP `message_id` (a redelivery of the same message), not by its body.

use super::dead_letter;
use super::envelope::{Envelope, ParsedCommand};
use super::{invalid, schema, Outcome};
use crate::domain::PaymentStatus;
use crate::flows::{schedule, Services};
use crate::store::commands::{self, CommandOutcome, NewCommand};
use crate::store::payments;
use serde::Deserialize;
use serde_json::json;

/// The `purchase.confirm` body (limits: `super::bounds`).
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[schemars(title = "purchase.confirm")]
pub struct Confirm {
    pub payment_id: crate::domain::PaymentId,
    /// The code valU sent the customer by SMS.
    #[schemars(length(min = 1, max = 12))]
    pub otp: String,
    /// A plan from the `action_required` event's `plans`.
    #[schemars(range(min = 1, max = 120))]
    pub tenure_months: u32,
}

/// The `purchase.resend_otp` body.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[schemars(title = "purchase.resend_otp")]
pub struct ResendOtp {
    pub payment_id: crate::domain::PaymentId,
}

pub async fn confirm(
    services: &Services,
    envelope: &Envelope,
    command: &ParsedCommand,
) -> Result<Outcome, sqlx::Error> {
    let body: Confirm = match schema::parse(&command.body) {
        Ok(body) => body,
        Err(error) => return invalid(&services.pool, envelope, command, error).await,
    };
    let hash = envelope.body_hash();
    let mut tx = services.pool.begin().await?;
    if commands::exists(
        &mut tx,
        command.command_type.as_str(),
        &hash,
        None,
        CommandOutcome::Applied,
    )
    .await?
    {
        record(&mut tx, envelope, command, &hash, CommandOutcome::Duplicate).await?;
        tx.commit().await?;
        return Ok(Outcome::Duplicate);
    }
    if let Some((code, message)) = refusal(&mut tx, &command.subject_id).await? {
        dead_letter::refuse_in(&mut tx, envelope, command, code, &message).await?;
        tx.commit().await?;
        return Ok(Outcome::Rejected);
    }
    let payload = json!({ "otp": body.otp, "tenure_months": body.tenure_months });
    if schedule::valu_confirm(&mut tx, &command.subject_id, &payload)
        .await?
        .is_none()
    {
        let message = "a confirmation of this payment is being processed";
        dead_letter::refuse_in(&mut tx, envelope, command, "confirmation_in_progress", message).await?;
        tx.commit().await?;
        return Ok(Outcome::Rejected);
    }
    record(&mut tx, envelope, command, &hash, CommandOutcome::Applied).await?;
    tx.commit().await?;
    Ok(Outcome::Applied)
}

pub async fn resend_otp(
    services: &Services,
    envelope: &Envelope,
    command: &ParsedCommand,
) -> Result<Outcome, sqlx::Error> {
    // Each resend is its own action; only a redelivery of the same message is the same resend.
    let hash = format!(
        "{}:{}",
        envelope.body_hash(),
        envelope
            .message_id
            .clone()
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
    );
    let mut tx = services.pool.begin().await?;
    if envelope.message_id.is_some()
        && commands::exists(
            &mut tx,
            command.command_type.as_str(),
            &hash,
            None,
            CommandOutcome::Applied,
        )
        .await?
    {
        // Kept like every command (contract §1), as the duplicate it is.
        record(&mut tx, envelope, command, &hash, CommandOutcome::Duplicate).await?;
        tx.commit().await?;
        return Ok(Outcome::Duplicate);
    }
    if let Some((code, message)) = refusal(&mut tx, &command.subject_id).await? {
        dead_letter::refuse_in(&mut tx, envelope, command, code, &message).await?;
        tx.commit().await?;
        return Ok(Outcome::Rejected);
    }
    schedule::valu_resend(&mut tx, &command.subject_id).await?;
    record(&mut tx, envelope, command, &hash, CommandOutcome::Applied).await?;
    tx.commit().await?;
    Ok(Outcome::Applied)
}

/// Why the payment cannot take a customer step now, if it cannot.
async fn refusal(tx: &mut sqlx::PgConnection, payment_id: &str) -> Result<Option<(&'static str, String)>, sqlx::Error> {
    let Some(row) = payments::lock(tx, payment_id).await? else {
        return Ok(Some(("unknown_payment", format!("no payment {payment_id:?}"))));
    };
    if row.provider != "valu" {
        return Ok(Some(("unsupported", "only valU payments take an OTP".to_owned())));
    }
    if row.status() != PaymentStatus::ActionRequired {
        return Ok(Some((
            "not_awaiting_confirmation",
            format!("the payment is {}", row.status),
        )));
    }
    Ok(None)
}

async fn record(
    tx: &mut sqlx::PgConnection,
    envelope: &Envelope,
    command: &ParsedCommand,
    hash: &str,
    outcome: CommandOutcome,
) -> Result<(), sqlx::Error> {
    commands::insert(
        tx,
        &NewCommand {
            command_type: command.command_type.as_str(),
            subject_id: Some(&command.subject_id),
            envelope,
            body_hash: hash,
            outcome,
            reason_code: None,
            reason_message: None,
        },
    )
    .await
    .map(|_| ())
}
