//! The jobs a new payment starts with (its first provider call and its first status check),
//! written by the statement that creates the payment (`ledger::payment::create`), so a purchase's
//! intake is one round trip.
//!
//! Invariants:
//! - the jobs are [`jobs`]' own statements, numbered after the creating statement's parameters;
//! - they select from the statement's CTE holding the created payment: a duplicate or conflicting
//!   command creates no payment and so writes no job, and each job's account key is its payment's;
//! - a job inserted claimed runs inline right after the commit; if its caller dies, the lease
//!   expires and any runner takes it over, as with [`jobs::insert_claimed`].

use super::jobs::{self, bind_job, AccountOf, ClaimedJob, NewJob, INSERT_CLAIMED, JOB_PARAMETERS, SCHEDULE};
use sqlx::postgres::PgArguments;
use sqlx::query::Query;
use sqlx::Postgres;
use std::time::Duration;
use uuid::Uuid;

/// What a new payment's creating statement schedules with it.
#[derive(Debug, Default)]
pub struct FirstJobs<'a> {
    /// A job the caller runs inline after the commit, inserted claimed under this lease.
    pub claimed: Option<(NewJob<'a>, Duration)>,
    /// Jobs scheduled at their due time.
    pub scheduled: Vec<NewJob<'a>>,
    /// The job runners' channel, to `NOTIFY` at commit when a scheduled job is already due.
    pub wake: Option<&'static str>,
}

/// The names of the columns [`FirstJobs::columns`] adds, read by [`FirstJobs::claimed_job`].
pub const CLAIMED_ID: &str = "claimed_job_id";
pub const CLAIMED_LEASE: &str = "claimed_job_lease";

impl FirstJobs<'_> {
    /// The CTEs to append to a statement whose created payment is in CTE `created` and whose
    /// own parameters end at `$last` (each starts with a comma).
    pub fn ctes(&self, created: &str, last: usize) -> String {
        let mut next = last + 1;
        let mut ctes = String::new();
        if self.claimed.is_some() {
            let statement = jobs::numbered(INSERT_CLAIMED, next, AccountOf::CreatedBy(created));
            ctes.push_str(&format!(", claimed_job AS ({statement})"));
            next += JOB_PARAMETERS;
        }
        for index in 0..self.scheduled.len() {
            let statement = jobs::numbered(SCHEDULE, next, AccountOf::CreatedBy(created));
            ctes.push_str(&format!(", scheduled_job_{index} AS ({statement})"));
            next += JOB_PARAMETERS;
        }
        ctes
    }

    /// The columns to add to the statement's final `SELECT` (one row per created payment): the
    /// claimed job's id and lease, and the runners' wake-up. `last` as for [`Self::ctes`].
    pub fn columns(&self, last: usize) -> String {
        let claimed = match self.claimed {
            Some(_) => format!(
                "(SELECT id FROM claimed_job) AS {CLAIMED_ID}, (SELECT lease_token FROM claimed_job) AS {CLAIMED_LEASE}"
            ),
            None => format!("NULL::bigint AS {CLAIMED_ID}, NULL::uuid AS {CLAIMED_LEASE}"),
        };
        let wake = last + 1 + JOB_PARAMETERS * self.jobs();
        match self.wake {
            Some(_) => format!("{claimed}, pg_notify(${wake}, '')::text AS runners_woken"),
            None => claimed,
        }
    }

    /// Binds the jobs' parameters, in the order [`Self::ctes`] and [`Self::columns`] number them.
    pub fn bind<'q>(&'q self, query: Query<'q, Postgres, PgArguments>) -> Query<'q, Postgres, PgArguments> {
        let mut query = query;
        if let Some((job, lease)) = &self.claimed {
            query = bind_job!(query, job, jobs::interval(*lease));
        }
        for job in &self.scheduled {
            query = bind_job!(query, job, job.due_at);
        }
        match self.wake {
            Some(channel) => query.bind(channel),
            None => query,
        }
    }

    /// The claimed job as its caller holds it, from the id and lease the statement returned.
    pub fn claimed_job(&self, id: Option<i64>, lease_token: Option<Uuid>) -> Option<ClaimedJob> {
        let (job, _) = self.claimed.as_ref()?;
        Some(ClaimedJob {
            id: id?,
            kind: job.kind.to_owned(),
            payment_id: job.payment_id.map(str::to_owned),
            refund_id: job.refund_id.map(str::to_owned),
            payload: job.payload.clone(),
            attempts: 1,
            max_attempts: job.max_attempts,
            lease_token: lease_token?,
        })
    }

    fn jobs(&self) -> usize {
        usize::from(self.claimed.is_some()) + self.scheduled.len()
    }
}
