//! Refund changes: enqueueing, every status change, the promotion of a queue's head, and an
//! operator's release or cancel, each announced with its payment's next sequence.
//!
//! Invariants (design §1): a refund event is numbered in its payment's sequence, so each change
//! is a compare-and-set on the refund's status *and* the payment's sequence, taking the payment's
//! row lock before the refund's (one lock order everywhere, no deadlocks); the payment's
//! `refunded_minor` moves with the change that makes a refund succeed; a change that makes a refund
//! final wakes the refund dispatchers (`NOTIFY bnpl_refunds`); at most one refund per queue is in
//! flight (the promote checks it, the unique index enforces it).
//!
//! A change may carry [`Promotions`] (issue 16's hand-off without a hop): when it frees its queue
//! (an in-flight or in-review refund becomes final), the next refund of the queue is promoted in
//! the same transaction and kept there, for the caller to hand to its sender once it committed.

use super::storable;
use super::{announce, refund_sql};
use crate::domain::events::{EventReason, Reason};
use crate::domain::refund_state::{self, RefundEvent, RefundRefusal, RefundTransition};
use crate::domain::{RefundStatus, ReviewReason};
use crate::store::jobs::ClaimedJob;
use crate::store::payments::{self, PaymentRow};
use crate::store::refunds::{self, NewRefund, RefundRow};
use chrono::Utc;
use sqlx::{PgConnection, PgPool};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

const MAX_ROUNDS: usize = 8;

/// What a refund change brings along.
#[derive(Debug, Clone, Default)]
pub struct RefundChange {
    pub actor: String,
    pub note: Option<String>,
    pub provider_request_id: Option<String>,
    pub provider_reference: Option<String>,
    /// The provider's refusal, on declines and failures.
    pub decline: Option<Reason>,
    /// An operator's words, on a release or cancel (announced as the event's `reason`, with
    /// `resolved_by` the actor).
    pub operator_reason: Option<String>,
    /// Where to keep the next refund of the queue when this change frees it, promoted in the same
    /// transaction; None leaves the promotion to the dispatchers (`NOTIFY bnpl_refunds`).
    pub promote_next: Option<Arc<Promotions>>,
}

impl RefundChange {
    pub fn by(actor: impl Into<String>) -> Self {
        RefundChange {
            actor: actor.into(),
            ..RefundChange::default()
        }
    }

    /// The same change, promoting the queue's next refund into `promotions` when it frees the
    /// queue.
    pub fn promoting_next(mut self, promotions: Option<&Arc<Promotions>>) -> Self {
        self.promote_next = promotions.cloned();
        self
    }

    /// This change as it can be stored (as `payment::Change::storable`): unclean provider ids
    /// dropped, the note printable and bounded; borrowed when it already is.
    pub fn storable(&self) -> std::borrow::Cow<'_, RefundChange> {
        let texts = storable::Texts {
            note: &self.note,
            provider_reference: &self.provider_reference,
            provider_request_id: &self.provider_request_id,
        };
        match storable::bounded(texts) {
            None => std::borrow::Cow::Borrowed(self),
            Some(bounded) => std::borrow::Cow::Owned(RefundChange {
                note: bounded.note,
                provider_reference: bounded.provider_reference,
                provider_request_id: bounded.provider_request_id,
                ..self.clone()
            }),
        }
    }
}

/// Refunds promoted by changes of one transaction, to be sent once it committed. Its owner clears
/// it before each run of the transaction, so a rolled-back promotion is never sent.
#[derive(Debug)]
pub struct Promotions {
    /// The audit actor of the promotions.
    actor: &'static str,
    /// The send job's kind, inserted claimed.
    send_kind: &'static str,
    /// The send job's lease, long enough for the send to start after the commit.
    lease: Duration,
    promoted: Mutex<Vec<Promoted>>,
}

impl Promotions {
    pub fn new(actor: &'static str, send_kind: &'static str, lease: Duration) -> Self {
        Promotions {
            actor,
            send_kind,
            lease,
            promoted: Mutex::new(Vec::new()),
        }
    }

    /// Everything promoted so far, leaving none.
    pub fn take(&self) -> Vec<Promoted> {
        std::mem::take(&mut *self.promoted.lock().unwrap_or_else(PoisonError::into_inner))
    }

    fn keep(&self, promoted: Promoted) {
        self.promoted
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(promoted);
    }
}

/// What the state machine made of the change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefundApplied {
    Moved {
        from: RefundStatus,
        to: RefundStatus,
    },
    /// Still in flight; what the provider said was kept (its request id).
    Stayed,
    Flagged(ReviewReason),
    Ignored,
    Refused(RefundRefusal),
}

/// Enqueues a new refund at the next position of its queue, announced `refund.queued`. The
/// caller holds `payment`'s row lock (taken for the balance check) in its transaction.
pub async fn enqueue(
    conn: &mut PgConnection,
    new: &NewRefund<'_>,
    payment: &PaymentRow,
    origin: super::Origin<'_>,
) -> Result<RefundRow, sqlx::Error> {
    let position = refunds::take_position(conn, new.queue_key, new.provider, new.account).await?;
    let refund = RefundRow {
        refund_id: new.refund_id.to_owned(),
        payment_id: new.payment_id.to_owned(),
        queue_key: new.queue_key.to_owned(),
        position,
        amount_minor: new.amount_minor,
        currency: new.currency.to_owned(),
        status: RefundStatus::Queued.as_str().to_owned(),
        review_reason: None,
        reason: new.reason.map(str::to_owned),
        requested_by: new.requested_by.to_owned(),
        provider_request_id: None,
        provider_reference: None,
        attempts: 0,
        created_at: Utc::now(),
        submitted_at: None,
    };
    let event = announce::refund(&refund, payment, payment.refunded_minor, false, None, None);
    refund_sql::enqueue(conn, &refund, payment, &event, origin).await?;
    Ok(refund)
}

/// Applies `event` to `refund`; the refund as it is now comes back with what happened.
pub async fn apply(
    conn: &mut PgConnection,
    refund: &RefundRow,
    event: RefundEvent,
    change: &RefundChange,
) -> Result<(RefundApplied, RefundRow), sqlx::Error> {
    let change = &*change.storable();
    let mut current = refund.clone();
    for _ in 0..MAX_ROUNDS {
        let from = current.status();
        let (to, flagged) = match refund_state::transition(from, &event) {
            RefundTransition::Move(to) => (to, None),
            RefundTransition::FlagReview { reason } => (from, Some(reason)),
            RefundTransition::Stay => {
                refunds::record_provider_ids(conn, &current, &change.provider_request_id, &change.provider_reference)
                    .await?;
                return Ok((RefundApplied::Stayed, current));
            }
            RefundTransition::Ignore => return Ok((RefundApplied::Ignored, current)),
            RefundTransition::Refuse(refusal) => return Ok((RefundApplied::Refused(refusal), current)),
        };
        let Some(payment) = payments::get(conn, &current.payment_id).await? else {
            return Ok((RefundApplied::Ignored, current));
        };
        let review =
            flagged.or(matches!(event, RefundEvent::NoDefiniteAnswer).then_some(ReviewReason::NoDefiniteAnswer));
        let mut after = current.clone();
        after.status = to.as_str().to_owned();
        if let Some(review) = review {
            after.review_reason = Some(review.as_str().to_owned());
        }
        if matches!(event, RefundEvent::Release { .. }) {
            after.review_reason = None;
        }
        after.provider_request_id = change.provider_request_id.clone().or(after.provider_request_id);
        after.provider_reference = change.provider_reference.clone().or(after.provider_reference);
        let newly_succeeded = to == RefundStatus::Succeeded && from != RefundStatus::Succeeded;
        let refunded = payment.refunded_minor + if newly_succeeded { after.amount_minor } else { 0 };
        let reason = match (&change.operator_reason, review) {
            // An operator's recorded outcome is shown only on a decline or failure, whose reason
            // is an object like any other (contract §3), the operator's words its message.
            (Some(words), _) => Some(EventReason::Coded(Reason::new(
                if to == RefundStatus::Failed {
                    "provider_error"
                } else {
                    "declined"
                },
                words.clone(),
            ))),
            (None, Some(review)) => Some(EventReason::Coded(Reason::new(
                review.as_str(),
                change.note.clone().unwrap_or_else(|| review.as_str().to_owned()),
            ))),
            (None, None) => change.decline.clone().map(EventReason::Coded),
        };
        let resolved_by = change.operator_reason.as_ref().map(|_| change.actor.clone());
        let flagged_same = review.is_some() && to == from;
        let announced = announce::refund(&after, &payment, refunded, flagged_same, reason, resolved_by);
        let announced = match event {
            RefundEvent::ActionRequired => announce::action_required(announced, &payment),
            _ => announced,
        };
        let written = refund_sql::change(
            conn,
            refund_sql::Write {
                before: &current,
                after: &after,
                payment: &payment,
                refunded_minor: refunded,
                change,
                event: &event,
                review,
                announced: &announced,
            },
        )
        .await?;
        if written {
            let frees_queue = to.is_final() && from.holds_queue();
            if let (true, Some(promotions)) = (frees_queue, &change.promote_next) {
                let next = promote_on(
                    conn,
                    &after.queue_key,
                    promotions.actor,
                    promotions.send_kind,
                    promotions.lease,
                    refund_sql::Waiting::SkipLocked,
                );
                if let Some(promoted) = next.await? {
                    promotions.keep(promoted);
                }
            }
            let applied = match (flagged, to == from) {
                (Some(reason), _) => RefundApplied::Flagged(reason),
                (None, _) => RefundApplied::Moved { from, to },
            };
            return Ok((applied, after));
        }
        // The refund or its payment moved meanwhile: decide again from what they are now.
        match refunds::get(conn, &current.refund_id).await? {
            Some(fresh) => current = fresh,
            None => return Ok((RefundApplied::Ignored, current)),
        }
    }
    Err(sqlx::Error::Protocol(format!(
        "refund {}: changed under {MAX_ROUNDS} attempts in a row",
        refund.refund_id
    )))
}

/// A promoted refund, its payment (as it was before the promotion) and its send job, claimed
/// under the caller's lease.
#[derive(Debug)]
pub struct Promoted {
    pub refund: RefundRow,
    pub payment: PaymentRow,
    pub send_job: ClaimedJob,
}

/// Promotes the head of `queue_key` to in flight when nothing of its queue is in flight or in
/// review: the move, its audit row, `refund.submitted` and its send job (inserted claimed), in one
/// statement after one read.
pub async fn promote(
    pool: &PgPool,
    queue_key: &str,
    actor: &str,
    send_kind: &str,
    lease: Duration,
) -> Result<Option<Promoted>, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    promote_on(&mut conn, queue_key, actor, send_kind, lease, refund_sql::Waiting::Wait).await
}

/// [`promote`] on `conn`. `Waiting::SkipLocked` is for a transaction that already holds other
/// payments' locks (the change that freed the queue, in a group-committed batch): it never waits
/// for the head's payment, which would take that lock out of the batch's key order and could
/// deadlock with a batch holding it; one attempt, and a head whose payment is busy is left to the
/// dispatchers, whom the freeing change's commit notifies.
async fn promote_on(
    conn: &mut PgConnection,
    queue_key: &str,
    actor: &str,
    send_kind: &str,
    lease: Duration,
    waiting: refund_sql::Waiting,
) -> Result<Option<Promoted>, sqlx::Error> {
    let rounds = match waiting {
        refund_sql::Waiting::Wait => MAX_ROUNDS,
        refund_sql::Waiting::SkipLocked => 1,
    };
    for _ in 0..rounds {
        let Some((head, payment)) = refunds::free_head(conn, queue_key).await? else {
            return Ok(None);
        };
        let mut after = head.clone();
        after.status = RefundStatus::InFlight.as_str().to_owned();
        after.submitted_at = Some(Utc::now());
        let announced = announce::refund(&after, &payment, payment.refunded_minor, false, None, None);
        let promoted = refund_sql::Promote {
            head: &head,
            payment: &payment,
            announced: &announced,
            actor,
            send_kind,
            lease,
            waiting,
        };
        match refund_sql::promote(conn, promoted).await? {
            Some(send_job) => {
                return Ok(Some(Promoted {
                    refund: after,
                    payment,
                    send_job,
                }))
            }
            // Another promoter, or a change of the payment, got there first: look again.
            None => continue,
        }
    }
    Ok(None)
}
