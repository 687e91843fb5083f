//! What a PostgreSQL error says about the command that caused it (`store::sqlstate`, design §1c,
//! contract §7), for every class the rule names, raised by a real server: the end-to-end tests
//! reach only the one CHECK they add, since intake's own validation stops the other bad values
//! before the database sees them.

use crate::helpers::TestDb;
use bnpl::domain::limits;
use bnpl::store::sqlstate::{self, Verdict};
use sqlx::PgPool;

/// The error PostgreSQL gives for a statement that raises `code` with `message` (plain text
/// without quotes).
async fn raised(pool: &PgPool, code: &str, message: &str) -> sqlx::Error {
    sqlx::query(&format!(
        "DO $$ BEGIN RAISE EXCEPTION '{message}' USING ERRCODE = '{code}'; END $$"
    ))
    .execute(pool)
    .await
    .expect_err("raised")
}

#[tokio::test]
async fn every_sqlstate_class_gets_its_verdict() {
    let (_db, pool) = TestDb::migrated().await;
    let cases = [
        // The command's own values: rejected at once.
        ("22001", "bad"), // string too long
        ("22P02", "bad"), // invalid text representation
        ("22021", "bad"), // a NUL or bad byte sequence
        ("23502", "bad"), // not null
        ("23514", "bad"), // check
        ("54000", "bad"), // program limit (an oversized index row)
        // A race with a duplicate: retried.
        ("23505", "duplicate"),
        // Everything else: transient.
        ("23503", "transient"), // a foreign key (the payment not there yet)
        ("40001", "transient"),
        ("40P01", "transient"),
        ("08006", "transient"),
        ("57P01", "transient"),
        ("XX000", "transient"),
    ];
    for (code, expected) in cases {
        let error = raised(&pool, code, "refused").await;
        let verdict = sqlstate::classify(&error);
        let got = match &verdict {
            Verdict::BadCommand(reason) => {
                assert!(reason.contains(code), "{code}: the reason names the SQLSTATE: {reason}");
                "bad"
            }
            Verdict::Duplicate => "duplicate",
            Verdict::Transient => "transient",
        };
        assert_eq!(got, expected, "{code}: {verdict:?}");
        assert_eq!(
            sqlstate::lost_a_conflict(&error),
            code == "40001" || code == "40P01",
            "{code} lost a conflict"
        );
        assert_eq!(
            sqlstate::is_outage(&error),
            code.starts_with("08") || code.starts_with("57"),
            "{code} is an outage"
        );
    }
    pool.close().await;
}

/// The server's message may quote the whole refused value: the reason quotes it within the
/// usual bound, since it is stored and published with the rejection.
#[tokio::test]
async fn a_refused_values_reason_is_bounded() {
    let (_db, pool) = TestDb::migrated().await;
    let long = "x".repeat(5_000);
    let error = raised(&pool, "22001", &long).await;
    let Verdict::BadCommand(reason) = sqlstate::classify(&error) else {
        panic!("22001 is a bad command");
    };
    assert!(
        reason.chars().count() <= limits::QUOTE_MAX + 100,
        "{} characters",
        reason.chars().count()
    );
    assert!(reason.contains("(5000 characters)"), "{reason}");
    pool.close().await;
}
