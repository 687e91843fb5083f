//! What the ledger records beside state changes: an operator's note in the audit log (a forced
//! status check, a replay, a purge), `command.rejected`, and the replay of a payment's events.

use super::{announce, journal_sql};
use crate::domain::events::{Event, Reason};
use serde_json::Value;
use sqlx::PgConnection;

/// An audit note: who did what, about which payment or refund (if any).
pub struct Note<'a> {
    pub payment_id: Option<&'a str>,
    pub refund_id: Option<&'a str>,
    pub actor: &'a str,
    pub reason: Option<&'a str>,
    /// What was done, e.g. `{"action": "purge_dead_letter", "dead_letter_id": 7}`.
    pub detail: Value,
}

impl<'a> Note<'a> {
    pub fn by(actor: &'a str, detail: Value) -> Self {
        Note {
            payment_id: None,
            refund_id: None,
            actor,
            reason: None,
            detail,
        }
    }
}

pub async fn note(conn: &mut PgConnection, note: &Note<'_>) -> Result<(), sqlx::Error> {
    journal_sql::note(conn, note).await
}

/// Announces `command.rejected` for a command of `command_type` about `subject` (when it named
/// one); the direct reply goes to `reply_to` with `correlation_id` when the command asked.
pub async fn rejected(
    conn: &mut PgConnection,
    command_type: &str,
    subject: Option<&str>,
    reason: Reason,
    origin: super::Origin<'_>,
) -> Result<(), sqlx::Error> {
    let event = Event::CommandRejected(Box::new(announce::rejected(command_type, subject, reason)));
    journal_sql::unsequenced(conn, &event, origin).await
}

/// Announces an account's new state (`account.paused`, `account.resumed`, the breaker's
/// `account.circuit_opened` / `account.circuit_closed`) with an audit note, in
/// the caller's transaction.
pub async fn account_changed(
    conn: &mut PgConnection,
    event_type: crate::domain::events::EventType,
    provider: crate::domain::Provider,
    account: &str,
    state: &str,
    reason: Option<&str>,
    actor: &str,
) -> Result<(), sqlx::Error> {
    let event = Event::Account(Box::new(announce::account(
        event_type, provider, account, state, reason, actor,
    )));
    journal_sql::unsequenced(conn, &event, super::Origin::default()).await?;
    let detail = serde_json::json!({"action": "account_state", "account": format!("{}:{account}", provider.as_str()), "state": state});
    journal_sql::note(
        conn,
        &Note {
            payment_id: None,
            refund_id: None,
            actor,
            reason,
            detail,
        },
    )
    .await
}

/// Publishes a payment's stored events again, unchanged (same ids and sequences), with a note.
pub async fn replay_events(conn: &mut PgConnection, payment_id: &str, actor: &str) -> Result<u64, sqlx::Error> {
    journal_sql::replay_events(conn, payment_id, actor).await
}
