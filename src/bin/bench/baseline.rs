//! Scenario 2 (and the bare side of scenario 3): the bare baseline of design §4, doing the same
//! external I/O as the orchestrator in straight-line code, with the same prefetch (64),
//! concurrency (16) and pool size (40):
//! consume → INSERT → sale HTTP call → UPDATE → publish (confirmed) → ack; intermediate callback
//! in → UPDATE → publish; final callback in → UPDATE → publish.
//!
//! It verifies callback signatures and builds signed requests with the same protocol modules as
//! the orchestrator (CPU work any correct client does); everything else is the minimum.

use super::env::{self, BenchDb, Servers, AMOUNT, SECRET};
use anyhow::Context as _;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use bnpl::providers::ecommpay::account::EcommpayAccount;
use bnpl::providers::ecommpay::callback::{self, CallbackEvent};
use bnpl::providers::ecommpay::{request, response};
use bnpl::providers::executor::Executor;
use bnpl::providers::outcome::{CreateOutcome, Expected, PaymentState};
use futures_util::StreamExt as _;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions, ConfirmSelectOptions,
    ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{BasicProperties, Channel, Connection, ExchangeKind};
use secrecy::SecretString;
use serde_json::json;
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use url::Url;

pub const PREFETCH: u16 = 64;
pub const CONCURRENCY: usize = 16;
pub const POOL: u32 = 40;

/// The baseline's names under the bench prefix.
pub struct Names {
    pub commands: String,
    pub events: String,
    pub queue: String,
}

impl Names {
    pub fn new(prefix: &str) -> Self {
        Self {
            commands: format!("{prefix}.base.commands"),
            events: format!("{prefix}.base.events"),
            queue: format!("{prefix}.base.purchases"),
        }
    }
}

struct Shared {
    pool: PgPool,
    events: Channel,
    events_exchange: String,
    secret: SecretString,
}

/// A running baseline.
pub struct Baseline {
    pub addr: SocketAddr,
    pub pool: PgPool,
    stop: CancellationToken,
    _connection: Connection,
}

impl Baseline {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub async fn stop(self) {
        self.stop.cancel();
        tokio::time::sleep(Duration::from_millis(200)).await;
        self.pool.close().await;
    }
}

/// Creates the baseline's table in `db` and starts its consumer and callback server.
pub async fn start(servers: &Servers, db: &BenchDb, prefix: &str, sandbox_url: &str) -> anyhow::Result<Baseline> {
    let pool = PgPoolOptions::new().max_connections(POOL).connect(&db.url).await?;
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS base_payments (
             payment_id TEXT PRIMARY KEY, status TEXT NOT NULL, amount_minor BIGINT NOT NULL,
             body JSONB NOT NULL, updated_at TIMESTAMPTZ NOT NULL DEFAULT now())",
    )
    .execute(&pool)
    .await?;
    let names = Names::new(prefix);
    let connection = servers.amqp().await?;
    let setup = connection.create_channel().await?;
    let durable = ExchangeDeclareOptions {
        durable: true,
        ..Default::default()
    };
    setup
        .exchange_declare(&names.commands, ExchangeKind::Direct, durable, FieldTable::default())
        .await?;
    setup
        .exchange_declare(&names.events, ExchangeKind::Topic, durable, FieldTable::default())
        .await?;
    let mut args = FieldTable::default();
    args.insert("x-queue-type".into(), AMQPValue::LongString(LongString::from("quorum")));
    let queue_options = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    setup.queue_declare(&names.queue, queue_options, args).await?;
    setup
        .queue_bind(
            &names.queue,
            &names.commands,
            "purchase.create",
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;
    let events = connection.create_channel().await?;
    events.confirm_select(ConfirmSelectOptions::default()).await?;
    let shared = Arc::new(Shared {
        pool: pool.clone(),
        events,
        events_exchange: names.events.clone(),
        secret: SecretString::from(SECRET),
    });
    let stop = CancellationToken::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let router = Router::new()
        .route("/callbacks/ecommpay", post(callback_handler))
        .route("/bare/ecommpay", post(bare_handler))
        .with_state(Arc::clone(&shared));
    let server_stop = stop.clone();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router)
            .with_graceful_shutdown(server_stop.cancelled_owned())
            .await;
    });
    let mut account = EcommpayAccount::new(env::PROJECT, SecretString::from(SECRET))?;
    account.gate_base_url = Url::parse(&format!("{sandbox_url}/"))?;
    account.merchant_callback_url = Some(Url::parse(&format!("http://{addr}/callbacks/ecommpay"))?);
    let consumer_channel = connection.create_channel().await?;
    consumer_channel.basic_qos(PREFETCH, BasicQosOptions::default()).await?;
    let consumer = consumer_channel
        .basic_consume(
            &names.queue,
            "base",
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    let executor = Executor::new(Duration::from_secs(5)).context("http client")?;
    tokio::spawn(consume(
        consumer,
        Arc::clone(&shared),
        Arc::new(account),
        executor,
        stop.clone(),
    ));
    Ok(Baseline {
        addr,
        pool,
        stop,
        _connection: connection,
    })
}

async fn consume(
    mut consumer: lapin::Consumer,
    shared: Arc<Shared>,
    account: Arc<EcommpayAccount>,
    executor: Executor,
    stop: CancellationToken,
) {
    let permits = Arc::new(Semaphore::new(CONCURRENCY));
    loop {
        let delivery = tokio::select! {
            next = consumer.next() => match next { Some(Ok(delivery)) => delivery, _ => return },
            () = stop.cancelled() => return,
        };
        let Ok(permit) = Arc::clone(&permits).acquire_owned().await else {
            return;
        };
        let shared = Arc::clone(&shared);
        let account = Arc::clone(&account);
        let executor = executor.clone();
        tokio::spawn(async move {
            if let Err(error) = purchase(&shared, &account, &executor, &delivery.data).await {
                eprintln!("baseline purchase: {error}");
            }
            let _ = delivery.ack(BasicAckOptions::default()).await;
            drop(permit);
        });
    }
}

/// consume → INSERT → sale → UPDATE → publish (confirmed); the caller acks.
async fn purchase(shared: &Shared, account: &EcommpayAccount, executor: &Executor, data: &[u8]) -> anyhow::Result<()> {
    let body: serde_json::Value = serde_json::from_slice(data)?;
    let payment_id = body["payment_id"].as_str().unwrap_or_default().to_owned();
    let amount = body["amount"]["minor"].as_i64().unwrap_or(AMOUNT);
    sqlx::query("INSERT INTO base_payments (payment_id, status, amount_minor, body) VALUES ($1, 'accepted', $2, $3)")
        .bind(&payment_id)
        .bind(amount)
        .bind(&body)
        .execute(&shared.pool)
        .await?;
    let text = |key: &str| body["customer"][key].as_str().unwrap_or_default().to_owned();
    let sale = request::sale(
        account,
        &request::SaleRequest {
            payment_id: payment_id.clone(),
            amount_minor: amount,
            currency: "GBP".to_owned(),
            customer: request::Customer {
                id: text("id"),
                ip_address: text("ip_address"),
                first_name: text("first_name"),
                last_name: text("last_name"),
            },
            description: body["description"].as_str().map(str::to_owned),
            return_url: body["return_url"].as_str().and_then(|u| Url::parse(u).ok()),
        },
    )?;
    let status = match executor.send(&sale, Duration::from_secs(10)).await {
        Ok(raw) => match response::parse_sale(&raw, &payment_id) {
            CreateOutcome::Accepted(_) => "pending",
            _ => "failed",
        },
        Err(_) => "failed",
    };
    update_and_publish(shared, &payment_id, status).await
}

async fn update_and_publish(shared: &Shared, payment_id: &str, status: &str) -> anyhow::Result<()> {
    sqlx::query("UPDATE base_payments SET status = $2, updated_at = now() WHERE payment_id = $1")
        .bind(payment_id)
        .bind(status)
        .execute(&shared.pool)
        .await?;
    let kind = format!("payment.{status}");
    let event = json!({ "type": kind, "payment_id": payment_id, "status": status });
    shared
        .events
        .basic_publish(
            &shared.events_exchange,
            &kind,
            BasicPublishOptions::default(),
            event.to_string().as_bytes(),
            BasicProperties::default().with_delivery_mode(2),
        )
        .await?
        .await?;
    Ok(())
}

/// The status a verified callback reports, or None (not about the sale).
fn callback_status(shared: &Shared, body: &[u8]) -> Result<(String, Option<&'static str>), StatusCode> {
    let parsed = callback::verify_and_parse(body, &shared.secret).map_err(|_| StatusCode::BAD_REQUEST)?;
    let status = match parsed.event() {
        CallbackEvent::Redirect(_) => Some("action_required"),
        CallbackEvent::Sale(_) => match parsed.sale_state(&Expected::money(&parsed.payment_id, AMOUNT, "GBP")) {
            Ok(PaymentState::Succeeded) => Some("succeeded"),
            Ok(PaymentState::Declined { .. }) => Some("declined"),
            Ok(PaymentState::Failed { .. }) => Some("failed"),
            _ => None,
        },
        _ => None,
    };
    Ok((parsed.payment_id, status))
}

/// Callback in → UPDATE → publish (confirmed) → 200.
async fn callback_handler(State(shared): State<Arc<Shared>>, body: Bytes) -> StatusCode {
    match callback_status(&shared, &body) {
        Ok((payment_id, Some(status))) => match update_and_publish(&shared, &payment_id, status).await {
            Ok(()) => StatusCode::OK,
            Err(_) => StatusCode::SERVICE_UNAVAILABLE,
        },
        Ok((_, None)) => StatusCode::OK,
        Err(code) => code,
    }
}

/// Scenario 3's bare handler: verify, then one UPDATE per callback.
async fn bare_handler(State(shared): State<Arc<Shared>>, body: Bytes) -> StatusCode {
    match callback_status(&shared, &body) {
        Ok((payment_id, Some(status))) => {
            let updated = sqlx::query("UPDATE base_payments SET status = $2, updated_at = now() WHERE payment_id = $1")
                .bind(&payment_id)
                .bind(status)
                .execute(&shared.pool)
                .await;
            if updated.is_ok() {
                StatusCode::OK
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            }
        }
        Ok((_, None)) => StatusCode::OK,
        Err(code) => code,
    }
}
