//! Test harness (zero2prod's `spawn_app`): a fresh database per test, a random AMQP prefix, the
//! server on port 0, and clean-up of both when the test ends, even when it panics.

use bnpl::app::Running;
use bnpl::config::Config;
use bnpl::messaging::Topology;
use bnpl::workers::Role;
use futures_util::StreamExt as _;
use lapin::options::{
    BasicConsumeOptions, BasicPublishOptions, ExchangeDeleteOptions, QueueBindOptions, QueueDeclareOptions,
    QueueDeleteOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use sqlx::{Connection as _, PgConnection, PgPool};
use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub const ADMIN_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
pub const AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

/// A database of its own, dropped (with FORCE) when the value is dropped.
pub struct TestDb {
    pub name: String,
    pub url: String,
}

impl TestDb {
    pub async fn create() -> TestDb {
        let name = format!("bnpl_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = PgConnection::connect(ADMIN_DATABASE_URL)
            .await
            .expect("connect to postgres");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .expect("create test database");
        let url = format!("postgres://postgres@127.0.0.1:5432/{name}");
        TestDb { name, url }
    }

    /// Makes the database unreachable for new sessions and kills existing ones (design §1:
    /// break *our* connections, never the shared server).
    pub async fn cut_off(&self) {
        let mut admin = admin().await;
        sqlx::query(&format!("ALTER DATABASE {} WITH ALLOW_CONNECTIONS false", self.name))
            .execute(&mut admin)
            .await
            .unwrap();
        sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1")
            .bind(&self.name)
            .execute(&mut admin)
            .await
            .unwrap();
    }

    pub async fn restore(&self) {
        let mut admin = admin().await;
        sqlx::query(&format!("ALTER DATABASE {} WITH ALLOW_CONNECTIONS true", self.name))
            .execute(&mut admin)
            .await
            .unwrap();
    }

    pub async fn pool(&self) -> PgPool {
        PgPool::connect(&self.url).await.expect("connect to test database")
    }

    /// A database of its own with the migrations applied, and a pool to it.
    pub async fn migrated() -> (TestDb, PgPool) {
        let db = TestDb::create().await;
        let pool = db.pool().await;
        bnpl::store::migrate(&pool).await.expect("migrate the test database");
        (db, pool)
    }
}

/// A fresh database, migrated, and the services a flow runs with (their job committer included),
/// for tests that drive a flow or the job results directly, without a running process.
pub async fn fresh_services() -> (TestDb, PgPool, bnpl::flows::Services) {
    let db = TestDb::create().await;
    let pool = db.pool().await;
    bnpl::store::migrate(&pool).await.unwrap();
    let config = test_config(&db, &TestPrefix::new(), &[]);
    let services = bnpl::admin::refund_evidence::cli_services(&config, pool.clone()).unwrap();
    (db, pool, services)
}

/// Waits until some session of `pool`'s database waits for a lock (a row another transaction
/// holds): how a test knows the statement it started has reached the lock it is meant to wait on.
pub async fn wait_for_a_lock_wait(pool: &PgPool, within: Duration) {
    let waiting = async {
        loop {
            let blocked: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
            )
            .fetch_one(pool)
            .await
            .unwrap();
            if blocked > 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(within, waiting)
        .await
        .expect("a session waits for a lock");
}

async fn admin() -> PgConnection {
    PgConnection::connect(ADMIN_DATABASE_URL)
        .await
        .expect("connect to postgres")
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        run_blocking(async move {
            if let Ok(mut admin) = PgConnection::connect(ADMIN_DATABASE_URL).await {
                let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut admin)
                    .await;
            }
        });
    }
}

/// Runs async clean-up from `Drop`, on a thread of its own so it works inside or outside a runtime.
pub fn run_blocking(work: impl Future<Output = ()> + Send + 'static) {
    let _ = std::thread::spawn(move || {
        if let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() {
            runtime.block_on(work);
        }
    })
    .join();
}

/// A random prefix; its exchanges and queues are deleted when dropped.
pub struct TestPrefix {
    pub prefix: String,
}

impl TestPrefix {
    pub fn new() -> Self {
        Self {
            prefix: format!("t{}", &uuid::Uuid::new_v4().simple().to_string()[..12]),
        }
    }

    pub fn topology(&self) -> Topology {
        Topology::new(self.prefix.clone(), 20)
    }
}

impl Drop for TestPrefix {
    fn drop(&mut self) {
        let topology = self.topology();
        run_blocking(async move {
            let Ok(connection) = amqp_connect().await else {
                return;
            };
            for queue in topology.queues() {
                if let Ok(channel) = connection.create_channel().await {
                    let _ = channel.queue_delete(&queue, QueueDeleteOptions::default()).await;
                }
            }
            for exchange in topology.exchanges() {
                if let Ok(channel) = connection.create_channel().await {
                    let _ = channel
                        .exchange_delete(&exchange, ExchangeDeleteOptions::default())
                        .await;
                }
            }
            let _ = connection.close(200, "test clean-up").await;
        });
    }
}

pub async fn amqp_connect() -> lapin::Result<Connection> {
    let properties = ConnectionProperties::default()
        .with_executor(tokio_executor_trait::Tokio::current())
        .with_reactor(tokio_reactor_trait::Tokio);
    Connection::connect(AMQP_URL, properties).await
}

/// Configuration for a test app: its own database and prefix, port 0, short deadlines.
pub fn test_config(db: &TestDb, prefix: &TestPrefix, extra: &[(&str, &str)]) -> Config {
    let mut env: HashMap<String, String> = HashMap::from([
        ("BNPL_DATABASE_URL".to_owned(), db.url.clone()),
        ("BNPL_AMQP_PREFIX".to_owned(), prefix.prefix.clone()),
        ("BNPL_HTTP_ADDR".to_owned(), "127.0.0.1:0".to_owned()),
        // The in-process sandbox plays the providers unless a test configures accounts (and then
        // clears `config.sandbox`); tests run in parallel, so it takes any free port.
        ("BNPL_SANDBOX".to_owned(), "1".to_owned()),
        ("BNPL_SANDBOX_ADDR".to_owned(), "127.0.0.1:0".to_owned()),
    ]);
    for (key, value) in extra {
        env.insert((*key).to_owned(), (*value).to_owned());
    }
    let mut config = Config::load(|name| env.get(name).cloned()).expect("test config");
    config.shutdown_deadline = Duration::from_secs(10);
    // Small pools: many tests share the server's 100 connections.
    config.intake.concurrency = 4;
    // Tests read /metrics right after changing the database: a fresh snapshot within moments.
    config.http.metrics_refresh = Duration::from_millis(200);
    config
}

/// A running orchestrator with its own database and prefix.
pub struct TestApp {
    pub addr: SocketAddr,
    pub http: reqwest::Client,
    running: Option<Running>,
    shutdown: CancellationToken,
    // Dropped last: the app must stop before its database and queues go.
    pub prefix: TestPrefix,
    pub db: TestDb,
}

pub async fn spawn_app() -> TestApp {
    let db = TestDb::create().await;
    let prefix = TestPrefix::new();
    let config = test_config(&db, &prefix, &[]);
    spawn_app_with(db, prefix, config).await
}

pub async fn spawn_app_with(db: TestDb, prefix: TestPrefix, config: Config) -> TestApp {
    // Logs go to the test's captured output (shown for failing tests); RUST_LOG filters them.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init();
    let shutdown = CancellationToken::new();
    let running = bnpl::app::start(config, &Role::ALL, shutdown.clone())
        .await
        .expect("app starts");
    let addr = running.http_addr.expect("http role runs");
    let app = TestApp {
        addr,
        http: reqwest::Client::new(),
        running: Some(running),
        shutdown,
        prefix,
        db,
    };
    app.wait_until_ready().await;
    app
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// The text of `/metrics`.
    pub async fn metrics_text(&self) -> String {
        let response = self.http.get(self.url("/metrics")).send().await.unwrap();
        response.text().await.unwrap()
    }

    pub async fn readyz_status(&self) -> u16 {
        match self
            .http
            .get(self.url("/readyz"))
            .timeout(Duration::from_secs(5))
            .send()
            .await
        {
            Ok(response) => response.status().as_u16(),
            Err(_) => 0,
        }
    }

    pub async fn wait_until_ready(&self) {
        eventually(Duration::from_secs(20), "app ready", || async {
            self.readyz_status().await == 200
        })
        .await;
    }

    /// Stops the app gracefully and returns what its shutdown reported.
    pub async fn stop(&mut self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        match self.running.take() {
            Some(running) => running.wait().await,
            None => Ok(()),
        }
    }

    pub fn topology(&self) -> Topology {
        self.prefix.topology()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Polls `check` until it is true or `deadline` passes (then panics naming `what`). Tests wait
/// on conditions, never on blind sleeps.
pub async fn eventually<F, Fut>(deadline: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let started = tokio::time::Instant::now();
    loop {
        if check().await {
            return;
        }
        assert!(
            started.elapsed() < deadline,
            "timed out after {deadline:?} waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The number of consumers on `queue`, or None when it does not exist.
pub async fn consumer_count(queue: &str) -> Option<u32> {
    let connection = amqp_connect().await.ok()?;
    let channel = connection.create_channel().await.ok()?;
    let options = QueueDeclareOptions {
        passive: true,
        ..Default::default()
    };
    let declared = channel.queue_declare(queue, options, FieldTable::default()).await.ok();
    let _ = connection.close(200, "checked").await;
    declared.map(|queue| queue.consumer_count())
}

/// The number of ready (undelivered) messages in `queue`, or None when it does not exist.
pub async fn ready_messages(queue: &str) -> Option<u32> {
    let connection = amqp_connect().await.ok()?;
    let channel = connection.create_channel().await.ok()?;
    let options = QueueDeclareOptions {
        passive: true,
        ..Default::default()
    };
    let declared = channel.queue_declare(queue, options, FieldTable::default()).await.ok();
    let _ = connection.close(200, "checked").await;
    declared.map(|queue| queue.message_count())
}

/// A test-side AMQP client: publishes commands and reads what the orchestrator announces.
pub struct BrokerProbe {
    /// Held so the channel stays open.
    _connection: Connection,
    pub channel: Channel,
    topology: Topology,
}

impl BrokerProbe {
    pub async fn new(topology: Topology) -> Self {
        let connection = amqp_connect().await.expect("amqp");
        let channel = connection.create_channel().await.expect("channel");
        // Publisher confirms, so `publish_command` returns only once the broker has the message:
        // without them the confirm is "not requested" at once, and a probe dropped right after
        // publishing could lose its last messages with its connection.
        channel
            .confirm_select(lapin::options::ConfirmSelectOptions::default())
            .await
            .expect("confirm mode");
        Self {
            _connection: connection,
            channel,
            topology,
        }
    }

    pub async fn publish_command(&self, routing_key: &str, body: &[u8], properties: BasicProperties) {
        let properties = properties
            .with_content_type("application/json".into())
            .with_delivery_mode(2);
        let confirmation = self
            .channel
            .basic_publish(
                &self.topology.commands(),
                routing_key,
                BasicPublishOptions::default(),
                body,
                properties,
            )
            .await
            .expect("publish")
            .await
            .expect("confirm");
        assert!(
            confirmation.is_ack(),
            "the broker refused the command: {confirmation:?}"
        );
    }

    /// A queue of this probe's own (exclusive, gone with its connection), named by the broker.
    pub async fn private_queue(&self) -> String {
        let options = QueueDeclareOptions {
            exclusive: true,
            auto_delete: true,
            ..Default::default()
        };
        let queue = self
            .channel
            .queue_declare("", options, FieldTable::default())
            .await
            .expect("declare");
        queue.name().to_string()
    }

    /// A private queue bound to every event; returns a consumer on it.
    pub async fn subscribe_events(&self) -> lapin::Consumer {
        let queue = self.private_queue().await;
        self.channel
            .queue_bind(
                &queue,
                &self.topology.events(),
                "#",
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .expect("bind");
        self.consume(&queue).await
    }

    pub async fn consume(&self, queue: &str) -> lapin::Consumer {
        let options = BasicConsumeOptions {
            no_ack: true,
            ..Default::default()
        };
        self.channel
            .basic_consume(queue, "", options, FieldTable::default())
            .await
            .expect("consume")
    }
}

/// The next delivery within `timeout`, or None.
pub async fn next_delivery(consumer: &mut lapin::Consumer, timeout: Duration) -> Option<lapin::message::Delivery> {
    match tokio::time::timeout(timeout, consumer.next()).await {
        Ok(Some(Ok(delivery))) => Some(delivery),
        _ => None,
    }
}

/// A delivery's body as JSON.
pub fn json_body(delivery: &lapin::message::Delivery) -> serde_json::Value {
    serde_json::from_slice(&delivery.data).expect("JSON body")
}

/// A string header of a delivery.
pub fn header(delivery: &lapin::message::Delivery, name: &str) -> Option<String> {
    let headers = delivery.properties.headers().as_ref()?;
    match headers.inner().get(name)? {
        lapin::types::AMQPValue::LongString(value) => Some(value.to_string()),
        lapin::types::AMQPValue::ShortString(value) => Some(value.to_string()),
        _ => None,
    }
}

/// Ends the sessions of database `name` that are sleeping in `pg_sleep` (a batch held open on
/// purpose); returns how many.
pub async fn terminate_sessions_sleeping_in(name: &str) -> i64 {
    let mut admin = admin().await;
    sqlx::query_scalar(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
         WHERE datname = $1 AND query LIKE '%pg_sleep%' AND pid <> pg_backend_pid()",
    )
    .bind(name)
    .fetch_one(&mut admin)
    .await
    .unwrap()
}

/// A free TCP port on 127.0.0.1 for a process that binds it later. It is drawn below the kernel's
/// ephemeral range (32768 and up here), so the port cannot be handed to someone's `bind(0)` (a
/// sandbox, a client socket) between this check and that later bind: that race made a test's
/// `bnpl serve` fail with "address in use".
pub fn free_port() -> u16 {
    use rand::Rng as _;
    let mut rng = rand::thread_rng();
    loop {
        let port = rng.gen_range(20_000..32_000);
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// A humm Gate payment of 100.00 GBP on account `default`, as intake would store it, for tests
/// that drive the ledger writer directly.
/// Creates [`humm_payment`] through the ledger, in `accepted` (no command row, no jobs); its row.
pub async fn create_humm_payment(conn: &mut sqlx::PgConnection, payment_id: &str) -> bnpl::store::payments::PaymentRow {
    bnpl::ledger::payment::create(
        conn,
        &humm_payment(payment_id),
        bnpl::ledger::Origin::default(),
        None,
        None,
        &Default::default(),
    )
    .await
    .unwrap()
    .expect("a new payment")
    .row
}

/// A [`humm_payment`] that succeeded, with refunds of 10.00 GBP each queued on its account's
/// queue (`humm:default`) in the order of `refund_ids`, for tests that drive the refund queue
/// directly.
pub async fn succeeded_humm_payment_with_refunds(conn: &mut sqlx::PgConnection, payment_id: &str, refund_ids: &[&str]) {
    use bnpl::ledger::payment::{self, Change, Extras};
    create_humm_payment(conn, payment_id).await;
    for event in [
        bnpl::domain::PaymentEvent::Registered,
        bnpl::domain::PaymentEvent::Succeeded,
    ] {
        payment::apply(conn, payment_id, None, event, &Change::by("test"), Extras::default())
            .await
            .unwrap();
    }
    for refund_id in refund_ids {
        let row = bnpl::store::payments::lock(conn, payment_id).await.unwrap().unwrap();
        let refund = bnpl::store::refunds::NewRefund {
            refund_id,
            payment_id,
            provider: "humm",
            account: "default",
            queue_key: "humm:default",
            amount_minor: 1_000,
            currency: "GBP",
            reason: None,
            requested_by: "finance",
        };
        bnpl::ledger::refund::enqueue(conn, &refund, &row, bnpl::ledger::Origin::default())
            .await
            .unwrap();
    }
}

pub fn humm_payment(payment_id: &str) -> bnpl::store::payments::NewPayment<'_> {
    bnpl::store::payments::NewPayment {
        payment_id,
        provider: "humm",
        account: "default",
        flow: "gate",
        amount_minor: 10_000,
        currency: "GBP",
        down_payment_minor: 0,
        command_hash: "hash",
        customer: serde_json::json!({}),
        items: serde_json::json!([]),
        description: None,
        return_url: None,
        metadata: serde_json::json!({"order_ref": payment_id}),
        threshold_at: chrono::Utc::now() + chrono::Duration::hours(24),
    }
}
