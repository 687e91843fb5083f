//! The statements that change a payment: each change is one compare-and-set statement with its
//! audit row, its typed event, the callback that caused it, the job it completes and the relay's
//! wake-up. One round trip per change is what keeps the write path close to the bare I/O.

use super::payment::{Applied, Change, Extras, Plan};
use super::Origin;
use crate::domain::events::Event;
use crate::domain::payment_state::PaymentEvent;
use crate::store::payments::{NewPayment, PaymentRow};
use crate::store::{outbox, outbox_wake};
use serde_json::{json, Value};
use sqlx::PgConnection;

/// What the compare-and-set did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Written {
    Yes,
    /// The payment is no longer what the plan was decided from.
    Stale,
    /// The job's lease was lost.
    LeaseLost,
}

/// One decided change, with everything its statement writes: the compare-and-set on the
/// payment, its audit row, its typed event, the callback that caused it, the job it completes.
/// Owned, so a change can wait for its batch's statement (`ledger::deferred`).
pub(super) struct PaymentWrite {
    payment_id: String,
    from_status: String,
    /// The payment after the change, as the writer caches it once committed.
    pub(super) after: PaymentRow,
    makes_final: bool,
    audit_kind: &'static str,
    actor: String,
    audit_reason: Option<String>,
    detail: Value,
    event_id: uuid::Uuid,
    event_type: &'static str,
    body: Value,
    job: Option<(i64, uuid::Uuid)>,
    raw: Option<(String, Vec<u8>)>,
    notify: Option<&'static str>,
    outcome: &'static str,
}

impl PaymentWrite {
    /// The write of `plan`, decided from `before` for `event`.
    pub(super) fn new(
        before: &PaymentRow,
        plan: &Plan,
        event: &PaymentEvent,
        change: &Change,
        extras: &Extras<'_>,
    ) -> Self {
        let after = plan.row.clone();
        let announced = Event::Payment(Box::new(plan.event.clone()));
        Self {
            payment_id: before.payment_id.clone(),
            from_status: before.status.clone(),
            makes_final: after.status().is_final() && after.status != before.status,
            after,
            audit_kind: if matches!(event, PaymentEvent::Resolve { .. }) {
                "resolution"
            } else {
                "transition"
            },
            actor: change.actor.clone(),
            audit_reason: plan
                .review_reason
                .map(|reason| reason.as_str().to_owned())
                .or(change.note.clone()),
            detail: json!({ "event": format!("{event:?}"), "note": change.note }),
            event_id: plan.event.envelope.event_id,
            event_type: plan.event.envelope.event_type.as_str(),
            body: announced.to_json(),
            job: extras.job.map(|job| (job.id, job.lease_token)),
            raw: extras.raw.map(|raw| (raw.provider.to_owned(), raw.body.to_vec())),
            notify: outbox_wake::channel_for(extras.wake),
            outcome: stored_outcome(&plan.applied),
        }
    }

    pub(super) fn payment_id(&self) -> &str {
        &self.payment_id
    }
}

/// [`write_all`]'s statement. Row `ord` of `input` is the `ord`-th write; `locked` takes the rows
/// still as decided, in id order (no deadlock between batches); `leased` fences job effects.
const WRITE_ALL: &str = "WITH input AS (
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bool[], $6::text[],
             $7::jsonb[], $8::jsonb[], $9::text[], $10::text[], $11::jsonb[], $12::text[], $13::text[],
             $14::text[], $15::jsonb[], $16::uuid[], $17::text[], $18::jsonb[], $19::bigint[], $20::uuid[],
             $21::text[], $22::bytea[], $23::text[], $24::text[]) WITH ORDINALITY
         AS i(payment_id, from_status, to_status, seq, makes_final, review_reason, action, reason,
              provider_reference, provider_request_id, provider_state, audit_kind, actor, audit_reason,
              detail, event_id, event_type, body, job_id, lease_token, raw_provider, raw_body, notify,
              outcome, ord)),
     leased AS (
         SELECT i.ord FROM input i JOIN jobs j ON j.id = i.job_id
         WHERE j.lease_token = i.lease_token AND j.state = 'running'),
     locked AS (
         SELECT p.payment_id FROM payments p JOIN input i ON p.payment_id = i.payment_id
         WHERE p.status = i.from_status AND p.last_sequence = i.seq - 1
           AND (i.job_id IS NULL OR i.ord IN (SELECT ord FROM leased))
         ORDER BY p.payment_id
         FOR UPDATE OF p),
     updated AS (
         UPDATE payments p SET status = i.to_status, last_sequence = i.seq, updated_at = now(),
             final_at = CASE WHEN i.makes_final THEN clock_timestamp() ELSE p.final_at END,
             review_reason = i.review_reason, action = i.action, reason = i.reason,
             provider_reference = i.provider_reference, provider_request_id = i.provider_request_id,
             provider_state = i.provider_state
         FROM input i
         WHERE p.payment_id = i.payment_id AND p.payment_id IN (SELECT payment_id FROM locked)
           AND p.status = i.from_status AND p.last_sequence = i.seq - 1
         RETURNING i.ord, p.payment_id, p.traceparent),
     completed AS (
         UPDATE jobs SET state = 'done', lease_token = NULL, updated_at = now()
         FROM input i JOIN updated u ON u.ord = i.ord
         WHERE jobs.id = i.job_id),
     audited AS (
         INSERT INTO audit_log (payment_id, kind, actor, from_status, to_status, reason, detail)
         SELECT u.payment_id, i.audit_kind, i.actor, i.from_status, i.to_status, i.audit_reason, i.detail
         FROM updated u JOIN input i ON i.ord = u.ord ORDER BY u.ord),
     announced AS (
         INSERT INTO outbox (event_id, event_type, payment_id, sequence, body, traceparent)
         SELECT i.event_id, i.event_type, u.payment_id, i.seq, i.body, u.traceparent
         FROM updated u JOIN input i ON i.ord = u.ord ORDER BY u.ord),
     stored AS (
         INSERT INTO inbound_callbacks (provider, verified, payment_id, outcome, body, body_length)
         SELECT i.raw_provider, true, u.payment_id, i.outcome, i.raw_body, octet_length(i.raw_body)
         FROM updated u JOIN input i ON i.ord = u.ord WHERE i.raw_body IS NOT NULL ORDER BY u.ord),
     woken AS (
         SELECT count(pg_notify(i.notify, '')::text) FROM updated u JOIN input i ON i.ord = u.ord
         WHERE i.notify IS NOT NULL)
     SELECT i.ord, i.ord IN (SELECT ord FROM updated),
            (i.job_id IS NULL OR i.ord IN (SELECT ord FROM leased))
     FROM input i, woken ORDER BY i.ord";

/// Writes every change of `writes` (at most one per payment) with one statement, locking the
/// payments in id order; returns what each compare-and-set did, in the order given.
///
/// Why one statement for many: on this machine PostgreSQL's cost per change is mostly the
/// wake-up and executor start of each statement, not the rows (docs/benchmarks.md, run 15).
pub(super) async fn write_all(conn: &mut PgConnection, writes: &[PaymentWrite]) -> Result<Vec<Written>, sqlx::Error> {
    let strs = |get: fn(&PaymentWrite) -> Option<&str>| writes.iter().map(get).collect::<Vec<_>>();
    let json = |get: fn(&PaymentWrite) -> Option<&Value>| writes.iter().map(|w| get(w).cloned()).collect::<Vec<_>>();
    let rows: Vec<(i64, bool, bool)> = sqlx::query_as(WRITE_ALL)
        .bind(strs(|w| Some(&w.payment_id)))
        .bind(strs(|w| Some(&w.from_status)))
        .bind(strs(|w| Some(&w.after.status)))
        .bind(writes.iter().map(|w| w.after.last_sequence).collect::<Vec<_>>())
        .bind(writes.iter().map(|w| w.makes_final).collect::<Vec<_>>())
        .bind(strs(|w| w.after.review_reason.as_deref()))
        .bind(json(|w| w.after.action.as_ref()))
        .bind(json(|w| w.after.reason.as_ref()))
        .bind(strs(|w| w.after.provider_reference.as_deref()))
        .bind(strs(|w| w.after.provider_request_id.as_deref()))
        .bind(json(|w| Some(&w.after.provider_state)))
        .bind(strs(|w| Some(w.audit_kind)))
        .bind(strs(|w| Some(&w.actor)))
        .bind(strs(|w| w.audit_reason.as_deref()))
        .bind(json(|w| Some(&w.detail)))
        .bind(writes.iter().map(|w| w.event_id).collect::<Vec<_>>())
        .bind(strs(|w| Some(w.event_type)))
        .bind(json(|w| Some(&w.body)))
        .bind(writes.iter().map(|w| w.job.map(|job| job.0)).collect::<Vec<_>>())
        .bind(writes.iter().map(|w| w.job.map(|job| job.1)).collect::<Vec<_>>())
        .bind(strs(|w| w.raw.as_ref().map(|raw| raw.0.as_str())))
        .bind(
            writes
                .iter()
                .map(|w| w.raw.as_ref().map(|raw| raw.1.as_slice()))
                .collect::<Vec<_>>(),
        )
        .bind(strs(|w| w.notify))
        .bind(strs(|w| Some(w.outcome)))
        .fetch_all(&mut *conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(_, written, leased)| match (written, leased) {
            (true, _) => Written::Yes,
            (false, false) => Written::LeaseLost,
            (false, true) => Written::Stale,
        })
        .collect())
}

/// What a callback stored with its change became (`inbound_callbacks.outcome`).
fn stored_outcome(applied: &Applied) -> &'static str {
    match applied {
        Applied::Repeated(_) => "repeated",
        Applied::Flagged(_) => "review",
        _ => "applied",
    }
}

/// Inserts an adopted external payment (`pending`, origin `external`, sequence 1) with its audit
/// row and `payment.external`; None when the id exists already.
pub(super) async fn adopt_external(
    conn: &mut PgConnection,
    row: &PaymentRow,
    event: &Event,
    actor: &str,
) -> Result<Option<PaymentRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "WITH adopted AS (
             INSERT INTO payments (payment_id, provider, account, flow, amount_minor, currency, status,
                 command_hash, provider_reference, threshold_at, last_sequence, origin)
             VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7, $8, $9, 1, 'external')
             ON CONFLICT (payment_id) DO NOTHING
             RETURNING {columns}),
         audited AS (
             INSERT INTO audit_log (payment_id, kind, actor, to_status, reason, detail)
             SELECT payment_id, 'transition', $10, 'pending', 'adopted: made outside the orchestrator',
                    '{{}}'::jsonb FROM adopted),
         announced AS (
             INSERT INTO outbox (event_id, event_type, payment_id, sequence, body)
             SELECT $11, 'payment.external', payment_id, 1, $12 FROM adopted)
         SELECT adopted.*, pg_notify($13, '')::text AS woken FROM adopted",
        columns = crate::store::payments::COLUMNS,
    ))
    .bind(&row.payment_id)
    .bind(&row.provider)
    .bind(&row.account)
    .bind(&row.flow)
    .bind(row.amount_minor)
    .bind(&row.currency)
    .bind(&row.command_hash)
    .bind(&row.provider_reference)
    .bind(row.threshold_at)
    .bind(actor)
    .bind(event.envelope().event_id)
    .bind(event.to_json())
    .bind(outbox::NOTIFY_CHANNEL)
    .fetch_optional(&mut *conn)
    .await
}

/// Inserts a new payment in `accepted` with sequence 1, its audit row and `payment.accepted`;
/// None when the id exists already.
pub(super) async fn create(
    conn: &mut PgConnection,
    new: &NewPayment<'_>,
    event: &Event,
    origin: Origin<'_>,
    wake: Option<&outbox_wake::OutboxWake>,
) -> Result<Option<PaymentRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "WITH updated AS (
             INSERT INTO payments (payment_id, provider, account, flow, amount_minor, currency, down_payment_minor,
                 status, command_hash, customer, items, description, return_url, metadata, threshold_at, last_sequence,
                 traceparent)
             VALUES ($1, $2, $3, $4, $5, $6, $7, 'accepted', $8, $9, $10, $11, $12, $13, $14, 1, $20)
             ON CONFLICT (payment_id) DO NOTHING
             RETURNING {columns}),
         audited AS (
             INSERT INTO audit_log (payment_id, kind, actor, to_status, reason, detail)
             SELECT payment_id, 'transition', 'intake', 'accepted', 'purchase.create', '{{}}'::jsonb FROM updated),
         announced AS (
             INSERT INTO outbox (event_id, event_type, payment_id, sequence, reply_to, correlation_id, body,
                                 traceparent)
             SELECT $15, 'payment.accepted', payment_id, 1, $16, $17, $18, $20 FROM updated)
         SELECT updated.*, CASE WHEN $19::text IS NOT NULL THEN pg_notify($19, '')::text END AS woken
         FROM updated",
        columns = crate::store::payments::COLUMNS,
    ))
    .bind(new.payment_id)
    .bind(new.provider)
    .bind(new.account)
    .bind(new.flow)
    .bind(new.amount_minor)
    .bind(new.currency)
    .bind(new.down_payment_minor)
    .bind(new.command_hash)
    .bind(&new.customer)
    .bind(&new.items)
    .bind(new.description)
    .bind(new.return_url)
    .bind(&new.metadata)
    .bind(new.threshold_at)
    .bind(event.envelope().event_id)
    .bind(origin.reply_to)
    .bind(origin.correlation_id)
    .bind(event.to_json())
    .bind(outbox_wake::channel_for(wake))
    .bind(origin.traceparent)
    .fetch_optional(&mut *conn)
    .await
}
