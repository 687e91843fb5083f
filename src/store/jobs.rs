//! Durable jobs (design §1 "Leases, not timeouts"): every timer and every provider call that must
//! survive a crash is a row with a due time, claimed with `FOR UPDATE SKIP LOCKED`.
//!
//! Invariants:
//! - `available_at` is the due time while scheduled and the lease expiry while running, so a job
//!   whose worker died becomes claimable again when its lease runs out, and the claim query scans
//!   one partial index with no lower time bound (checks missed during downtime still run);
//! - each claim sets a fresh `lease_token`; [`complete`] and [`retry`] only touch the row while
//!   the token still matches, so a worker that lost its lease cannot commit (fencing);
//! - exhausted jobs are kept (state `exhausted`, with their last error), never deleted.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{PgConnection, PgPool};
use std::time::Duration;
use uuid::Uuid;

/// A job to schedule.
#[derive(Debug, Clone)]
pub struct NewJob<'a> {
    pub kind: &'a str,
    pub payment_id: Option<&'a str>,
    pub refund_id: Option<&'a str>,
    /// At most one live (scheduled or running) job per key.
    pub dedupe_key: Option<String>,
    pub payload: Value,
    pub due_at: DateTime<Utc>,
    pub max_attempts: i32,
}

/// A job this worker holds the lease of.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ClaimedJob {
    pub id: i64,
    pub kind: String,
    pub payment_id: Option<String>,
    pub refund_id: Option<String>,
    pub payload: Value,
    pub attempts: i32,
    pub max_attempts: i32,
    pub lease_token: Uuid,
}

/// The lease was lost (another worker re-claimed the job): the caller must roll back.
#[derive(Debug, thiserror::Error)]
#[error("lease lost for job {0}")]
pub struct LeaseLost(pub i64);

/// Binds a job's seven fields in the order the statements below take them; `due` is the due
/// time of a scheduled job or the lease of a claimed one.
macro_rules! bind_job {
    ($query:expr, $job:expr, $due:expr) => {
        $query
            .bind($job.kind)
            .bind($job.payment_id)
            .bind($job.refund_id)
            .bind(&$job.dedupe_key)
            .bind(&$job.payload)
            .bind($due)
            .bind($job.max_attempts)
    };
}

pub(crate) use bind_job;

/// `schedule`'s statement; its placeholders are filled by [`numbered`]. It selects (rather than
/// lists `VALUES`) so that a payment's first jobs can select from the statement that creates the
/// payment ([`super::first_jobs`]) and be written only when the payment is.
pub(super) const SCHEDULE: &str =
    "INSERT INTO jobs (kind, payment_id, refund_id, dedupe_key, payload, available_at, max_attempts, account_key)
     SELECT {kind}, {payment}, {refund}, {dedupe}, {payload}, {due}, {attempts}, {account} {from}
     ON CONFLICT (dedupe_key) WHERE dedupe_key IS NOT NULL AND state IN ('scheduled', 'running')
     DO UPDATE SET available_at = LEAST(jobs.available_at, EXCLUDED.available_at), updated_at = now()
         -- A running job's available_at is its lease expiry: never shorten a lease.
         WHERE jobs.state = 'scheduled'
     RETURNING id";

/// `insert_claimed`'s statement (`{due}` is the lease); its placeholders are filled by
/// [`numbered`].
pub(super) const INSERT_CLAIMED: &str =
    "INSERT INTO jobs (kind, payment_id, refund_id, dedupe_key, payload, available_at, max_attempts,
                       state, attempts, lease_token, account_key)
     SELECT {kind}, {payment}, {refund}, {dedupe}, {payload}, now() + {due}, {attempts}, 'running', 1,
            gen_random_uuid(), {account} {from}
     RETURNING id, kind, payment_id, refund_id, payload, attempts, max_attempts, lease_token";

/// How many parameters one job takes ([`bind_job!`]).
pub(super) const JOB_PARAMETERS: usize = 7;

/// Where a job's account key (`provider:account`) comes from.
#[derive(Debug, Clone, Copy)]
pub(super) enum AccountOf<'a> {
    /// Its payment's row in `payments`.
    Stored,
    /// The payment created by the same statement, in the CTE of this name. A lookup in
    /// `payments` would not see it (a statement's parts share one snapshot), and a job selected
    /// from it is written only when the payment is.
    CreatedBy(&'a str),
}

/// `statement` with the job's seven fields as parameters from `$first` on, in [`bind_job!`]'s
/// order (so one job's statement can follow other parameters in a single statement), and its
/// account key taken from `account`.
pub(super) fn numbered(statement: &str, first: usize, account: AccountOf<'_>) -> String {
    let statement = match account {
        AccountOf::Stored => statement
            .replace(
                "{account}",
                "(SELECT provider || ':' || account FROM payments WHERE payment_id = {payment})",
            )
            .replace("{from}", ""),
        AccountOf::CreatedBy(cte) => statement
            .replace("{account}", &format!("{cte}.provider || ':' || {cte}.account"))
            .replace("{from}", &format!("FROM {cte}")),
    };
    let numbered = [
        "{kind}",
        "{payment}",
        "{refund}",
        "{dedupe}",
        "{payload}",
        "{due}",
        "{attempts}",
    ]
    .iter()
    .enumerate()
    .fold(statement, |sql, (offset, field)| {
        sql.replace(field, &format!("${}", first + offset))
    });
    debug_assert!(!numbered.contains('{'), "a placeholder left unfilled: {numbered}");
    numbered
}

/// Schedules a job; with a `dedupe_key` already scheduled, keeps the earlier due time of the
/// two (a running one is left alone). Returns the new job's id, if one was inserted.
pub async fn schedule(conn: &mut PgConnection, job: &NewJob<'_>) -> Result<Option<i64>, sqlx::Error> {
    static SQL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let sql = SQL.get_or_init(|| numbered(SCHEDULE, 1, AccountOf::Stored));
    bind_job!(sqlx::query_scalar(sql), job, job.due_at)
        .fetch_optional(conn)
        .await
}

/// Inserts a job already claimed by the caller (first attempt, under a lease of `lease`), for work
/// started inline right after the commit that created it. If the caller dies, the lease expires
/// and any runner picks the job up like any other.
pub async fn insert_claimed(
    conn: &mut PgConnection,
    job: &NewJob<'_>,
    lease: Duration,
) -> Result<ClaimedJob, sqlx::Error> {
    static SQL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let sql = SQL.get_or_init(|| numbered(INSERT_CLAIMED, 1, AccountOf::Stored));
    bind_job!(sqlx::query_as(sql), job, interval(lease))
        .fetch_one(conn)
        .await
}

/// The accounts no call may go to now (paused, or a circuit not closed), as an SQL subquery of
/// `account_key`s: the one definition of "closed" that claiming, waking and retrying share.
macro_rules! closed_accounts {
    () => {
        "(SELECT account_key FROM account_states WHERE state IN ('paused', 'open', 'half_open'))"
    };
}

/// Claims up to `limit` due jobs under a lease of `lease`.
pub async fn claim(pool: &PgPool, limit: i64, lease: Duration) -> Result<Vec<ClaimedJob>, sqlx::Error> {
    sqlx::query_as(concat!(
        "UPDATE jobs SET state = 'running', attempts = attempts + 1, lease_token = gen_random_uuid(),
                         available_at = now() + $2, updated_at = now()
         WHERE id IN (
             SELECT id FROM jobs
             WHERE state IN ('scheduled', 'running') AND available_at <= now()
               -- Not the jobs of a paused or open account: they wait, keeping their attempts.
               AND (account_key IS NULL OR account_key NOT IN ",
        closed_accounts!(),
        ")
             ORDER BY available_at
             LIMIT $1
             FOR UPDATE SKIP LOCKED)
         RETURNING id, kind, payment_id, refund_id, payload, attempts, max_attempts, lease_token",
    ))
    .bind(limit)
    .bind(interval(lease))
    .fetch_all(pool)
    .await
}

/// Extends the leases of jobs still running under the given tokens (pairs of `ids[i]`,
/// `tokens[i]`); a job another worker took over keeps its new holder's lease. A job whose row is
/// locked is skipped: it is being completed (possibly in a group-committed batch that also waits
/// on other jobs' rows), and waiting on it could close a lock cycle with that batch.
pub async fn renew(pool: &PgPool, ids: &[i64], tokens: &[Uuid], lease: Duration) -> Result<u64, sqlx::Error> {
    let renewed = sqlx::query(
        "UPDATE jobs SET available_at = now() + $3
         WHERE id IN (
             SELECT jobs.id FROM jobs
             JOIN unnest($1::bigint[], $2::uuid[]) AS held(id, token)
               ON jobs.id = held.id AND jobs.lease_token = held.token
             WHERE jobs.state = 'running'
             FOR UPDATE OF jobs SKIP LOCKED)",
    )
    .bind(ids)
    .bind(tokens)
    .bind(interval(lease))
    .execute(pool)
    .await?;
    Ok(renewed.rows_affected())
}

/// When the next claimable job falls due, if any is scheduled or leased. Jobs of a paused or open
/// account are left out, as [`claim`] leaves them out: they are due, but waiting on them would
/// wake the runner in a loop.
pub async fn next_due(pool: &PgPool) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    sqlx::query_scalar(concat!(
        "SELECT min(available_at) FROM jobs
         WHERE state IN ('scheduled', 'running') AND (account_key IS NULL OR account_key NOT IN ",
        closed_accounts!(),
        ")",
    ))
    .fetch_one(pool)
    .await
}

/// Marks the job done inside the caller's transaction, which also holds the job's effect.
pub async fn complete(conn: &mut PgConnection, job: &ClaimedJob) -> Result<Result<(), LeaseLost>, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE jobs SET state = 'done', lease_token = NULL, updated_at = now()
         WHERE id = $1 AND lease_token = $2 AND state = 'running'",
    )
    .bind(job.id)
    .bind(job.lease_token)
    .execute(conn)
    .await?;
    Ok(if done.rows_affected() == 1 {
        Ok(())
    } else {
        Err(LeaseLost(job.id))
    })
}

/// Schedules another attempt after `delay`, or marks the job exhausted when it has no attempts
/// left. Does nothing if the lease was lost.
pub async fn retry(pool: &PgPool, job: &ClaimedJob, delay: Duration, error: &str) -> Result<(), sqlx::Error> {
    // A job whose account is paused or open now failed because of that (its call was refused
    // before it went out, or its failure opened the circuit): it gets its attempt back and waits,
    // unclaimed, like the account's other jobs, so an outage never exhausts a job.
    sqlx::query(concat!(
        "WITH account AS (
             SELECT EXISTS (SELECT 1 FROM jobs j WHERE j.id = $1 AND j.account_key IN ",
        closed_accounts!(),
        ") AS closed)
         UPDATE jobs SET
             state = CASE WHEN NOT account.closed AND attempts >= max_attempts THEN 'exhausted' ELSE 'scheduled' END,
             attempts = CASE WHEN account.closed THEN GREATEST(attempts - 1, 0) ELSE attempts END,
             available_at = CASE WHEN account.closed THEN now() ELSE now() + $3 END,
             lease_token = NULL, last_error = $4, updated_at = now()
         FROM account
         WHERE id = $1 AND lease_token = $2 AND state = 'running'",
    ))
    .bind(job.id)
    .bind(job.lease_token)
    .bind(interval(delay))
    .bind(error)
    .execute(pool)
    .await?;
    Ok(())
}

/// Cancels live jobs of a payment of the given kinds (e.g. status checks once it is final).
pub async fn cancel_for_payment(conn: &mut PgConnection, payment_id: &str, kinds: &[&str]) -> Result<u64, sqlx::Error> {
    let kinds: Vec<String> = kinds.iter().map(|kind| (*kind).to_owned()).collect();
    let done = sqlx::query(
        "UPDATE jobs SET state = 'cancelled', lease_token = NULL, updated_at = now()
         WHERE payment_id = $1 AND kind = ANY($2) AND state = 'scheduled'",
    )
    .bind(payment_id)
    .bind(&kinds)
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

pub(crate) fn interval(duration: Duration) -> sqlx::postgres::types::PgInterval {
    sqlx::postgres::types::PgInterval {
        months: 0,
        days: 0,
        microseconds: i64::try_from(duration.as_micros()).unwrap_or(i64::MAX),
    }
}

/// Cancels the scheduled (not running) jobs of a payment an operator closed; how many. Its
/// refunds' jobs carry its id too and are left alone: a refund in flight still needs its checks,
/// or it would hold its queue for ever.
pub async fn cancel_scheduled_of_payment(conn: &mut PgConnection, payment_id: &str) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(
        "UPDATE jobs SET state = 'cancelled', lease_token = NULL, updated_at = now()
         WHERE payment_id = $1 AND refund_id IS NULL AND state = 'scheduled'",
    )
    .bind(payment_id)
    .execute(conn)
    .await?
    .rows_affected())
}

/// Wakes the job runners (delivered at commit): a job due now was scheduled.
pub async fn wake(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_notify($1, '')")
        .bind(crate::jobs::runner::NOTIFY_CHANNEL)
        .execute(conn)
        .await?;
    Ok(())
}

/// Puts a claimed job back, due now, with the attempt its claim counted given back (it did not
/// run: its account is paused); only while the caller still holds its lease.
pub async fn defer(pool: &PgPool, job: &ClaimedJob) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE jobs SET state = 'scheduled', attempts = GREATEST(attempts - 1, 0), lease_token = NULL,
                         available_at = now(), updated_at = now()
         WHERE id = $1 AND lease_token = $2 AND state = 'running'",
    )
    .bind(job.id)
    .bind(job.lease_token)
    .execute(pool)
    .await?;
    Ok(())
}

/// What an operator's decision about an exhausted job touched.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ReopenedJob {
    pub id: i64,
    pub kind: String,
    pub payment_id: Option<String>,
    pub refund_id: Option<String>,
}

/// Gives an exhausted job a fresh attempt budget, due now; None when it is not exhausted. A unique
/// violation (23505) means a live job of the same key exists (the caller refuses with 409).
///
/// The budget restarts at one attempt spent, not zero: an exhausted job has run, and may have
/// reached its provider, so its next attempt must be a repeat (`attempts > 1`), which asks the
/// provider before sending anything (design §1: never resend blindly).
pub async fn reopen_exhausted(conn: &mut PgConnection, id: i64) -> Result<Option<ReopenedJob>, sqlx::Error> {
    sqlx::query_as(
        "UPDATE jobs SET state = 'scheduled', attempts = 1, available_at = now(), lease_token = NULL,
                         updated_at = now()
         WHERE id = $1 AND state = 'exhausted'
         RETURNING id, kind, payment_id, refund_id",
    )
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// Closes an exhausted job for good (`cancelled`, with the operator's reason as its last error);
/// None when it is not exhausted.
pub async fn discard_exhausted(
    conn: &mut PgConnection,
    id: i64,
    reason: &str,
) -> Result<Option<ReopenedJob>, sqlx::Error> {
    sqlx::query_as(
        "UPDATE jobs SET state = 'cancelled', last_error = 'discarded: ' || $2, lease_token = NULL, updated_at = now()
         WHERE id = $1 AND state = 'exhausted'
         RETURNING id, kind, payment_id, refund_id",
    )
    .bind(id)
    .bind(reason)
    .fetch_optional(conn)
    .await
}

/// Whether job `id` exists.
pub async fn exists(conn: &mut PgConnection, id: i64) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM jobs WHERE id = $1)")
        .bind(id)
        .fetch_one(conn)
        .await
}

/// Whether a job with `dedupe_key` is live (scheduled or running).
pub async fn live_with_key(conn: &mut PgConnection, dedupe_key: &str) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM jobs WHERE dedupe_key = $1 AND state IN ('scheduled', 'running'))")
        .bind(dedupe_key)
        .fetch_one(conn)
        .await
}
