//! What a PostgreSQL error says about the command that caused it (contract §7, design §1c).
//!
//! Why: an intake that treats every database error as an outage retries a command the database
//! will never take (a NUL byte, an oversized index key) for minutes, until the queue's delivery
//! limit drops it with no reason. The SQLSTATE tells the three cases apart.

use crate::domain::limits;

/// How to treat a failed statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The command's own values were refused (class 22 data exception, 23502 not-null, 23514
    /// check, class 54 program limit exceeded): reject it at once, with this reason.
    BadCommand(String),
    /// 23505 unique violation: a race with a duplicate; retrying answers duplicate or conflict.
    Duplicate,
    /// Anything else (connection lost, serialization failure, the server going away): retry.
    Transient,
}

/// Classifies `error` by its SQLSTATE.
pub fn classify(error: &sqlx::Error) -> Verdict {
    let Some(database) = error.as_database_error() else {
        return Verdict::Transient;
    };
    let code = database.code().map(|code| code.into_owned()).unwrap_or_default();
    let refused_value = code.starts_with("22") || code.starts_with("54") || code == "23502" || code == "23514";
    if refused_value {
        // The server's message may quote the value; quote it within the usual bound.
        let message = limits::quote(database.message());
        Verdict::BadCommand(format!("the database refused a value (SQLSTATE {code}): {message}"))
    } else if code == "23505" {
        Verdict::Duplicate
    } else {
        Verdict::Transient
    }
}

/// Whether PostgreSQL failed the transaction to resolve its conflict with another one (40P01
/// deadlock detected, 40001 serialization failure): the other transaction goes on, so running
/// this one again succeeds.
pub fn lost_a_conflict(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .and_then(|database| database.code())
        .is_some_and(|code| code == "40P01" || code == "40001")
}

/// Whether `error` says the database cannot be reached right now (the connection or the pool,
/// a server shutting down or refusing connections): worth a "retry later", not a bug.
pub fn is_outage(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(database) => {
            let code = database.code().map(|code| code.into_owned()).unwrap_or_default();
            // 08 connection exception, 53 insufficient resources, 57 operator intervention
            // (shutdown, cancel); 55000 is what a database closed to connections answers.
            ["08", "53", "57"].iter().any(|class| code.starts_with(class)) || code == "55000"
        }
        _ => false,
    }
}
