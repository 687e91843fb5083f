//! `refund.create` and `refund.cancel` (contract §2): the balance check and the enqueue in one
//! transaction under the payment's row lock; `refund_id` is the idempotency key.

use super::purchase_create::Refusal;
use super::Services;
use crate::config::RefundQueueScope;
use crate::domain::balance::{self, ExistingRefund};
use crate::domain::refund_state::RefundEvent;
use crate::domain::{Money, PaymentStatus, RefundId, RefundStatus};
use crate::ledger::{self, RefundApplied, RefundChange};
use crate::store::payments;
use crate::store::refunds::{self, NewRefund, RefundRow};
use serde::Deserialize;
use sqlx::PgConnection;

/// The `refund.create` body.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[schemars(title = "refund.create")]
pub struct RefundCreate {
    pub refund_id: RefundId,
    #[schemars(with = "crate::domain::PaymentId")]
    pub payment_id: String,
    pub amount: Money,
    #[schemars(length(max = 500))]
    pub reason: Option<String>,
}

/// What storing the command did.
pub enum Stored {
    Queued(Box<RefundRow>),
    Duplicate,
    Refused(Refusal),
}

fn refused(code: &'static str, message: impl Into<String>) -> Stored {
    Stored::Refused(Refusal {
        code,
        message: message.into(),
    })
}

/// Checks and enqueues a refund; the caller commits.
pub async fn store(
    conn: &mut PgConnection,
    services: &Services,
    command: &RefundCreate,
    requested_by: &str,
    origin: ledger::Origin<'_>,
) -> Result<Stored, sqlx::Error> {
    let refund_id = command.refund_id.as_str();
    let payment = payments::lock(conn, &command.payment_id).await?;
    // Only under the payment's lock: a copy of this very command processed at the same time (a
    // re-published command, two intake workers) has then either committed its refund, making this
    // a duplicate, or not begun. Checked before the lock, both copies passed as new, and the
    // second was weighed against the balance with the first already counted (the fault suite's
    // strict classes caught it as a false `over_refund`).
    if let Some(existing) = refunds::get(conn, refund_id).await? {
        let same = existing.payment_id == command.payment_id
            && existing.amount_minor == command.amount.minor
            && existing.currency == command.amount.currency.as_str();
        return Ok(if same {
            Stored::Duplicate
        } else {
            refused("conflict", "refund_id is already used by a different refund")
        });
    }
    let Some(payment) = payment else {
        return Ok(refused(
            "unknown_payment",
            format!("no payment {:?}", command.payment_id),
        ));
    };
    if payment.status() != PaymentStatus::Succeeded {
        return Ok(refused(
            "not_refundable",
            format!("the payment is {}, not succeeded", payment.status),
        ));
    }
    let captured = Money::new(
        payment.amount_minor,
        payment.currency.parse().unwrap_or(command.amount.currency),
    );
    let existing: Vec<ExistingRefund> = refunds::of_payment(conn, &payment.payment_id)
        .await?
        .iter()
        .filter_map(|refund| {
            Some(ExistingRefund {
                status: refund.status.parse().ok()?,
                amount: Money::new(refund.amount_minor, refund.currency.parse().ok()?),
                flagged: refund.review_reason.is_some(),
            })
        })
        .collect();
    if let Err(error) = balance::check_refund(captured, &existing, command.amount) {
        return Ok(refused(error.code(), error.to_string()));
    }
    let scope = match payment.provider.as_str() {
        "humm" => services
            .accounts
            .humm(Some(&payment.account))
            .map(|a| a.limits.refund_queue_scope),
        _ => services
            .accounts
            .valu(Some(&payment.account))
            .map(|a| a.limits.refund_queue_scope),
    };
    let queue_key = match scope.unwrap_or(RefundQueueScope::Account) {
        RefundQueueScope::Account => format!("{}:{}", payment.provider, payment.account),
        RefundQueueScope::Payment => format!("{}:{}:{}", payment.provider, payment.account, payment.payment_id),
    };
    let new = NewRefund {
        refund_id,
        payment_id: &payment.payment_id,
        provider: &payment.provider,
        account: &payment.account,
        queue_key: &queue_key,
        amount_minor: command.amount.minor,
        currency: command.amount.currency.as_str(),
        reason: command.reason.as_deref(),
        requested_by,
    };
    let refund = ledger::refund::enqueue(conn, &new, &payment, origin).await?;
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(refunds::NOTIFY_CHANNEL)
        .bind(&queue_key)
        .execute(&mut *conn)
        .await?;
    Ok(Stored::Queued(Box::new(refund)))
}

/// What `refund.cancel` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cancelled {
    /// The queued refund is cancelled now.
    Now,
    /// It was cancelled before (a redelivered or repeated cancel, or ops cancelled it): nothing
    /// changes and nothing is announced again.
    Already,
}

/// `refund.cancel`: only a refund still queued (never sent) can be cancelled.
pub async fn cancel(
    conn: &mut PgConnection,
    refund_id: &str,
    by: &str,
) -> Result<Result<Cancelled, Refusal>, sqlx::Error> {
    let Some(refund) = refunds::get(conn, refund_id).await? else {
        return Ok(Err(Refusal {
            code: "unknown_refund",
            message: format!("no refund {refund_id:?}"),
        }));
    };
    // Every refund change holds the payment's lock (sequence order), then re-reads the refund.
    payments::lock(conn, &refund.payment_id).await?;
    let Some(refund) = refunds::get(conn, refund_id).await? else {
        return Ok(Err(Refusal {
            code: "unknown_refund",
            message: format!("no refund {refund_id:?}"),
        }));
    };
    let change = RefundChange {
        note: Some(format!("cancelled by {by}")),
        ..RefundChange::by("intake")
    };
    Ok(
        match ledger::refund::apply(conn, &refund, RefundEvent::Cancel, &change)
            .await?
            .0
        {
            RefundApplied::Moved { .. } => Ok(Cancelled::Now),
            RefundApplied::Ignored if refund.status() == RefundStatus::Cancelled => Ok(Cancelled::Already),
            _ => Err(Refusal {
                code: "not_cancellable",
                message: format!("the refund is {}; only a queued refund can be cancelled", refund.status),
            }),
        },
    )
}
