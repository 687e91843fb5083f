//! Status changes of a payment, each written as **one statement**: the compare-and-set UPDATE, its
//! audit entry, its outbox event (body built from the updated row) and the relay's wake-up. One
//! round trip per state change is what keeps callbacks and purchases close to the bare I/O
//! (design §4).
//!
//! Two entry points share that statement:
//! - [`apply`] for a payment the caller has locked and read ([`super::payments::lock`]): the state
//!   machine decides from the status read;
//! - [`apply_unlocked`] for the hot path of a callback: the state machine's table is turned into
//!   the set of statuses the event moves to one target from, and the statement's own row lock
//!   re-checks the status, so it needs no transaction of its own. When the payment is in none of
//!   them (duplicate, stale, review, not found) it changes nothing and the caller takes the locked
//!   path, which decides what that means.
//!
//! Invariants (with [`super::payments`]): a job's effect written here completes the job in the
//! same statement, only under its lease; every announced change increments `last_sequence` and
//! writes exactly one event with that sequence; the event body is the contract §3 payment event.

use super::jobs::ClaimedJob;
use super::outbox;
use super::payments::PaymentRow;
use crate::domain::payment_state::{self, PaymentEvent, PaymentRefusal, Transition};
use crate::domain::{PaymentStatus, ReviewReason};
use serde_json::{json, Value};
use sqlx::PgConnection;

/// A change to apply, with what it brings along.
#[derive(Debug, Clone, Default)]
pub struct Change {
    /// Who or what: `callback:ecommpay`, `job:status_check`, …
    pub actor: &'static str,
    /// Free text for the audit log.
    pub note: Option<String>,
    /// The customer's next step (`action` on the event).
    pub action: Option<Value>,
    /// `{code, message, provider_code, provider_message}` on declines and failures.
    pub reason: Option<Value>,
    pub provider_reference: Option<String>,
    pub provider_request_id: Option<String>,
    /// Merged into `provider_state` (valU transaction id, OTP attempts left, …).
    pub provider_state: Option<Value>,
}

/// What applying an event did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    Moved { from: PaymentStatus, to: PaymentStatus },
    Repeated(PaymentStatus),
    Flagged(ReviewReason),
    Ignored(PaymentStatus),
    Refused(PaymentRefusal),
}

/// The amount a provider reported, which the payment must have for the change to apply.
pub struct ReportedMoney<'a> {
    pub amount_minor: i64,
    pub currency: &'a str,
}

/// A verified callback body stored with the change it caused (`inbound_callbacks`).
pub struct RawCallback<'a> {
    pub provider: &'a str,
    pub body: &'a [u8],
}

/// Applies `event` to a payment locked in this transaction (see [`super::payments::lock`]).
pub async fn apply(
    conn: &mut PgConnection,
    row: &PaymentRow,
    event: PaymentEvent,
    change: Change,
) -> Result<Applied, sqlx::Error> {
    let from = row.status();
    let (to, review) = match payment_state::transition(from, &event) {
        Transition::Move(to) => (to, None),
        Transition::Repeat => (from, None),
        Transition::FlagReview { reason } => (from, Some(reason)),
        Transition::Ignore => return Ok(Applied::Ignored(from)),
        Transition::Refuse(refusal) => return Ok(Applied::Refused(refusal)),
    };
    let target = Target {
        froms: vec![from.as_str()],
        to,
        review_reason: review.map(ReviewReason::as_str).or(match event {
            PaymentEvent::NoDefiniteAnswer => Some(ReviewReason::NoDefiniteAnswer.as_str()),
            PaymentEvent::Contradiction => Some(ReviewReason::Contradiction.as_str()),
            _ => None,
        }),
        flagged: review.is_some(),
    };
    if write(conn, &row.payment_id, &target, &event, &change, Extras::default())
        .await?
        .is_none()
    {
        // Only possible without the row lock: someone else moved it first. Nothing to announce.
        return Ok(Applied::Ignored(from));
    }
    Ok(match review {
        Some(reason) => Applied::Flagged(reason),
        None if to == from => Applied::Repeated(to),
        None => Applied::Moved { from, to },
    })
}

/// What else the one statement checks or writes.
#[derive(Default)]
pub struct Extras<'a> {
    /// The payment must have the amount and currency a provider reported.
    pub money: Option<ReportedMoney<'a>>,
    /// The callback that caused the change, stored with it.
    pub raw: Option<RawCallback<'a>>,
    /// The job whose effect this is: completed in the same statement, and nothing is written
    /// unless its lease still holds (fencing).
    pub job: Option<&'a ClaimedJob>,
    /// The provider and account the payment must belong to (a verified callback's signer,
    /// contract §7): another account's payment is left alone.
    pub owner: Option<(&'a str, &'a str)>,
}

/// Applies `event` in one statement when the payment's status is one the event plainly moves
/// from (no review, no repeat) and what `extras` checks holds; writes `extras` with it. Returns
/// the move, or None when the payment is elsewhere, differs or is unknown, or the job's lease
/// is lost, and nothing was written: the caller then takes the locked path.
pub async fn apply_unlocked(
    conn: &mut PgConnection,
    payment_id: &str,
    event: &PaymentEvent,
    change: &Change,
    extras: Extras<'_>,
) -> Result<Option<Applied>, sqlx::Error> {
    let Some(target) = plain_moves(event) else {
        return Ok(None);
    };
    Ok(write(conn, payment_id, &target, event, change, extras)
        .await?
        .map(|from| Applied::Moved { from, to: target.to }))
}

/// Where a change goes, and from which statuses it may be written.
struct Target {
    froms: Vec<&'static str>,
    to: PaymentStatus,
    review_reason: Option<&'static str>,
    /// Announced as `payment.needs_review` (the status stays).
    flagged: bool,
}

/// The statuses `event` plainly moves to one target from. `accepted` is left out: a callback
/// for a payment whose registration was not yet recorded announces `pending` first (locked path).
fn plain_moves(event: &PaymentEvent) -> Option<Target> {
    if matches!(event, PaymentEvent::NoDefiniteAnswer | PaymentEvent::Contradiction) {
        return None;
    }
    let mut target: Option<PaymentStatus> = None;
    let mut froms = Vec::new();
    for from in PaymentStatus::ALL {
        if from == PaymentStatus::Accepted {
            continue;
        }
        if let Transition::Move(to) = payment_state::transition(from, event) {
            if to == from {
                continue;
            }
            if target.is_some_and(|known| known != to) {
                return None;
            }
            target = Some(to);
            froms.push(from.as_str());
        }
    }
    Some(Target {
        froms,
        to: target?,
        review_reason: None,
        flagged: false,
    })
}

/// The one statement: lock and re-check the status, update, audit, announce, wake the relay, and
/// store the raw callback when there is one. Returns the status it moved from.
async fn write(
    conn: &mut PgConnection,
    payment_id: &str,
    target: &Target,
    event: &PaymentEvent,
    change: &Change,
    extras: Extras<'_>,
) -> Result<Option<PaymentStatus>, sqlx::Error> {
    let Extras { money, raw, job, owner } = extras;
    let event_type = match target.flagged {
        true => "payment.needs_review".to_owned(),
        false => format!("payment.{}", target.to.as_str()),
    };
    let overrides = target
        .review_reason
        .map(|code| json!({ "reason": { "code": code, "message": change.note } }));
    let event_id = uuid::Uuid::now_v7();
    let from: Option<String> = sqlx::query_scalar(&format!(
        "WITH current AS (
             SELECT payment_id, status FROM payments WHERE payment_id = $1 AND status = ANY($2)
                 AND ($20::bigint IS NULL OR (amount_minor = $20 AND upper(currency) = upper($21)))
                 AND ($24::text IS NULL OR (provider = $24 AND account = $25))
             FOR UPDATE),
         completed AS (
             UPDATE jobs SET state = 'done', lease_token = NULL, updated_at = now()
             WHERE id = $22 AND lease_token = $23 AND state = 'running' AND EXISTS (SELECT 1 FROM current)
             RETURNING id),
         updated AS (
             UPDATE payments p SET status = $3, last_sequence = p.last_sequence + 1, updated_at = now(),
                 final_at = CASE WHEN $4 AND current.status <> $3 THEN now() ELSE p.final_at END,
                 review_reason = COALESCE($5, p.review_reason),
                 action = COALESCE($6, p.action), reason = COALESCE($7, p.reason),
                 provider_reference = COALESCE($8, p.provider_reference),
                 provider_request_id = COALESCE($9, p.provider_request_id),
                 provider_state = p.provider_state || COALESCE($10, '{{}}'::jsonb)
             FROM current WHERE p.payment_id = current.payment_id
                 AND ($22::bigint IS NULL OR EXISTS (SELECT 1 FROM completed))
             RETURNING current.status AS from_status, p.payment_id, p.provider, p.account, p.status,
                 p.amount_minor, p.currency, p.action, p.provider_reference, p.reason, p.metadata, p.last_sequence),
         audited AS (
             INSERT INTO audit_log (payment_id, kind, actor, from_status, to_status, reason, detail)
             SELECT payment_id, 'transition', $11, from_status, $3, $12, $13 FROM updated),
         announced AS (
             INSERT INTO outbox (event_id, event_type, payment_id, sequence, body)
             SELECT $14, $15, payment_id, last_sequence, {body} || COALESCE($16, '{{}}'::jsonb) || {envelope}
             FROM updated),
         stored AS (
             INSERT INTO inbound_callbacks (provider, verified, payment_id, outcome, body)
             SELECT $17, true, payment_id, 'applied', $18 FROM updated WHERE $18 IS NOT NULL)
         SELECT from_status, pg_notify($19, '')::text FROM updated",
        body = EVENT_BODY,
        envelope = outbox::envelope_sql("$14", "$15", "last_sequence"),
    ))
    .bind(payment_id)
    .bind(&target.froms)
    .bind(target.to.as_str())
    .bind(target.to.is_final())
    .bind(target.review_reason)
    .bind(&change.action)
    .bind(&change.reason)
    .bind(&change.provider_reference)
    .bind(&change.provider_request_id)
    .bind(&change.provider_state)
    .bind(change.actor)
    .bind(target.review_reason.or(change.note.as_deref()))
    .bind(json!({ "event": format!("{event:?}"), "note": change.note }))
    .bind(event_id)
    .bind(&event_type)
    .bind(overrides)
    .bind(raw.as_ref().map(|raw| raw.provider))
    .bind(raw.as_ref().map(|raw| raw.body))
    .bind(outbox::NOTIFY_CHANNEL)
    .bind(money.as_ref().map(|money| money.amount_minor))
    .bind(money.as_ref().map(|money| money.currency))
    .bind(job.map(|job| job.id))
    .bind(job.map(|job| job.lease_token))
    .bind(owner.map(|(provider, _)| provider))
    .bind(owner.map(|(_, account)| account))
    .fetch_optional(&mut *conn)
    .await?;
    Ok(from.map(|status| status.parse().unwrap_or(PaymentStatus::NeedsReview)))
}

/// The contract §3 payment event's own fields, over the `updated` row (a changed payment here, a
/// new one in [`super::payments::create`]); [`outbox::envelope_sql`] adds the envelope fields.
pub(super) const EVENT_BODY: &str = "jsonb_build_object(
    'payment_id', payment_id, 'provider', provider, 'account', account, 'status', status,
    'amount', jsonb_build_object('minor', amount_minor, 'currency', currency), 'action', action,
    'provider_reference', provider_reference, 'reason', reason, 'metadata', metadata)";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_final_result_moves_plainly_from_every_waiting_status_but_accepted() {
        let target = plain_moves(&PaymentEvent::Succeeded).unwrap();
        assert_eq!(target.to, PaymentStatus::Succeeded);
        assert_eq!(target.froms, ["pending", "action_required", "needs_review"]);
    }

    #[test]
    fn a_redirect_moves_plainly_only_from_pending() {
        let target = plain_moves(&PaymentEvent::ActionRequired).unwrap();
        assert_eq!(target.froms, ["pending"]);
    }

    #[test]
    fn no_plain_move_repeats_flags_or_starts_from_accepted() {
        for event in PaymentEvent::ALL {
            let Some(target) = plain_moves(&event) else { continue };
            assert!(target.review_reason.is_none() && !target.flagged, "{event:?}");
            for from in &target.froms {
                assert_ne!(*from, "accepted", "{event:?}");
                assert_ne!(*from, target.to.as_str(), "{event:?} repeats");
                let from: PaymentStatus = from.parse().unwrap();
                assert_eq!(
                    payment_state::transition(from, &event),
                    Transition::Move(target.to),
                    "{event:?}"
                );
            }
        }
        assert!(plain_moves(&PaymentEvent::NoDefiniteAnswer).is_none());
        assert!(plain_moves(&PaymentEvent::Contradiction).is_none());
    }
}
