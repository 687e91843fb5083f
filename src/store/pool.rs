//! Connection pool and migrations.
//!
//! The pool checks a connection that sat idle before handing it out, so connections killed during
//! an outage (`pg_terminate_backend`, a server restart) are replaced instead of failing the next
//! query. One used moments ago is handed out unchecked (HikariCP's "alive bypass" window): the
//! check is a round trip, and under load it would double the round trips of every autocommit
//! statement. A connection that died within the window fails one query, which every caller
//! already retries (jobs back off, deliveries are retried, a callback's 500 is re-sent).

use secrecy::{ExposeSecret, SecretString};
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection as _, PgPool};
use std::str::FromStr;
use std::time::Duration;

/// The schema, embedded at compile time from `migrations/`.
pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// A connection idle for less than this is handed out without a liveness check.
const ALIVE_BYPASS: Duration = Duration::from_millis(500);

/// Opens a pool lazily: it does not fail when the database is down at start-up, so the process
/// can come up, report "not ready" and connect when the database appears.
pub fn connect(url: &SecretString, max_connections: u32) -> Result<PgPool, sqlx::Error> {
    let options = PgConnectOptions::from_str(url.expose_secret())?.application_name("bnpl");
    Ok(lazy_pool(options, max_connections))
}

/// A small pool of its own, to the same database with the same checks, for one hot statement that
/// should run on few connections: PostgreSQL re-plans a prepared statement for its first five
/// executions on each connection, so a complex statement spread over a large pool is planned
/// every time (about 1.3 ms for the refund promote, four times its execution).
pub fn dedicated(pool: &PgPool, max_connections: u32) -> PgPool {
    lazy_pool(pool.connect_options().as_ref().clone(), max_connections)
}

fn lazy_pool(options: PgConnectOptions, max_connections: u32) -> PgPool {
    PgPoolOptions::new()
        .max_connections(max_connections)
        .min_connections(0)
        // Short: a caller waiting on an unreachable database should learn it fast and back off.
        .acquire_timeout(Duration::from_secs(3))
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for < ALIVE_BYPASS {
                    return Ok(true);
                }
                Ok(conn.ping().await.is_ok())
            })
        })
        .connect_lazy_with(options)
}

/// Creates the database named in `url` if it does not exist yet, so a first start on a fresh
/// machine needs no manual `createdb`.
pub async fn create_database_if_missing(url: &SecretString) -> Result<(), sqlx::Error> {
    use sqlx::migrate::MigrateDatabase as _;
    if !sqlx::Postgres::database_exists(url.expose_secret()).await? {
        sqlx::Postgres::create_database(url.expose_secret()).await?;
    }
    Ok(())
}

/// Applies pending migrations (idempotent; sqlx takes an advisory lock so concurrent starts
/// of several processes are safe).
pub async fn migrate(pool: &PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    MIGRATOR.run(pool).await
}

/// Which of this binary's migrations a database has, and which it lacks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaStatus {
    pub applied: Vec<i64>,
    pub pending: Vec<i64>,
}

impl SchemaStatus {
    /// A database without any migration: every one of this binary is pending.
    pub fn nothing_applied() -> Self {
        let pending = MIGRATOR
            .iter()
            .filter(|migration| !migration.migration_type.is_down_migration())
            .map(|migration| migration.version)
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        SchemaStatus {
            applied: Vec::new(),
            pending,
        }
    }
}

/// Reads the migrations applied to the database behind `pool` (none when it has no migration
/// table yet), compared with the ones embedded in this binary. Changes nothing.
pub async fn schema_status(pool: &PgPool) -> Result<SchemaStatus, sqlx::Error> {
    let table: Option<String> = sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations')::text")
        .fetch_one(pool)
        .await?;
    let applied: Vec<i64> = match table {
        Some(_) => {
            sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
                .fetch_all(pool)
                .await?
        }
        None => Vec::new(),
    };
    let pending = SchemaStatus::nothing_applied()
        .pending
        .into_iter()
        .filter(|version| !applied.contains(version))
        .collect();
    Ok(SchemaStatus { applied, pending })
}

/// Whether the database named in `url` exists (connecting to the server's maintenance database).
pub async fn database_exists(url: &SecretString) -> Result<bool, sqlx::Error> {
    use sqlx::migrate::MigrateDatabase as _;
    sqlx::Postgres::database_exists(url.expose_secret()).await
}
