//! `bnpl admin dead-letters …`: the subcommands that may publish to RabbitMQ (a replay), with a
//! short-lived supervised connection of their own.

use super::args::DeadLetterCommand;
use super::table::{json as to_json, opt, render};
use crate::admin::ops::{self, DeadLetterFix};
use crate::admin::read::dead_letters as admin_dead_letters;
use crate::config::Config;
use crate::messaging::{Broker, Publisher, Topology};
use anyhow::{bail, Context as _};
use sqlx::PgPool;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub(super) async fn dead_letters(
    config: &Config,
    pool: &PgPool,
    command: DeadLetterCommand,
    actor: &str,
    json: bool,
) -> anyhow::Result<String> {
    Ok(match command {
        DeadLetterCommand::List { all } => {
            let letters = admin_dead_letters::list(pool, all, 1000).await?;
            if json {
                return to_json(&letters);
            }
            let rows: Vec<Vec<String>> = letters
                .into_iter()
                .map(|d| {
                    vec![
                        d.id.to_string(),
                        d.routing_key,
                        d.reason,
                        d.detail,
                        d.created_at.to_rfc3339(),
                        opt(d.replayed_at.map(|at| at.to_rfc3339())),
                        opt(d.purged_at.map(|at| at.to_rfc3339())),
                    ]
                })
                .collect();
            render(
                &[
                    "id",
                    "routing key",
                    "reason",
                    "detail",
                    "received",
                    "replayed",
                    "purged",
                ],
                &rows,
            )
        }
        DeadLetterCommand::Replay {
            id,
            routing_key,
            body_file,
        } => {
            let body = match body_file {
                Some(path) => Some(
                    serde_json::from_slice(
                        &std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?,
                    )
                    .with_context(|| format!("{} is not JSON", path.display()))?,
                ),
                None => None,
            };
            let fix = DeadLetterFix { routing_key, body };
            let replayed = with_publisher(config, |publisher| async move {
                ops::replay_dead_letter(pool, &publisher, id, &fix, actor).await
            })
            .await??;
            format!(
                "dead letter {} replayed to {} with routing key {}\n",
                replayed.dead_letter_id, replayed.exchange, replayed.routing_key
            )
        }
        DeadLetterCommand::Purge { id } => {
            if !admin_dead_letters::purge(pool, id, actor).await? {
                bail!("no unpurged dead letter {id}");
            }
            format!("dead letter {id} purged\n")
        }
    })
}

/// Connects to the broker (declaring the topology, as every process does), runs `work` with a
/// confirming publisher, and closes the connection.
async fn with_publisher<F, Fut, T>(config: &Config, work: F) -> anyhow::Result<T>
where
    F: FnOnce(std::sync::Arc<Publisher>) -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let tracker = TaskTracker::new();
    let close = CancellationToken::new();
    let topology = Topology::new(config.amqp_prefix.clone(), config.intake.delivery_limit);
    let broker = Broker::start(
        config.amqp_url.clone(),
        topology,
        "bnpl admin".to_owned(),
        &tracker,
        close.clone(),
    );
    let mut sessions = broker.subscribe();
    // `wait_for` returns a guard that holds the channel's read lock: drop it at once (as a bool),
    // or the supervisor could never publish the next session and the CLI would hang.
    let connected = tokio::time::timeout(Duration::from_secs(10), sessions.wait_for(Option::is_some))
        .await
        .is_ok_and(|seen| seen.is_ok());
    let result = if connected {
        Ok(work(std::sync::Arc::new(Publisher::new(broker.clone()))).await)
    } else {
        Err(anyhow::anyhow!("RabbitMQ is not reachable (BNPL_AMQP_URL)"))
    };
    close.cancel();
    tracker.close();
    tracker.wait().await;
    result
}
