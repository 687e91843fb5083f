//! `bench`: the benchmark of issue 9 / design §4. Prints figures and ratios; asserts nothing about
//! speed. Every run makes its own databases (`bench_<uuid>`) and AMQP prefix and removes them.
//!
//! Scenarios (one module each): `purchases` (1) and `baseline` (2), `callbacks` (3), `timers`
//! (4), `memory` (5), `handoff` (6), `latency` (7). The orchestrator, the sandbox and the load generator share
//! this process (the orchestrator is started with `bnpl::app::start`, as the tests do), except in
//! `memory`, which measures a separate `bnpl serve`. See `docs/benchmarks.md`.

mod baseline;
mod callbacks;
mod env;
mod handoff;
mod latency;
mod load;
mod memory;
mod orch;
mod purchases;
mod report;
mod statements;
mod timers;

use clap::Parser;
use env::Servers;
use serde_json::json;

// mimalloc instead of glibc malloc: the profile of callback ingestion spent ~16% of its CPU in
// glibc's allocator (`_int_malloc`, `malloc_consolidate`, …) on short-lived JSON and buffers.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser, Debug)]
#[command(about = "bnpl-orchestrator benchmark (design §4): orchestrator vs bare baseline")]
pub struct Args {
    /// Purchases per end-to-end run.
    #[arg(long, default_value_t = 2000)]
    pub n: usize,
    /// Orchestrator/baseline pairs of the purchase run (medians are printed).
    #[arg(long, default_value_t = 1)]
    pub rounds: usize,
    /// Comma-separated: purchases, callbacks, handoff, timers, memory, latency (not in the
    /// default set: it is compared across commits, not against the bare code).
    #[arg(long, default_value = "purchases,callbacks,handoff,timers,memory")]
    pub scenarios: String,
    /// Callbacks posted in the ingestion scenario.
    #[arg(long, default_value_t = 2000)]
    pub callbacks: usize,
    /// Refunds queued in the hand-off scenario (at most the purchases that succeeded).
    #[arg(long, default_value_t = 60)]
    pub refunds: usize,
    /// Status checks made due in the timer scenario.
    #[arg(long, default_value_t = 3000)]
    pub due: usize,
    /// Not-yet-due status checks inserted in the timer scenario.
    #[arg(long, default_value_t = 1_000_000)]
    pub timer_rows: i64,
    /// Payments awaiting callbacks at which `bnpl serve`'s RSS is read.
    #[arg(long, default_value = "1000,10000,100000")]
    pub memory_levels: String,
    /// Of the first memory level, how many go through the real flow (the rest are inserted).
    #[arg(long, default_value_t = 1000)]
    pub memory_real: usize,
    /// The `bnpl` binary for the memory scenario.
    #[arg(long, default_value = "target/release/bnpl")]
    pub bnpl_binary: String,
}

impl Args {
    fn wants(&self, scenario: &str) -> bool {
        self.scenarios.split(',').any(|s| s.trim() == scenario)
    }
}

fn main() -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn,lapin=off".into());
    let _ = tracing_subscriber::fmt().with_env_filter(filter).try_init();
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let servers = Servers::from_env();
    let mut summary = report::Summary::default();
    report::machine();
    let sandbox = bnpl::sandbox::spawn(env::sandbox_config(true, 20)).await?;
    let sandbox_url = sandbox.base_url().to_owned();
    if ["purchases", "callbacks", "handoff", "latency"]
        .iter()
        .any(|s| args.wants(s))
    {
        for round in 0..args.rounds.max(1) {
            purchase_round(&servers, &sandbox_url, &args, round, &mut summary).await?;
        }
    }
    if args.wants("timers") {
        set_customer(&sandbox_url, false).await?;
        let timers = timers::run(&servers, &sandbox_url, args.due, args.timer_rows).await?;
        report::timers(&timers);
        summary.timers = Some(timers);
    }
    if args.wants("memory") {
        let memory = memory::run(&servers, &args).await?;
        report::memory(&memory);
        summary.memory = Some(memory);
    }
    summary.print();
    sandbox.shutdown().await?;
    Ok(())
}

/// One orchestrator run and one baseline run of scenario 1/2, with 6 and 3 on the way.
async fn purchase_round(
    servers: &Servers,
    sandbox_url: &str,
    args: &Args,
    round: usize,
    summary: &mut report::Summary,
) -> anyhow::Result<()> {
    let prefix = env::random_prefix();
    let db = servers.create_database().await?;
    let base_db = servers.create_database().await?;
    let names = baseline::Names::new(&prefix);
    let topology = bnpl::messaging::Topology::new(prefix.clone(), 20);
    let result = async {
        let app = orch::start(servers, &db, &prefix, sandbox_url).await?;
        reset(sandbox_url).await?;
        set_customer(sandbox_url, true).await?;
        let exchanges = (topology.commands(), topology.events());
        if args.wants("latency") && round == 0 {
            let latency = latency::run(servers, (&exchanges.0, &exchanges.1)).await?;
            report::latency(&latency);
            summary.latency = Some(latency);
            if !["purchases", "callbacks", "handoff"].iter().any(|s| args.wants(s)) {
                app.stop().await;
                return anyhow::Ok(());
            }
        }
        let (orchestrator, succeeded) =
            purchases::run(servers, &db, (&exchanges.0, &exchanges.1), sandbox_url, args.n).await?;
        report::purchases(&format!("orchestrator (round {})", round + 1), &orchestrator);
        summary.orchestrator.push(orchestrator);
        if args.wants("handoff") && round == 0 {
            let handoff = handoff::run(servers, &db, &exchanges.0, sandbox_url, &succeeded, args.refunds).await?;
            report::handoff(&handoff);
            summary.handoff = Some(handoff);
        }
        let mut waiting = Vec::new();
        if args.wants("callbacks") && round == 0 {
            set_customer(sandbox_url, false).await?;
            waiting = callbacks::prepare(servers, &exchanges.0, &exchanges.1, args.callbacks).await?;
        }
        let base = baseline::start(servers, &base_db, &prefix, sandbox_url).await?;
        if !waiting.is_empty() {
            let callbacks = callbacks::run(
                servers,
                (&db, &base_db),
                &app.url("/callbacks/ecommpay"),
                &exchanges.1,
                &waiting,
                &base,
            )
            .await?;
            report::callbacks(&callbacks);
            summary.callbacks = Some(callbacks);
        }
        app.stop().await;
        reset(sandbox_url).await?;
        set_customer(sandbox_url, true).await?;
        let (bare, _) =
            purchases::run(servers, &base_db, (&names.commands, &names.events), sandbox_url, args.n).await?;
        report::purchases(&format!("bare baseline (round {})", round + 1), &bare);
        summary.baseline.push(bare);
        base.stop().await;
        anyhow::Ok(())
    }
    .await;
    servers.drop_database(&db).await;
    servers.drop_database(&base_db).await;
    servers
        .delete_prefix(
            &topology,
            std::slice::from_ref(&names.queue),
            &[names.commands.clone(), names.events.clone()],
        )
        .await;
    result
}

async fn reset(sandbox_url: &str) -> anyhow::Result<()> {
    reqwest::Client::new()
        .post(format!("{sandbox_url}/sandbox/reset"))
        .send()
        .await?
        .error_for_status()?;
    Ok(())
}

async fn set_customer(sandbox_url: &str, enabled: bool) -> anyhow::Result<()> {
    reqwest::Client::new()
        .post(format!("{sandbox_url}/sandbox/auto-customer"))
        .json(&json!({"enabled": enabled, "success_ratio": 1.0, "delay_secs": 0.0}))
        .send()
        .await?
        .error_for_status()?;
    Ok(())
}
