//! Finance records a refund it filed at the provider by hand (manual refund mode, issue 20):
//! `POST /admin/v1/refunds/{refund_id}/record`.
//!
//! Invariants:
//! - only a refund in flight on an account in manual mode can be recorded; recording changes no
//!   status: the refund stays in flight, blocking its queue, until the provider's refund callback
//!   or a status query that shows it settles it, like any other refund;
//! - the provider's reference is kept as the refund's provider request id, so the provider's
//!   callback about it is matched to it (and a copy about another refund is not); the act is
//!   audited with finance's words, and a status query is brought forward;
//! - recording happens under the payment's lock, so two concurrent records cannot both pass the
//!   one-reference check.

use crate::config::RefundMode;
use crate::domain::refund_state::RefundEvent;
use crate::domain::RefundStatus;
use crate::flows::{schedule, Services};
use crate::ledger::journal::{self, Note};
use crate::ledger::refund::{self, RefundChange};
use crate::store::{payments, refunds};
use serde_json::json;

/// The longest provider reference taken.
pub const MAX_REFERENCE: usize = 64;

/// Why a refund was not recorded.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("no such refund")]
    NotFound,
    #[error("the refund is {0}, not in flight or in review: only the refund at the head of its queue can be recorded")]
    NotInFlight(String),
    #[error("another provider reference is recorded for this refund, or this one for another refund of the payment")]
    AlreadyRecorded,
    #[error("the refund's account sends refunds through the provider's API (refund_mode = \"api\")")]
    NotManual,
    #[error("the provider reference must be 1 to {MAX_REFERENCE} printable characters")]
    BadReference,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Records `provider_reference` for `refund_id`, as `actor`, for `reason`.
pub async fn record(
    services: &Services,
    refund_id: &str,
    provider_reference: &str,
    reason: &str,
    actor: &str,
) -> Result<refunds::RefundRow, RecordError> {
    let reference = provider_reference.trim();
    if reference.is_empty() || reference.chars().count() > MAX_REFERENCE || reference.chars().any(char::is_control) {
        return Err(RecordError::BadReference);
    }
    let mut tx = services.pool.begin().await?;
    let payment_id = refunds::get(&mut tx, refund_id)
        .await?
        .ok_or(RecordError::NotFound)?
        .payment_id;
    // Under the payment's lock, as every writer of its refunds: two finance users recording
    // different references at once would otherwise both find none recorded, and the second
    // would silently replace the first (whose callback would then match no refund).
    let payment = payments::lock(&mut tx, &payment_id)
        .await?
        .ok_or(RecordError::NotFound)?;
    let refund = refunds::get(&mut tx, refund_id).await?.ok_or(RecordError::NotFound)?;
    let manual = payment.provider == "humm"
        && services
            .accounts
            .humm(Some(&payment.account))
            .is_some_and(|account| account.refund_mode == RefundMode::Manual);
    if !manual {
        return Err(RecordError::NotManual);
    }
    // In review too: past the refund threshold an unfiled refund goes there, and finance may
    // file it late (a long weekend).
    if !matches!(refund.status(), RefundStatus::InFlight | RefundStatus::NeedsReview) {
        return Err(RecordError::NotInFlight(refund.status.clone()));
    }
    // One reference per refund and one refund per reference: the provider's callback is matched
    // by it, so a second or shared reference would settle the wrong refund or none.
    let other = refund
        .provider_request_id
        .as_deref()
        .is_some_and(|recorded| recorded != reference);
    let shared = refunds::by_request_id(&mut tx, &refund.payment_id, reference)
        .await?
        .is_some_and(|owner| owner.refund_id != refund.refund_id);
    if other || shared {
        return Err(RecordError::AlreadyRecorded);
    }
    let change = RefundChange {
        provider_request_id: Some(reference.to_owned()),
        ..RefundChange::by(actor)
    };
    let (_, refund) = refund::apply(&mut tx, &refund, RefundEvent::RetryLater, &change).await?;
    let note = Note {
        payment_id: Some(&refund.payment_id),
        refund_id: Some(&refund.refund_id),
        reason: Some(reason),
        ..Note::by(
            actor,
            json!({ "action": "record_manual_refund", "provider_reference": reference }),
        )
    };
    journal::note(&mut tx, &note).await?;
    schedule::refund_check(&mut tx, &refund, chrono::Utc::now()).await?;
    tx.commit().await?;
    Ok(refund)
}
