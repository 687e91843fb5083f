//! A lost broker connection: the supervisor reconnects and declares the topology again by itself.

use crate::helpers::*;
use lapin::options::QueueDeleteOptions;
use std::time::Duration;

#[tokio::test]
async fn closed_connection_reconnects_and_redeclares_topology() {
    let mut app = spawn_app().await;
    let topology = app.topology();
    let queue = topology.purchases();
    eventually(Duration::from_secs(10), "consuming", || async {
        consumer_count(&queue).await == Some(1)
    })
    .await;

    // Remove a queue behind the orchestrator's back, then cut its connection: only a real
    // re-declaration after reconnecting brings the queue back.
    let probe = BrokerProbe::new(topology.clone()).await;
    probe
        .channel
        .queue_delete(&topology.refunds(), QueueDeleteOptions::default())
        .await
        .unwrap();
    assert_eq!(consumer_count(&topology.refunds()).await, None);
    let closed = close_connections_named(&app.prefix.prefix).await;
    assert!(closed >= 1, "found no connection of ours to close");

    eventually(
        Duration::from_secs(30),
        "refund queue re-declared and consumed",
        || async { consumer_count(&topology.refunds()).await == Some(1) },
    )
    .await;
    eventually(Duration::from_secs(30), "purchase queue consumed again", || async {
        consumer_count(&queue).await == Some(1)
    })
    .await;
    eventually(Duration::from_secs(10), "ready again", || async {
        app.readyz_status().await == 200
    })
    .await;
    app.stop().await.unwrap();
}

/// Closes, with `rabbitmqctl close_connection` (which takes the connection pid on RabbitMQ 3.x), every connection whose client-provided name
/// contains `needle`; returns how many.
async fn close_connections_named(needle: &str) -> usize {
    let output = tokio::process::Command::new("rabbitmqctl")
        .args([
            "list_connections",
            "--quiet",
            "--no-table-headers",
            "pid",
            "client_properties",
        ])
        .output()
        .await
        .expect("rabbitmqctl runs");
    let listing = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(
        output.status.success(),
        "list_connections failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut closed = 0;
    for line in listing.lines().filter(|line| line.contains(needle)) {
        let pid = line.split('\t').next().unwrap_or_default();
        let status = tokio::process::Command::new("rabbitmqctl")
            .args(["close_connection", pid, "test: broker connection lost"])
            .status()
            .await
            .expect("rabbitmqctl runs");
        assert!(status.success(), "close_connection {pid:?} failed");
        closed += 1;
    }
    closed
}
