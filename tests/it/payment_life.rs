//! One payment's life under random interleavings (issue 22): a property test generates rounds
//! of provider answers, callbacks (duplicate, reordered, late, forged, from another account),
//! status-query results, expiries and operator resolutions, and submits the steps of each round
//! concurrently through the ledger writer's batched entry (the group committer, design §1b) to
//! real PostgreSQL, where the writer's compare-and-set lives.
//!
//! After every case it reads what the writer stored and checks the promises of contract §3 and
//! design §4: a final status is final except through `payment.resolved`; one final event type per
//! payment (`payment.resolved` aside); `needs_review` only with a reason; gap-free sequences;
//! event hygiene; and the row agrees with its last event.
//!
//! A failure shrinks to a minimal sequence. The run's seed is printed; `PROPTEST_RNG_SEED=<seed>`
//! replays it, and `PROPTEST_CASES` sets the number of cases.

use crate::events::hygiene;
use crate::helpers::{create_humm_payment, TestDb};
use bnpl::domain::{PaymentEvent, PaymentStatus, Provider};
use bnpl::ledger::payment::{self, Change, Extras, Outcome};
use bnpl::providers::ecommpay::signature;
use bnpl::store::group_commit::{GroupCommitter, Unit};
use futures_util::future::{join_all, BoxFuture};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed, TestCaseError, TestRunner};
use secrecy::SecretString;
use serde_json::{json, Value};
use sqlx::{PgConnection, PgPool};
use std::sync::{Arc, Mutex};

const ACCOUNT: &str = "default";
const OTHER_ACCOUNT: &str = "other";

/// Who signed a callback.
#[derive(Debug, Clone, Copy)]
enum Signer {
    /// The payment's own account.
    Own,
    /// Another account of the same provider: verified, but not this payment's.
    Other,
    /// Nobody we know: the signature does not verify.
    Forged,
}

/// One thing that happens to the payment.
#[derive(Debug, Clone, Copy)]
enum Step {
    /// The answer to one of our calls, recorded by its job.
    Answer(PaymentEvent),
    /// A callback saying `event`.
    Callback(PaymentEvent, Signer),
    /// A status query's result.
    Status(PaymentEvent),
    /// The payment's lifetime ran out.
    Expiry,
    /// The threshold passed with no definite answer.
    Threshold,
    /// An operator resolves it.
    Resolve(PaymentStatus),
}

fn provider_event() -> impl Strategy<Value = PaymentEvent> {
    prop::sample::select(vec![
        PaymentEvent::Registered,
        PaymentEvent::ActionRequired,
        PaymentEvent::ConfirmSent,
        PaymentEvent::Succeeded,
        PaymentEvent::Declined,
        PaymentEvent::Failed,
        PaymentEvent::Contradiction,
    ])
}

fn step() -> impl Strategy<Value = Step> {
    let signer = prop::sample::select(vec![Signer::Own, Signer::Own, Signer::Other, Signer::Forged]);
    let resolve_to = prop::sample::select(PaymentStatus::ALL.to_vec());
    prop_oneof![
        3 => provider_event().prop_map(Step::Answer),
        4 => (provider_event(), signer).prop_map(|(event, signer)| Step::Callback(event, signer)),
        2 => provider_event().prop_map(Step::Status),
        1 => Just(Step::Expiry),
        1 => Just(Step::Threshold),
        1 => resolve_to.prop_map(Step::Resolve),
    ]
}

/// Rounds of one to three steps; the steps of a round are submitted at once.
fn life() -> impl Strategy<Value = Vec<Vec<Step>>> {
    prop::collection::vec(prop::collection::vec(step(), 1..=3), 1..=8)
}

/// One step as the writer sees it, applied in the group committer's next batch.
struct Submitted {
    payment_id: String,
    event: PaymentEvent,
    change: Change,
    owner: Option<(Provider, &'static str)>,
    outcome: Mutex<Option<Outcome>>,
}

impl Unit for Submitted {
    fn apply<'c>(&'c self, conn: &'c mut PgConnection) -> BoxFuture<'c, Result<(), sqlx::Error>> {
        Box::pin(async move {
            let extras = Extras {
                owner: self.owner,
                ..Extras::default()
            };
            let outcome = payment::apply(conn, &self.payment_id, None, self.event, &self.change, extras).await?;
            *self.outcome.lock().unwrap() = Some(outcome);
            Ok(())
        })
    }

    fn key(&self) -> Option<&str> {
        Some(&self.payment_id)
    }

    fn rolled_back(&self) {
        bnpl::ledger::rows::forget(&self.payment_id);
    }
}

/// The unit a step hands the writer; None when it never reaches the writer (a forged callback
/// fails verification first: checked here with the real signature code).
fn submitted(payment_id: &str, step: Step, secret: &SecretString) -> Option<Submitted> {
    let (event, actor, owner) = match step {
        Step::Answer(event) => (event, "job:humm_sale", None),
        Step::Status(event) => (event, "job:status_check", None),
        Step::Expiry => (PaymentEvent::Expired, "job:expiry", None),
        Step::Threshold => (PaymentEvent::NoDefiniteAnswer, "job:status_check", None),
        Step::Resolve(to) => (PaymentEvent::Resolve { to }, "operator:alice", None),
        Step::Callback(event, signer) => {
            let mut document = json!({"project_id": 1, "payment": {"id": payment_id, "status": format!("{event:?}")}});
            let key = match signer {
                Signer::Forged => SecretString::from("not-the-key"),
                Signer::Own | Signer::Other => secret.clone(),
            };
            signature::sign_in_place(&mut document, &key);
            if !signature::verify(&document, secret) {
                return None;
            }
            let account = match signer {
                Signer::Other => OTHER_ACCOUNT,
                _ => ACCOUNT,
            };
            (event, "callback:ecommpay", Some((Provider::Humm, account)))
        }
    };
    let mut change = Change::by(actor);
    match event {
        PaymentEvent::Declined | PaymentEvent::Failed => {
            change.reason = Some(bnpl::domain::events::Reason::new("declined", "the provider said no"));
        }
        PaymentEvent::Resolve { .. } => change.note = Some("checked with the provider by phone".into()),
        _ => {}
    }
    Some(Submitted {
        payment_id: payment_id.to_owned(),
        event,
        change,
        owner,
        outcome: Mutex::new(None),
    })
}

async fn create_payment(pool: &PgPool, payment_id: &str) {
    let mut conn = pool.acquire().await.unwrap();
    create_humm_payment(&mut conn, payment_id).await;
}

/// Plays one life on a fresh payment; the units another account signed come back with it.
async fn play(pool: &PgPool, committer: &GroupCommitter, payment_id: &str, life: &[Vec<Step>]) -> Vec<Arc<Submitted>> {
    create_payment(pool, payment_id).await;
    let secret = SecretString::from("project-secret");
    let mut foreign = Vec::new();
    for round in life {
        let units: Vec<(Step, Arc<Submitted>)> = round
            .iter()
            .filter_map(|&step| submitted(payment_id, step, &secret).map(|unit| (step, Arc::new(unit))))
            .collect();
        let results = join_all(
            units
                .iter()
                .map(|(_, unit)| committer.apply(Arc::clone(unit) as Arc<dyn Unit>)),
        )
        .await;
        for ((step, unit), result) in units.into_iter().zip(results) {
            result.unwrap();
            if matches!(step, Step::Callback(_, Signer::Other)) {
                foreign.push(unit);
            }
        }
    }
    foreign
}

/// The stored events of a payment, in sequence order.
async fn events_of(pool: &PgPool, payment_id: &str) -> Vec<(i64, Value)> {
    sqlx::query_as("SELECT sequence, body FROM outbox WHERE payment_id = $1 ORDER BY sequence")
        .bind(payment_id)
        .fetch_all(pool)
        .await
        .unwrap()
}

const FINAL_TYPES: [&str; 4] = [
    "payment.succeeded",
    "payment.declined",
    "payment.failed",
    "payment.expired",
];

/// Every promise of one payment's stored life; the first one broken, in words.
async fn check(pool: &PgPool, payment_id: &str, foreign: &[Arc<Submitted>]) -> Result<(), String> {
    let events = events_of(pool, payment_id).await;
    let (status, review_reason): (String, Option<String>) =
        sqlx::query_as("SELECT status, review_reason FROM payments WHERE payment_id = $1")
            .bind(payment_id)
            .fetch_one(pool)
            .await
            .unwrap();
    let sequences: Vec<i64> = events.iter().map(|(sequence, _)| *sequence).collect();
    if sequences != (1..=events.len() as i64).collect::<Vec<_>>() {
        return Err(format!("sequences are not 1..n without gaps: {sequences:?}"));
    }
    let mut current: Option<PaymentStatus> = None;
    let mut final_events = Vec::new();
    for (sequence, body) in &events {
        let kind = body["type"].as_str().unwrap_or_default();
        if let Some(problem) = hygiene(body).first() {
            return Err(format!("event {sequence}: {problem}"));
        }
        let announced: PaymentStatus = body["status"]
            .as_str()
            .unwrap_or_default()
            .parse()
            .map_err(|_| format!("event {sequence} ({kind}) has no payment status"))?;
        if kind == "payment.needs_review" && body["reason"]["code"].as_str().is_none() {
            return Err(format!("event {sequence}: needs_review without a reason"));
        }
        if let Some(before) = current.filter(|before| before.is_final()) {
            if announced != before && kind != "payment.resolved" {
                return Err(format!(
                    "event {sequence} ({kind}) moved final {before} to {announced} without payment.resolved"
                ));
            }
        }
        if FINAL_TYPES.contains(&kind) {
            final_events.push(kind.to_owned());
        }
        current = Some(announced);
    }
    // One final event at most (of one type), `payment.resolved` aside: a second one, of the same
    // type or not, would tell consumers the payment ended twice.
    if final_events.len() > 1 {
        return Err(format!("more than one final event: {final_events:?}"));
    }
    let stored: PaymentStatus = status.parse().map_err(|_| format!("stored status {status}"))?;
    if current != Some(stored) {
        return Err(format!("the row says {stored}, its last event {current:?}"));
    }
    if stored == PaymentStatus::NeedsReview && review_reason.is_none() {
        return Err("in needs_review without a review reason".to_owned());
    }
    // A final payment whose last word is a review (a provider contradicting it) stays flagged.
    let last_kind = events.last().and_then(|(_, body)| body["type"].as_str());
    if last_kind == Some("payment.needs_review") && review_reason.is_none() {
        return Err("announced needs_review, but the row has no review reason".to_owned());
    }
    for unit in foreign {
        if !matches!(*unit.outcome.lock().unwrap(), Some(Outcome::Mismatch { .. })) {
            return Err(format!("another account's {:?} callback was not refused", unit.event));
        }
    }
    Ok(())
}

/// The seed of this run: `PROPTEST_RNG_SEED` to replay one, else a fresh one (printed).
fn seed() -> u64 {
    std::env::var("PROPTEST_RNG_SEED")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or_else(rand_seed)
}

fn rand_seed() -> u64 {
    u64::from_le_bytes(uuid::Uuid::new_v4().as_bytes()[..8].try_into().unwrap())
}

#[test]
fn a_payment_keeps_its_promises_under_random_interleavings() {
    let seed = seed();
    println!("payment life: seed {seed} (replay with PROPTEST_RNG_SEED={seed})");
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(256);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (db, pool) = runtime.block_on(async {
        let db = TestDb::create().await;
        let pool = db.pool().await;
        bnpl::store::migrate(&pool).await.unwrap();
        (db, pool)
    });
    let committer = runtime.block_on(async { GroupCommitter::start(pool.clone(), 2, 8) });
    let config = Config {
        cases,
        rng_seed: RngSeed::Fixed(seed),
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let result = runner.run(&life(), |life| {
        let payment_id = format!("life-{}", uuid::Uuid::new_v4().simple());
        runtime
            .block_on(async {
                let foreign = play(&pool, &committer, &payment_id, &life).await;
                check(&pool, &payment_id, &foreign).await
            })
            .map_err(TestCaseError::fail)
    });
    drop(committer);
    drop(db);
    if let Err(failure) = result {
        panic!("{failure}\nreplay with PROPTEST_RNG_SEED={seed}");
    }
}
