//! The `commands` table: every command received, with its outcome (contract §1: nothing is
//! silently dropped), and the look-ups that make a redelivery a no-op.

use crate::intake::envelope::Envelope;
use sqlx::PgConnection;

/// What became of a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandOutcome {
    Applied,
    Duplicate,
    Rejected,
    DeadLettered,
}

impl CommandOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Applied => "applied",
            Self::Duplicate => "duplicate",
            Self::Rejected => "rejected",
            Self::DeadLettered => "dead_lettered",
        }
    }
}

/// A command row to insert.
pub struct NewCommand<'a> {
    pub command_type: &'a str,
    pub subject_id: Option<&'a str>,
    pub envelope: &'a Envelope,
    pub body_hash: &'a str,
    pub outcome: CommandOutcome,
    pub reason_code: Option<&'a str>,
    pub reason_message: Option<&'a str>,
}

/// The columns a command row is written with, in this order (also by the ledger, which records
/// the command that created a payment in the statement that creates it).
pub(crate) const COLUMNS: &str =
    "command_type, subject_id, message_id, user_id, body_hash, body, outcome, reason_code, reason_message";

/// Binds a command's values in [`COLUMNS`] order, from an `Option<&NewCommand>` (all NULL when
/// None), so that both statements that write a command row bind it the same way.
macro_rules! bind_command {
    ($query:expr, $command:expr) => {{
        let command: Option<&$crate::store::commands::NewCommand<'_>> = $command;
        $query
            .bind(command.map(|c| c.command_type))
            .bind(command.and_then(|c| c.subject_id))
            .bind(command.and_then(|c| c.envelope.message_id.as_deref()))
            .bind(command.and_then(|c| c.envelope.user_id.as_deref()))
            .bind(command.map(|c| c.body_hash))
            .bind(command.map(|c| c.envelope.body.as_slice()))
            .bind(command.map(|c| c.outcome.as_str()))
            .bind(command.and_then(|c| c.reason_code))
            .bind(command.and_then(|c| c.reason_message))
    }};
}
pub(crate) use bind_command;

/// Inserts a command row; returns its id.
pub async fn insert(conn: &mut PgConnection, command: &NewCommand<'_>) -> Result<i64, sqlx::Error> {
    static SQL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let sql = SQL.get_or_init(|| {
        format!("INSERT INTO commands ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id")
    });
    bind_command!(sqlx::query_scalar(sql), Some(command))
        .fetch_one(conn)
        .await
}

/// Whether a command with this type and body was already recorded with `outcome`; when
/// `message_id` is given, only a command from that very message counts (another message with the
/// same body is another command).
pub async fn exists(
    conn: &mut PgConnection,
    command_type: &str,
    body_hash: &str,
    message_id: Option<&str>,
    outcome: CommandOutcome,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM commands WHERE command_type = $1 AND body_hash = $2 AND outcome = $3
                          AND ($4::text IS NULL OR message_id = $4))",
    )
    .bind(command_type)
    .bind(body_hash)
    .bind(outcome.as_str())
    .bind(message_id)
    .fetch_one(conn)
    .await
}
