//! Job kinds and their timing: when the first status check falls due (intake + base time), when
//! the next one does (the account's schedule), and the threshold decision (threshold + grace).

use crate::config::AccountTiming;
use crate::store::first_jobs::FirstJobs;
use crate::store::jobs::{self, NewJob};
use crate::store::payments::PaymentRow;
use crate::store::refunds::RefundRow;
use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::PgConnection;
use std::time::Duration;

pub const HUMM_SALE: &str = "humm_sale";
pub const STATUS_CHECK: &str = "status_check";
pub const VALU_START: &str = "valu_start";
pub const VALU_CONFIRM: &str = "valu_confirm";
pub const VALU_RESEND: &str = "valu_resend";
pub const OTP_EXPIRY: &str = "otp_expiry";
pub const REFUND_SEND: &str = "refund_send";
pub const REFUND_CHECK: &str = "refund_check";

/// Provider calls that create something are retried this many times before the job is kept as
/// exhausted for ops (each retry first asks the provider what it already has).
const CREATE_ATTEMPTS: i32 = 20;
/// Status checks retry transport failures for long: the threshold decision ends them anyway.
const STATUS_ATTEMPTS: i32 = 1000;

/// Schedules the humm sale call, due at once.
pub async fn humm_sale(conn: &mut PgConnection, payment_id: &str) -> Result<(), sqlx::Error> {
    schedule_now(conn, HUMM_SALE, payment_id, CREATE_ATTEMPTS).await
}

/// A humm Gate payment's first jobs: the sale, claimed by intake so it can send right after its
/// commit (if intake dies, the lease expires and a runner takes the sale over), and the first
/// status check; the runners are woken at commit only for a check already due.
pub fn humm_gate_first_jobs(payment_id: &str, lease: Duration, check_at: DateTime<Utc>) -> FirstJobs<'_> {
    FirstJobs {
        claimed: Some((due_now(HUMM_SALE, payment_id, CREATE_ATTEMPTS), lease)),
        ..first_status_check(payment_id, check_at)
    }
}

/// A humm Payment Page payment's first job: its first status check (nothing exists at ecommpay
/// until the customer opens the page).
pub fn first_status_check(payment_id: &str, check_at: DateTime<Utc>) -> FirstJobs<'_> {
    FirstJobs {
        claimed: None,
        scheduled: vec![status_check_job(payment_id, check_at, 0)],
        wake: (check_at <= Utc::now()).then_some(crate::jobs::runner::NOTIFY_CHANNEL),
    }
}

/// A valU payment's first jobs: CUSTOMER_VERIFY + OTP_GENERATE, due at once (so the runners are
/// woken at commit), and the first status check.
pub fn valu_first_jobs(payment_id: &str, check_at: DateTime<Utc>) -> FirstJobs<'_> {
    FirstJobs {
        claimed: None,
        scheduled: vec![
            due_now(VALU_START, payment_id, CREATE_ATTEMPTS),
            status_check_job(payment_id, check_at, 0),
        ],
        wake: Some(crate::jobs::runner::NOTIFY_CHANNEL),
    }
}

/// Schedules OTP_VERIFY + PURCHASE with the customer's code and plan; None when a confirmation
/// of this payment is already waiting or running. The caller holds the payment's lock, so the
/// check and the insert are one step: a second confirm must be refused, since folded into the
/// first one's job (the dedupe key's upsert) it would be recorded applied and never sent.
pub async fn valu_confirm(
    conn: &mut PgConnection,
    payment_id: &str,
    payload: &serde_json::Value,
) -> Result<Option<i64>, sqlx::Error> {
    let dedupe_key = format!("{VALU_CONFIRM}:{payment_id}");
    if jobs::live_with_key(conn, &dedupe_key).await? {
        return Ok(None);
    }
    let id = jobs::schedule(
        conn,
        &NewJob {
            kind: VALU_CONFIRM,
            payment_id: Some(payment_id),
            refund_id: None,
            dedupe_key: Some(dedupe_key),
            payload: payload.clone(),
            due_at: Utc::now(),
            max_attempts: CREATE_ATTEMPTS,
        },
    )
    .await?;
    wake_runner(conn).await?;
    Ok(id)
}

/// Schedules a new OTP_GENERATE, due at once.
pub async fn valu_resend(conn: &mut PgConnection, payment_id: &str) -> Result<(), sqlx::Error> {
    schedule_now(conn, VALU_RESEND, payment_id, CREATE_ATTEMPTS).await
}

/// Schedules the OTP's expiry check (one per code: a resend schedules its own).
pub async fn otp_expiry(conn: &mut PgConnection, payment_id: &str, at: DateTime<Utc>) -> Result<(), sqlx::Error> {
    jobs::schedule(
        conn,
        &NewJob {
            kind: OTP_EXPIRY,
            payment_id: Some(payment_id),
            refund_id: None,
            dedupe_key: None,
            payload: json!({}),
            due_at: at,
            max_attempts: STATUS_ATTEMPTS,
        },
    )
    .await?;
    Ok(())
}

/// Schedules the refund's send, due at once (after a status query showed it never arrived).
pub async fn refund_send(conn: &mut PgConnection, refund: &RefundRow) -> Result<(), sqlx::Error> {
    jobs::schedule(
        conn,
        &NewJob {
            kind: REFUND_SEND,
            payment_id: Some(&refund.payment_id),
            refund_id: Some(&refund.refund_id),
            dedupe_key: Some(format!("{REFUND_SEND}:{}", refund.refund_id)),
            payload: json!({}),
            due_at: Utc::now(),
            max_attempts: 1000,
        },
    )
    .await?;
    wake_runner(conn).await
}

/// Schedules (or brings forward) a refund's status check.
pub async fn refund_check(
    conn: &mut PgConnection,
    refund: &RefundRow,
    due_at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    jobs::schedule(
        conn,
        &NewJob {
            kind: REFUND_CHECK,
            payment_id: Some(&refund.payment_id),
            refund_id: Some(&refund.refund_id),
            dedupe_key: Some(format!("{REFUND_CHECK}:{}", refund.refund_id)),
            payload: json!({}),
            due_at,
            max_attempts: STATUS_ATTEMPTS,
        },
    )
    .await?;
    if due_at <= Utc::now() {
        wake_runner(conn).await?;
    }
    Ok(())
}

/// Schedules (or brings forward) the payment's status check. `round` indexes the schedule.
pub async fn status_check(
    conn: &mut PgConnection,
    payment_id: &str,
    due_at: DateTime<Utc>,
    round: usize,
) -> Result<(), sqlx::Error> {
    jobs::schedule(conn, &status_check_job(payment_id, due_at, round)).await?;
    if due_at <= Utc::now() {
        wake_runner(conn).await?;
    }
    Ok(())
}

fn status_check_job(payment_id: &str, due_at: DateTime<Utc>, round: usize) -> NewJob<'_> {
    NewJob {
        kind: STATUS_CHECK,
        payment_id: Some(payment_id),
        refund_id: None,
        dedupe_key: Some(format!("{STATUS_CHECK}:{payment_id}")),
        payload: json!({ "round": round }),
        due_at,
        max_attempts: STATUS_ATTEMPTS,
    }
}

/// The first status check of a payment taken in at `intake_at`: intake + base time (intake's
/// clock, as for the threshold: the check is written by the statement that creates the payment).
pub fn first_check_at(intake_at: DateTime<Utc>, timing: &AccountTiming) -> DateTime<Utc> {
    intake_at + to_chrono(timing.base_time)
}

/// The threshold decision: threshold + grace.
pub fn decision_at(row: &PaymentRow, timing: &AccountTiming) -> DateTime<Utc> {
    row.threshold_at + to_chrono(timing.threshold_grace)
}

/// The check after round `round`: the schedule's delay (its last entry repeats), never later
/// than the threshold decision.
pub fn next_check_at(row: &PaymentRow, timing: &AccountTiming, round: usize, now: DateTime<Utc>) -> DateTime<Utc> {
    let schedule = &timing.status_check_schedule;
    let delay = schedule
        .get(round)
        .or(schedule.last())
        .copied()
        .unwrap_or(timing.base_time);
    (now + to_chrono(delay)).min(decision_at(row, timing))
}

async fn schedule_now(conn: &mut PgConnection, kind: &str, payment_id: &str, attempts: i32) -> Result<(), sqlx::Error> {
    jobs::schedule(conn, &due_now(kind, payment_id, attempts)).await?;
    wake_runner(conn).await
}

/// A payment's job of `kind`, due at once, one live at a time.
fn due_now<'a>(kind: &'a str, payment_id: &'a str, attempts: i32) -> NewJob<'a> {
    NewJob {
        kind,
        payment_id: Some(payment_id),
        refund_id: None,
        dedupe_key: Some(format!("{kind}:{payment_id}")),
        payload: json!({}),
        due_at: Utc::now(),
        max_attempts: attempts,
    }
}

/// Wakes the job runners at commit (LISTEN/NOTIFY), so a job due now starts at once.
pub async fn wake_runner(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_notify($1, '')")
        .bind(crate::jobs::runner::NOTIFY_CHANNEL)
        .execute(conn)
        .await?;
    Ok(())
}

pub fn to_chrono(duration: Duration) -> chrono::Duration {
    chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX)
}
