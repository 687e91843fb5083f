//! `/metrics` as Prometheus tooling sees it (issue 18): after a purchase, a refund and a forged
//! callback, `promtool check metrics` accepts the live text, every family of the catalog has
//! HELP text and samples, latencies are histograms, provider calls carry provider, account and
//! operation, and the alert rules and the dashboard name only families that exist.

use crate::harness::*;
use bnpl::telemetry::catalog::{self, Kind};
use serde_json::json;
use std::collections::BTreeSet;
use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

/// `promtool check metrics` on `text`: (exit code, its output).
fn promtool_check(text: &str) -> (i32, String) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (Debian package `prometheus`; .ci/run installs it)");
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code().unwrap_or(-1), said)
}

#[tokio::test]
async fn promtool_accepts_the_live_metrics_and_every_family_has_samples() {
    let mut env = spawn_sandboxed(fast_timing(), |config| {
        config.auto_customer.enabled = true;
        config.auto_customer.success_ratio = 1.0;
        config.auto_customer.delay_secs = 0.0;
        // The refund stays in flight (60 s), so its queue has a head with an age to report.
        config.humm.refund_processing_secs = 600_000.0;
    })
    .await;
    env.publish("purchase.create", &humm_purchase("met-1", 15000)).await;
    env.wait_for_event("met-1", "payment.succeeded", WAIT).await;
    let refund = json!({"refund_id": "met-rf-1", "payment_id": "met-1", "amount": {"minor": 500, "currency": "GBP"}});
    env.publish("refund.create", &refund).await;
    env.wait_for_event("met-1", "refund.submitted", WAIT).await;
    let forged = ecommpay_sale_callback("met-1", 15000, "success", "not-the-secret");
    assert_eq!(env.post_ecommpay_callback(&forged).await, 400);
    // An account paused and resumed: its state has a sample from then on.
    let pool = env.app.db.pool().await;
    let operator = bnpl::store::tokens::create(&pool, "met-ops", &["operate".to_owned()])
        .await
        .unwrap();
    for action in ["pause", "resume"] {
        let answer = env
            .http
            .post(env.app.url(&format!("/admin/v1/accounts/valu/default/{action}")))
            .bearer_auth(&operator)
            .json(&json!({"reason": "metrics test"}))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200);
    }
    pool.close().await;

    let families: Vec<&str> = catalog::FAMILIES.iter().map(|f| f.name).collect();
    let has_sample = |text: &str, family: &str| {
        text.lines().any(|line| {
            let name = line.split(['{', ' ']).next().unwrap_or_default();
            !line.starts_with('#')
                && (name == family || name == format!("{family}_bucket") || name == format!("{family}_count"))
        })
    };
    // The database snapshot is refreshed on a timer: wait until every family has a sample.
    let deadline = tokio::time::Instant::now() + WAIT;
    let text = loop {
        let text = env.app.metrics_text().await;
        let missing: Vec<&&str> = families.iter().filter(|f| !has_sample(&text, f)).collect();
        if missing.is_empty() {
            break text;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "families without samples: {missing:?}\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };

    let (code, said) = promtool_check(&text);
    assert_eq!(code, 0, "promtool check metrics:\n{said}\n---\n{text}");
    for family in catalog::FAMILIES {
        assert!(
            text.contains(&format!("# HELP {} ", family.name)),
            "no HELP for {}",
            family.name
        );
        let kind = match family.kind {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        };
        assert!(
            text.contains(&format!("# TYPE {} {kind}", family.name)),
            "{} is not a {kind}",
            family.name
        );
    }
    // The recorder is shared by the tests of this process, so other accounts' calls may be there
    // too: this test's sale is counted under its provider and account.
    assert!(
        text.lines().any(|line| line.starts_with("bnpl_provider_calls_total{")
            && line.contains("operation=\"sale\"")
            && line.contains("provider=\"humm\"")
            && line.contains("account=\"default\"")),
        "no humm sale call counted for account default:\n{text}"
    );
    assert!(text.contains("bnpl_http_requests_total{method=\"POST\",route=\"/callbacks/ecommpay\",status=\"400\"}"));
    assert!(text.contains("bnpl_build_info{version=\""));
    env.app.stop().await.unwrap();
}

#[test]
fn promtool_refuses_a_family_without_help() {
    // The check above can fail: a counter without HELP is refused.
    let (code, said) = promtool_check("# TYPE bnpl_x_total counter\nbnpl_x_total 1\n");
    assert_ne!(code, 0, "{said}");
}

/// Every `bnpl_*` name in `text`, with histogram suffixes removed.
fn metric_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let bytes = text.as_bytes();
    let mut at = 0;
    while let Some(found) = text[at..].find("bnpl_") {
        let start = at + found;
        let end = start
            + text[start..]
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(text.len() - start);
        let preceded = start > 0 && (bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_');
        let name = &text[start..end];
        if !preceded && name.len() > "bnpl_".len() {
            let base = ["_bucket", "_count", "_sum"]
                .iter()
                .find_map(|suffix| name.strip_suffix(suffix))
                .unwrap_or(name);
            names.insert(base.to_owned());
        }
        at = end;
    }
    names
}

#[test]
fn the_alert_rules_and_the_dashboard_name_only_existing_families() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for file in ["deploy/prometheus/alerts.yml", "deploy/grafana/bnpl.json"] {
        let text = std::fs::read_to_string(root.join(file)).unwrap();
        let names = metric_names(&text);
        assert!(names.len() >= 5, "{file} names too few families: {names:?}");
        let unknown: Vec<&String> = names
            .iter()
            .filter(|name| catalog::find(name).is_none() && *name != "bnpl_orchestrator")
            .collect();
        assert!(
            unknown.is_empty(),
            "{file} names families that do not exist: {unknown:?}"
        );
    }
}
