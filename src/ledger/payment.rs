//! Payment changes: the one way a payment's status (and what goes with it) changes.
//!
//! A caller hands [`apply`] a [`Change`] with the state-machine event it means; the writer reads
//! the payment (or takes the caller's fresh copy), runs `domain::payment_state::transition`,
//! builds the new row and its typed event in Rust, and writes both with one compare-and-set
//! statement on the status and the sequence it decided from. When another writer got there first
//! the statement writes nothing, and the writer reads again and decides again, so no caller ever
//! re-reads or retries itself.
//!
//! Invariants: every announced change takes the payment's next sequence (gap-free); a final
//! status moves only by an operator's `Resolve`; a callback applies only to the payments of the
//! account that signed it (`Extras::owner`); a job's effect is written only while the job's lease
//! holds, and completes the job in the same statement (fencing).

use super::{announce, payment_sql, rows, storable};
use crate::domain::events::{Action, EventReason, Reason, Resolution};
use crate::domain::payment_state::{self, PaymentEvent, PaymentRefusal, Transition};
use crate::domain::{PaymentStatus, Provider, ReviewReason};
use crate::store::commands::NewCommand;
use crate::store::first_jobs::FirstJobs;
use crate::store::jobs::{self, ClaimedJob};
use crate::store::outbox_wake::OutboxWake;
use crate::store::payments::{NewPayment, PaymentRow};
use serde::Deserialize as _;
use serde_json::Value;
use sqlx::PgConnection;
use std::sync::Arc;
pub use storable::NOTE_MAX;

/// How often a compare-and-set that lost its race is decided again before giving up (the caller
/// then sees a database-level retry).
const MAX_ROUNDS: usize = 8;

/// A change to apply, with what it brings along.
#[derive(Debug, Clone, Default)]
pub struct Change {
    /// Who or what: `callback:ecommpay`, `job:status_check`, an operator's token name, …
    pub actor: String,
    /// Free text for the audit log (and the message of a review's reason).
    pub note: Option<String>,
    /// The customer's next step: announced on `action_required`, kept on the row.
    pub action: Option<Action>,
    /// Why, on declines, failures and a wrong OTP.
    pub reason: Option<Reason>,
    pub provider_reference: Option<String>,
    pub provider_request_id: Option<String>,
    /// Merged into `provider_state` (valU transaction id, OTP attempts left, …).
    pub provider_state: Option<Value>,
}

impl Change {
    pub fn by(actor: impl Into<String>) -> Self {
        Change {
            actor: actor.into(),
            ..Change::default()
        }
    }

    /// This change as it can be stored: a provider id that is not clean is dropped (it can match
    /// nothing), a note is made printable and bounded. Borrowed when it already is (the usual
    /// case), so only a hostile or broken answer pays for a copy. Whatever path built the change
    /// (a callback, a status or create answer, an operator), nothing it carries fails the write.
    pub fn storable(&self) -> std::borrow::Cow<'_, Change> {
        let texts = storable::Texts {
            note: &self.note,
            provider_reference: &self.provider_reference,
            provider_request_id: &self.provider_request_id,
        };
        match storable::bounded(texts) {
            None => std::borrow::Cow::Borrowed(self),
            Some(bounded) => std::borrow::Cow::Owned(Change {
                note: bounded.note,
                provider_reference: bounded.provider_reference,
                provider_request_id: bounded.provider_request_id,
                ..self.clone()
            }),
        }
    }
}

/// A verified callback body stored with the change it caused (`inbound_callbacks`).
#[derive(Debug, Clone, Copy)]
pub struct RawCallback<'a> {
    pub provider: &'a str,
    pub body: &'a [u8],
}

/// What else the change checks or writes.
#[derive(Debug, Default, Clone, Copy)]
pub struct Extras<'a> {
    /// The callback that caused the change, stored with it.
    pub raw: Option<RawCallback<'a>>,
    /// The job whose effect this is: completed with it, and nothing is written unless its lease
    /// still holds.
    pub job: Option<&'a ClaimedJob>,
    /// The provider and account the payment must belong to (a verified callback's signer).
    pub owner: Option<(Provider, &'a str)>,
    /// The caller rings this after its commit: while this process's relay leads, the change
    /// sends no `NOTIFY` (`store::outbox_wake`). Without it, the change always notifies.
    pub wake: Option<&'a OutboxWake>,
    /// The change runs in a transaction shared with other units, which may still roll back after
    /// this returns: the row cache must not show it to other writers before it commits, so the
    /// ledger drops the payment's cached row and the caller remembers the new one once committed.
    pub cache_after_commit: bool,
}

/// What the state machine made of the change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    Moved {
        from: PaymentStatus,
        to: PaymentStatus,
    },
    /// The same status again with something new (another redirect, a wrong OTP).
    Repeated(PaymentStatus),
    Flagged(ReviewReason),
    /// Nothing to do: a duplicate, stale news, or a repeat that brings nothing new.
    Ignored(PaymentStatus),
    Refused(PaymentRefusal),
}

/// The result of [`apply`].
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Decided and, unless ignored or refused, written: the payment as it is now.
    Done {
        applied: Applied,
        row: Arc<PaymentRow>,
    },
    NotFound,
    /// The payment is another account's or provider's than the change presumes (a verified
    /// callback's signer): nothing was written.
    Mismatch {
        row: Arc<PaymentRow>,
        why: String,
    },
    /// The job's lease was lost: another worker owns it, nothing was written.
    LeaseLost,
}

impl Outcome {
    pub fn applied(&self) -> Option<&Applied> {
        match self {
            Outcome::Done { applied, .. } => Some(applied),
            _ => None,
        }
    }
}

/// Applies `event` with `change` to payment `payment_id`. `known` is the row as the caller holds
/// it, when it does; without it the writer starts from the row it last wrote or read itself
/// ([`rows`]). Either only saves a read: a stale row costs one more round, never a wrong write.
/// The row is shared, not copied: a change copies it whole only as the new row it writes.
pub async fn apply(
    conn: &mut PgConnection,
    payment_id: &str,
    known: Option<&Arc<PaymentRow>>,
    event: PaymentEvent,
    change: &Change,
    extras: Extras<'_>,
) -> Result<Outcome, sqlx::Error> {
    let change = &*change.storable();
    let mut current = match known {
        Some(row) => Some(Arc::clone(row)),
        None => rows::load(conn, payment_id).await?,
    };
    for _ in 0..MAX_ROUNDS {
        let Some(row) = current.take() else {
            return Ok(Outcome::NotFound);
        };
        if let Some(why) = mismatch(&row, &extras) {
            return Ok(Outcome::Mismatch { row, why });
        }
        let Some(plan) = decide(&row, &event, change) else {
            let applied = match payment_state::transition_flagged(row.status(), row.review_reason.is_some(), &event) {
                Transition::Refuse(refusal) => Applied::Refused(refusal),
                _ => Applied::Ignored(row.status()),
            };
            return finish_without_change(conn, row, applied, extras.job).await;
        };
        match payment_sql::write(conn, &row, &plan, &event, change, &extras).await? {
            payment_sql::Written::Yes => {
                let row = Arc::new(plan.row);
                if extras.cache_after_commit {
                    rows::forget(&row.payment_id);
                } else {
                    rows::remember(Arc::clone(&row));
                }
                return Ok(Outcome::Done {
                    applied: plan.applied,
                    row,
                });
            }
            payment_sql::Written::LeaseLost => return Ok(Outcome::LeaseLost),
            // Someone else moved it first: decide again from what it is now.
            payment_sql::Written::Stale => current = rows::reload(conn, payment_id).await?,
        }
    }
    Err(sqlx::Error::Protocol(format!(
        "payment {payment_id}: changed under {MAX_ROUNDS} attempts in a row"
    )))
}

/// A payment [`create`] created, and the job it inserted claimed for its caller, if any.
#[derive(Debug)]
pub struct Created {
    pub row: PaymentRow,
    pub claimed: Option<ClaimedJob>,
}

/// Creates a payment in `accepted` with its first event, `payment.accepted` (the direct reply to
/// the command, when it asked for one), `command` (the row of the command that created it) and
/// its first `jobs`, in one statement; None when the id exists already, and then nothing is
/// written. `wake`: as [`Extras::wake`].
pub async fn create(
    conn: &mut PgConnection,
    new: &NewPayment<'_>,
    origin: super::Origin<'_>,
    wake: Option<&OutboxWake>,
    command: Option<&NewCommand<'_>>,
    jobs: &FirstJobs<'_>,
) -> Result<Option<Created>, sqlx::Error> {
    let row = PaymentRow {
        payment_id: new.payment_id.to_owned(),
        provider: new.provider.to_owned(),
        account: new.account.to_owned(),
        flow: new.flow.to_owned(),
        amount_minor: new.amount_minor,
        currency: new.currency.to_owned(),
        down_payment_minor: new.down_payment_minor,
        status: PaymentStatus::Accepted.as_str().to_owned(),
        review_reason: None,
        command_hash: new.command_hash.to_owned(),
        provider_reference: None,
        provider_request_id: None,
        provider_state: Value::Object(serde_json::Map::new()),
        action: None,
        reason: None,
        customer: new.customer.clone(),
        items: new.items.clone(),
        description: new.description.map(str::to_owned),
        return_url: new.return_url.map(str::to_owned),
        metadata: new.metadata.clone(),
        last_sequence: 1,
        refunded_minor: 0,
        created_at: chrono::Utc::now(),
        threshold_at: new.threshold_at,
        origin: crate::store::payments::ORIGIN_ORCHESTRATOR.to_owned(),
    };
    let event = crate::domain::events::Event::Payment(Box::new(announce::payment(&row, false, None, None, None)));
    let created = payment_sql::create(conn, new, &event, origin, wake, command, jobs).await?;
    Ok(created.map(|(row, claimed)| {
        rows::remember(Arc::new(row.clone()));
        Created { row, claimed }
    }))
}

/// A payment made outside the orchestrator, as a verified callback reports it (issue 20).
pub struct ExternalPayment<'a> {
    pub payment_id: &'a str,
    pub provider: &'a str,
    pub account: &'a str,
    pub flow: &'a str,
    pub amount_minor: i64,
    pub currency: &'a str,
    pub provider_reference: Option<&'a str>,
    pub threshold_at: chrono::DateTime<chrono::Utc>,
}

/// Adopts a payment made outside the orchestrator: `pending`, origin `external`, announced as
/// `payment.external` (sequence 1), with an audit row by `actor`; None when the id exists.
/// The caller schedules the status query its state will come from.
pub async fn adopt_external(
    conn: &mut PgConnection,
    external: &ExternalPayment<'_>,
    actor: &str,
) -> Result<Option<Arc<PaymentRow>>, sqlx::Error> {
    let row = PaymentRow {
        payment_id: external.payment_id.to_owned(),
        provider: external.provider.to_owned(),
        account: external.account.to_owned(),
        flow: external.flow.to_owned(),
        amount_minor: external.amount_minor,
        currency: external.currency.to_owned(),
        down_payment_minor: 0,
        status: PaymentStatus::Pending.as_str().to_owned(),
        review_reason: None,
        // No command made it: nothing to compare a later purchase.create with, so one with this
        // id is a conflict.
        command_hash: crate::store::payments::ORIGIN_EXTERNAL.to_owned(),
        provider_reference: external.provider_reference.map(str::to_owned),
        provider_request_id: None,
        provider_state: Value::Object(serde_json::Map::new()),
        action: None,
        reason: None,
        customer: Value::Object(serde_json::Map::new()),
        items: Value::Array(Vec::new()),
        description: None,
        return_url: None,
        metadata: Value::Object(serde_json::Map::new()),
        last_sequence: 1,
        refunded_minor: 0,
        created_at: chrono::Utc::now(),
        threshold_at: external.threshold_at,
        origin: crate::store::payments::ORIGIN_EXTERNAL.to_owned(),
    };
    let event = crate::domain::events::Event::Payment(Box::new(announce::external(&row)));
    let adopted = payment_sql::adopt_external(conn, &row, &event, actor)
        .await?
        .map(Arc::new);
    if let Some(adopted) = &adopted {
        rows::remember(Arc::clone(adopted));
    }
    Ok(adopted)
}

/// A change that writes nothing still completes its job (when the lease holds).
async fn finish_without_change(
    conn: &mut PgConnection,
    row: Arc<PaymentRow>,
    applied: Applied,
    job: Option<&ClaimedJob>,
) -> Result<Outcome, sqlx::Error> {
    if let Some(job) = job {
        if jobs::complete(conn, job).await?.is_err() {
            return Ok(Outcome::LeaseLost);
        }
    }
    Ok(Outcome::Done { applied, row })
}

fn mismatch(row: &PaymentRow, extras: &Extras<'_>) -> Option<String> {
    if let Some((provider, account)) = extras.owner {
        if row.provider != provider.as_str() || row.account != account {
            return Some(format!(
                "the payment belongs to {} account {:?}, not {provider} account {account:?}",
                row.provider, row.account
            ));
        }
    }
    None
}

/// A decided change: the row after it, the review reason it sets, and how it is announced.
pub(super) struct Plan {
    pub applied: Applied,
    pub row: PaymentRow,
    pub review_reason: Option<ReviewReason>,
    pub event: crate::domain::events::PaymentEvent,
}

/// Runs the state machine; None when nothing is to be written.
fn decide(row: &PaymentRow, event: &PaymentEvent, change: &Change) -> Option<Plan> {
    let from = row.status();
    let (to, flagged) = match payment_state::transition_flagged(from, row.review_reason.is_some(), event) {
        Transition::Move(to) => (to, None),
        Transition::Repeat => (from, None),
        Transition::FlagReview { reason } => (from, Some(reason)),
        Transition::Ignore | Transition::Refuse(_) => return None,
    };
    let stored_action = row.action.as_ref().and_then(|value| Action::deserialize(value).ok());
    let always_announced = matches!(event, PaymentEvent::Contradiction | PaymentEvent::Resolve { .. });
    if to == from && flagged.is_none() && !always_announced {
        // A repeat announces only what is new: the same redirect again is a duplicate.
        let new_action = change.action.is_some() && change.action != stored_action;
        if !new_action && change.reason.is_none() {
            return None;
        }
    }
    let review_reason = flagged.or(match event {
        PaymentEvent::NoDefiniteAnswer => Some(ReviewReason::NoDefiniteAnswer),
        PaymentEvent::Contradiction => Some(ReviewReason::Contradiction),
        _ => None,
    });
    let mut after = row.clone();
    after.status = to.as_str().to_owned();
    after.last_sequence = row.last_sequence + 1;
    if let Some(review) = review_reason {
        after.review_reason = Some(review.as_str().to_owned());
    }
    if matches!(event, PaymentEvent::Resolve { .. }) {
        // An operator's decision settles whatever was under review.
        after.review_reason = None;
    }
    if let Some(action) = &change.action {
        after.action = serde_json::to_value(action).ok();
    }
    if let Some(reason) = &change.reason {
        after.reason = serde_json::to_value(reason).ok();
    }
    after.provider_reference = change.provider_reference.clone().or(after.provider_reference);
    after.provider_request_id = change.provider_request_id.clone().or(after.provider_request_id);
    if let (Some(Value::Object(new)), Value::Object(state)) = (&change.provider_state, &mut after.provider_state) {
        state.extend(new.clone());
    }
    let reason = match (review_reason, event) {
        (Some(review), _) => Some(EventReason::Coded(Reason::new(
            review.as_str(),
            change.note.clone().unwrap_or_else(|| review.as_str().to_owned()),
        ))),
        (None, PaymentEvent::Resolve { .. }) => change.note.clone().map(EventReason::Operator),
        (None, _) => change.reason.clone().map(EventReason::Coded),
    };
    let resolution = match event {
        PaymentEvent::Resolve { to } => Some(Resolution {
            from,
            to: *to,
            resolved_by: change.actor.clone(),
        }),
        _ => None,
    };
    let announced = announce::payment(
        &after,
        review_reason.is_some() && to == from,
        change.action.clone(),
        reason,
        resolution,
    );
    let applied = match (flagged, to == from) {
        (Some(reason), _) => Applied::Flagged(reason),
        (None, true) => Applied::Repeated(to),
        (None, false) => Applied::Moved { from, to },
    };
    Some(Plan {
        applied,
        row: after,
        review_reason,
        event: announced,
    })
}

#[cfg(test)]
#[path = "payment_tests.rs"]
mod tests;
