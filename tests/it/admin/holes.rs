//! The smaller holes of the admin and ops surface (issue 13), each against a real server: metric
//! labels, sign-in from other origins, dead-letter replay rules, the admin CLI on a wrong
//! database, filter values, retention.

use super::{get, post, seed_dead_letter, seed_payment, token, Seed};
use crate::helpers::*;
use lapin::BasicProperties;
use serde_json::json;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(15);

#[tokio::test]
async fn unknown_routing_keys_are_one_metric_label() {
    let mut app = spawn_app().await;
    let probe = BrokerProbe::new(app.topology()).await;
    let key = format!("purchase.x{}", uuid::Uuid::new_v4().simple());
    probe.publish_command(&key, b"{}", BasicProperties::default()).await;
    let pool = app.db.pool().await;
    eventually(WAIT, "the unknown command is dead-lettered", || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM dead_letters")
            .fetch_one(&pool)
            .await
            .unwrap()
            == 1
    })
    .await;
    // The counter moves just after the dead letter's commit: wait for it, then look at the labels.
    let counted = |metrics: &str| {
        metrics
            .lines()
            .any(|line| line.starts_with("bnpl_commands_total{") && line.contains("command=\"unknown\""))
    };
    eventually(WAIT, "the unknown command is counted", || async {
        counted(&app.metrics_text().await)
    })
    .await;
    let metrics = app.metrics_text().await;
    assert!(!metrics.contains(&key), "a sender-chosen key never becomes a label");
    app.stop().await.unwrap();
}

pub(super) async fn sign_in_with(app: &TestApp, token: &str, origin: Option<&str>) -> reqwest::Response {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut request = client.post(app.url("/signin")).form(&[("token", token)]);
    if let Some(origin) = origin {
        request = request.header("origin", origin);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn sign_in_and_out_only_from_this_dashboard_and_the_cookie_fits_the_scheme() {
    let mut app = spawn_app().await;
    let pool = app.db.pool().await;
    let read = token(&pool, "csrf-reader", &["read"]).await;
    let own = format!("http://{}", app.addr);

    for origin in [Some("https://evil.example"), Some("null"), None] {
        let response = sign_in_with(&app, &read, origin).await;
        assert_eq!(response.status(), 403, "{origin:?}");
        assert!(
            response.headers().get("set-cookie").is_none(),
            "{origin:?}: no session opened"
        );
    }
    let response = sign_in_with(&app, &read, Some(&own)).await;
    assert_eq!(response.status(), 303);
    let cookie = response.headers()["set-cookie"].to_str().unwrap().to_owned();
    // BNPL_PUBLIC_URL is plain http here: a Secure cookie would be dropped by the browser.
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    assert!(!cookie.contains("Secure"), "{cookie}");
    let sessions: i64 = sqlx::query_scalar("SELECT count(*) FROM admin_sessions")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(sessions, 1, "only the same-origin sign-in opened a session");

    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let session = cookie.split(';').next().unwrap().to_owned();
    let forged_out = client
        .post(app.url("/signout"))
        .header("cookie", &session)
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(forged_out.status(), 403, "another site cannot sign the operator out");
    let still: i64 = sqlx::query_scalar("SELECT count(*) FROM admin_sessions")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(still, 1);

    // Signing out ends the session on the server, not only in the browser: the old cookie,
    // sent again, opens nothing.
    let dashboard = |cookie: String| {
        let request = client.get(app.url("/")).header("cookie", cookie);
        async move { request.send().await.unwrap() }
    };
    assert_eq!(dashboard(session.clone()).await.status(), 200, "signed in");
    let signed_out = client
        .post(app.url("/signout"))
        .header("cookie", &session)
        .header("origin", &own)
        .send()
        .await
        .unwrap();
    assert_eq!(signed_out.status(), 303);
    let replayed = dashboard(session.clone()).await;
    assert_eq!(
        (replayed.status().as_u16(), replayed.headers().get("location").cloned()),
        (303, Some(reqwest::header::HeaderValue::from_static("/signin"))),
        "the signed-out cookie opens nothing"
    );
    // Revoking a token ends the sessions opened with it.
    let response = sign_in_with(&app, &read, Some(&own)).await;
    let again = response.headers()["set-cookie"].to_str().unwrap();
    let again = again.split(';').next().unwrap().to_owned();
    assert_eq!(dashboard(again.clone()).await.status(), 200, "signed in again");
    assert!(bnpl::store::tokens::revoke(&pool, "csrf-reader").await.unwrap());
    assert_eq!(
        dashboard(again).await.status(),
        303,
        "the revoked token's session opens nothing"
    );
    app.stop().await.unwrap();

    // Behind https (BNPL_PUBLIC_URL), the cookie is Secure.
    let db = TestDb::create().await;
    let prefix = TestPrefix::new();
    let config = test_config(&db, &prefix, &[("BNPL_PUBLIC_URL", "https://dash.example")]);
    let mut app = spawn_app_with(db, prefix, config).await;
    let pool = app.db.pool().await;
    let read = token(&pool, "tls-reader", &["read"]).await;
    let response = sign_in_with(&app, &read, Some("https://dash.example")).await;
    assert_eq!(response.status(), 303);
    assert!(response.headers()["set-cookie"].to_str().unwrap().contains("; Secure"));
    app.stop().await.unwrap();
}

#[tokio::test]
async fn a_replay_is_checked_as_a_fresh_command_and_keeps_its_sender() {
    let db = TestDb::create().await;
    let prefix = TestPrefix::new();
    let mut config = test_config(&db, &prefix, &[]);
    config.refunds.allowed_users = vec!["guest".to_owned()];
    let mut app = spawn_app_with(db, prefix, config).await;
    let pool = app.db.pool().await;
    let operate = token(&pool, "replayer", &["operate"]).await;
    let finance_op = token(&pool, "fin-op", &["operate", "finance"]).await;
    let letter = seed_dead_letter(&pool, "purchase.create", b"{not json").await;
    let replay = format!("/admin/v1/dead-letters/{letter}/replay");

    // Not a command routing key: refused, nothing published.
    let (status, body) = post(&app, &replay, &operate, json!({"routing_key": "purchase.explode"})).await;
    assert_eq!(status, 400, "{body}");
    // An edited body is checked as intake would: the field's pointer in the answer.
    let bad = json!({"payment_id": "ord-r1", "provider": "humm", "amount": {"minor": 0, "currency": "GBP"}});
    let (status, body) = post(&app, &replay, &operate, json!({"body": bad})).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("/amount/minor"),
        "{body}"
    );
    let replayed: i64 = sqlx::query_scalar("SELECT count(*) FROM dead_letters WHERE replayed_at IS NOT NULL")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(replayed, 0);
    // Nor may it turn a purchase's dead letter into a refund.
    let rerouted = json!({
        "routing_key": "refund.create",
        "body": {"refund_id": "rf-rerouted", "payment_id": "ord-rf", "amount": {"minor": 500, "currency": "GBP"}},
    });
    let (status, body) = post(&app, &replay, &operate, rerouted).await;
    assert_eq!(status, 403, "operate alone may not make a refund of a purchase: {body}");

    // A refund dead letter: refunds are finance's, so editing one needs `finance` too.
    seed_payment(&pool, &Seed::new("ord-rf", "humm", "succeeded")).await;
    let refund =
        json!({"refund_id": "rf-replay-1", "payment_id": "ord-rf", "amount": {"minor": 500, "currency": "GBP"}});
    let refund_letter = seed_refund_letter(&pool, &refund, "guest").await;
    let refund_replay = format!("/admin/v1/dead-letters/{refund_letter}/replay");
    let (status, _) = post(&app, &refund_replay, &operate, json!({"body": refund})).await;
    assert_eq!(status, 403, "operate alone may not edit a refund");
    let (status, body) = post(&app, &refund_replay, &finance_op, json!({"body": refund})).await;
    assert_eq!(status, 202, "{body}");
    // It keeps its original sender (`guest`, on the allow-list here): it is queued, as guest.
    eventually(WAIT, "the replayed refund is queued", || async {
        sqlx::query_scalar::<_, Option<String>>("SELECT requested_by FROM refunds WHERE refund_id = 'rf-replay-1'")
            .fetch_optional(&pool)
            .await
            .unwrap()
            .flatten()
            .is_some_and(|user| user == "guest")
    })
    .await;
    // A refund first sent by a user off the allow-list stays forbidden when replayed unedited.
    let other =
        json!({"refund_id": "rf-replay-2", "payment_id": "ord-rf", "amount": {"minor": 500, "currency": "GBP"}});
    let other_letter = seed_refund_letter(&pool, &other, "mallory").await;
    let (status, _) = post(
        &app,
        &format!("/admin/v1/dead-letters/{other_letter}/replay"),
        &operate,
        json!({}),
    )
    .await;
    assert_eq!(status, 202);
    eventually(WAIT, "the replayed refund is refused as forbidden", || async {
        sqlx::query_scalar::<_, Option<String>>(
            "SELECT reason_code FROM commands WHERE subject_id = 'rf-replay-2' AND outcome = 'rejected'",
        )
        .fetch_optional(&pool)
        .await
        .unwrap()
        .flatten()
        .is_some_and(|code| code == "forbidden")
    })
    .await;
    // The audit names who replayed each.
    let actors: Vec<String> =
        sqlx::query_scalar("SELECT actor FROM audit_log WHERE detail->>'action' = 'replay_dead_letter' ORDER BY id")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(actors, ["fin-op", "replayer"]);
    app.stop().await.unwrap();
}

/// A dead-lettered refund command as intake would have stored it, first sent by `user`.
async fn seed_refund_letter(pool: &sqlx::PgPool, body: &serde_json::Value, user: &str) -> i64 {
    let id = seed_dead_letter(pool, "refund.create", body.to_string().as_bytes()).await;
    sqlx::query("UPDATE dead_letters SET headers = jsonb_build_object('user_id', $2::text) WHERE id = $1")
        .bind(id)
        .bind(user)
        .execute(pool)
        .await
        .unwrap();
    id
}

#[tokio::test]
async fn filter_values_are_checked_and_answered_with_the_allowed_ones() {
    let mut app = spawn_app().await;
    let pool = app.db.pool().await;
    let read = token(&pool, "filter-reader", &["read"]).await;
    for query in ["status=%00", "status=bogus", "provider=paypal", "account=a%20b"] {
        let (status, body) = get(&app, &format!("/admin/v1/payments?{query}"), &read).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert!(
            body["error"]["message"].as_str().unwrap().contains("must be one of"),
            "{body}"
        );
    }
    let (status, body) = get(&app, "/admin/v1/payments?status=%00", &read).await;
    assert_eq!(status, 400);
    assert!(
        body["error"]["message"].as_str().unwrap().contains("needs_review"),
        "{body}"
    );
    let (status, _) = get(&app, "/admin/v1/refunds?status=%00", &read).await;
    assert_eq!(status, 400);
    let (status, _) = get(&app, "/admin/v1/payments?status=needs_review&provider=humm", &read).await;
    assert_eq!(status, 200);
    app.stop().await.unwrap();
}

fn admin_cli(database_url: &str, args: &[&str]) -> (bool, String) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_bnpl"))
        .arg("admin")
        .args(args)
        .env("BNPL_DATABASE_URL", database_url)
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test]
async fn the_admin_cli_never_creates_or_migrates_a_database() {
    let db = TestDb::create().await;
    let typo = format!("{}_typo", db.url);
    let (ok, stderr) = admin_cli(&typo, &["payments", "list"]);
    assert!(!ok, "a mistyped database is an error");
    assert!(stderr.contains("does not exist"), "{stderr}");
    let name = typo.rsplit('/').next().unwrap().to_owned();
    let pool = db.pool().await;
    let created: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_database WHERE datname = $1")
        .bind(&name)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(created, 0, "and it was not created");
    // An existing database without the schema: an error, and still no schema.
    let (ok, stderr) = admin_cli(&db.url, &["payments", "list", "--status", "pending"]);
    assert!(!ok);
    assert!(stderr.contains("bnpl migrate"), "{stderr}");
    let tables: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_tables WHERE tablename = 'payments'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(tables, 0, "nothing was migrated");
    pool.close().await;
}

#[tokio::test]
async fn retention_masks_descriptions_and_reasons_in_batches() {
    let mut app = spawn_app().await;
    let pool = app.db.pool().await;
    let mut old = Seed::new("ord-old-desc", "humm", "succeeded");
    old.age_days = 200;
    seed_payment(&pool, &old).await;
    sqlx::query("UPDATE payments SET description = 'Gift for Jane Doe, 12 High St' WHERE payment_id = 'ord-old-desc'")
        .execute(&pool)
        .await
        .unwrap();
    // More rejected commands than one batch, each quoting a customer's value in its reason.
    sqlx::query(
        "INSERT INTO commands (command_type, subject_id, body_hash, body, outcome, reason_code, reason_message, received_at)
         SELECT 'purchase.create', 'ord-' || n, md5(n::text), '{}'::bytea, 'dead_lettered', 'invalid',
                '/customer/ip_address: not an IP address: \"jane-home\"', now() - interval '200 days'
         FROM generate_series(1, 2500) AS n",
    )
    .execute(&pool)
    .await
    .unwrap();
    let letter = seed_dead_letter(&pool, "purchase.create", b"{\"customer\":{\"phone\":\"0101\"}}").await;
    sqlx::query(
        "UPDATE dead_letters SET detail = '/customer/phone: too long: \"01012345678\"', created_at = now() - interval '200 days'
         WHERE id = $1",
    )
    .bind(letter)
    .execute(&pool)
    .await
    .unwrap();

    let purged = bnpl::store::retention::purge_expired_personal_data(
        &pool,
        Duration::from_secs(90 * 86_400),
        Duration::from_secs(90 * 86_400),
    )
    .await
    .unwrap();
    assert!(purged.commands >= 2500, "{purged:?}");
    let description: Option<String> =
        sqlx::query_scalar("SELECT description FROM payments WHERE payment_id = 'ord-old-desc'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(description, None);
    let leaked: i64 = sqlx::query_scalar("SELECT count(*) FROM commands WHERE reason_message LIKE '%jane-home%'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(leaked, 0);
    let masked: String = sqlx::query_scalar("SELECT reason_message FROM commands LIMIT 1")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(
        masked, "/customer/ip_address: [masked by retention]",
        "the field stays, the value goes"
    );
    let detail: String = sqlx::query_scalar("SELECT detail FROM dead_letters WHERE id = $1")
        .bind(letter)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(detail, "/customer/phone: [masked by retention]");
    // The dead letter's body (the command as it arrived, phone number included) goes too.
    let (body_length, purged): (Option<i32>, bool) =
        sqlx::query_as("SELECT octet_length(body), body_purged_at IS NOT NULL FROM dead_letters WHERE id = $1")
            .bind(letter)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!((body_length, purged), (Some(0), true));
    app.stop().await.unwrap();
}

/// Ids in a path, a cursor, a search and a decision's reason are checked before they reach a
/// query: a NUL (which PostgreSQL refuses in text) is no such payment or refund, or a 400 naming
/// the problem, never a 500 or "database unavailable".
#[tokio::test]
async fn ids_and_reasons_that_could_never_be_stored_are_refused_not_failed() {
    let mut app = spawn_app().await;
    let pool = app.db.pool().await;
    seed_payment(&pool, &Seed::new("held-1", "humm", "needs_review")).await;
    let read = token(&pool, "nul-reader", &["read"]).await;
    let operator = token(&pool, "nul-operator", &["read", "operate"]).await;

    let (status, body) = get(&app, "/admin/v1/payments/ord%00x", &read).await;
    assert_eq!((status, &body["error"]["code"]), (404, &json!("not_found")), "{body}");
    for path in [
        "/admin/v1/payments/ord%00x/status-check",
        "/admin/v1/refunds/rf%00x/status-check",
    ] {
        let (status, body) = post(&app, path, &operator, json!({})).await;
        assert_eq!(status, 404, "{path}: {body}");
    }
    let cursor = base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, "0|ord\u{0}x");
    let (status, body) = get(&app, &format!("/admin/v1/payments?cursor={cursor}"), &read).await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = post(
        &app,
        "/admin/v1/payments/held-1/resolve",
        &operator,
        json!({"to": "succeeded", "reason": "checked\u{0}by phone"}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("control character"),
        "{body}"
    );
    assert_eq!(
        sqlx::query_scalar::<_, String>("SELECT status FROM payments WHERE payment_id = 'held-1'")
            .fetch_one(&pool)
            .await
            .unwrap(),
        "needs_review",
        "nothing decided"
    );

    // The dashboard: a detail page and a search.
    let session = super::dashboard_actions::Session::open(&app, &read).await;
    for (path, wanted) in [("/payments/ord%00x", 404), ("/search?q=ord%00x", 400)] {
        let (status, page) = session.page(&app, path).await;
        assert_eq!(status, wanted, "{path}: {page}");
    }
    app.stop().await.unwrap();
}
