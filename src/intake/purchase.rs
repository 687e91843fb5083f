//! `purchase.create` at intake: schema (dead letter when it fails), provider rules (business
//! refusal), then one transaction that stores the command and the payment (or recognises a
//! duplicate or a conflict), shared with the purchases that arrive at the same time (group
//! commit, design §1b): the delivery is acked only after that transaction committed. A purchase
//! that arrives alone is one statement in autocommit (Payment Page: a transaction of two).

use super::dead_letter;
use super::envelope::{Envelope, ParsedCommand};
use super::{invalid, schema, Outcome};
use crate::flows::purchase_create::{self, PurchaseCreate, Rejection, Stored};
use crate::flows::Services;
use crate::store::commands::{self, CommandOutcome, NewCommand};
use crate::store::group_commit::{GroupCommitter, LastRun, Unit};
use crate::store::jobs::ClaimedJob;
use crate::store::payments::PaymentRow;
use futures_util::future::BoxFuture;
use sqlx::PgConnection;
use std::sync::Arc;

/// Stores the command; returns its outcome and, for a humm Gate purchase, the sale job its
/// transaction claimed (with the payment it created), to run right after the commit. The
/// transaction is shared with the purchases that arrive together ([`GroupCommitter`]).
pub async fn create(
    services: &Arc<Services>,
    committer: &GroupCommitter,
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
    let unit = Arc::new(StorePurchase {
        services: Arc::clone(services),
        hash: purchase_create::canonical_hash(&command.body),
        validated,
        envelope: envelope.clone(),
        command: command.clone(),
        result: LastRun::default(),
    });
    committer.apply(Arc::clone(&unit) as Arc<dyn Unit>).await?;
    Ok(unit.result.take().unwrap_or((Outcome::Duplicate, None)))
}

/// One purchase's transaction body: the payment (or a duplicate, or a conflict refused) and the
/// command row. Run again from the start when its batch is re-applied unit by unit.
struct StorePurchase {
    services: Arc<Services>,
    hash: String,
    validated: purchase_create::Validated,
    envelope: Envelope,
    command: ParsedCommand,
    /// What the last run produced (the outcome and the inline sale, as `create` returns them);
    /// read once the transaction committed.
    result: LastRun<(Outcome, Option<(ClaimedJob, PaymentRow)>)>,
}

impl Unit for StorePurchase {
    fn key(&self) -> Option<&str> {
        Some(self.validated.command.payment_id.as_str())
    }

    fn rolled_back(&self) {
        crate::ledger::rows::forget(self.validated.command.payment_id.as_str());
        // A commit whose outcome was unknown may have landed without its `NOTIFY`; a spurious
        // ring costs the relay one read.
        self.services.outbox_wake.ring();
    }

    fn committed(&self) {
        self.services.outbox_wake.ring();
    }

    /// Alone, a humm Gate or valU purchase is one statement (the payment with its command, its
    /// event and its first jobs), a duplicate's command row stands by itself and a conflict opens
    /// its own transaction: so it runs in autocommit, one round trip instead of three. A Payment
    /// Page purchase also offers its page, a second change that must commit with the payment.
    fn alone_needs_transaction(&self) -> bool {
        self.validated.offers_a_page()
    }

    fn apply<'c>(&'c self, conn: &'c mut PgConnection) -> BoxFuture<'c, Result<(), sqlx::Error>> {
        Box::pin(async move {
            let (envelope, command) = (&self.envelope, &self.command);
            let body_hash = envelope.body_hash();
            let row = |outcome| NewCommand {
                command_type: command.command_type.as_str(),
                subject_id: Some(&command.subject_id),
                envelope,
                body_hash: &body_hash,
                outcome,
                reason_code: None,
                reason_message: None,
            };
            // The payment's events wake this process's relay from `committed`, after the commit.
            let wake = Some(self.services.outbox_wake.as_ref());
            // A created payment records its command in the statement that creates it.
            let applied = row(CommandOutcome::Applied);
            let stored = purchase_create::store(
                conn,
                &self.services,
                &self.validated,
                &self.hash,
                envelope.origin(),
                wake,
                Some(&applied),
            )
            .await?;
            let (outcome, inline) = match stored {
                Stored::Created(payment, job) => (Outcome::Applied, job.map(|job| (job, *payment))),
                Stored::Duplicate => {
                    commands::insert(conn, &row(CommandOutcome::Duplicate)).await?;
                    (Outcome::Duplicate, None)
                }
                Stored::Conflict => {
                    // The command's row and its rejection event stand or fall together, also
                    // when this unit runs alone in autocommit (in a batch: a savepoint).
                    let message = "payment_id is already used by a different purchase";
                    let mut together = sqlx::Connection::begin(&mut *conn).await?;
                    dead_letter::refuse_in(&mut together, envelope, command, "conflict", message).await?;
                    together.commit().await?;
                    (Outcome::Rejected, None)
                }
            };
            self.result.set((outcome, inline));
            Ok(())
        })
    }
}
