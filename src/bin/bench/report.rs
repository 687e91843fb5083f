//! Printing: each scenario's figures as it finishes, then the ratios against design §4.

use super::callbacks::CallbackReport;
use super::handoff::HandoffReport;
use super::latency::LatencyReport;
use super::memory::MemoryReport;
use super::purchases::PurchaseReport;
use super::timers::TimerReport;

#[derive(Default)]
pub struct Summary {
    pub orchestrator: Vec<PurchaseReport>,
    pub baseline: Vec<PurchaseReport>,
    pub callbacks: Option<CallbackReport>,
    pub handoff: Option<HandoffReport>,
    pub timers: Option<TimerReport>,
    pub memory: Option<MemoryReport>,
    pub latency: Option<LatencyReport>,
}

pub fn machine() {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!("machine: {cores} cores, {cpu}");
}

pub fn purchases(label: &str, r: &PurchaseReport) {
    let f = &r.figures;
    println!("\n== purchases end to end: {label} ==");
    println!(
        "  {} payments final in {:.2}s: {:.1} payments/s; latency publish→final p50 {:.0} ms, p95 {:.0} ms, p99 {:.0} ms",
        f.completed,
        f.wall.as_secs_f64(),
        f.per_sec,
        f.p50_ms,
        f.p95_ms,
        f.p99_ms
    );
    println!(
        "  CPU of this process (orchestrator + sandbox + load): {:.2}s ({:.2} ms/payment); machine busy {:.0}% of 2 cores",
        r.cpu_secs,
        r.cpu_secs * 1000.0 / f.completed.max(1) as f64,
        r.machine_busy * 100.0
    );
    println!(
        "  CPU of the servers: PostgreSQL {:.2}s ({:.2} ms/payment), RabbitMQ {:.2}s ({:.2} ms/payment)",
        r.postgres_cpu_secs,
        r.postgres_cpu_secs * 1000.0 / f.completed.max(1) as f64,
        r.rabbitmq_cpu_secs,
        r.rabbitmq_cpu_secs * 1000.0 / f.completed.max(1) as f64,
    );
    println!(
        "  RSS {:.1} MiB, peak {:.1} MiB (whole bench process)",
        r.rss_mib, r.peak_rss_mib
    );
    println!(
        "  I/O per payment: {:.2} DB transactions (xact_commit, background {:.1}/s subtracted), {:.2} HTTP exchanges \
         ({:.2} sale, {:.2} callback deliveries, {:.2} status queries), {:.2} events published",
        r.commits_per_payment,
        r.idle_commits_per_sec,
        r.http_per_payment(),
        r.sales_per_payment,
        r.callbacks_per_payment,
        r.status_queries_per_payment,
        r.events_per_payment
    );
    match &r.statements {
        Some(statements) => print!("{}", super::statements::render(label, "payment", statements)),
        None => println!("  statements by query: pg_stat_statements is not loaded (scripts/services loads it)"),
    }
}

pub fn latency(r: &LatencyReport) {
    println!(
        "\n== lone purchases ({} one after another, publish → payment.succeeded) ==",
        r.samples
    );
    println!(
        "  latency p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms",
        r.p50_ms, r.p95_ms, r.max_ms
    );
}

pub fn handoff(r: &HandoffReport) {
    println!(
        "\n== refund hand-off ({} pairs; {} left out, freed while refunds were still being queued) ==",
        r.pairs, r.while_queueing
    );
    println!(
        "  final commit → next refund at sandbox: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} sends arrived before the bench's listener heard the commit: 0)",
        r.p50_ms, r.p99_ms, r.max_ms, r.ahead_of_listener
    );
    println!(
        "  from final_at (inside the transaction; an upper bound): p50 {:.2} ms, p99 {:.2} ms over the same pairs; p50 {:.2} ms, p99 {:.2} ms over every pair",
        r.from_final_at_kept.0, r.from_final_at_kept.1, r.from_final_at.0, r.from_final_at.1
    );
    println!(
        "  bare steps p50/p99: NOTIFY→LISTEN {:.2}/{:.2} ms, single-row commit {:.2}/{:.2} ms, HTTP call {:.2}/{:.2} ms; sum {:.2}/{:.2} ms",
        r.notify.0, r.notify.1, r.commit.0, r.commit.1, r.http.0, r.http.1, r.bare_p50(), r.bare_p99()
    );
}

pub fn callbacks(r: &CallbackReport) {
    println!(
        "\n== callback ingestion ({} signed final callbacks, 32 in flight) ==",
        r.callbacks
    );
    println!(
        "  orchestrator: {:.1}/s applied and announced ({:.1}/s answered 200); bare handler (verify + 1 UPDATE): {:.1}/s; non-200: {}",
        r.orchestrator_per_sec, r.orchestrator_http_per_sec, r.bare_per_sec, r.refused
    );
    for (side, cpu) in [("orchestrator", &r.orchestrator_cpu), ("bare", &r.bare_cpu)] {
        println!(
            "  CPU per callback, {side}: this process {:.2} ms, PostgreSQL {:.2} ms, RabbitMQ {:.2} ms",
            cpu.process, cpu.postgres, cpu.rabbitmq
        );
    }
    for (side, statements) in [
        ("orchestrator", &r.orchestrator_statements),
        ("bare", &r.bare_statements),
    ] {
        if let Some(statements) = statements {
            print!("{}", super::statements::render(side, "callback", statements));
        }
    }
}

pub fn timers(r: &TimerReport) {
    println!("\n== timers: {} scheduled status checks, {} made due ==", r.rows, r.due);
    println!("  bulk insert + ANALYZE: {:.1}s", r.insert_secs);
    println!(
        "  EXPLAIN (ANALYZE, BUFFERS) of the claim, nothing due:\n{}",
        indent(&r.plan_none_due)
    );
    println!(
        "  EXPLAIN (ANALYZE, BUFFERS) of the claim, {} due:\n{}",
        r.due,
        indent(&r.plan_due)
    );
    println!(
        "  due checks executed: orchestrator {:.1}/s, bare claim+query+update {:.1}/s, bare single-row UPDATE commits {:.1}/s",
        r.orchestrator_per_sec, r.bare_per_sec, r.update_per_sec
    );
}

pub fn memory(r: &MemoryReport) {
    println!("\n== memory of `bnpl serve` ==");
    for (awaiting, rss, peak) in &r.levels {
        println!("  {awaiting:>7} payments awaiting callbacks: RSS {rss:.1} MiB (peak {peak:.1} MiB)");
    }
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("    {l}")).collect::<Vec<_>>().join("\n")
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

impl Summary {
    pub fn print(&self) {
        println!("\n== ratios (design §4 targets) ==");
        if !self.orchestrator.is_empty() && !self.baseline.is_empty() {
            let o = median(self.orchestrator.iter().map(|r| r.figures.per_sec).collect());
            let b = median(self.baseline.iter().map(|r| r.figures.per_sec).collect());
            let ratios: Vec<String> = self
                .orchestrator
                .iter()
                .zip(&self.baseline)
                .map(|(o, b)| format!("{:.2}", o.figures.per_sec / b.figures.per_sec))
                .collect();
            println!(
                "  purchases: orchestrator {o:.1}/s ÷ baseline {b:.1}/s = {:.2} (target ≥ 0.80; per round {})",
                o / b,
                ratios.join(", ")
            );
            let oc = median(self.orchestrator.iter().map(|r| r.commits_per_payment).collect());
            let bc = median(self.baseline.iter().map(|r| r.commits_per_payment).collect());
            println!("  DB transactions per payment: orchestrator {oc:.2}, baseline {bc:.2}");
        }
        if let Some(c) = &self.callbacks {
            println!(
                "  callbacks: {:.1}/s ÷ bare {:.1}/s = {:.2} (target ≥ 0.70)",
                c.orchestrator_per_sec,
                c.bare_per_sec,
                c.orchestrator_per_sec / c.bare_per_sec
            );
        }
        if let Some(h) = &self.handoff {
            println!(
                "  refund hand-off p99 {:.2} ms ÷ bare sum p99 {:.2} ms = {:.2} (target ≤ 3); p50 {:.2} ÷ {:.2} = {:.2}",
                h.p99_ms,
                h.bare_p99(),
                h.p99_ms / h.bare_p99(),
                h.p50_ms,
                h.bare_p50(),
                h.p50_ms / h.bare_p50()
            );
        }
        if let Some(t) = &self.timers {
            println!(
                "  due checks: {:.1}/s ÷ bare {:.1}/s = {:.2} (target ≥ 0.50); vs bare single-row UPDATE {:.1}/s = {:.2}",
                t.orchestrator_per_sec,
                t.bare_per_sec,
                t.orchestrator_per_sec / t.bare_per_sec,
                t.update_per_sec,
                t.orchestrator_per_sec / t.update_per_sec
            );
        }
        if let Some(l) = &self.latency {
            println!(
                "  lone purchase latency p50 {:.1} ms (compare with the parent commit's, same sitting: ≤ 1.1×)",
                l.p50_ms
            );
        }
        if let Some(m) = &self.memory {
            let first = m.levels.first().map_or(f64::NAN, |l| l.1);
            let last = m.levels.last().map_or(f64::NAN, |l| l.1);
            println!(
                "  memory: RSS {first:.1} → {last:.1} MiB ({:+.0}%; target within 20% and < 100 MB)",
                (last / first - 1.0) * 100.0
            );
        }
    }
}
