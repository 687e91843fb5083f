//! Where the commits go: `pg_stat_statements` calls per unit of work (payment, callback, …) by
//! query, for one scenario's database, so a change that claims fewer statements can show which.
//!
//! Needs the extension preloaded (`scripts/services` does it); without it the bench says so and
//! prints nothing here. The counters are cluster-wide, so the bench resets them right before a
//! measured phase and reads them right after, filtered by the phase's database.

use super::env::{BenchDb, Servers};

/// One query's calls and execution time per unit.
#[derive(Debug, Clone)]
pub struct QueryCalls {
    pub per_unit: f64,
    /// Milliseconds PostgreSQL spent executing it (`total_exec_time`), per unit.
    pub exec_ms_per_unit: f64,
    /// Milliseconds PostgreSQL spent planning it (`total_plan_time`, zero unless
    /// `pg_stat_statements.track_planning` is on, as `scripts/services` sets it), per unit.
    pub plan_ms_per_unit: f64,
    pub query: String,
}

/// The statements of one measured phase.
#[derive(Debug, Clone, Default)]
pub struct Statements {
    /// Every statement of the phase's database, per unit.
    pub total_per_unit: f64,
    /// `COMMIT`s per unit (explicit transactions; a lone statement commits implicitly).
    pub commits_per_unit: f64,
    /// The busiest queries, most calls first.
    pub top: Vec<QueryCalls>,
}

/// How many queries [`read`] lists.
const TOP: i64 = 10;

/// Zeroes the counters; false when the extension is not available.
pub async fn reset(servers: &Servers) -> bool {
    let Ok(mut admin) = servers.admin().await else {
        return false;
    };
    let _ = sqlx::query("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        .execute(&mut admin)
        .await;
    sqlx::query("SELECT pg_stat_statements_reset()")
        .execute(&mut admin)
        .await
        .is_ok()
}

/// The statements run against `db` since [`reset`], divided by `units`.
pub async fn read(servers: &Servers, db: &BenchDb, units: usize) -> anyhow::Result<Statements> {
    let mut admin = servers.admin().await?;
    let per = |total: f64| total / units.max(1) as f64;
    let rows: Vec<(i64, f64, f64, String)> = sqlx::query_as(
        "SELECT s.calls, s.total_exec_time, s.total_plan_time, s.query FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
         WHERE d.datname = $1 ORDER BY s.calls DESC",
    )
    .bind(&db.name)
    .fetch_all(&mut admin)
    .await?;
    let total: i64 = rows.iter().map(|(calls, _, _, _)| calls).sum();
    let commits: i64 = rows
        .iter()
        .filter(|(_, _, _, query)| query.trim().eq_ignore_ascii_case("commit"))
        .map(|(calls, _, _, _)| calls)
        .sum();
    let top = rows
        .into_iter()
        .take(TOP as usize)
        .map(|(calls, exec_ms, plan_ms, query)| QueryCalls {
            per_unit: per(calls as f64),
            exec_ms_per_unit: per(exec_ms),
            plan_ms_per_unit: per(plan_ms),
            query: one_line(&query),
        })
        .collect();
    Ok(Statements {
        total_per_unit: per(total as f64),
        commits_per_unit: per(commits as f64),
        top,
    })
}

/// A query on one line, at most 110 characters: enough to recognise it in a table.
fn one_line(query: &str) -> String {
    let flat = query.split_whitespace().collect::<Vec<_>>().join(" ");
    match flat.char_indices().nth(110) {
        Some((cut, _)) => format!("{}…", &flat[..cut]),
        None => flat,
    }
}

/// The lines the bench prints for one phase.
pub fn render(title: &str, unit: &str, statements: &Statements) -> String {
    let mut out = format!(
        "  statements per {unit} ({title}): {:.2} in all, {:.2} COMMIT; top {TOP} by calls (calls, execution ms, planning ms, query):\n",
        statements.total_per_unit, statements.commits_per_unit
    );
    for query in &statements.top {
        out.push_str(&format!(
            "    {:>7.2} {:>7.3} {:>7.3}  {}\n",
            query.per_unit, query.exec_ms_per_unit, query.plan_ms_per_unit, query.query
        ));
    }
    out
}
