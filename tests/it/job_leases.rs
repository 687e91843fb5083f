//! Job leases against the real database: a running job's lease is renewed while its holder lives,
//! so a job that outlasts the lease is not taken over twice; once the holder stops renewing (a dead
//! process), the job is claimable one lease later and its old holder can no longer complete it,
//! nor write its effect through the one-statement path; a renewal skips a job whose row is locked.

use crate::helpers::TestDb;
use bnpl::domain::payment_state::PaymentEvent;
use bnpl::jobs::runner::execute_claimed;
use bnpl::jobs::{JobHandler, JobResult, LeaseKeeper};
use bnpl::ledger::payment::{self, Applied, Change, Extras, Outcome};
use bnpl::store::jobs::{self, ClaimedJob, NewJob};
use sqlx::PgPool;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const LEASE: Duration = Duration::from_millis(600);

async fn claim_one(pool: &PgPool) -> ClaimedJob {
    claim_one_for(pool, None, LEASE).await
}

/// A `lease_test` job, of `payment_id` when given, inserted claimed under a lease of `lease`.
async fn claim_one_for(pool: &PgPool, payment_id: Option<&str>, lease: Duration) -> ClaimedJob {
    let mut conn = pool.acquire().await.unwrap();
    let job = NewJob {
        kind: "lease_test",
        payment_id,
        refund_id: None,
        dedupe_key: None,
        payload: serde_json::json!({}),
        due_at: chrono::Utc::now(),
        max_attempts: 5,
    };
    jobs::insert_claimed(&mut conn, &job, lease).await.unwrap()
}

/// Works for longer than several leases, watching that no one else claims the job meanwhile,
/// then completes it under its own token.
struct SlowHandler {
    pool: PgPool,
}

#[async_trait::async_trait]
impl JobHandler for SlowHandler {
    async fn run(&self, job: &ClaimedJob) -> JobResult {
        for _ in 0..10 {
            tokio::time::sleep(LEASE / 3).await;
            let stolen = jobs::claim(&self.pool, 10, LEASE).await.unwrap();
            assert!(
                stolen.is_empty(),
                "job {} taken over while its holder was alive",
                job.id
            );
        }
        let mut tx = self.pool.begin().await.unwrap();
        match jobs::complete(&mut tx, job).await.unwrap() {
            Ok(()) => {
                tx.commit().await.unwrap();
                JobResult::Completed
            }
            Err(_) => JobResult::LeaseLost,
        }
    }
}

#[tokio::test]
async fn a_running_job_keeps_its_lease_past_the_lease_time() {
    let (_db, pool) = TestDb::migrated().await;
    let keeper = LeaseKeeper::new(LEASE);
    let stop = CancellationToken::new();
    let renewing = tokio::spawn(keeper.clone().run(pool.clone(), stop.clone()));
    let job = claim_one(&pool).await;

    execute_claimed(&pool, &SlowHandler { pool: pool.clone() }, &job, &keeper).await;

    let (state, attempts): (String, i32) = sqlx::query_as("SELECT state, attempts FROM jobs WHERE id = $1")
        .bind(job.id)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(
        (state.as_str(), attempts),
        ("done", 1),
        "one run, completed by its holder"
    );
    stop.cancel();
    renewing.await.unwrap();
}

#[tokio::test]
async fn a_job_whose_holder_stopped_renewing_is_taken_over_and_fenced() {
    let (_db, pool) = TestDb::migrated().await;
    let keeper = LeaseKeeper::new(LEASE);
    let job = claim_one(&pool).await;
    // Held, but no renewal loop runs: the holder is as good as dead.
    let _held = keeper.hold(&job);

    assert!(
        jobs::claim(&pool, 10, LEASE).await.unwrap().is_empty(),
        "lease still valid"
    );
    tokio::time::sleep(LEASE + Duration::from_millis(200)).await;
    let rescued = jobs::claim(&pool, 10, LEASE).await.unwrap();
    assert_eq!(rescued.len(), 1, "expired lease is claimable");
    assert_eq!(rescued[0].attempts, 2);

    // The old holder's renewal and completion are both fenced off by the new token.
    let renewed = jobs::renew(&pool, &[job.id], &[job.lease_token], LEASE).await.unwrap();
    assert_eq!(renewed, 0);
    let mut tx = pool.begin().await.unwrap();
    assert!(
        jobs::complete(&mut tx, &job).await.unwrap().is_err(),
        "stale holder cannot complete"
    );
    tx.rollback().await.unwrap();
}

async fn pending_payment(pool: &PgPool, payment_id: &str) {
    let mut conn = pool.acquire().await.unwrap();
    let row = crate::helpers::create_humm_payment(&mut conn, payment_id).await;
    payment::apply(
        &mut conn,
        payment_id,
        Some(&std::sync::Arc::new(row)),
        PaymentEvent::Registered,
        &Change::by("test"),
        Extras::default(),
    )
    .await
    .unwrap();
}

async fn status_and_events(pool: &PgPool, payment_id: &str) -> (String, i64) {
    sqlx::query_as(
        "SELECT status, (SELECT count(*) FROM outbox WHERE payment_id = $1) FROM payments WHERE payment_id = $1",
    )
    .bind(payment_id)
    .fetch_one(pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_job_effect_written_in_one_statement_is_fenced_by_the_lease() {
    let (_db, pool) = TestDb::migrated().await;
    pending_payment(&pool, "fence-1").await;
    let stale = claim_one_for(&pool, Some("fence-1"), LEASE).await;
    let mut conn = pool.acquire().await.unwrap();
    tokio::time::sleep(LEASE + Duration::from_millis(200)).await;
    let current = jobs::claim(&pool, 10, LEASE).await.unwrap().pop().expect("taken over");
    let succeeded = Change::by("test");
    let before = status_and_events(&pool, "fence-1").await;

    let fenced = Extras {
        job: Some(&stale),
        ..Extras::default()
    };
    let written = payment::apply(&mut conn, "fence-1", None, PaymentEvent::Succeeded, &succeeded, fenced)
        .await
        .unwrap();
    assert!(
        matches!(written, Outcome::LeaseLost),
        "the holder that lost its lease writes nothing: {written:?}"
    );
    assert_eq!(status_and_events(&pool, "fence-1").await, before);

    let holding = Extras {
        job: Some(&current),
        ..Extras::default()
    };
    let written = payment::apply(&mut conn, "fence-1", None, PaymentEvent::Succeeded, &succeeded, holding)
        .await
        .unwrap();
    assert!(matches!(written.applied(), Some(Applied::Moved { .. })), "{written:?}");
    assert_eq!(
        status_and_events(&pool, "fence-1").await,
        ("succeeded".to_owned(), before.1 + 1)
    );
    let state: String = sqlx::query_scalar("SELECT state FROM jobs WHERE id = $1")
        .bind(current.id)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(state, "done", "the effect and the job's completion are one write");
}

/// The lease is read from the statement's snapshot. A change that then waits for the payment's
/// lock while another runner takes the job over (its lease ran out) must not stand: it fails, its
/// transaction rolls back, and the payment and the new holder's job are as they were.
#[tokio::test]
async fn a_lease_taken_over_while_the_change_waits_for_the_payment_undoes_the_change() {
    let (_db, pool) = TestDb::migrated().await;
    pending_payment(&pool, "fence-2").await;
    let holder = claim_one_for(&pool, Some("fence-2"), Duration::from_secs(60)).await;
    let before = status_and_events(&pool, "fence-2").await;
    // Another writer holds the payment.
    let mut holding = pool.begin().await.unwrap();
    bnpl::store::payments::lock(&mut holding, "fence-2")
        .await
        .unwrap()
        .expect("payment");
    // The job's effect waits for it, its lease already read.
    let change = tokio::spawn({
        let pool = pool.clone();
        let holder = holder.clone();
        async move {
            let mut tx = pool.begin().await.unwrap();
            let fenced = Extras {
                job: Some(&holder),
                ..Extras::default()
            };
            let result = payment::apply(
                &mut tx,
                "fence-2",
                None,
                PaymentEvent::Succeeded,
                &Change::by("test"),
                fenced,
            )
            .await;
            if result.is_ok() {
                tx.commit().await.unwrap();
            }
            result.map(|outcome| outcome.applied().cloned())
        }
    });
    crate::helpers::wait_for_a_lock_wait(&pool, Duration::from_secs(10)).await;
    // Another runner takes the job over.
    sqlx::query("UPDATE jobs SET lease_token = gen_random_uuid(), updated_at = now() WHERE id = $1")
        .bind(holder.id)
        .execute(&pool)
        .await
        .unwrap();
    holding.commit().await.unwrap();
    let result = change.await.unwrap();
    assert!(result.is_err(), "the change stood without its lease: {result:?}");
    assert_eq!(status_and_events(&pool, "fence-2").await, before);
    let (state, token): (String, Option<uuid::Uuid>) =
        sqlx::query_as("SELECT state, lease_token FROM jobs WHERE id = $1")
            .bind(holder.id)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(state, "running", "the new holder's job is untouched");
    assert!(token.is_some_and(|token| token != holder.lease_token));
}

/// A job whose row is locked (being completed, perhaps in a batch that also waits on other jobs'
/// rows) is skipped by the renewal instead of waited on: waiting could close a lock cycle.
#[tokio::test]
async fn renewal_skips_a_job_whose_row_is_locked_and_renews_it_once_free() {
    let (_db, pool) = TestDb::migrated().await;
    let job = claim_one(&pool).await;
    let mut completing = pool.begin().await.unwrap();
    sqlx::query("SELECT id FROM jobs WHERE id = $1 FOR UPDATE")
        .bind(job.id)
        .execute(&mut *completing)
        .await
        .unwrap();
    let renewed = tokio::time::timeout(
        Duration::from_secs(3),
        jobs::renew(&pool, &[job.id], &[job.lease_token], LEASE),
    )
    .await
    .expect("the renewal waited on a locked job row")
    .unwrap();
    assert_eq!(renewed, 0, "the locked job is left to its holder");
    completing.rollback().await.unwrap();
    let renewed = jobs::renew(&pool, &[job.id], &[job.lease_token], LEASE).await.unwrap();
    assert_eq!(renewed, 1, "renewed once its row is free");
}

/// Never run.
struct MustNotRun;

#[async_trait::async_trait]
impl JobHandler for MustNotRun {
    async fn run(&self, job: &ClaimedJob) -> JobResult {
        panic!("job {} ran past its last attempt", job.id)
    }
}

/// A job whose last attempt never finished (its holder died or it panicked: the lease ran out)
/// is exhausted for ops when it is claimed again, not run again: otherwise a job that kills its
/// runner would be taken over every lease for ever, past `max_attempts`.
#[tokio::test]
async fn a_job_whose_last_attempt_never_finished_is_exhausted_not_run_again() {
    let (_db, pool) = TestDb::migrated().await;
    let first = claim_one(&pool).await;
    // Its last attempt: claimed, then its holder vanished and the lease ran out.
    sqlx::query("UPDATE jobs SET attempts = max_attempts, available_at = now() - interval '1 second' WHERE id = $1")
        .bind(first.id)
        .execute(&pool)
        .await
        .unwrap();
    let again = jobs::claim(&pool, 10, LEASE).await.unwrap();
    assert_eq!(again.len(), 1);
    execute_claimed(&pool, &MustNotRun, &again[0], &LeaseKeeper::new(LEASE)).await;
    let (state, error): (String, Option<String>) = sqlx::query_as("SELECT state, last_error FROM jobs WHERE id = $1")
        .bind(first.id)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(state, "exhausted", "{error:?}");
    assert!(error.unwrap_or_default().contains("never finished"));
}
