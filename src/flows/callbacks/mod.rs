//! Applying provider callbacks (design §1 "Callbacks are hints"): verify the signature in
//! constant time, bind the callback to the account that signed it, then hand the change to the
//! ledger, which stores the raw body with the change it causes. Verified callbacks that arrive
//! together are applied in one transaction (group commit, design §1b), and each is answered only
//! after it committed.
//!
//! A callback that fails verification is refused (400), stored truncated, counted and changes
//! nothing. One that verifies but is about another account's or provider's payment is refused
//! (400) as `account_mismatch`. One that verifies but whose reference could never be one of our
//! payments (missing, or not an id) is one about a payment we never created: stored whole as
//! `unknown_payment` and answered 200. One that verifies but says nothing definite (still
//! pending, an operation we did not send) brings the status check forward. Stale and duplicate callbacks, and
//! callbacks about payments we never created, are stored and answered 200 so the provider stops
//! retrying.
//!
//! - [`ecommpay`]: `POST /callbacks/ecommpay` (humm);
//! - [`aps`]: `POST /callbacks/aps` (valU);
//! - [`refunds`]: refund results, for both.

pub mod aps;
pub mod ecommpay;
pub mod external;
pub mod refunds;

use super::{schedule, Services};
use crate::domain::payment_state::PaymentEvent;
use crate::domain::Provider;
use crate::flows::refund_hand_off::RefundHandOff;
use crate::ledger::payment::{self, Applied, Change, Extras, Outcome, RawCallback};
use crate::ledger::refund::Promotions;
use crate::store::group_commit::{GroupCommitter, LastRun, Unit};
use crate::store::inbound_callbacks;
use crate::store::outbox_wake::OutboxWake;
use crate::store::payments::PaymentRow;
use chrono::Utc;
use futures_util::future::BoxFuture;
use sqlx::PgConnection;
use std::sync::Arc;

/// Applies a verified callback to the payment it names, on the shared connection; what it leaves
/// for after the commit goes into the [`AfterCommit`].
type ApplyVerified<P> = for<'c> fn(
    &'c mut PgConnection,
    &'c str,
    &'c P,
    &'c [u8],
    &'c AfterCommit,
) -> BoxFuture<'c, Result<Reply, sqlx::Error>>;

/// What a callback's batch hands on once it committed: the refund a freed queue promoted (to
/// this process's dispatcher), and the wake-up of this process's relay (the payment changes of
/// a callback send no `NOTIFY` while that relay leads, `store::outbox_wake`).
pub struct AfterCommit {
    promotions: Option<Arc<Promotions>>,
    wake: Arc<OutboxWake>,
}

impl AfterCommit {
    /// Where a refund this callback ends promotes its queue's next refund, when this process
    /// sends it.
    pub fn promotions(&self) -> Option<&Arc<Promotions>> {
        self.promotions.as_ref()
    }

    /// The relay to ring after the commit.
    pub fn wake(&self) -> &OutboxWake {
        &self.wake
    }
}

/// A verified callback (`P`: the provider's parsed form), applied in a transaction shared with
/// the callbacks that arrive with it (group commit, design §1b).
struct VerifiedCallback<P> {
    /// The payment it names: the batch's lock order, and the cached row to forget on a rollback.
    payment_id: String,
    account: String,
    parsed: P,
    body: Vec<u8>,
    apply: ApplyVerified<P>,
    /// What the last run answered; read once the transaction committed.
    reply: LastRun<Reply>,
    /// The refund the last run promoted (its queue freed by this callback), handed to this
    /// process's dispatcher once the transaction committed, and the relay to wake then.
    after: AfterCommit,
    hand_off: RefundHandOff,
}

impl<P: Send + Sync + 'static> Unit for VerifiedCallback<P> {
    fn apply<'c>(&'c self, conn: &'c mut PgConnection) -> BoxFuture<'c, Result<(), sqlx::Error>> {
        Box::pin(async move {
            // What an earlier, rolled-back run promoted never happened.
            if let Some(promotions) = self.after.promotions() {
                promotions.take();
            }
            let reply = (self.apply)(conn, &self.account, &self.parsed, &self.body, &self.after).await?;
            self.reply.set(reply);
            Ok(())
        })
    }

    fn key(&self) -> Option<&str> {
        Some(&self.payment_id)
    }

    fn rolled_back(&self) {
        crate::ledger::rows::forget(&self.payment_id);
        // A commit whose outcome was unknown may have landed without its `NOTIFY`; a spurious
        // ring costs the relay one read.
        self.after.wake.ring();
    }

    fn committed(&self) {
        self.hand_off.deliver(self.after.promotions());
        self.after.wake.ring();
    }
}

/// Applies a callback `account` signed about `payment_id` in the committer's next batch, and
/// returns its answer once that batch committed: the provider hears 200 only for a stored
/// callback. A refund queue it freed has its next refund on the way to the sender by then.
async fn apply_in_batch<P: Send + Sync + 'static>(
    services: &Services,
    committer: &GroupCommitter,
    payment_id: &str,
    account: &str,
    parsed: P,
    body: &[u8],
    apply: ApplyVerified<P>,
) -> Result<Reply, sqlx::Error> {
    let unit = Arc::new(VerifiedCallback {
        payment_id: payment_id.to_owned(),
        account: account.to_owned(),
        parsed,
        body: body.to_vec(),
        apply,
        reply: LastRun::default(),
        after: AfterCommit {
            promotions: services.refund_promotions(),
            wake: Arc::clone(&services.outbox_wake),
        },
        hand_off: services.refund_hand_off.clone(),
    });
    committer.apply(Arc::clone(&unit) as Arc<dyn Unit>).await?;
    Ok(unit.reply.take().unwrap_or(Reply::Accepted))
}

/// How to answer the provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// Stored (and applied, or recognised as stale, a duplicate, or about a payment we do not
    /// have): 200.
    Accepted,
    /// Missing or wrong signature, or a sender we cannot verify: 400.
    Forged,
    /// Not the provider's format: 400.
    Malformed,
    /// Verified, but signed by another account or provider than the payment's: 400, stored as
    /// `account_mismatch`, and not charged to the sender (a real provider sent it).
    AccountMismatch,
    /// Not verified, from a sender blocked for too many refused callbacks: 429, not stored.
    Throttled,
}

/// Who signed a verified callback: it may touch only this provider's and account's payments
/// (contract §7).
#[derive(Debug, Clone, Copy)]
pub struct Signer<'a> {
    pub provider: Provider,
    pub account: &'a str,
}

impl Signer<'_> {
    /// True when the payment belongs to the signer.
    fn owns(&self, row: &PaymentRow) -> bool {
        row.provider == self.provider.as_str() && row.account == self.account
    }
}

/// A verified callback on its way to the ledger: who signed it and its raw body, and the relay
/// its batch rings after the commit.
struct Delivery<'a> {
    provider: &'static str,
    signer: Signer<'a>,
    body: &'a [u8],
    wake: &'a OutboxWake,
}

impl Delivery<'_> {
    fn extras(&self, with_body: bool) -> Extras<'_> {
        Extras {
            owner: Some((self.signer.provider, self.signer.account)),
            raw: with_body.then_some(RawCallback {
                provider: self.provider,
                body: self.body,
            }),
            wake: Some(self.wake),
            ..Extras::default()
        }
    }

    /// Applies `event` to `row` through the ledger; the raw body is stored with the change.
    /// Returns the outcome's label and the payment as it is now.
    async fn apply(
        &self,
        conn: &mut PgConnection,
        row: &Arc<PaymentRow>,
        event: PaymentEvent,
        change: Change,
    ) -> Result<(&'static str, Arc<PaymentRow>), sqlx::Error> {
        self.apply_with(conn, row, event, change, true).await
    }

    /// [`Self::apply`] for a change the callback implies beside its own (the body is stored once,
    /// with the callback's own change).
    async fn apply_implied(
        &self,
        conn: &mut PgConnection,
        row: &Arc<PaymentRow>,
        event: PaymentEvent,
        change: Change,
    ) -> Result<Arc<PaymentRow>, sqlx::Error> {
        Ok(self.apply_with(conn, row, event, change, false).await?.1)
    }

    async fn apply_with(
        &self,
        conn: &mut PgConnection,
        row: &Arc<PaymentRow>,
        event: PaymentEvent,
        change: Change,
        with_body: bool,
    ) -> Result<(&'static str, Arc<PaymentRow>), sqlx::Error> {
        let extras = self.extras(with_body);
        let outcome = payment::apply(conn, &row.payment_id, Some(row), event, &change, extras).await?;
        Ok(match outcome {
            Outcome::Done { applied, row } => (label(&applied), row),
            Outcome::Mismatch { row, .. } => ("account_mismatch", row),
            Outcome::NotFound | Outcome::LeaseLost => ("stale", Arc::clone(row)),
        })
    }

    /// Stores the body of a callback that caused no change, with what became of it.
    async fn store(&self, conn: &mut PgConnection, payment_id: Option<&str>, outcome: &str) -> Result<(), sqlx::Error> {
        inbound_callbacks::store_verified(conn, self.provider, self.body, payment_id, outcome).await
    }

    /// Counts the outcome, and stores the body when the payment writer did not already (no
    /// change).
    async fn finish(
        &self,
        conn: &mut PgConnection,
        payment_id: &str,
        outcome: &'static str,
    ) -> Result<Reply, sqlx::Error> {
        self.finish_with(conn, payment_id, outcome, wrote(outcome)).await
    }

    /// [`Self::finish`] for a callback about a refund: the refund writer keeps no callback body,
    /// so it is stored here whatever became of it (an `applied` refund callback was not kept).
    async fn finish_refund(
        &self,
        conn: &mut PgConnection,
        payment_id: &str,
        outcome: &'static str,
    ) -> Result<Reply, sqlx::Error> {
        self.finish_with(conn, payment_id, outcome, false).await
    }

    async fn finish_with(
        &self,
        conn: &mut PgConnection,
        payment_id: &str,
        outcome: &'static str,
        stored_with_the_change: bool,
    ) -> Result<Reply, sqlx::Error> {
        if !stored_with_the_change {
            self.store(conn, Some(payment_id), outcome).await?;
        }
        tracing::info!(outcome, "callback handled");
        metrics::counter!("bnpl_callbacks_total", "provider" => self.provider, "outcome" => outcome).increment(1);
        Ok(Reply::Accepted)
    }

    /// A verified callback about a payment we never created: stored (with the id it names, when
    /// that can be kept), answered 200 (contract §7).
    async fn unknown(&self, conn: &mut PgConnection, payment_id: Option<&str>) -> Result<Reply, sqlx::Error> {
        self.store(conn, payment_id, "unknown_payment").await?;
        metrics::counter!("bnpl_callbacks_total", "provider" => self.provider, "outcome" => "unknown_payment")
            .increment(1);
        Ok(Reply::Accepted)
    }

    /// A verified callback about a payment of another account or provider: stored as
    /// `account_mismatch`, counted, and nothing else changes (contract §7).
    async fn mismatch(&self, conn: &mut PgConnection, row: &PaymentRow) -> Result<Reply, sqlx::Error> {
        let outcome = "account_mismatch";
        tracing::warn!(
            provider = self.provider,
            payment_id = %row.payment_id,
            payment_provider = %row.provider,
            payment_account = %row.account,
            "verified callback for a payment of another account: refused"
        );
        metrics::counter!("bnpl_callbacks_total", "provider" => self.provider, "outcome" => outcome).increment(1);
        self.store(conn, Some(&row.payment_id), outcome).await?;
        Ok(Reply::AccountMismatch)
    }
}

/// Names the verified callback's account and payment on the current `callback` span (opened by
/// the HTTP handler), so every line logged while it is applied carries them.
fn identify(account: &str, payment_id: &str) {
    let span = tracing::Span::current();
    span.record("account", account);
    span.record("payment_id", payment_id);
}

/// Counts which secret verified a callback: ops drop the previous secret of a rotation once
/// `secret="previous"` stops growing (issue 20). Account names are configured, so bounded.
fn count_secret(provider: &'static str, account: &str, verified: crate::providers::keys::Verified) {
    metrics::counter!("bnpl_callback_secrets_total", "provider" => provider,
        "account" => account.to_owned(), "secret" => verified.as_str())
    .increment(1);
}

/// Whether the payment writer wrote the change (and the raw body with it).
fn wrote(outcome: &str) -> bool {
    matches!(outcome, "applied" | "repeated" | "review")
}

/// Stores a refused callback (in its own commit, its body truncated) and counts it; it changes
/// nothing else. From a blocked sender it is only counted: storing every forgery of a flood is
/// the cost the throttle exists to cap.
async fn refused(
    services: &Services,
    provider: &'static str,
    body: &[u8],
    reply: Reply,
    sender_blocked: bool,
) -> Result<Reply, sqlx::Error> {
    let outcome = if reply == Reply::Forged { "forged" } else { "malformed" };
    metrics::counter!("bnpl_callbacks_total", "provider" => provider, "outcome" => outcome).increment(1);
    if sender_blocked {
        return Ok(Reply::Throttled);
    }
    tracing::warn!(provider, outcome, "callback refused");
    let mut conn = services.pool.acquire().await?;
    inbound_callbacks::store_unverified(&mut conn, provider, body, outcome).await?;
    Ok(reply)
}

/// A verified callback whose reference could never name one of our payments or refunds (missing,
/// or not an id of contract §7): a callback about a payment we never created, stored whole as
/// `unknown_payment` in its own commit and answered 200 (contract §7), and not charged to its
/// sender, whom the signature proved genuine. `reason` quotes the value bounded; `reference` is
/// kept beside the body only when it is clean.
async fn unreadable(
    services: &Services,
    provider: &'static str,
    signer: Signer<'_>,
    body: &[u8],
    reason: &str,
    reference: Option<&str>,
) -> Result<Reply, sqlx::Error> {
    let delivery = Delivery {
        provider,
        signer,
        body,
        wake: &services.outbox_wake,
    };
    tracing::warn!(
        provider = delivery.provider,
        account = delivery.signer.account,
        reason,
        "verified callback without a usable reference: stored"
    );
    let mut conn = services.pool.acquire().await?;
    delivery.unknown(&mut conn, reference).await
}

/// A verified callback that says nothing definite: bring the status check forward.
async fn check_now(conn: &mut PgConnection, row: &PaymentRow) -> Result<&'static str, sqlx::Error> {
    if !row.status().is_final() {
        schedule::status_check(conn, &row.payment_id, Utc::now(), 0).await?;
    }
    Ok("status_check")
}

fn label(applied: &Applied) -> &'static str {
    match applied {
        Applied::Moved { .. } => "applied",
        Applied::Repeated(_) => "repeated",
        Applied::Flagged(_) => "review",
        Applied::Ignored(status) if status.is_final() => "stale",
        Applied::Ignored(_) => "duplicate",
        Applied::Refused(_) => "refused",
    }
}
