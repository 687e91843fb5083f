//! Settling a refund whose outcome we do not know, from the provider's refunded total
//! (providers.md §1.6 "Settling an uncertain refund by status query"): both providers report
//! refunds per payment (APS `refunded_amount`, ecommpay the payment's refund operations).
//!
//! provider total = our succeeded total + the in-flight amount → the refund succeeded;
//! = our succeeded total → not applied yet (keep waiting; past the refund threshold, review);
//! any other figure → review. A refund operation the provider lists as still processing is ours
//! in progress, never "not applied": only a refund the provider shows nothing of may be sent again
//! with the same id. A total the answer does not give is no answer, not zero.

use super::settle::provider_reason;
use super::Services;
use crate::accounts::CallLimiter;
use crate::domain::refund_state::RefundEvent;
use crate::ledger::RefundChange;
use crate::providers::outcome::{DeclinedRefund, Expected, ProviderStatus, StatusOutcome};
use crate::providers::Connector;
use crate::store::payments::PaymentRow;
use crate::store::refunds::{self, RefundRow};
use serde_json::json;

/// What the provider's figures say about the refund in flight.
pub enum Verdict {
    /// Apply this event (succeeded, or review).
    Settle(RefundEvent, Box<RefundChange>),
    /// The provider has not applied it (yet), and lists no refund operation of ours in progress.
    NotApplied,
    /// The provider may hold it unfinished (it lists an operation of ours in progress, or its
    /// answer gives no refunded total): wait, never send it again.
    InProgress,
    /// No usable answer now.
    Unknown(String),
}

/// What the provider answered, as stored for an operator (`provider_answers`).
pub type AnswerSummary = serde_json::Value;

/// Asks the provider about `refund` and decides; the verdict only.
pub async fn ask_provider(
    services: &Services,
    payment: &PaymentRow,
    refund: &RefundRow,
    actor: &'static str,
) -> Verdict {
    ask(services, payment, refund, actor).await.0
}

/// Asks the provider about `refund` and decides: the verdict, and a summary of the answer it rests
/// on (what an operator's release of the refund must point to).
pub async fn ask(
    services: &Services,
    payment: &PaymentRow,
    refund: &RefundRow,
    actor: &'static str,
) -> (Verdict, AnswerSummary) {
    let expected = Expected::money(&payment.payment_id, payment.amount_minor, &payment.currency);
    let outcome = match payment.provider.as_str() {
        "humm" => match services.accounts.humm(Some(&payment.account)) {
            Some(account) => {
                query(
                    services,
                    &account.ecommpay,
                    payment,
                    &expected,
                    account.ecommpay.request_timeout,
                    &account.limiter,
                )
                .await
            }
            None => return unknown("humm account not configured".to_owned()),
        },
        _ => match services.accounts.valu(Some(&payment.account)) {
            Some(account) => {
                query(
                    services,
                    &account.aps,
                    payment,
                    &expected,
                    account.aps.request_timeout,
                    &account.limiter,
                )
                .await
            }
            None => return unknown("valu account not configured".to_owned()),
        },
    };
    let reported = match outcome {
        StatusOutcome::Known(status) => {
            // Without our request id (an uncertain send), an operation can only be ours if no
            // other refund of the payment holds its request id.
            let listed = !status.declined_refunds.is_empty() || !status.refunds_in_progress.is_empty();
            let others = if refund.provider_request_id.is_none() && listed {
                let mut conn = match services.pool.acquire().await {
                    Ok(conn) => conn,
                    Err(error) => return unknown(error.to_string()),
                };
                match refunds::request_ids_of_others(&mut conn, &payment.payment_id, &refund.refund_id).await {
                    Ok(ids) => ids,
                    Err(error) => return unknown(error.to_string()),
                }
            } else {
                Vec::new()
            };
            match read_known(&status, refund, &others, actor) {
                Ok(total) => total,
                Err(decided) => return decided,
            }
        }
        StatusOutcome::NotFound => return unknown("the provider does not know the payment".to_owned()),
        StatusOutcome::Retryable { reason } => return unknown(reason),
        StatusOutcome::Mismatch { reason } => {
            let summary = json!({"outcome": "mismatch", "reason": reason});
            let change = RefundChange {
                actor: actor.to_owned(),
                note: Some(reason),
                ..RefundChange::default()
            };
            return (
                Verdict::Settle(RefundEvent::NoDefiniteAnswer, Box::new(change)),
                summary,
            );
        }
    };
    let mut conn = match services.pool.acquire().await {
        Ok(conn) => conn,
        Err(error) => return unknown(error.to_string()),
    };
    let ours = match refunds::succeeded_total(&mut conn, &payment.payment_id).await {
        Ok(total) => total,
        Err(error) => return unknown(error.to_string()),
    };
    let summary = json!({
        "outcome": "refunded_total",
        "provider_refunded_minor": reported,
        "our_succeeded_minor": ours,
        "in_flight_minor": refund.amount_minor,
    });
    (decide(reported, ours, refund.amount_minor, actor), summary)
}

/// What a status answer that knows the payment says before totals are compared: a decline or
/// failure of this refund, or that the provider may still hold it unfinished (an operation of
/// ours in progress, or no refunded total to compare: wait, never send it again); otherwise the
/// provider's refunded total.
fn read_known(
    status: &ProviderStatus,
    refund: &RefundRow,
    others: &[String],
    actor: &str,
) -> Result<i64, (Verdict, AnswerSummary)> {
    if let Some(ended) = declined_by_provider(status, refund, others) {
        let (event, code, note) = match ended.failed {
            true => (
                RefundEvent::Failed,
                "provider_error",
                "failed at the provider, by status query",
            ),
            false => (RefundEvent::Declined, "declined", "declined, by status query"),
        };
        // The operation's request id is kept: a late copy of its callback is then known as this
        // refund's, never taken for the next one of the same amount.
        let change = RefundChange {
            actor: actor.to_owned(),
            note: Some(note.into()),
            decline: Some(provider_reason(code, &ended.code, &ended.message)),
            provider_request_id: Some(ended.request_id.clone()),
            ..RefundChange::default()
        };
        let summary = json!({
            "outcome": if ended.failed { "failed" } else { "declined" },
            "request_id": ended.request_id, "code": ended.code, "message": ended.message,
            "amount_minor": ended.amount_minor,
        });
        return Err((Verdict::Settle(event, Box::new(change)), summary));
    }
    if in_progress_at_provider(status, refund, others) {
        let summary = json!({"outcome": "processing", "request_id": refund.provider_request_id});
        return Err((Verdict::InProgress, summary));
    }
    // Read as zero, a total the answer does not give would be "not applied" (a resend) or a
    // review; as a retry it would spend the check's attempts long before the refund threshold.
    // Like an unfinished operation, it is waited for on the schedule, to review at the threshold.
    status
        .refunded_minor
        .ok_or_else(|| (Verdict::InProgress, json!({"outcome": "no_refunded_total"})))
}

/// No usable answer: the verdict and its summary.
fn unknown(reason: String) -> (Verdict, AnswerSummary) {
    let summary = json!({"outcome": "no_answer", "reason": reason});
    (Verdict::Unknown(reason), summary)
}

/// What a verdict supports, for an operator's release (contract §4): `succeeded`, `declined` (a
/// decline or a technical failure: no money moved), `pending` (not applied yet) or `unknown`.
pub fn supports(verdict: &Verdict) -> &'static str {
    match verdict {
        Verdict::Settle(RefundEvent::Succeeded, _) => "succeeded",
        Verdict::Settle(RefundEvent::Declined | RefundEvent::Failed, _) => "declined",
        Verdict::NotApplied | Verdict::InProgress => "pending",
        _ => "unknown",
    }
}

/// Whether the provider lists a refund operation that may be this refund, unfinished: one under
/// our request id, or, when the send's answer was lost, any whose request id no other refund of
/// the payment (`others`) holds (only one refund per account is in flight, and waiting is the safe
/// side: a resend could pay twice).
fn in_progress_at_provider(status: &ProviderStatus, refund: &RefundRow, others: &[String]) -> bool {
    status.refunds_in_progress.iter().any(|operation| {
        match (refund.provider_request_id.as_deref(), operation.request_id.as_deref()) {
            (Some(ours), Some(theirs)) => ours == theirs,
            (Some(_), None) => operation.amount_minor == Some(refund.amount_minor),
            (None, Some(theirs)) => !others.iter().any(|other| other == theirs),
            (None, None) => true,
        }
    })
}

/// A definite decline or failure: the provider lists a refund operation that ended without money
/// moving under the request id its answer to our refund gave (ecommpay's status lists operations;
/// totals alone can never show a decline, so without this a refund whose decline callback was
/// lost would end in review).
///
/// When the send's answer was lost we hold no request id. Only one refund per account is ever in
/// flight (providers.md §1.5), so the one such operation for our amount whose request id no other
/// refund of the payment (`others`) holds is ours; with two candidates it stays undecided.
pub fn declined_by_provider<'a>(
    status: &'a ProviderStatus,
    refund: &RefundRow,
    others: &[String],
) -> Option<&'a DeclinedRefund> {
    if let Some(ours) = refund.provider_request_id.as_deref() {
        return status
            .declined_refunds
            .iter()
            .find(|declined| declined.request_id == ours);
    }
    let mut candidates = status.declined_refunds.iter().filter(|declined| {
        declined.amount_minor == Some(refund.amount_minor) && !others.contains(&declined.request_id)
    });
    match (candidates.next(), candidates.next()) {
        (Some(only), None) => Some(only),
        _ => None,
    }
}

/// The rule itself, pure.
pub fn decide(reported: i64, succeeded: i64, in_flight: i64, actor: &'static str) -> Verdict {
    if reported == succeeded + in_flight {
        Verdict::Settle(
            RefundEvent::Succeeded,
            Box::new(RefundChange {
                actor: actor.to_owned(),
                note: Some("confirmed by status query".into()),
                ..RefundChange::default()
            }),
        )
    } else if reported == succeeded {
        Verdict::NotApplied
    } else {
        let note = format!(
            "provider reports {reported} refunded; expected {succeeded} or {}",
            succeeded + in_flight
        );
        Verdict::Settle(
            RefundEvent::NoDefiniteAnswer,
            Box::new(RefundChange {
                actor: actor.to_owned(),
                note: Some(note),
                ..RefundChange::default()
            }),
        )
    }
}

async fn query<C: Connector>(
    services: &Services,
    connector: &C,
    payment: &PaymentRow,
    expected: &Expected,
    timeout: std::time::Duration,
    limiter: &CallLimiter,
) -> StatusOutcome {
    let request = match connector.status_request(&payment.payment_id) {
        Ok(request) => request,
        Err(error) => {
            return StatusOutcome::Retryable {
                reason: error.to_string(),
            }
        }
    };
    match limiter.send(&services.executor, &request, timeout).await {
        Ok(raw) => connector.parse_status(&raw, expected),
        Err(transport) => transport.for_status(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(verdict: &Verdict) -> &'static str {
        match verdict {
            Verdict::Settle(RefundEvent::Succeeded, _) => "succeeded",
            Verdict::Settle(RefundEvent::NoDefiniteAnswer, _) => "review",
            Verdict::Settle(..) => "other",
            Verdict::NotApplied => "not_applied",
            Verdict::InProgress => "in_progress",
            Verdict::Unknown(_) => "unknown",
        }
    }

    #[test]
    fn the_refunded_total_settles_the_refund_in_flight() {
        assert_eq!(kind(&decide(8000, 3000, 5000, "t")), "succeeded");
        assert_eq!(kind(&decide(3000, 3000, 5000, "t")), "not_applied");
        assert_eq!(kind(&decide(0, 0, 5000, "t")), "not_applied");
        assert_eq!(kind(&decide(4000, 3000, 5000, "t")), "review");
        assert_eq!(kind(&decide(13000, 3000, 5000, "t")), "review");
    }

    fn refund_sent_as(request_id: Option<&str>) -> RefundRow {
        RefundRow {
            refund_id: "r-1".into(),
            payment_id: "p-1".into(),
            queue_key: "humm:default".into(),
            position: 1,
            amount_minor: 1000,
            currency: "GBP".into(),
            status: "in_flight".into(),
            review_reason: None,
            reason: None,
            requested_by: "finance".into(),
            provider_request_id: request_id.map(str::to_owned),
            provider_reference: None,
            attempts: 1,
            created_at: chrono::Utc::now(),
            submitted_at: None,
        }
    }

    #[test]
    fn a_declined_operation_under_our_request_id_is_a_definite_decline() {
        let declined = |request_id: &str| DeclinedRefund {
            request_id: request_id.into(),
            code: "20000".into(),
            message: "General decline".into(),
            amount_minor: Some(1000),
            failed: false,
        };
        let status = ProviderStatus {
            state: crate::providers::outcome::PaymentState::Succeeded,
            refunded_minor: Some(0),
            provider_reference: None,
            declined_refunds: vec![declined("req-1"), declined("req-2")],
            refunds_in_progress: Vec::new(),
        };
        let found = declined_by_provider(&status, &refund_sent_as(Some("req-2")), &[]);
        assert_eq!(found.map(|d| d.request_id.as_str()), Some("req-2"));
        assert!(
            declined_by_provider(&status, &refund_sent_as(Some("req-3")), &[]).is_none(),
            "another refund's decline"
        );
        // Without our request id: two candidates are undecided; once the other is known to be
        // another refund's, the remaining one is ours.
        assert!(
            declined_by_provider(&status, &refund_sent_as(None), &[]).is_none(),
            "two candidates, no match"
        );
        let ours = declined_by_provider(&status, &refund_sent_as(None), &["req-1".to_owned()]);
        assert_eq!(ours.map(|d| d.request_id.as_str()), Some("req-2"));
    }

    #[test]
    fn without_our_request_id_only_an_operation_for_our_amount_can_be_ours() {
        let failed = DeclinedRefund {
            request_id: "req-5".into(),
            code: "502".into(),
            message: "Internal error".into(),
            amount_minor: Some(999),
            failed: true,
        };
        let mut status = ProviderStatus {
            state: crate::providers::outcome::PaymentState::Succeeded,
            refunded_minor: Some(0),
            provider_reference: None,
            declined_refunds: vec![failed],
            refunds_in_progress: Vec::new(),
        };
        assert!(declined_by_provider(&status, &refund_sent_as(None), &[]).is_none());
        status.declined_refunds[0].amount_minor = Some(1000);
        let ours = declined_by_provider(&status, &refund_sent_as(None), &[]);
        assert!(ours.is_some_and(|d| d.failed));
    }

    #[test]
    fn a_refund_operation_the_provider_still_processes_may_be_ours_and_is_never_not_applied() {
        let processing = |request_id: Option<&str>, amount: i64| crate::providers::outcome::RefundInProgress {
            request_id: request_id.map(str::to_owned),
            amount_minor: Some(amount),
        };
        let status = |operations| ProviderStatus {
            state: crate::providers::outcome::PaymentState::Succeeded,
            refunded_minor: Some(0),
            provider_reference: None,
            declined_refunds: Vec::new(),
            refunds_in_progress: operations,
        };
        let listed = status(vec![processing(Some("req-7"), 1000)]);
        assert!(in_progress_at_provider(&listed, &refund_sent_as(Some("req-7")), &[]));
        assert!(
            !in_progress_at_provider(&listed, &refund_sent_as(Some("req-8")), &[]),
            "another refund's operation"
        );
        // After a lost answer: any unfinished operation no other refund holds is taken for ours.
        assert!(in_progress_at_provider(&listed, &refund_sent_as(None), &[]));
        assert!(!in_progress_at_provider(
            &listed,
            &refund_sent_as(None),
            &["req-7".to_owned()]
        ));
        assert!(in_progress_at_provider(
            &status(vec![processing(None, 1)]),
            &refund_sent_as(None),
            &[]
        ));
        assert!(!in_progress_at_provider(
            &status(Vec::new()),
            &refund_sent_as(None),
            &[]
        ));
    }

    #[test]
    fn an_answer_without_the_refunded_total_is_waited_for_not_read_as_zero() {
        let mut status = ProviderStatus {
            state: crate::providers::outcome::PaymentState::Succeeded,
            refunded_minor: None,
            provider_reference: None,
            declined_refunds: Vec::new(),
            refunds_in_progress: Vec::new(),
        };
        let refund = refund_sent_as(None);
        assert!(matches!(
            read_known(&status, &refund, &[], "t"),
            Err((Verdict::InProgress, _))
        ));
        status.refunded_minor = Some(0);
        assert_eq!(read_known(&status, &refund, &[], "t").ok(), Some(0));
    }
}
