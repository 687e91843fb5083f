//! A database outage (our own database made unreachable, design §1 last rule): readiness drops,
//! consumers stop instead of nacking, and both recover without a restart.

use crate::helpers::*;
use std::time::Duration;

#[tokio::test]
async fn unreachable_database_stops_consumers_and_recovers_without_restart() {
    let mut app = spawn_app().await;
    let queue = app.topology().purchases();
    eventually(Duration::from_secs(10), "consuming", || async {
        consumer_count(&queue).await == Some(1)
    })
    .await;

    app.db.cut_off().await;
    eventually(Duration::from_secs(10), "/readyz 503", || async {
        app.readyz_status().await == 503
    })
    .await;
    eventually(Duration::from_secs(10), "consumers stopped", || async {
        consumer_count(&queue).await == Some(0)
    })
    .await;

    // Commands published during the outage wait in the queue: nothing is dead-lettered.
    let probe = BrokerProbe::new(app.topology()).await;
    probe
        .publish_command("purchase.create", b"{not json", Default::default())
        .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        consumer_count(&queue).await,
        Some(0),
        "still not consuming during the outage"
    );

    app.db.restore().await;
    eventually(Duration::from_secs(20), "/readyz 200 again", || async {
        app.readyz_status().await == 200
    })
    .await;
    eventually(Duration::from_secs(20), "consuming again", || async {
        consumer_count(&queue).await == Some(1)
    })
    .await;
    // The command held during the outage is processed once the database is back.
    let pool = app.db.pool().await;
    eventually(Duration::from_secs(20), "the held command is recorded", || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM commands")
            .fetch_one(&pool)
            .await
            .unwrap_or(0)
            == 1
    })
    .await;
    pool.close().await;
    app.stop().await.unwrap();
}
