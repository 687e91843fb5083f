//! The statements that change a payment: each change is one compare-and-set statement with its
//! audit row, its typed event, the callback that caused it, the job it completes and the relay's
//! wake-up. One round trip per change is what keeps the write path close to the bare I/O.

use super::payment::{Applied, Change, Extras, Plan};
use super::Origin;
use crate::domain::events::Event;
use crate::domain::payment_state::PaymentEvent;
use crate::store::commands::{self, NewCommand};
use crate::store::first_jobs::{self, FirstJobs};
use crate::store::jobs::ClaimedJob;
use crate::store::payments::{NewPayment, PaymentRow};
use crate::store::{outbox, outbox_wake};
use serde_json::json;
use sqlx::{FromRow as _, PgConnection, Row as _};

/// What the compare-and-set did.
pub(super) enum Written {
    Yes,
    /// The payment is no longer what the plan was decided from.
    Stale,
    /// The job's lease was lost.
    LeaseLost,
}

/// Writes `plan`, decided from `before`.
pub(super) async fn write(
    conn: &mut PgConnection,
    before: &PaymentRow,
    plan: &Plan,
    event: &PaymentEvent,
    change: &Change,
    extras: &Extras<'_>,
) -> Result<Written, sqlx::Error> {
    let after = &plan.row;
    let audit_kind = if matches!(event, PaymentEvent::Resolve { .. }) {
        "resolution"
    } else {
        "transition"
    };
    let raw = extras.raw;
    let job = extras.job;
    let (written, leased, completed, _woken): (bool, bool, bool, i64) = sqlx::query_as(
        "WITH lease AS (
             SELECT id FROM jobs WHERE id = $19 AND lease_token = $20 AND state = 'running'),
         updated AS (
             UPDATE payments p SET status = $3, last_sequence = $4, updated_at = now(),
                 final_at = CASE WHEN $5 THEN clock_timestamp() ELSE p.final_at END,
                 review_reason = $6, action = $7, reason = $8, provider_reference = $9,
                 provider_request_id = $10, provider_state = $11
             WHERE p.payment_id = $1 AND p.status = $2 AND p.last_sequence = $4 - 1
               AND ($19::bigint IS NULL OR EXISTS (SELECT 1 FROM lease))
             RETURNING p.payment_id, p.traceparent),
         completed AS (
             -- The lease again: read above from the statement's snapshot, it may have been taken
             -- over while the update waited for the payment's lock; this sees the row as it is.
             UPDATE jobs SET state = 'done', lease_token = NULL, updated_at = now()
             WHERE id = $19 AND lease_token = $20 AND state = 'running' AND EXISTS (SELECT 1 FROM updated)
             RETURNING id),
         audited AS (
             INSERT INTO audit_log (payment_id, kind, actor, from_status, to_status, reason, detail)
             SELECT payment_id, $12, $13, $2, $3, $14, $15 FROM updated),
         announced AS (
             INSERT INTO outbox (event_id, event_type, payment_id, sequence, body, traceparent)
             SELECT $16, $17, payment_id, $4, $18, traceparent FROM updated),
         stored AS (
             INSERT INTO inbound_callbacks (provider, verified, payment_id, outcome, body, body_length)
             SELECT $21, true, payment_id, $24, $22, octet_length($22) FROM updated WHERE $22 IS NOT NULL)
         SELECT EXISTS (SELECT 1 FROM updated),
                ($19::bigint IS NULL OR EXISTS (SELECT 1 FROM lease)),
                ($19::bigint IS NULL OR EXISTS (SELECT 1 FROM completed)),
                (SELECT count(pg_notify($23, '')::text) FROM updated WHERE $23::text IS NOT NULL)",
    )
    .bind(&before.payment_id)
    .bind(&before.status)
    .bind(&after.status)
    .bind(after.last_sequence)
    .bind(after.status().is_final() && after.status != before.status)
    .bind(&after.review_reason)
    .bind(&after.action)
    .bind(&after.reason)
    .bind(&after.provider_reference)
    .bind(&after.provider_request_id)
    .bind(&after.provider_state)
    .bind(audit_kind)
    .bind(&change.actor)
    .bind(
        plan.review_reason
            .map(|reason| reason.as_str().to_owned())
            .or(change.note.clone()),
    )
    .bind(json!({ "event": format!("{event:?}"), "note": change.note }))
    .bind(plan.event.envelope.event_id)
    .bind(plan.event.envelope.event_type.as_str())
    .bind(crate::domain::events::body_json(&plan.event))
    .bind(job.map(|job| job.id))
    .bind(job.map(|job| job.lease_token))
    .bind(raw.map(|raw| raw.provider))
    .bind(raw.map(|raw| raw.body))
    .bind(outbox_wake::channel_for(extras.wake))
    .bind(stored_outcome(&plan.applied))
    .fetch_one(&mut *conn)
    .await?;
    if written && !completed {
        // Another runner took the job over while this change waited: the change must not stand,
        // and only an error makes every caller roll its transaction back (a batch then runs its
        // units alone, where the lease check above refuses this one before it writes).
        return Err(sqlx::Error::Protocol(format!(
            "payment {}: job {} lost its lease while its change waited for the payment",
            before.payment_id,
            job.map_or(0, |job| job.id)
        )));
    }
    Ok(match (written, leased) {
        (true, _) => Written::Yes,
        (false, false) => Written::LeaseLost,
        (false, true) => Written::Stale,
    })
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

/// The parameters of [`create`]'s own statement: `$1` to `$29`; its first jobs' follow.
const CREATE_PARAMETERS: usize = 29;

/// Inserts a new payment in `accepted` with sequence 1, its audit row, `payment.accepted`, the
/// command that created it and its first jobs; None when the id exists already (and then writes
/// nothing). Returns the job it inserted claimed, if any.
pub(super) async fn create(
    conn: &mut PgConnection,
    new: &NewPayment<'_>,
    event: &Event,
    origin: Origin<'_>,
    wake: Option<&outbox_wake::OutboxWake>,
    command: Option<&NewCommand<'_>>,
    jobs: &FirstJobs<'_>,
) -> Result<Option<(PaymentRow, Option<ClaimedJob>)>, sqlx::Error> {
    let sql = format!(
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
             SELECT $15, 'payment.accepted', payment_id, 1, $16, $17, $18, $20 FROM updated),
         recorded AS (
             INSERT INTO commands ({command_columns})
             SELECT $21, $22, $23, $24, $25, $26, $27, $28, $29 FROM updated WHERE $21::text IS NOT NULL){job_ctes}
         SELECT updated.*, CASE WHEN $19::text IS NOT NULL THEN pg_notify($19, '')::text END AS woken,
                {job_columns}
         FROM updated",
        columns = crate::store::payments::COLUMNS,
        command_columns = commands::COLUMNS,
        job_ctes = jobs.ctes("updated", CREATE_PARAMETERS),
        job_columns = jobs.columns(CREATE_PARAMETERS),
    );
    let query = sqlx::query(&sql)
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
        .bind(origin.traceparent);
    let query = jobs.bind(commands::bind_command!(query, command));
    let Some(created) = query.fetch_optional(&mut *conn).await? else {
        return Ok(None);
    };
    let claimed = jobs.claimed_job(
        created.try_get(first_jobs::CLAIMED_ID)?,
        created.try_get(first_jobs::CLAIMED_LEASE)?,
    );
    if jobs.claimed.is_some() && claimed.is_none() {
        // Cannot happen (the job is inserted with the payment); never leave a sale to wait a lease.
        return Err(sqlx::Error::Protocol(format!(
            "{}: the claimed job was not returned",
            new.payment_id
        )));
    }
    Ok(Some((PaymentRow::from_row(&created)?, claimed)))
}
