//! Start-up, topology, migrations and graceful shutdown.

use crate::helpers::*;
use std::time::Duration;

#[tokio::test]
async fn ready_with_the_contract_topology_declared_idempotently() {
    let mut app = spawn_app().await;
    assert_eq!(app.readyz_status().await, 200);
    let health = app.http.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);

    let topology = app.topology();
    for queue in [topology.purchases(), topology.refunds()] {
        let queue_name = queue.clone();
        eventually(Duration::from_secs(10), "intake consumer attached", || {
            let queue = queue_name.clone();
            async move { consumer_count(&queue).await == Some(1) }
        })
        .await;
    }
    assert_eq!(
        consumer_count(&topology.dead()).await,
        Some(0),
        "nobody consumes the dead letters"
    );

    // A second process with the same prefix declares the same topology again without error.
    let db = TestDb::create().await;
    let config = test_config(&db, &app.prefix, &[]);
    let second = bnpl::app::start(
        config,
        &bnpl::workers::Role::ALL,
        tokio_util::sync::CancellationToken::new(),
    )
    .await
    .unwrap();
    let second_url = format!("http://{}/readyz", second.http_addr.unwrap());
    eventually(Duration::from_secs(10), "second app ready", || async {
        reqwest::get(&second_url)
            .await
            .map(|r| r.status() == 200)
            .unwrap_or(false)
    })
    .await;
    let queue = topology.purchases();
    eventually(Duration::from_secs(10), "both processes consume", || async {
        consumer_count(&queue).await == Some(2)
    })
    .await;
    let second_token = second.shutdown_token();
    second_token.cancel();
    second.wait().await.unwrap();
    app.stop().await.unwrap();
}

#[tokio::test]
async fn metrics_are_prometheus_text() {
    let mut app = spawn_app().await;
    let response = app.http.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    assert!(text.contains("bnpl_broker_connections_total"), "{text}");
    app.stop().await.unwrap();
}

#[tokio::test]
async fn migrations_go_down_and_up_again() {
    let db = TestDb::create().await;
    let pool = db.pool().await;
    let table_count = |pool: sqlx::PgPool| async move {
        sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public' AND table_name <> '_sqlx_migrations'",
        )
        .fetch_one(&pool)
        .await
        .unwrap()
    };
    bnpl::store::migrate(&pool).await.unwrap();
    let migrated = table_count(pool.clone()).await;
    assert!(migrated >= 9, "expected the schema's tables, found {migrated}");
    bnpl::store::MIGRATOR.undo(&pool, 0).await.unwrap();
    assert_eq!(table_count(pool.clone()).await, 0, "down migrations drop everything");
    bnpl::store::migrate(&pool).await.unwrap();
    assert_eq!(
        table_count(pool.clone()).await,
        migrated,
        "up again restores the schema"
    );
    pool.close().await;
}

#[tokio::test]
async fn sigterm_stops_the_binary_with_exit_code_zero() {
    let db = TestDb::create().await;
    let prefix = TestPrefix::new();
    let port = free_port();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_bnpl"))
        .args(["serve", "--sandbox"])
        .env("BNPL_DATABASE_URL", &db.url)
        .env("BNPL_AMQP_PREFIX", &prefix.prefix)
        .env("BNPL_HTTP_ADDR", format!("127.0.0.1:{port}"))
        .env("BNPL_SANDBOX_ADDR", "127.0.0.1:0")
        .env_remove("BNPL_CONFIG")
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}/readyz");
    eventually(Duration::from_secs(30), "binary ready", || async {
        reqwest::get(&url).await.map(|r| r.status() == 200).unwrap_or(false)
    })
    .await;
    let pid = child.id().unwrap();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("exits within the deadline")
        .unwrap();
    assert_eq!(status.code(), Some(0), "graceful shutdown exits 0");
}

/// The sandbox is never a silent default (contract §6): with no account and no flag, or with
/// both, `bnpl serve` and `bnpl worker` exit 2 at once, naming what to set.
#[tokio::test]
async fn serve_without_providers_or_with_both_exits_2_at_once() {
    let config = crate::processes::write_config_with("http://127.0.0.1:9", "30s", &[]);
    let cases: [(&[&str], Option<&std::path::Path>); 4] = [
        (&["serve"], None),
        (&["worker", "jobs"], None),
        (&["serve", "--sandbox"], Some(config.as_path())),
        (&["worker", "http", "--sandbox"], Some(config.as_path())),
    ];
    for (args, config_file) in cases {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_bnpl"));
        command
            .args(args)
            // Unreachable on purpose: the check must come before any connection.
            .env("BNPL_DATABASE_URL", "postgres://nobody@127.0.0.1:9/none")
            .env("BNPL_AMQP_URL", "amqp://nobody:x@127.0.0.1:9/%2f")
            .env_remove("BNPL_SANDBOX")
            .env_remove("BNPL_CONFIG")
            .kill_on_drop(true);
        if let Some(file) = config_file {
            command.env("BNPL_CONFIG", file);
        }
        let started = std::time::Instant::now();
        let output = tokio::time::timeout(Duration::from_secs(10), command.output())
            .await
            .expect("exits at once")
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{args:?} took {:?}",
            started.elapsed()
        );
        assert!(
            stderr.contains("BNPL_CONFIG") && stderr.contains("--sandbox"),
            "{args:?}: {stderr}"
        );
    }
    let _ = std::fs::remove_file(config);
}

/// With the sandbox on, ops can tell: `/readyz` says so and the gauge is 1 (a process of its own:
/// the in-process tests share one metrics recorder).
#[tokio::test]
async fn the_sandbox_shows_on_readyz_and_in_metrics() {
    let db = TestDb::create().await;
    let prefix = TestPrefix::new();
    let port = free_port();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_bnpl"))
        .args(["serve", "--sandbox"])
        .env("BNPL_DATABASE_URL", &db.url)
        .env("BNPL_AMQP_PREFIX", &prefix.prefix)
        .env("BNPL_HTTP_ADDR", format!("127.0.0.1:{port}"))
        .env("BNPL_SANDBOX_ADDR", "127.0.0.1:0")
        .env_remove("BNPL_CONFIG")
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    eventually(Duration::from_secs(30), "binary ready", || async {
        reqwest::get(format!("{base}/readyz"))
            .await
            .map(|r| r.status() == 200)
            .unwrap_or(false)
    })
    .await;
    let ready: serde_json::Value = reqwest::get(format!("{base}/readyz"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["sandbox"], true, "{ready}");
    let metrics = reqwest::get(format!("{base}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.lines().any(|line| line == "bnpl_sandbox_enabled 1"),
        "{metrics}"
    );
    let _ = child.kill().await;
}
