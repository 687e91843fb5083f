//! The value rules of the tables every change writes (migration `20261130000001_value_domains`):
//! each rule of the earlier CHECK constraints still refuses its bad values (SQLSTATE 23514, which
//! intake turns into a rejected command) and still takes its good ones, now as the column's own
//! type (a domain), checked only where a statement assigns the column.

use crate::helpers::TestDb;
use sqlx::PgPool;

/// (table, column, a value the rule takes, a value it refuses), one row per earlier CHECK.
const RULES: &[(&str, &str, &str, &str)] = &[
    ("payments", "payment_id", "ord-1.A_b", "no spaces"),
    (
        "payments",
        "payment_id",
        "ord-1",
        "an-id-longer-than-forty-characters-is-refused",
    ),
    ("payments", "provider", "valu", "klarna"),
    ("payments", "flow", "payment_page", "iframe"),
    ("payments", "amount_minor", "1", "0"),
    ("payments", "down_payment_minor", "0", "-1"),
    ("payments", "refunded_minor", "0", "-1"),
    ("payments", "status", "needs_review", "refunded"),
    ("payments", "origin", "external", "imported"),
    (
        "payments",
        "traceparent",
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-x",
    ),
    ("refunds", "refund_id", "ref-1", "ref/1"),
    ("refunds", "amount_minor", "1", "-5"),
    ("refunds", "status", "in_flight", "pending"),
    (
        "refunds",
        "traceparent",
        "00-x",
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-x",
    ),
    ("jobs", "state", "exhausted", "paused"),
    (
        "outbox",
        "traceparent",
        "00-x",
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-x",
    ),
    ("audit_log", "kind", "resolution", "comment"),
    ("commands", "outcome", "dead_lettered", "ignored"),
];

/// The SQLSTATE of casting `value` to `table.column`'s type, None when the cast succeeds.
async fn cast_to_column(pool: &PgPool, table: &str, column: &str, value: &str) -> Option<String> {
    let type_name: String = sqlx::query_scalar(
        "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = $1::regclass AND attname = $2",
    )
    .bind(table)
    .bind(column)
    .fetch_one(pool)
    .await
    .unwrap();
    let cast = format!("SELECT CAST(CAST($1 AS text) AS {type_name})::text");
    match sqlx::query_scalar::<_, String>(&cast).bind(value).fetch_one(pool).await {
        Ok(_) => None,
        Err(sqlx::Error::Database(error)) => error.code().map(|code| code.into_owned()),
        Err(error) => panic!("{table}.{column}: {error}"),
    }
}

#[tokio::test]
async fn every_rule_of_the_written_tables_refuses_its_bad_values_and_takes_its_good_ones() {
    let (_db, pool) = TestDb::migrated().await;
    for (table, column, good, bad) in RULES {
        assert_eq!(
            cast_to_column(&pool, table, column, good).await,
            None,
            "{table}.{column} refuses {good:?}"
        );
        assert_eq!(
            cast_to_column(&pool, table, column, bad).await.as_deref(),
            Some("23514"),
            "{table}.{column} takes {bad:?}"
        );
    }
}

#[tokio::test]
async fn a_change_that_breaks_a_rule_is_refused_and_values_read_back_as_plain_text_and_numbers() {
    let (_db, pool) = TestDb::migrated().await;
    let mut conn = pool.acquire().await.unwrap();
    crate::helpers::create_humm_payment(&mut conn, "rules-1").await;
    let refused = sqlx::query("UPDATE payments SET status = 'refunded' WHERE payment_id = 'rules-1'")
        .execute(&mut *conn)
        .await
        .unwrap_err();
    let code = refused.as_database_error().and_then(|error| error.code());
    assert_eq!(code.as_deref(), Some("23514"), "{refused}");
    // Clients see the base types: sqlx decodes them as it did the plain columns.
    let (status, amount): (String, i64) =
        sqlx::query_as("SELECT status, amount_minor FROM payments WHERE payment_id = 'rules-1'")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
    assert_eq!((status.as_str(), amount > 0), ("accepted", true));
}

/// The version before `value_domains`: undoing to it runs that migration's down script.
const BEFORE_DOMAINS: i64 = 20261129000007;

/// The table CHECK constraints of the six tables, by count.
async fn table_checks(pool: &PgPool) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM pg_constraint WHERE contype = 'c'
           AND conrelid::regclass::text IN ('payments', 'refunds', 'jobs', 'outbox', 'audit_log', 'commands')",
    )
    .fetch_one(pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn not_null_and_defaults_stay_and_the_down_migration_puts_the_table_constraints_back() {
    let (_db, pool) = TestDb::migrated().await;
    let (not_null, default): (bool, Option<String>) = sqlx::query_as(
        "SELECT a.attnotnull, pg_get_expr(d.adbin, d.adrelid) FROM pg_attribute a
           LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
          WHERE a.attrelid = 'payments'::regclass AND a.attname = 'flow'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(not_null, "payments.flow stays NOT NULL");
    assert!(default.as_deref().unwrap_or_default().contains("'gate'"), "{default:?}");
    assert_eq!(table_checks(&pool).await, 0, "the rules live in the domains");
    bnpl::store::MIGRATOR.undo(&pool, BEFORE_DOMAINS).await.unwrap();
    assert_eq!(
        table_checks(&pool).await,
        RULES.len() as i64 - 1,
        "one CHECK per rule (two rows test payment_id)"
    );
    let plain: String = sqlx::query_scalar("SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'payments'::regclass AND attname = 'status'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(plain, "text");
}
