//! Stuck refund heads settled with evidence (contract §4, added 2026-11-29): an operator asks the
//! provider now (`status-check`), the answer is stored with an id and what it supports, and a
//! release must point to a stored answer about that refund that supports the outcome it records.
//! Without one the refund keeps blocking its queue: a head released on someone's word that later
//! succeeds at the provider would be a double refund once the next one goes (design §1).

use crate::admin::read::refunds::{self as admin_refunds, RefundActionError, RefundChange};
use crate::domain::{RefundEvent, RefundStatus, ReleaseOutcome};
use crate::flows::refund_settle;
use crate::flows::Services;
use crate::ledger::journal::{self, Note};
use crate::store::provider_answers::{self, ProviderAnswer};
use crate::store::{payments, refunds};
use std::time::Duration;

/// The longest an operator waits for the provider (contract §4: synchronous, ≤ 10 s).
pub const ASK_TIMEOUT: Duration = Duration::from_secs(10);

const ACTOR: &str = "admin:status_check";

/// Why an operator's request about a refund was not carried out.
#[derive(Debug, thiserror::Error)]
pub enum EvidenceError {
    #[error(transparent)]
    Refund(#[from] RefundActionError),
    /// Only a refund in flight or in review can be asked about or released.
    #[error("the refund is {0}; only a refund in flight or in review has an outcome to establish")]
    NotStuck(String),
    /// No stored answer about this refund supports the outcome.
    #[error("{0}")]
    Unsupported(String),
    /// The refund's account is paused or its circuit open: no call goes out (503).
    #[error("the refund's provider account is {0}")]
    AccountUnavailable(&'static str),
}

impl From<sqlx::Error> for EvidenceError {
    fn from(error: sqlx::Error) -> Self {
        EvidenceError::Refund(error.into())
    }
}

/// Asks the provider about refund `refund_id` now and stores the answer (audited).
pub async fn status_check(services: &Services, refund_id: &str, actor: &str) -> Result<ProviderAnswer, EvidenceError> {
    let mut conn = services.pool.acquire().await?;
    let refund = refunds::get(&mut conn, refund_id)
        .await?
        .ok_or(RefundActionError::NotFound)?;
    if !matches!(refund.status(), RefundStatus::InFlight | RefundStatus::NeedsReview) {
        return Err(EvidenceError::NotStuck(refund.status.clone()));
    }
    let payment = payments::get(&mut conn, &refund.payment_id)
        .await?
        .ok_or(RefundActionError::NotFound)?;
    drop(conn);
    if let Some(gate) = payment
        .provider
        .parse()
        .ok()
        .and_then(|provider| services.accounts.gate(provider, &payment.account))
    {
        if !gate.allows_calls() {
            return Err(EvidenceError::AccountUnavailable(gate.state().as_str()));
        }
    }
    let (supports, answer) =
        match tokio::time::timeout(ASK_TIMEOUT, refund_settle::ask(services, &payment, &refund, ACTOR)).await {
            Ok((verdict, answer)) => (refund_settle::supports(&verdict), answer),
            Err(_) => (
                "unknown",
                serde_json::json!({"outcome": "no_answer", "reason": format!("no answer within {ASK_TIMEOUT:?}")}),
            ),
        };
    let mut tx = services.pool.begin().await?;
    let stored = provider_answers::insert(&mut tx, refund_id, &refund.payment_id, supports, &answer, actor).await?;
    let detail = serde_json::json!({"action": "refund_status_check", "answer_id": stored.id, "supports": supports});
    journal::note(
        &mut tx,
        &Note {
            payment_id: Some(&refund.payment_id),
            refund_id: Some(refund_id),
            actor,
            reason: None,
            detail,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(stored)
}

/// Records the outcome of a stuck refund, on the evidence of stored answer `answer_id`.
pub async fn release(
    pool: &sqlx::PgPool,
    refund_id: &str,
    outcome: ReleaseOutcome,
    answer_id: Option<i64>,
    reason: &str,
    actor: &str,
) -> Result<RefundChange, EvidenceError> {
    let wanted = match outcome {
        ReleaseOutcome::Succeeded => "succeeded",
        ReleaseOutcome::Declined => "declined",
    };
    let mut conn = pool.acquire().await?;
    let refund = refunds::get(&mut conn, refund_id)
        .await?
        .ok_or(RefundActionError::NotFound)?;
    drop(conn);
    if !matches!(refund.status(), RefundStatus::InFlight | RefundStatus::NeedsReview) {
        // Queued or final: the writer refuses a release with its own reason (`not_sent`,
        // `already_final`), whatever the evidence.
        return Ok(admin_refunds::apply(pool, refund_id, RefundEvent::Release { outcome }, reason, actor).await?);
    }
    let Some(answer_id) = answer_id else {
        return Err(EvidenceError::Unsupported(format!(
            "a release needs answer_id: the id of a stored provider answer that supports {wanted} \
             (POST /admin/v1/refunds/{refund_id}/status-check, or the dashboard's Ask the provider)"
        )));
    };
    let mut conn = pool.acquire().await?;
    let answer = provider_answers::get(&mut conn, answer_id, refund_id).await?;
    drop(conn);
    match answer {
        Some(answer) if answer.supports == wanted => {}
        Some(answer) => {
            return Err(EvidenceError::Unsupported(format!(
                "answer {answer_id} supports {}, not {wanted}",
                answer.supports
            )))
        }
        None => {
            return Err(EvidenceError::Unsupported(format!(
                "no stored answer {answer_id} about refund {refund_id}"
            )))
        }
    }
    let reason = format!("{reason} (provider answer {answer_id})");
    Ok(admin_refunds::apply(pool, refund_id, RefundEvent::Release { outcome }, &reason, actor).await?)
}

/// Provider access for the command line (`bnpl admin refunds status-check`): the accounts of
/// `BNPL_CONFIG`. The built-in sandbox of a `bnpl serve --sandbox` is not reachable from here; ask
/// through the admin API instead.
pub fn cli_services(config: &crate::config::Config, pool: sqlx::PgPool) -> anyhow::Result<Services> {
    let accounts = crate::accounts::Accounts::from_config(config, &config.public_url)?;
    Ok(Services {
        job_committer: crate::flows::completion::job_committer(pool.clone()),
        pool,
        accounts,
        executor: crate::providers::executor::Executor::new(Duration::from_secs(5))?,
        leases: crate::jobs::LeaseKeeper::new(config.jobs.lease),
        refund_hand_off: Default::default(),
        outbox_wake: Default::default(),
    })
}
