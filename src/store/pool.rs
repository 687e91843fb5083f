//! Connection pool and migrations.
//!
//! The pool checks a connection before handing it out, so connections killed during an outage
//! (`pg_terminate_backend`) are replaced instead of failing the next query.

use secrecy::{ExposeSecret, SecretString};
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;
use std::str::FromStr;
use std::time::Duration;

/// The schema, embedded at compile time from `migrations/`.
pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// Opens a pool lazily: it does not fail when the database is down at start-up, so the process
/// can come up, report "not ready" and connect when the database appears.
pub fn connect(url: &SecretString, max_connections: u32) -> Result<PgPool, sqlx::Error> {
    let options = PgConnectOptions::from_str(url.expose_secret())?.application_name("bnpl");
    Ok(PgPoolOptions::new()
        .max_connections(max_connections)
        .min_connections(0)
        // Short: a caller waiting on an unreachable database should learn it fast and back off.
        .acquire_timeout(Duration::from_secs(3))
        .test_before_acquire(true)
        .connect_lazy_with(options))
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
