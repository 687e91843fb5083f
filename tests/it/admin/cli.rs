//! `bnpl admin …` against a test database: tokens, tables, actions (audited as `cli:$USER`).

use super::{get, seed_dead_letter, seed_payment, Seed};
use crate::helpers::*;

/// Runs `bnpl admin ARGS` against the app's database: (success, stdout, stderr).
pub(crate) fn bnpl(app: &TestApp, args: &[&str]) -> (bool, String, String) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_bnpl"))
        .arg("admin")
        .args(args)
        .env("BNPL_DATABASE_URL", &app.db.url)
        .env("BNPL_AMQP_PREFIX", &app.prefix.prefix)
        .env("USER", "tester")
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

#[tokio::test]
async fn the_cli_mirrors_the_admin_api() {
    let mut app = spawn_app().await;
    let pool = app.db.pool().await;
    seed_payment(&pool, &Seed::new("ord-c1", "humm", "needs_review")).await;
    seed_payment(&pool, &Seed::new("ord-c2", "valu", "succeeded")).await;
    let dead = seed_dead_letter(&pool, "purchase.create", b"{oops").await;

    let (ok, token, stderr) = bnpl(
        &app,
        &["token", "create", "--name", "cli-ops", "--scope", "read,operate"],
    );
    assert!(ok, "{stderr}");
    let token = token.trim();
    assert!(stderr.contains("shown only once"));
    let (status, _) = get(&app, "/admin/v1/payments", token).await;
    assert_eq!(status, 200, "a CLI-made token works on the API");
    let (ok, _, stderr) = bnpl(&app, &["token", "create", "--name", "bad", "--scope", "admin"]);
    assert!(!ok && stderr.contains("unknown scope"));

    let (ok, table, _) = bnpl(&app, &["token", "list"]);
    assert!(ok && table.contains("cli-ops") && table.contains("read,operate"));
    assert!(!table.contains(token), "never prints a secret again");

    let (ok, table, _) = bnpl(&app, &["payments", "list", "--status", "needs_review"]);
    assert!(ok);
    assert!(table.starts_with("payment "), "{table}");
    assert!(table.contains("ord-c1") && !table.contains("ord-c2"));
    let (ok, json, _) = bnpl(&app, &["payments", "show", "ord-c1"]);
    assert!(ok && json.contains("\"audit\""));
    let (ok, reviews, _) = bnpl(&app, &["reviews"]);
    assert!(ok && reviews.contains("ord-c1"));

    let (ok, out, stderr) = bnpl(
        &app,
        &[
            "payments",
            "resolve",
            "ord-c1",
            "--to",
            "declined",
            "--reason",
            "customer abandoned",
        ],
    );
    assert!(ok, "{stderr}");
    assert!(out.contains("needs_review -> declined"));
    let actor: String = sqlx::query_scalar("SELECT actor FROM audit_log WHERE kind = 'resolution'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(actor, "cli:tester");
    let (ok, _, stderr) = bnpl(
        &app,
        &["payments", "resolve", "ord-c2", "--to", "pending", "--reason", "x"],
    );
    assert!(!ok && stderr.contains("final"), "{stderr}");

    let (ok, letters, _) = bnpl(&app, &["dead-letters", "list"]);
    assert!(ok && letters.contains("purchase.create") && letters.contains("invalid"));
    let (ok, out, stderr) = bnpl(&app, &["dead-letters", "replay", &dead.to_string()]);
    assert!(ok, "{stderr}");
    assert!(out.contains("replayed"));
    let (ok, _, _) = bnpl(&app, &["dead-letters", "purge", &dead.to_string()]);
    assert!(ok);
    let (ok, letters, _) = bnpl(&app, &["dead-letters", "list"]);
    assert!(ok && letters.contains("(none)"));

    let (ok, queues, _) = bnpl(&app, &["queues"]);
    assert!(ok && queues.starts_with("queue"));
    let (ok, _, _) = bnpl(&app, &["token", "revoke", "--name", "cli-ops"]);
    assert!(ok);
    let (status, _) = get(&app, "/admin/v1/payments", token).await;
    assert_eq!(status, 401);
    pool.close().await;
    app.stop().await.unwrap();
}

#[tokio::test]
async fn scripts_get_json_validated_filters_and_the_migration_status() {
    let mut app = spawn_app().await;
    let pool = app.db.pool().await;
    seed_payment(&pool, &Seed::new("ord-j1", "humm", "needs_review")).await;
    seed_payment(&pool, &Seed::new("ord-j2", "valu", "succeeded")).await;
    seed_dead_letter(&pool, "purchase.create", b"{oops").await;

    let json = |args: &[&str]| -> serde_json::Value {
        let (ok, out, stderr) = bnpl(&app, args);
        assert!(ok, "{args:?}: {stderr}");
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?} is not JSON ({e}): {out}"))
    };
    // The flag goes before or after the subcommand.
    let payments = json(&["--json", "payments", "list"]);
    let ids: Vec<&str> = payments
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["payment_id"].as_str())
        .collect();
    assert_eq!(ids.len(), 2, "{payments}");
    let review = json(&["payments", "list", "--status", "needs_review", "--json"]);
    assert_eq!(review[0]["payment_id"], "ord-j1");
    assert_eq!(review.as_array().unwrap().len(), 1);
    assert_eq!(json(&["payments", "show", "ord-j2", "--json"])["payment_id"], "ord-j2");
    assert!(json(&["refunds", "list", "--json"]).is_array());
    assert!(json(&["queues", "--json"]).is_array());
    assert!(json(&["jobs", "--json"]).is_array());
    assert_eq!(json(&["dead-letters", "list", "--json"])[0]["reason"], "invalid");
    assert_eq!(json(&["reviews", "--json"])["payments"][0]["payment_id"], "ord-j1");
    assert!(json(&["token", "list", "--json"]).is_array());
    let report = json(&["report", "--from", "2000-01-01", "--to", "2100-01-01", "--json"]);
    assert!(report.is_array(), "{report}");

    // A filter value outside the allowed ones is an error that lists them, not "(none)".
    let (ok, out, stderr) = bnpl(&app, &["payments", "list", "--status", "bogus"]);
    assert!(!ok, "{out}");
    assert!(stderr.contains("needs_review") && stderr.contains("bogus"), "{stderr}");
    let (ok, _, stderr) = bnpl(&app, &["refunds", "list", "--status", "bogus"]);
    assert!(!ok && stderr.contains("queued"), "{stderr}");

    // `bnpl migrate --status`: every version applied on a migrated database.
    let migrate_status = |url: &str| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_bnpl"))
            .args(["migrate", "--status"])
            .env("BNPL_DATABASE_URL", url)
            .env_remove("RUST_LOG")
            .output()
            .unwrap();
        assert!(output.status.success());
        String::from_utf8(output.stdout).unwrap()
    };
    let migrations = bnpl::store::MIGRATOR
        .iter()
        .filter(|m| !m.migration_type.is_down_migration())
        .count();
    let out = migrate_status(&app.db.url);
    assert!(out.ends_with(&format!("{migrations} applied, 0 pending\n")), "{out}");
    assert!(!out.contains("pending "), "{out}");
    // A database that does not exist: all pending, and it is not created.
    let missing = format!("{}_never", app.db.url);
    let out = migrate_status(&missing);
    assert!(out.ends_with(&format!("0 applied, {migrations} pending\n")), "{out}");
    let name = missing.rsplit('/').next().unwrap().to_owned();
    let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
        .bind(&name)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(!exists, "migrate --status created {name}");
    pool.close().await;
    app.stop().await.unwrap();
}
