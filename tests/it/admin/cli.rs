//! `bnpl admin …` against a test database: tokens, tables, actions (audited as `cli:$USER`).

use super::{get, seed_dead_letter, seed_payment, Seed};
use crate::helpers::*;

fn bnpl(app: &TestApp, args: &[&str]) -> (bool, String, String) {
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
